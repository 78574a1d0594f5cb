import { activityStoreSuite } from './store.suite.js';

activityStoreSuite('pglite');
