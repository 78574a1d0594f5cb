import { createMemoryLiveness } from './memory.js';
import { livenessStoreContract } from './store.contract.js';

livenessStoreContract('in-memory timers', async () => createMemoryLiveness());
