import { dbSuite } from './db.suite.js';

dbSuite('pglite');
