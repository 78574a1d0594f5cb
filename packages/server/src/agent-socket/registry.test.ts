import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { readAnswer } from '../a2a/dispatch.js';
import { AGENT_SOCKET_REPLACED, AgentSocketLostError, AgentSockets, parseAgentFrame } from './registry.js';

/** A loopback pair: the platform side (handed to the registry) and the agent side (the test answers on it). */
async function pair(wss: WebSocketServer): Promise<{ platform: WebSocket; agent: WebSocket }> {
  const port = (wss.address() as AddressInfo).port;
  const platform = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const agent = new WebSocket(`ws://127.0.0.1:${port}`);
  await new Promise((resolve) => agent.once('open', resolve));
  return { platform: await platform, agent };
}

const WS_ID = '00000000-0000-4000-8000-000000000001';

describe('agent socket frames and registry (#15)', () => {
  const servers: WebSocketServer[] = [];
  const server = async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    servers.push(wss);
    return wss;
  };
  afterEach(async () => {
    for (const s of servers.splice(0)) {
      for (const c of s.clients) c.terminate();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('reads only well-formed a2a_response frames', () => {
    expect(parseAgentFrame('{"type":"a2a_response","id":"x","body":{"ok":1}}')).toEqual({ id: 'x', status: 200, body: { ok: 1 } });
    expect(parseAgentFrame('{"type":"a2a_response","id":"x","status":503,"body":null}')).toEqual({ id: 'x', status: 503, body: null });
    for (const bad of ['not json', '[]', '{"type":"a2a_request","id":"x"}', '{"type":"a2a_response"}', '{"type":"a2a_response","id":""}', `{"type":"a2a_response","id":"${'a'.repeat(101)}"}`, '{"type":"a2a_response","id":"x","status":99}', '{"type":"a2a_response","id":"x","status":"200"}', '{"type":"a2a_response","id":"x","status":200.5}']) {
      expect(parseAgentFrame(bad), bad).toBeUndefined();
    }
  });

  it('sends a request frame with a correlation id and resolves with the answer frame of that id (JSON, or one SSE event for a stream)', async () => {
    const wss = await server();
    const { platform, agent } = await pair(wss);
    const sockets = new AgentSockets();
    sockets.attach(WS_ID, platform);
    agent.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; id: string; request: { id: number } };
      expect(f.type).toBe('a2a_request');
      // An answer to nobody is ignored; the right id resolves.
      agent.send(JSON.stringify({ type: 'a2a_response', id: 'unknown', body: {} }));
      agent.send('garbage');
      agent.send(JSON.stringify({ type: 'a2a_response', id: f.id, body: { jsonrpc: '2.0', id: f.request.id, result: 'ok' } }));
    });
    const res = await sockets.post(WS_ID, { jsonrpc: '2.0', id: 7, method: 'message/send' }, new AbortController().signal);
    expect(res).toMatchObject({ status: 200, contentType: 'application/json' });
    expect(JSON.parse((await readAnswer(res.body)).toString())).toEqual({ jsonrpc: '2.0', id: 7, result: 'ok' });
    const streamed = await sockets.post(WS_ID, { jsonrpc: '2.0', id: 8, method: 'message/send' }, new AbortController().signal, { stream: true });
    expect(streamed.contentType).toBe('text/event-stream');
    expect((await readAnswer(streamed.body)).toString()).toBe('data: {"jsonrpc":"2.0","id":8,"result":"ok"}\n\n');
  });

  it('a second socket wins: the older is closed with 4000 and its in-flight request fails as lost', async () => {
    const wss = await server();
    const first = await pair(wss);
    const attached: string[] = [];
    const sockets = new AgentSockets({ attached: (id) => attached.push(id) });
    sockets.attach(WS_ID, first.platform);
    const inFlight = sockets.post(WS_ID, { jsonrpc: '2.0', id: 1, method: 'message/send' }, new AbortController().signal);
    const closed = new Promise<[number, string]>((resolve) => first.agent.once('close', (code, reason) => resolve([code, reason.toString()])));
    const second = await pair(wss);
    sockets.attach(WS_ID, second.platform);
    await expect(inFlight).rejects.toBeInstanceOf(AgentSocketLostError);
    expect(await closed).toEqual([AGENT_SOCKET_REPLACED.code, AGENT_SOCKET_REPLACED.reason]);
    // The older socket's close does not unregister the newer one.
    await new Promise((resolve) => first.platform.once('close', resolve));
    expect(sockets.has(WS_ID)).toBe(true);
    expect(attached).toEqual([WS_ID, WS_ID]);
  });

  it('a dropped socket fails its in-flight requests as lost and leaves the registry; an abort rejects with its reason', async () => {
    const wss = await server();
    const { platform, agent } = await pair(wss);
    const detached: string[] = [];
    const sockets = new AgentSockets({ detached: (id) => detached.push(id) });
    sockets.attach(WS_ID, platform);
    const abort = new AbortController();
    const aborted = sockets.post(WS_ID, { id: 1 }, abort.signal);
    abort.abort(new Error('idle'));
    await expect(aborted).rejects.toThrow('idle');
    const lost = sockets.post(WS_ID, { id: 2 }, new AbortController().signal);
    agent.terminate();
    await expect(lost).rejects.toBeInstanceOf(AgentSocketLostError);
    expect(sockets.has(WS_ID)).toBe(false);
    expect(detached).toEqual([WS_ID]);
    await expect(sockets.post(WS_ID, { id: 3 }, new AbortController().signal)).rejects.toBeInstanceOf(AgentSocketLostError);
  });

  it('an abandoned request (the signal aborts) sends the agent a2a_cancel with its id; an answer after that is ignored', async () => {
    const wss = await server();
    const { platform, agent } = await pair(wss);
    const sockets = new AgentSockets();
    sockets.attach(WS_ID, platform);
    const frames: { type: string; id: string }[] = [];
    agent.on('message', (data) => frames.push(JSON.parse(String(data)) as { type: string; id: string }));
    const abort = new AbortController();
    const pending = sockets.post(WS_ID, { jsonrpc: '2.0', id: 1, method: 'message/send' }, abort.signal);
    await expect.poll(() => frames.length, { timeout: 5_000, interval: 10 }).toBe(1);
    abort.abort(new Error('idle'));
    await expect(pending).rejects.toThrow('idle');
    await expect.poll(() => frames.length, { timeout: 5_000, interval: 10 }).toBe(2);
    expect(frames[1]).toEqual({ type: 'a2a_cancel', id: frames[0]!.id });
    // A late answer to it answers nothing; the socket keeps serving.
    agent.send(JSON.stringify({ type: 'a2a_response', id: frames[0]!.id, body: { late: true } }));
    agent.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string; id: string };
      if (f.type === 'a2a_request') agent.send(JSON.stringify({ type: 'a2a_response', id: f.id, body: { ok: true } }));
    });
    const next = await sockets.post(WS_ID, { jsonrpc: '2.0', id: 2, method: 'message/send' }, new AbortController().signal);
    expect(JSON.parse((await readAnswer(next.body)).toString())).toEqual({ ok: true });
  });

  it('replace(id, socketId) closes that socket with 4000 only if it is still the current one', async () => {
    const wss = await server();
    const { platform, agent } = await pair(wss);
    const detached: string[] = [];
    const sockets = new AgentSockets({ detached: (id) => detached.push(id) });
    const socketId = sockets.attach(WS_ID, platform);
    sockets.replace(WS_ID, 'some-other-socket');
    expect(sockets.has(WS_ID)).toBe(true);
    const closed = new Promise<[number, string]>((resolve) => agent.once('close', (code, reason) => resolve([code, reason.toString()])));
    const inFlight = sockets.post(WS_ID, { id: 1 }, new AbortController().signal);
    sockets.replace(WS_ID, socketId);
    await expect(inFlight).rejects.toBeInstanceOf(AgentSocketLostError);
    expect(await closed).toEqual([AGENT_SOCKET_REPLACED.code, AGENT_SOCKET_REPLACED.reason]);
    expect(sockets.has(WS_ID)).toBe(false);
    expect(detached).toEqual([WS_ID]);
  });
});
