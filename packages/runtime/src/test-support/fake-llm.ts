import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Set when the client went away before the answer ended (a canceled task). */
  aborted: boolean;
}

export interface FakeLlmOptions {
  /** The reply, streamed one chunk per entry. */
  chunks?: string[];
  /** Answer this status with an error body instead of streaming. */
  failWith?: number;
  /** Send the first chunk, then hold the stream open until the client goes away. */
  hang?: boolean;
}

/**
 * A local server speaking just enough of OpenAI's chat completions (`POST /v1/chat/completions`) and
 * Anthropic's Messages API (`POST /v1/messages`), streaming, for the real client libraries.
 */
export async function startFakeLlm(opts: FakeLlmOptions = {}) {
  const requests: LlmRequest[] = [];
  const chunks = opts.chunks ?? ['Hello', ' there', '!'];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      const rec: LlmRequest = { path: req.url ?? '', headers: req.headers, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, aborted: false };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      if (opts.failWith) {
        res.writeHead(opts.failWith, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'model not found' } }));
        return;
      }
      if (rec.path === '/v1/chat/completions') return openai(res, chunks, rec, opts.hang);
      if (rec.path === '/v1/messages') return anthropic(res, chunks, rec, opts.hang);
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function sse(res: ServerResponse, events: string[], hang: boolean | undefined) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  if (hang) {
    res.write(events[0]);
    return; // held open until the client aborts
  }
  for (const e of events) res.write(e);
  res.end();
}

function openai(res: ServerResponse, chunks: string[], req: LlmRequest, hang?: boolean) {
  const frame = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: req.body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const events = chunks.map((c, i) => frame(i === 0 ? { role: 'assistant', content: c } : { content: c }, null));
  sse(res, [...events, frame({}, 'stop'), 'data: [DONE]\n\n'], hang);
}

function anthropic(res: ServerResponse, chunks: string[], req: LlmRequest, hang?: boolean) {
  const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const events = [
    ev('message_start', {
      message: { id: 'msg_1', type: 'message', role: 'assistant', model: req.body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 1, output_tokens: 0 } },
    }),
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...chunks.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
    ev('content_block_stop', { index: 0 }),
    ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: chunks.length } }),
    ev('message_stop', {}),
  ];
  if (hang) {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(events[0]! + events[1]! + events[2]!);
    return;
  }
  sse(res, events, false);
}

export type FakeLlm = Awaited<ReturnType<typeof startFakeLlm>>;
