import { pluginsApiSuite } from './api.suite.js';

pluginsApiSuite('pglite');
