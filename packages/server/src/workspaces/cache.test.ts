import { describe, expect, it } from 'vitest';
import { createWorkspaceCache } from './cache.js';
import type { WorkspaceView } from '@molecule/contracts';

const row = (name: string) => ({ id: 'w1', name }) as WorkspaceView;

describe('workspace read cache', () => {
  it('serves repeated reads from memory until the TTL passes', async () => {
    let clock = 5000; // a monotonic clock never reads 0
    const cache = createWorkspaceCache(1000, () => clock);
    let loads = 0;
    const load = async () => row(`v${++loads}`);
    expect((await cache.get('w1', load))!.name).toBe('v1');
    clock = 5999;
    expect((await cache.get('w1', load))!.name).toBe('v1');
    clock = 6001;
    expect((await cache.get('w1', load))!.name).toBe('v2');
    expect(loads).toBe(2);
  });

  it('an invalidation makes the next read load again', async () => {
    const cache = createWorkspaceCache(60_000);
    let loads = 0;
    const load = async () => row(`v${++loads}`);
    await cache.get('w1', load);
    cache.invalidate('w1');
    expect((await cache.get('w1', load))!.name).toBe('v2');
    cache.invalidate(null);
    expect((await cache.get('w1', load))!.name).toBe('v2');
  });

  it('a load that an invalidation overtook is returned but not cached', async () => {
    const cache = createWorkspaceCache(60_000);
    let release!: () => void;
    const slow = cache.get('w1', () => new Promise<WorkspaceView>((r) => (release = () => r(row('old')))));
    cache.invalidate('w1');
    release();
    expect((await slow)!.name).toBe('old');
    expect((await cache.get('w1', async () => row('new')))!.name).toBe('new');
  });

  it('caches "not found" too, and a TTL of 0 disables caching', async () => {
    const cache = createWorkspaceCache(60_000);
    expect(await cache.get('w1', async () => undefined)).toBeUndefined();
    expect(await cache.get('w1', async () => row('late'))).toBeUndefined();
    const off = createWorkspaceCache(0);
    await off.get('w1', async () => row('a'));
    expect((await off.get('w1', async () => row('b')))!.name).toBe('b');
    expect(off.size).toBe(0);
  });
});
