import { memoryPluginSuite } from './plugin.suite.js';

memoryPluginSuite('pglite');
