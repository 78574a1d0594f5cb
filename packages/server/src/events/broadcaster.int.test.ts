import { requireServiceUrl } from '../test-support/harness.js';
import { broadcasterContract } from './broadcaster.contract.js';

requireServiceUrl('TEST_DATABASE_URL');
broadcasterContract('postgres');
