export { loadConfig, type Config } from './config.js';
export { startServer, type RunningServer } from './server.js';
export { runMain } from './main.js';
export { createLogger } from './log.js';
