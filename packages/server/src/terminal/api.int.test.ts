import { terminalApiSuite } from './api.suite.js';

terminalApiSuite('postgres');
