export { loadConfig, type Config } from './config.js';
export { runMain, startServer, type RunningServer } from './main.js';
export { createLogger } from './log.js';
