import { registryApiSuite } from './api.suite.js';

registryApiSuite('postgres');
