import { bundleApiSuite } from './api.suite.js';

bundleApiSuite('postgres');
