import { HeartbeatBody, RUNTIME_CAPABILITIES } from '@molecule/contracts';
import { describe, expect, it } from 'vitest';
import type { Adapter } from './adapters/index.js';
import type { WorkspaceConfig } from './config.js';
import { buildHeartbeat, runtimeMetadata } from './heartbeat.js';
import { TaskTracker } from './tasks.js';
import { captureLogger, WORKSPACE_ID } from './test-support/agent.js';

const cfg = (over: Partial<WorkspaceConfig> = {}): WorkspaceConfig => ({
  name: 'w',
  description: '',
  version: '1',
  adapter: 'echo',
  model: undefined,
  system_prompt: undefined,
  skills: [],
  max_concurrent_tasks: 1,
  capabilities: {},
  idle_timeout_seconds: undefined,
  script: undefined,
  base_url: undefined,
  max_tokens: 100,
  model_timeout_seconds: 300,
  openai_agents: undefined,
  langgraph: undefined,
  acp: undefined,
  ...over,
});

const adapter = (over: Partial<Adapter> = {}): Adapter => ({ name: 'test', run: async () => '', ...over });
const allFalse = Object.fromEntries(RUNTIME_CAPABILITIES.map((c) => [c, false]));

describe('runtimeMetadata (C032)', () => {
  it('declares every capability, false unless the adapter or config.yaml says otherwise (config wins)', () => {
    const { logger } = captureLogger();
    const a = adapter({ capabilities: () => ({ session: true, scheduler: true }) });
    expect(runtimeMetadata(a, cfg({ capabilities: { scheduler: false, retry: true } }), logger)).toEqual({
      capabilities: { ...allFalse, session: true, retry: true },
    });
  });

  it('sends idle_timeout_seconds only when it is a positive integer', () => {
    const { logger } = captureLogger();
    expect(runtimeMetadata(adapter(), cfg(), logger)).toEqual({ capabilities: allFalse });
    for (const idle of [0, -5, 1.5, undefined]) {
      expect(runtimeMetadata(adapter({ idleTimeoutSeconds: () => idle }), cfg(), logger)).not.toHaveProperty('idle_timeout_seconds');
    }
    expect(runtimeMetadata(adapter({ idleTimeoutSeconds: () => 45 }), cfg(), logger)?.idle_timeout_seconds).toBe(45);
    expect(runtimeMetadata(adapter({ idleTimeoutSeconds: () => 45 }), cfg({ idle_timeout_seconds: 600 }), logger)?.idle_timeout_seconds).toBe(600);
  });

  it('swallows capability discovery errors: capabilities are left out, the rest still goes', () => {
    const { logger, lines } = captureLogger();
    const broken = adapter({
      capabilities: () => {
        throw new Error('adapter exploded');
      },
      idleTimeoutSeconds: () => 30,
    });
    expect(runtimeMetadata(broken, cfg(), logger)).toEqual({ idle_timeout_seconds: 30 });
    expect(lines().some((l) => l.level === 40 && String(l.msg).includes('capability discovery failed'))).toBe(true);
    const worse = adapter({
      capabilities: () => {
        throw new Error('x');
      },
      idleTimeoutSeconds: () => {
        throw new Error('y');
      },
    });
    expect(runtimeMetadata(worse, cfg(), logger)).toBeUndefined();
  });
});

describe('buildHeartbeat (C001)', () => {
  it('is a valid HeartbeatBody with the tracker state and whole-second uptime', () => {
    const { logger } = captureLogger();
    const tracker = new TaskTracker(2);
    tracker.tryReserve()!.start('t', 'summarise the report');
    const body = buildHeartbeat({ workspaceId: WORKSPACE_ID, tracker, startedAt: 1_000, now: 62_999, adapter: adapter(), workspace: cfg(), log: logger });
    expect(HeartbeatBody.parse(body)).toEqual(body);
    expect(body).toMatchObject({ active_tasks: 1, current_task: 'summarise the report', uptime_seconds: 61, runtime_state: '', error_rate: 0 });
  });

  it('reports runtime_state wedged with the reason as sample_error when the adapter is stuck', () => {
    const { logger } = captureLogger();
    const body = buildHeartbeat({
      workspaceId: WORKSPACE_ID,
      tracker: new TaskTracker(1),
      startedAt: Date.now(),
      adapter: adapter({ wedgedReason: () => 'control request timeout: initialize' }),
      workspace: cfg(),
      log: logger,
    });
    expect(body).toMatchObject({ runtime_state: 'wedged', sample_error: 'control request timeout: initialize' });
  });

  it('clips long text fields to what the platform accepts', () => {
    const { logger } = captureLogger();
    const tracker = new TaskTracker(1);
    const s = tracker.tryReserve()!;
    s.start('t', 'x');
    s.finish({ kind: 'failed', error: 'e'.repeat(10_000) });
    const body = buildHeartbeat({ workspaceId: WORKSPACE_ID, tracker, startedAt: Date.now(), adapter: adapter(), workspace: cfg(), log: logger });
    expect(body.sample_error).toHaveLength(4096);
    expect(HeartbeatBody.safeParse(body).success).toBe(true);
  });
});
