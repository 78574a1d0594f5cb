import { terminalApiSuite } from './api.suite.js';

terminalApiSuite('pglite');
