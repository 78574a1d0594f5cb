import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Adapter } from './adapters/index.js';
import { AgentSocketClient } from './agent-socket-client.js';
import { captureLogger, startTestAgent, WORKSPACE_ID, type TestAgent } from './test-support/agent.js';
import { startFakePlatform } from './test-support/fake-platform.js';

// Issue #15, gap 3: the platform gives up on a request it pushed over the agent socket (its idle
// timeout passed) and sends `a2a_cancel {id}`: the agent's handler signal aborts, and for
// molecule-agent --connect the task it started is cancelled (the adapter's signal aborts).

type Frame = { type: string; id: string; status?: number; body?: unknown };
const sendRequest = (id: string, text: string, messageId = randomUUID()) =>
  JSON.stringify({ type: 'a2a_request', id, caller_id: null, request: { jsonrpc: '2.0', id, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId, parts: [{ kind: 'text', text }] } } } });

describe('a2a_cancel over the agent socket (#15)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A WebSocket server standing in for the platform's agent-socket route; resolves each connection. */
  const platformSocket = async (wss: WebSocketServer) => {
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const c of wss.clients) c.terminate();
          wss.close(() => resolve());
        }),
    );
    const conn = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    const frames: Frame[] = [];
    const ws = await conn;
    ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Frame));
    return { ws, frames };
  };

  it("AgentSocketClient aborts the handler's signal for a cancelled request and sends no answer for it; other requests and unknown ids are unaffected", async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    const port = (wss.address() as AddressInfo).port;
    const aborted: string[] = [];
    const client = new AgentSocketClient({
      platformUrl: `http://127.0.0.1:${port}`,
      workspaceId: WORKSPACE_ID,
      token: () => 'tok',
      log: captureLogger().logger,
      handle: (request, { signal }) => {
        const rpc = request as { id: string; params: { message: { parts: { text: string }[] } } };
        const text = rpc.params.message.parts[0]!.text;
        if (text !== 'slow') return Promise.resolve({ status: 200, body: { jsonrpc: '2.0', id: rpc.id, result: text } });
        return new Promise((resolve) => {
          signal.addEventListener('abort', () => {
            aborted.push(rpc.id);
            // A handler that still answers after the cancel: the answer must not go out.
            resolve({ status: 200, body: { jsonrpc: '2.0', id: rpc.id, result: 'too late' } });
          });
        });
      },
    });
    const connected = platformSocket(wss);
    client.start();
    cleanups.push(() => client.stop());
    const { ws, frames } = await connected;

    ws.send(sendRequest('r1', 'slow'));
    ws.send(JSON.stringify({ type: 'a2a_cancel', id: 'no-such-request' }));
    ws.send(JSON.stringify({ type: 'a2a_cancel' }));
    ws.send(JSON.stringify({ type: 'a2a_cancel', id: 'r1' }));
    await expect.poll(() => aborted, { timeout: 5_000, interval: 10 }).toEqual(['r1']);
    // A request sent after the cancel is answered, and it is the only answer on the socket.
    ws.send(sendRequest('r2', 'quick'));
    await expect.poll(() => frames.length, { timeout: 5_000, interval: 10 }).toBe(1);
    expect(frames[0]).toMatchObject({ type: 'a2a_response', id: 'r2', body: { result: 'quick' } });
  });

  it('molecule-agent --connect: a cancelled pushed request cancels the task it started (the adapter sees its signal abort)', async () => {
    const platform = await startFakePlatform();
    cleanups.push(() => platform.close());
    const wss = new WebSocketServer({ server: platform.server });
    const started: string[] = [];
    const abortedTexts: string[] = [];
    const adapter: Adapter = {
      name: 'waits-for-cancel',
      run: (input, ctx) =>
        new Promise<string>((_resolve, reject) => {
          started.push(input.text);
          ctx.signal.addEventListener('abort', () => {
            abortedTexts.push(input.text);
            reject(new Error('aborted'));
          });
        }),
    };
    const connected = platformSocket(wss);
    const agent: TestAgent = await startTestAgent({ adapter, env: { PLATFORM_URL: platform.url, WORKSPACE_ID, MOLECULE_WORKSPACE_TOKEN: 'tok', MOLECULE_CONNECT: '1' }, heartbeatIntervalMs: 60_000 });
    cleanups.push(() => agent.close({ graceMs: 0 }));
    const { ws } = await connected;

    ws.send(sendRequest('p1', 'long job'));
    await expect.poll(() => started, { timeout: 5_000, interval: 10 }).toEqual(['long job']);
    expect(agent.tracker.inFlight).toBe(1);
    ws.send(JSON.stringify({ type: 'a2a_cancel', id: 'p1' }));
    await expect.poll(() => abortedTexts, { timeout: 5_000, interval: 10 }).toEqual(['long job']);
    // The task ended (cancelled) and its slot is free again.
    await expect.poll(() => agent.tracker.inFlight, { timeout: 5_000, interval: 10 }).toBe(0);
  });
});
