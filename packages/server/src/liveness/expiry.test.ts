import { livenessExpirySuite } from './expiry.suite.js';

livenessExpirySuite('pglite');
