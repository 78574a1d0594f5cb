import { memoryPluginSuite } from './plugin.suite.js';

memoryPluginSuite('postgres');
