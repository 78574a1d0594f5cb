import { bundleApiSuite } from './api.suite.js';

bundleApiSuite('pglite');
