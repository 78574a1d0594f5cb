export * from './status.js';
export * from './workspace.js';
export * from './events.js';
export * from './errors.js';
export * from './defaults.js';
export * from './registry.js';
export * from './a2a.js';
export * from './activity.js';
