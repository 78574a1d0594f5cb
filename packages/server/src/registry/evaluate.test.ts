import { describe, expect, it } from 'vitest';
import { Status, WORKSPACE_STATUSES, type WorkspaceStatus } from '@molecule/contracts';
import { beatSignals, evaluateStatus, nextStatuses, resolveDeliveryMode, type BeatSignals } from './evaluate.js';

const beat = (over: Partial<BeatSignals> = {}): BeatSignals => ({ errorRate: 0, wedged: false, nativeStatus: false, ...over });

describe('evaluateStatus', () => {
  it.each<[string, WorkspaceStatus, Partial<BeatSignals>, WorkspaceStatus]>([
    ['C020 wedged degrades an online workspace', Status.Online, { wedged: true }, Status.Degraded],
    ['C020 wedged is checked before the error rate (error rate 0)', Status.Online, { wedged: true, errorRate: 0 }, Status.Degraded],
    ['C021 error rate 0.5 degrades', Status.Online, { errorRate: 0.5 }, Status.Degraded],
    ['C021 error rate 0.49 stays online', Status.Online, { errorRate: 0.49 }, Status.Online],
    ['C021 degraded recovers below 0.1', Status.Degraded, { errorRate: 0.09 }, Status.Online],
    ['C021 degraded stays degraded at 0.1 (hysteresis)', Status.Degraded, { errorRate: 0.1 }, Status.Degraded],
    ['C021 degraded and still wedged stays degraded even at error rate 0', Status.Degraded, { wedged: true }, Status.Degraded],
    ['C022 status_mgmt: no degrade at 0.8', Status.Online, { errorRate: 0.8, nativeStatus: true }, Status.Online],
    ['C022 status_mgmt: no recovery at 0.05', Status.Degraded, { errorRate: 0.05, nativeStatus: true }, Status.Degraded],
    ['C022 status_mgmt: wedged still degrades', Status.Online, { wedged: true, nativeStatus: true }, Status.Degraded],
    ['C024 offline recovers', Status.Offline, {}, Status.Online],
    ['C024 provisioning recovers', Status.Provisioning, {}, Status.Online],
    ['C024 awaiting_agent recovers', Status.AwaitingAgent, {}, Status.Online],
    ['C024 a recovering agent that reports itself wedged lands degraded', Status.Offline, { wedged: true }, Status.Degraded],
    ['C024 a recovering agent with error rate 0.9 lands degraded', Status.AwaitingAgent, { errorRate: 0.9 }, Status.Degraded],
    ['C013 removed never changes', Status.Removed, {}, Status.Removed],
    ['failed is left to the provisioning flows', Status.Failed, {}, Status.Failed],
    ['paused is left alone', Status.Paused, {}, Status.Paused],
    ['hibernated is left alone', Status.Hibernated, {}, Status.Hibernated],
    ['hibernating is left alone', Status.Hibernating, { wedged: true }, Status.Hibernating],
  ])('%s', (_label, current, signals, expected) => {
    expect(evaluateStatus(current, beat(signals))).toBe(expected);
  });

  it('C023 steady states map to themselves: only the recoverable statuses move at error rate 0.3', () => {
    const next = nextStatuses(beat({ errorRate: 0.3 }));
    const moved = WORKSPACE_STATUSES.filter((s, i) => next[i] !== s);
    expect([...moved].sort()).toEqual([Status.AwaitingAgent, Status.Offline, Status.Provisioning]);
  });

  it('nextStatuses agrees with evaluateStatus for every status, in WORKSPACE_STATUSES order', () => {
    for (const signals of [beat(), beat({ errorRate: 0.7 }), beat({ wedged: true }), beat({ nativeStatus: true, errorRate: 0.9 })]) {
      expect(nextStatuses(signals)).toEqual(WORKSPACE_STATUSES.map((s) => evaluateStatus(s, signals)));
    }
  });

  it('C025 only "wedged" is honoured: empty and unknown runtime_state values are healthy', () => {
    const base = { error_rate: 0, runtime_metadata: undefined };
    expect(beatSignals({ ...base, runtime_state: 'wedged' }).wedged).toBe(true);
    expect(beatSignals({ ...base, runtime_state: '' }).wedged).toBe(false);
    expect(beatSignals({ ...base, runtime_state: 'draining' }).wedged).toBe(false);
    expect(beatSignals({ ...base, runtime_state: 'WEDGED' }).wedged).toBe(false);
  });

  it('C002 C022 status_mgmt counts only when declared true', () => {
    const base = { error_rate: 0, runtime_state: '' };
    expect(beatSignals({ ...base, runtime_metadata: undefined }).nativeStatus).toBe(false);
    expect(beatSignals({ ...base, runtime_metadata: { capabilities: { status_mgmt: false } } }).nativeStatus).toBe(false);
    expect(beatSignals({ ...base, runtime_metadata: { capabilities: { status_mgmt: true } } }).nativeStatus).toBe(true);
  });
});

describe('resolveDeliveryMode (C008)', () => {
  it.each([
    ['the payload wins', 'poll', 'push', 'molecule', 'poll'],
    ['the payload wins for external too', 'push', 'poll', 'external', 'push'],
    ['else the stored value', undefined, 'poll', 'molecule', 'poll'],
    ['else poll for an external runtime', undefined, null, 'external', 'poll'],
    ['else push', undefined, null, 'molecule', 'push'],
  ] as const)('%s', (_label, requested, stored, runtime, expected) => {
    expect(resolveDeliveryMode(requested, stored, runtime)).toBe(expected);
  });
});
