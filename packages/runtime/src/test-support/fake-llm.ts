import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmRequest {
  path: string;
  headers: IncomingHttpHeaders;
  body: Record<string, unknown>;
  /** Set when the client went away before the answer ended (a canceled task). */
  aborted: boolean;
}

/** A tool call the fake model makes; `args` is sent as given when a string (bad JSON on purpose). */
export interface FakeToolCall {
  id?: string;
  name: string;
  /** Responses API only: the tool namespace (Codex offers MCP tools as namespaces, e.g. `mcp__platform`). */
  namespace?: string;
  args: Record<string, unknown> | string;
}

/** One answer of the fake model: text chunks, then tool calls (when any, the answer ends asking for them). */
export interface FakeTurn {
  chunks?: string[];
  toolCalls?: FakeToolCall[];
}

export interface FakeLlmOptions {
  /** The reply, streamed one chunk per entry. */
  chunks?: string[];
  /** Answers in order, one per request to an endpoint; the last one repeats. Wins over `chunks`. */
  turns?: FakeTurn[];
  /** Answer this status with an error body instead of streaming. */
  failWith?: number;
  /** Send the first chunk, then hold the stream open until the client goes away. */
  hang?: boolean;
  /** Answer 200 with an event stream that is not one (not JSON: a broken proxy, a truncated frame). */
  malformed?: boolean;
}

/**
 * A local server speaking just enough of OpenAI's chat completions (`POST /v1/chat/completions`) and
 * Responses API (`POST /v1/responses`) and Anthropic's Messages API (`POST /v1/messages`),
 * streaming, for the real client libraries.
 */
export async function startFakeLlm(opts: FakeLlmOptions = {}) {
  const requests: LlmRequest[] = [];
  const chunks = opts.chunks ?? ['Hello', ' there', '!'];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += String(c)));
    req.on('end', () => {
      // Claude Code adds `?beta=true`: the path is matched without the query.
      const rec: LlmRequest = { path: (req.url ?? '').split('?')[0]!, headers: req.headers, body: raw ? (JSON.parse(raw) as Record<string, unknown>) : {}, aborted: false };
      requests.push(rec);
      res.on('close', () => {
        if (!res.writableFinished) rec.aborted = true;
      });
      if (opts.failWith) {
        res.writeHead(opts.failWith, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'model not found' } }));
        return;
      }
      if (opts.malformed) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('event: message_start\ndata: {not json\n\ndata: ]]]\n\n');
        return;
      }
      const nth = requests.filter((r) => r.path === rec.path).length - 1;
      const turn: FakeTurn = opts.turns ? opts.turns[Math.min(nth, opts.turns.length - 1)]! : { chunks };
      if (rec.path === '/v1/chat/completions') return openai(res, turn, rec, opts.hang);
      if (rec.path === '/v1/messages') return anthropic(res, turn, rec, opts.hang);
      if (rec.path === '/v1/responses') return responses(res, turn, rec, opts.hang);
      if (rec.path === '/v1/messages/count_tokens') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"input_tokens":10}');
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

/** Input tokens the fake model counts for every request. */
export const FAKE_INPUT_TOKENS = 100;
/** The token counts the fake model reports for a turn: FAKE_INPUT_TOKENS in, one out per chunk and tool call. */
export function fakeUsage(turn: FakeTurn): { input: number; output: number } {
  return { input: FAKE_INPUT_TOKENS, output: Math.max(1, (turn.chunks?.length ?? 0) + (turn.toolCalls?.length ?? 0)) };
}

const argsText = (c: FakeToolCall) => (typeof c.args === 'string' ? c.args : JSON.stringify(c.args));
const callId = (c: FakeToolCall, i: number) => c.id ?? `call_${i + 1}`;

/** Splits a text in two pieces, as a model streams arguments in fragments. */
function halves(text: string): string[] {
  const mid = Math.ceil(text.length / 2);
  return text.length < 2 ? [text] : [text.slice(0, mid), text.slice(mid)];
}

function openai(res: ServerResponse, turn: FakeTurn, req: LlmRequest, hang?: boolean) {
  const frame = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: req.body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const chunks = turn.chunks ?? [];
  const calls = turn.toolCalls ?? [];
  const events = chunks.map((c, i) => frame(i === 0 ? { role: 'assistant', content: c } : { content: c }, null));
  calls.forEach((c, index) => {
    const [first = '', ...rest] = halves(argsText(c));
    events.push(frame({ ...(events.length === 0 ? { role: 'assistant', content: null } : {}), tool_calls: [{ index, id: callId(c, index), type: 'function', function: { name: c.name, arguments: first } }] }, null));
    for (const piece of rest) events.push(frame({ tool_calls: [{ index, function: { arguments: piece } }] }, null));
  });
  // As OpenAI does when asked with stream_options.include_usage: one last chunk, no choices, the counts.
  const u = fakeUsage(turn);
  const asked = req.body.stream_options as { include_usage?: boolean } | undefined;
  const usage = asked?.include_usage
    ? [`data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: req.body.model, choices: [], usage: { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output } })}\n\n`]
    : [];
  sse(res, [...events, frame({}, calls.length > 0 ? 'tool_calls' : 'stop'), ...usage, 'data: [DONE]\n\n'], hang);
}

function responses(res: ServerResponse, turn: FakeTurn, req: LlmRequest, hang?: boolean) {
  let seq = 0;
  const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: seq++, ...data })}\n\n`;
  const chunks = turn.chunks ?? [];
  const calls = turn.toolCalls ?? [];
  const base = { id: 'resp_1', object: 'response', created_at: 1, model: req.body.model, error: null, incomplete_details: null, instructions: null, tools: [], parallel_tool_calls: true, tool_choice: 'auto', temperature: 1, top_p: 1 };
  const events = [ev('response.created', { response: { ...base, status: 'in_progress', output: [] } })];
  const output: Record<string, unknown>[] = [];
  if (chunks.length > 0) {
    const text = chunks.join('');
    const item = { type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
    events.push(
      ev('response.output_item.added', { output_index: 0, item: { ...item, status: 'in_progress', content: [] } }),
      ev('response.content_part.added', { item_id: 'msg_1', output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } }),
      ...chunks.map((delta) => ev('response.output_text.delta', { item_id: 'msg_1', output_index: 0, content_index: 0, delta })),
      ev('response.output_text.done', { item_id: 'msg_1', output_index: 0, content_index: 0, text }),
      ev('response.output_item.done', { output_index: 0, item }),
    );
    output.push(item);
  }
  calls.forEach((c, i) => {
    const index = output.length;
    const item = { type: 'function_call', id: `fc_${i + 1}`, call_id: callId(c, i), name: c.name, ...(c.namespace ? { namespace: c.namespace } : {}), arguments: argsText(c), status: 'completed' };
    events.push(
      ev('response.output_item.added', { output_index: index, item: { ...item, arguments: '', status: 'in_progress' } }),
      ...halves(argsText(c)).map((delta) => ev('response.function_call_arguments.delta', { item_id: item.id, output_index: index, delta })),
      ev('response.function_call_arguments.done', { item_id: item.id, output_index: index, arguments: item.arguments }),
      ev('response.output_item.done', { output_index: index, item }),
    );
    output.push(item);
  });
  const u = fakeUsage(turn);
  const usage = { input_tokens: u.input, output_tokens: u.output, total_tokens: u.input + u.output, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } };
  events.push(ev('response.completed', { response: { ...base, status: 'completed', output, usage } }));
  sse(res, events, hang);
}

function anthropic(res: ServerResponse, turn: FakeTurn, req: LlmRequest, hang?: boolean) {
  const ev = (type: string, data: Record<string, unknown>) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  const chunks = turn.chunks ?? [];
  const calls = turn.toolCalls ?? [];
  const blocks: string[] = [];
  if (chunks.length > 0 || calls.length === 0) {
    blocks.push(
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ...chunks.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
      ev('content_block_stop', { index: 0 }),
    );
  }
  const offset = blocks.length > 0 ? 1 : 0;
  calls.forEach((c, i) => {
    const index = i + offset;
    blocks.push(
      ev('content_block_start', { index, content_block: { type: 'tool_use', id: callId(c, i), name: c.name, input: {} } }),
      ...halves(argsText(c)).map((partial_json) => ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json } })),
      ev('content_block_stop', { index }),
    );
  });
  const events = [
    ev('message_start', {
      message: { id: 'msg_1', type: 'message', role: 'assistant', model: req.body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: fakeUsage(turn).input, output_tokens: 0 } },
    }),
    ...blocks,
    ev('message_delta', { delta: { stop_reason: calls.length > 0 ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: fakeUsage(turn).output } }),
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
