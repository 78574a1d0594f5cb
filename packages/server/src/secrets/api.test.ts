import { secretsApiSuite } from './api.suite.js';

secretsApiSuite('pglite');
