import { describe, expect, it } from 'vitest';
import type { OrgImportResult, WorkspaceView } from '@molecule/contracts';
import { followImport, progressLine, tally } from './org.js';

const ws = (id: string, status: string) => ({ id, name: id, status, last_sample_error: status === 'failed' ? 'boom' : '' }) as unknown as WorkspaceView;

describe('org import progress', () => {
  it('counts by status; a workspace gone from the list counts as removed', () => {
    const t = tally(['a', 'b', 'c', 'd', 'e', 'f'], [ws('a', 'online'), ws('b', 'degraded'), ws('c', 'failed'), ws('d', 'awaiting_agent'), ws('e', 'provisioning')]);
    expect(t).toEqual({ total: 6, online: 2, failed: 1, awaiting: 1, removed: 1 });
    expect(progressLine(t, 12)).toBe('[##########..]  2/6 online  1 failed  1 awaiting their agent  1 removed  1 starting');
    expect(progressLine({ total: 0, online: 0, failed: 0, awaiting: 0, removed: 0 }, 4)).toBe('[####]  0/0 online');
  });

  it('redraws in place on a terminal, prints a line per change otherwise, and stops at the deadline', async () => {
    const result = { org: 'o', import_id: '00000000-0000-4000-8000-000000000000', count: 2, workspaces: [{ id: 'a' }, { id: 'b' }] } as OrgImportResult;
    const states = [
      [ws('a', 'provisioning'), ws('b', 'provisioning')],
      [ws('a', 'provisioning'), ws('b', 'provisioning')],
      [ws('a', 'online'), ws('b', 'provisioning')],
      [ws('a', 'online'), ws('b', 'failed')],
    ];
    let i = 0;
    let out = '';
    const r = await followImport(result, { list: async () => states[Math.min(i++, states.length - 1)]!, write: (s) => (out += s), tty: false, timeoutMs: 60_000, sleep: async () => undefined });
    expect(out.split('\n').filter(Boolean)).toEqual(['[..............................]  0/2 online  2 starting', '[###############...............]  1/2 online  1 starting', '[##############################]  1/2 online  1 failed']);
    expect(r.failed.map((w) => w.id)).toEqual(['b']);
    expect(r.timedOut).toBe(false);

    let clock = 0;
    let tty = '';
    const stuck = await followImport(result, {
      list: async () => states[0]!,
      write: (s) => (tty += s),
      tty: true,
      timeoutMs: 1_000,
      now: () => clock,
      sleep: async (ms) => void (clock += ms),
    });
    expect(stuck.timedOut).toBe(true);
    expect(tty).toBe('\r\x1b[2K[..............................]  0/2 online  2 starting\n');
  });
});
