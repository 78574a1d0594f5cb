import { describe, expect, it } from 'vitest';
import { RUNTIME_CAPABILITIES } from '@molecule/contracts';
import { heartbeatMetadata, RuntimeOverrides } from './overrides.js';

const A = 'ws-a';
const B = 'ws-b';

describe('RuntimeOverrides', () => {
  it('C027 idle timeout and capabilities are independent: setting one never clears the other', () => {
    const o = new RuntimeOverrides();
    o.setIdleTimeout(A, 600);
    o.setCapabilities(A, { scheduler: true });
    expect(o.idleTimeoutSeconds(A)).toBe(600);
    expect(o.hasCapability(A, 'scheduler')).toBe(true);
    o.setIdleTimeout(A, 900);
    expect(o.hasCapability(A, 'scheduler')).toBe(true);
    o.setCapabilities(A, { session: true });
    expect(o.idleTimeoutSeconds(A)).toBe(900);
    expect(o.capabilities(A)).toEqual({ session: true });
  });

  it('C028 zero or negative idle timeouts clear the override; a later value replaces an earlier one', () => {
    const o = new RuntimeOverrides();
    o.setIdleTimeout(A, 300);
    o.setIdleTimeout(A, 120);
    expect(o.idleTimeoutSeconds(A)).toBe(120);
    o.setIdleTimeout(A, 0);
    expect(o.idleTimeoutSeconds(A)).toBeUndefined();
    o.setIdleTimeout(A, 300);
    o.setIdleTimeout(A, -5);
    expect(o.idleTimeoutSeconds(A)).toBeUndefined();
  });

  it('C028 an empty workspace id is ignored; reset clears everything', () => {
    const o = new RuntimeOverrides();
    o.setIdleTimeout('', 300);
    o.setCapabilities('', { scheduler: true });
    expect(o.size).toBe(0);
    o.setIdleTimeout(A, 300);
    o.setCapabilities(B, { scheduler: true });
    expect(o.size).toBe(2);
    o.reset();
    expect(o.size).toBe(0);
    expect(o.idleTimeoutSeconds(A)).toBeUndefined();
    expect(o.hasCapability(B, 'scheduler')).toBe(false);
  });

  it('C029 stores a defensive copy: mutating the caller map afterwards has no effect', () => {
    const o = new RuntimeOverrides();
    const caps: Record<string, boolean> = { scheduler: true };
    o.setCapabilities(A, caps);
    caps.scheduler = false;
    caps.session = true;
    expect(o.hasCapability(A, 'scheduler')).toBe(true);
    expect(o.hasCapability(A, 'session')).toBe(false);
    const read = o.capabilities(A);
    read.status_mgmt = true;
    expect(o.hasCapability(A, 'status_mgmt')).toBe(false);
  });

  it('C029 an undefined or empty map clears; an entry with neither field set is deleted', () => {
    const o = new RuntimeOverrides();
    o.setCapabilities(A, { scheduler: true });
    o.setCapabilities(A, {});
    expect(o.capabilities(A)).toEqual({});
    expect(o.size).toBe(0);
    o.setCapabilities(A, { scheduler: true });
    o.setIdleTimeout(A, 60);
    o.setCapabilities(A, undefined);
    expect(o.size).toBe(1);
    o.setIdleTimeout(A, 0);
    expect(o.size).toBe(0);
  });

  it("C029 one workspace's declaration never leaks to another", () => {
    const o = new RuntimeOverrides();
    o.setCapabilities(A, { scheduler: true, status_mgmt: true });
    o.setIdleTimeout(A, 60);
    expect(o.hasCapability(B, 'scheduler')).toBe(false);
    expect(o.idleTimeoutSeconds(B)).toBeUndefined();
    expect(o.capabilities(B)).toEqual({});
  });

  it('C030 hasCapability answers for every wire key; only an explicit true counts; providesNativeScheduler reads the same entry', () => {
    const o = new RuntimeOverrides();
    o.setCapabilities(A, Object.fromEntries(RUNTIME_CAPABILITIES.map((c) => [c, true])));
    for (const c of RUNTIME_CAPABILITIES) expect(o.hasCapability(A, c), c).toBe(true);
    o.setCapabilities(B, { scheduler: false, heartbeat: true });
    expect(o.hasCapability(B, 'scheduler')).toBe(false);
    expect(o.providesNativeScheduler(B)).toBe(false);
    expect(o.providesNativeScheduler(A)).toBe(true);
  });

  it('C002 C005 applyHeartbeat stores both fields; absent metadata (an old runtime) returns to defaults; all-false is kept as a declaration', () => {
    const o = new RuntimeOverrides();
    o.applyHeartbeat(A, { capabilities: { scheduler: true }, idle_timeout_seconds: 900 });
    expect(o.idleTimeoutSeconds(A)).toBe(900);
    expect(o.providesNativeScheduler(A)).toBe(true);
    o.applyHeartbeat(A, { capabilities: { scheduler: false, status_mgmt: false } });
    expect(o.idleTimeoutSeconds(A)).toBeUndefined();
    expect(o.capabilities(A)).toEqual({ scheduler: false, status_mgmt: false });
    expect(o.providesNativeScheduler(A)).toBe(false);
    o.applyHeartbeat(A, undefined);
    expect(o.size).toBe(0);
  });

  it('C031 a new cache (a restarted platform) knows nothing until the next heartbeat', () => {
    const before = new RuntimeOverrides();
    before.applyHeartbeat(A, { capabilities: { scheduler: true }, idle_timeout_seconds: 900 });
    const after = new RuntimeOverrides();
    expect(after.providesNativeScheduler(A)).toBe(false);
    expect(after.idleTimeoutSeconds(A)).toBeUndefined();
  });

  it('heartbeatMetadata reads a valid event payload and ignores a malformed one', () => {
    expect(heartbeatMetadata({ runtime_metadata: { capabilities: { session: true } } })).toEqual({ capabilities: { session: true } });
    expect(heartbeatMetadata({})).toBeUndefined();
    expect(heartbeatMetadata({ runtime_metadata: { capabilities: { session: 'yes' } } })).toBeUndefined();
  });
});
