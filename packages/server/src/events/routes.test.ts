import { createMemoryBus } from './memory-bus.js';
import { eventRoutesContract } from './routes.contract.js';

eventRoutesContract('PGlite + in-process bus', { kind: 'pglite', makeBus: async () => createMemoryBus() });
