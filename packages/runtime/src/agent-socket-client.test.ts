import { describe, expect, it } from 'vitest';
import { agentSocketUrl, backoffDelay } from './agent-socket-client.js';

describe('agent socket client (#15)', () => {
  it('backs off exponentially up to the cap, each wait in the upper half of its step (jitter)', () => {
    const b = { initialMs: 500, maxMs: 30_000 };
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(n, b, () => 1))).toEqual([500, 1000, 2000, 4000, 30_000, 30_000]);
    expect([0, 1, 2, 3, 10, 100].map((n) => backoffDelay(n, b, () => 0))).toEqual([250, 500, 1000, 2000, 15_000, 15_000]);
  });

  it('dials ws for http and wss for https, at the workspace path', () => {
    expect(agentSocketUrl('http://127.0.0.1:8080', 'abc')).toBe('ws://127.0.0.1:8080/workspaces/abc/agent-socket');
    expect(agentSocketUrl('https://molecule.example.com/', 'a b')).toBe('wss://molecule.example.com/workspaces/a%20b/agent-socket');
  });
});
