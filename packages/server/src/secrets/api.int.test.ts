import { secretsApiSuite } from './api.suite.js';

secretsApiSuite('postgres');
