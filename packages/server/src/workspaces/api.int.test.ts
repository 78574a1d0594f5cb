import { workspaceApiSuite } from './api.suite.js';

workspaceApiSuite('postgres');
