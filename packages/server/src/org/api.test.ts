import { orgApiSuite } from './api.suite.js';

orgApiSuite('pglite');
