import { schedulesSuite } from './api.suite.js';

schedulesSuite('pglite');
