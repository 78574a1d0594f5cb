import { filesApiSuite } from './api.suite.js';

filesApiSuite('postgres');
