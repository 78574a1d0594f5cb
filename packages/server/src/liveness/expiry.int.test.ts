import { livenessExpirySuite } from './expiry.suite.js';

livenessExpirySuite('postgres');
