import { describe, expect, it } from 'vitest';
import type { Db } from '../db/port.js';
import { createLogger } from '../log.js';
import { budgetBlock, budgetGate } from './service.js';

describe('the budget gate on a database error', () => {
  const failing = { query: () => Promise.reject(new Error('connection terminated')) } as unknown as Db;
  const log = createLogger({ level: 'silent', pretty: false });
  const id = '00000000-0000-4000-8000-000000000001';

  it('the check itself throws (GET answers an error, never a false "not blocked")', async () => {
    await expect(budgetBlock(failing, id)).rejects.toThrow('connection terminated');
  });

  it('the proxy gate fails open: no refusal', async () => {
    expect(await budgetGate({ db: failing, log }, id)).toBeNull();
  });
});
