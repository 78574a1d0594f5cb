import { chatFilesApiSuite } from './api.suite.js';

chatFilesApiSuite('pglite');
