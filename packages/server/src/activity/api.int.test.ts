import { activityApiSuite } from './api.suite.js';

activityApiSuite('postgres');
