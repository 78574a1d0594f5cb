import { teamApiSuite } from './api.suite.js';

teamApiSuite('postgres');
