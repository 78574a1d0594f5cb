import { budgetsApiSuite } from './api.suite.js';

budgetsApiSuite('pglite');
