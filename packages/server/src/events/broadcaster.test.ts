import { broadcasterContract } from './broadcaster.contract.js';

broadcasterContract('pglite');
