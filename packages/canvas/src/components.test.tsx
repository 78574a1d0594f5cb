// @vitest-environment jsdom
import { act, cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { CONNECT_SNIPPETS, type WorkspaceView } from '@molecule/contracts';
import { createApi } from './api.js';
import { ConfirmDelete } from './ConfirmDelete.js';
import { Dialog } from './Dialog.js';
import { ConnectDialog, CreateDialog } from './CreateDialog.js';
import { createFeed } from './feed.js';
import { ChatTab } from './Chat.js';
import { BudgetSection } from './Budget.js';
import { DetailsTab } from './DetailsTab.js';
import { ConfigTab } from './ConfigTab.js';
import { ContextMenu } from './Menu.js';
import { Panel, PANEL_TABS } from './Panel.js';
import { SearchDialog } from './Search.js';
import { SecretsEditor } from './Secrets.js';
import { describeCron, SchedulesEditor } from './Schedules.js';
import { ImportOrgDialog, ImportProgress } from './OrgImport.js';
import { FilesBrowser } from './Files.js';
import { PluginsTab } from './Plugins.js';
import { ws } from './test-fixture.js';
import { When } from './When.js';

afterEach(cleanup);

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
/** The real API client over a fake fetch that answers by route and records what was sent. */
function fakeApi(routes: Record<string, (body: unknown) => Response>) {
  const sent: { method: string; url: string; body: unknown }[] = [];
  const api = createApi({
    fetchImpl: async (input, init) => {
      const url = String(input);
      const method = init?.method ?? 'GET';
      // JSON bodies are parsed; anything else (a file upload) is kept as sent.
      const body = init?.body === undefined || init.body === null ? undefined : typeof init.body === 'string' ? JSON.parse(init.body) : init.body;
      sent.push({ method, url, body });
      const route = Object.keys(routes).find((k) => `${method} ${url}`.startsWith(k));
      return route ? routes[route]!(body) : json(404, { error: 'not found' });
    },
  });
  return { api, sent };
}
const byId = (list: WorkspaceView[]) => Object.fromEntries(list.map((w) => [w.id, w]));

describe('create dialog', () => {
  it('shows the errors at their fields (aria-invalid, described by the message) and sends nothing for an empty or over-long name', async () => {
    const user = userEvent.setup();
    const { api, sent } = fakeApi({});
    render(<CreateDialog api={api} workspaces={{}} onClose={() => undefined} onCreated={() => undefined} />);
    const name = screen.getByLabelText('Name');
    expect(document.activeElement).toBe(name);
    await user.click(screen.getByRole('button', { name: 'Create' }));
    expect(name.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText('name is required').id).toBe(name.getAttribute('aria-describedby'));
    await user.type(name, 'x'.repeat(256));
    await user.click(screen.getByRole('button', { name: 'Create' }));
    expect(screen.getByText('name must be at most 255 characters')).toBeTruthy();
    // Nothing was sent but the reads of the templates and runtimes to choose from.
    expect(sent.map((s) => `${s.method} ${s.url}`).sort()).toEqual(['GET /runtimes', 'GET /templates']);
  });

  it('offers only the runtimes the platform can run, each with the keys it needs (issue #16)', async () => {
    const rt = (name: string, runnable: boolean, required_env: string[] = []) => ({ name, runnable, required_env, description: name, ...(runnable ? {} : { reason: 'no' }) });
    const { api } = fakeApi({
      'GET /runtimes': () => json(200, [rt('molecule', true), rt('external', true), rt('claude-code', true, ['ANTHROPIC_API_KEY']), rt('hermes', false)]),
    });
    render(<CreateDialog api={api} workspaces={{}} onClose={() => undefined} onCreated={() => undefined} />);
    const select = screen.getByLabelText('Runtime') as HTMLSelectElement;
    await waitFor(() => expect([...select.options].map((o) => o.value)).toEqual(['', 'molecule', 'external', 'claude-code']));
    expect([...select.options].map((o) => o.textContent)).toContain('claude-code (needs ANTHROPIC_API_KEY)');
  });

  it("sends the API body and puts the API's refusal at its field", async () => {
    const user = userEvent.setup();
    const lead = ws({ name: 'Lead' });
    let created: unknown;
    const { api, sent } = fakeApi({
      'GET /templates': () => json(200, [{ id: 'echo', name: 'Echo', description: 'Answers with what it got.', runtime: 'molecule', model: '', skills: [], skill_count: 0, providers: [] }]),
      'POST /workspaces': (body) =>
        (body as { budget_limit?: number }).budget_limit === 999900
          ? json(400, { error: 'invalid', code: 'invalid_request', details: [{ path: '/budget_limit', message: 'budget is over the org cap' }] })
          : json(201, { ...ws({ name: 'Scout' }), ...(body as object) }),
    });
    render(<CreateDialog api={api} workspaces={byId([lead])} onClose={() => undefined} onCreated={(w) => (created = w)} />);
    await user.type(screen.getByLabelText('Name'), 'Scout');
    await user.selectOptions(screen.getByLabelText('Reports to'), lead.id);
    await user.selectOptions(screen.getByLabelText('Tier'), '3');
    await user.selectOptions(await screen.findByLabelText('Template'), 'echo');
    await screen.findByText('Answers with what it got.');
    await user.type(screen.getByLabelText('Monthly budget (USD)'), '9999');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await screen.findByText('budget is over the org cap');
    expect(screen.getByLabelText('Monthly budget (USD)').getAttribute('aria-invalid')).toBe('true');
    expect(created).toBeUndefined();
    await user.clear(screen.getByLabelText('Monthly budget (USD)'));
    await user.type(screen.getByLabelText('Monthly budget (USD)'), '25');
    await user.click(screen.getByRole('button', { name: 'Create' }));
    await waitFor(() => expect(created).toMatchObject({ name: 'Scout' }));
    expect(sent.at(-1)).toEqual({ method: 'POST', url: '/workspaces', body: { name: 'Scout', parent_id: lead.id, template: 'echo', tier: 3, budget_limit: 2500 } });
  });

  it('Escape closes it, and focus stays inside while it is open', async () => {
    const user = userEvent.setup();
    let closed = false;
    render(<CreateDialog api={fakeApi({}).api} workspaces={{}} onClose={() => (closed = true)} onCreated={() => undefined} />);
    const dialog = screen.getByRole('dialog', { name: 'Create a workspace' });
    for (let i = 0; i < 15; i++) {
      await user.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
    await user.keyboard('{Escape}');
    expect(closed).toBe(true);
  });
});

describe('connect dialog', () => {
  const fields = {
    workspace_id: '00000000-0000-4000-8000-000000000abc',
    platform_url: 'http://127.0.0.1:8080',
    auth_token: 'mol_ws_secret',
    registry_endpoint: 'http://127.0.0.1:8080/registry/register',
    heartbeat_endpoint: 'http://127.0.0.1:8080/registry/heartbeat',
  };
  const snippets = Object.fromEntries(CONNECT_SNIPPETS.map((s) => [s.field, `${s.label} snippet with mol_ws_secret`]));

  it('C273 shows a tab per snippet in order, Universal MCP first and selected, each copied whole; arrow keys move between tabs; Fields holds the token', async () => {
    const user = userEvent.setup();
    const { rerender } = render(<ConnectDialog name="Laptop" connection={{ ...fields, ...snippets }} status="awaiting_agent" onClose={() => undefined} />);
    expect(screen.getAllByRole('tab').map((t) => t.textContent)).toEqual(['Universal MCP', 'Python', 'Claude Code', 'Hermes', 'Codex', 'OpenClaw', 'curl', 'Fields']);
    expect(screen.getByRole('tab', { name: 'Universal MCP' }).getAttribute('aria-selected')).toBe('true');
    expect(screen.getByLabelText('Universal MCP snippet').textContent).toBe('Universal MCP snippet with mol_ws_secret');
    await user.click(screen.getByRole('button', { name: 'Copy Universal MCP snippet' }));
    expect(await navigator.clipboard.readText()).toBe('Universal MCP snippet with mol_ws_secret');
    screen.getByRole('tab', { name: 'Universal MCP' }).focus();
    await user.keyboard('{ArrowRight}');
    expect(document.activeElement?.textContent).toBe('Python');
    expect(screen.getByLabelText('Python snippet').textContent).toBe('Python snippet with mol_ws_secret');
    await user.keyboard('{End}');
    expect(document.activeElement?.textContent).toBe('Fields');
    expect((screen.getByLabelText('Token') as HTMLInputElement).value).toBe('mol_ws_secret');
    expect(screen.getByRole('dialog').textContent).toContain('POST http://127.0.0.1:8080/registry/register');
    expect(screen.getByText(/Waiting for the agent to connect/)).toBeTruthy();
    rerender(<ConnectDialog name="Laptop" connection={{ ...fields, ...snippets }} status="online" onClose={() => undefined} />);
    expect(screen.getByText('Laptop is online.')).toBeTruthy();
  });

  it("C268 the Details tab of an external workspace: 'New connection snippet' mints through POST /workspaces/:id/connection and opens the dialog with its snippets", async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Laptop', runtime: 'external' });
    const { api, sent } = fakeApi({
      [`POST /workspaces/${w.id}/connection`]: () => json(201, { ...fields, workspace_id: w.id, ...snippets }),
      [`GET /workspaces/${w.id}/budget`]: () => json(503, { error: 'unavailable', code: 'platform_unavailable' }),
      [`GET /workspaces/${w.id}/tokens`]: () => json(200, { tokens: [] }),
    });
    const shown: [string, unknown][] = [];
    render(<DetailsTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={{ requestDelete: () => undefined, showConnect: (name, c) => shown.push([name, c]), move: async () => undefined }} />);
    await user.click(screen.getByRole('button', { name: 'New connection snippet' }));
    await waitFor(() => expect(shown).toEqual([['Laptop', { ...fields, workspace_id: w.id, ...snippets }]]));
    expect(sent.filter((r) => r.method === 'POST').map((r) => r.url)).toEqual([`/workspaces/${w.id}/connection`]);
  });

  it('C268 shows only the tabs whose snippet the platform returned', async () => {
    const user = userEvent.setup();
    render(<ConnectDialog name="Laptop" connection={fields} status={undefined} onClose={() => undefined} />);
    expect(screen.getAllByRole('tab').map((t) => t.textContent)).toEqual(['Fields']);
    await user.click(screen.getByRole('button', { name: 'Copy token' }));
    expect(await navigator.clipboard.readText()).toBe('mol_ws_secret');
    expect(screen.getByText('Token copied.')).toBeTruthy();
  });
});

describe('delete confirmation', () => {
  it('names every workspace that goes, starts on Cancel, and Escape backs out', async () => {
    const user = userEvent.setup();
    const lead = ws({ name: 'Lead' });
    const kid = ws({ name: 'Kid', parent_id: lead.id });
    let result = '';
    render(<ConfirmDelete workspaces={byId([lead, kid])} ids={[lead.id]} onCancel={() => (result = 'cancel')} onConfirm={() => (result = 'confirm')} />);
    const dialog = screen.getByRole('alertdialog', { name: 'Delete Lead?' });
    expect(within(dialog).getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Lead', 'Kid']);
    expect(document.activeElement?.textContent).toBe('Cancel');
    expect(screen.getByRole('button', { name: 'Delete 2 workspaces' })).toBeTruthy();
    await user.keyboard('{Escape}');
    expect(result).toBe('cancel');
  });
});

describe('search', () => {
  it('filters as you type; arrows choose, Enter goes', async () => {
    const user = userEvent.setup();
    const list = [ws({ name: 'Alpha' }), ws({ name: 'Alps', role: 'climber' }), ws({ name: 'Beta' })];
    let went = '';
    render(<SearchDialog workspaces={byId(list)} onClose={() => undefined} onGo={(id) => (went = id)} />);
    await user.keyboard('alp');
    expect(screen.getAllByRole('option').map((o) => o.querySelector('strong')?.textContent)).toEqual(['Alpha', 'Alps']);
    await user.keyboard('{ArrowDown}{Enter}');
    expect(went).toBe(list[1]!.id);
  });
});

describe('context menu', () => {
  it('takes focus, moves with the arrows, runs with Enter, closes on Escape', async () => {
    const user = userEvent.setup();
    const ran: string[] = [];
    let closed = 0;
    const items = ['Open chat', 'Restart', 'Delete…'].map((label) => ({ label, run: () => ran.push(label) }));
    const { rerender } = render(<ContextMenu title="Actions for A" at={{ x: 10, y: 10 }} items={items} onClose={() => closed++} />);
    expect(document.activeElement?.textContent).toBe('Open chat');
    await user.keyboard('{ArrowDown}{ArrowDown}{ArrowDown}');
    expect(document.activeElement?.textContent).toBe('Open chat');
    await user.keyboard('{ArrowUp}{Enter}');
    expect(ran).toEqual(['Delete…']);
    rerender(<ContextMenu title="Actions for A" at={{ x: 10, y: 10 }} items={items} onClose={() => closed++} />);
    await user.keyboard('{Escape}');
    expect(closed).toBe(2);
  });
});

describe('side panel', () => {
  it('lists its tabs from one registry; the arrow keys move between them; Escape closes it', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Echo' });
    const { api } = fakeApi({ 'GET /workspaces/': () => json(200, []), 'GET /events/': () => json(200, []) });
    let tab = 'chat';
    let closed = false;
    const props = { workspace: w, workspaces: byId([w]), api, feed: createFeed(), canvas: { requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined } };
    const { rerender } = render(<Panel {...props} tab={tab} onTab={(t) => (tab = t)} onClose={() => (closed = true)} />);
    expect(screen.getAllByRole('tab').map((t) => t.textContent)).toEqual(PANEL_TABS.map((t) => t.label));
    expect(document.activeElement?.textContent).toBe('Chat');
    await user.keyboard('{ArrowRight}');
    expect(tab).toBe('activity');
    rerender(<Panel {...props} tab={tab} onTab={(t) => (tab = t)} onClose={() => (closed = true)} />);
    expect(screen.getByRole('tab', { name: 'Activity' }).getAttribute('aria-selected')).toBe('true');
    await screen.findByText('No activity yet.');
    await user.keyboard('{Escape}');
    expect(closed).toBe(true);
  });
});

describe('chat', () => {
  const commands = { requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined };
  const sse = (events: unknown[], thenFail?: boolean) =>
    new Response(
      // One event per read, then the end (or the connection failing: the error comes after what was sent).
      new ReadableStream({
        pull(c) {
          const e = events.shift();
          if (e !== undefined) c.enqueue(new TextEncoder().encode(`data: ${JSON.stringify(e)}\n\n`));
          else if (thenFail) c.error(new TypeError('network error'));
          else c.close();
        },
      }),
      { status: 200, headers: { 'content-type': 'text/event-stream' } },
    );
  const chunk = (text: string) => ({ jsonrpc: '2.0', id: 1, result: { kind: 'artifact-update', append: true, artifact: { parts: [{ kind: 'text', text }] } } });

  it('the platform going away mid-answer: what arrived stays, and the chat says the agent got the message', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Echo' });
    const { api } = fakeApi({ 'GET /workspaces/': () => json(200, []), 'POST /workspaces/': () => sse([chunk('half an ans')], true) });
    render(<ChatTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={commands} />);
    await user.type(screen.getByLabelText('Message to Echo'), 'hi{Enter}');
    await screen.findByText(/The answer was cut off/);
    expect(screen.getByText(/The answer was cut off/).textContent).toContain('The agent got the message');
    expect(screen.getByRole('log').querySelector('[data-from="agent"]')?.textContent).toBe('Echo: half an ans');
    expect(screen.getByRole('button', { name: 'Send' })).toBeTruthy();
  });

  it('a message to a poll agent that did not reply in time: the chat says it waits in the inbox, and shows the reply when the agent sends it', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Laptop agent', runtime: 'external' });
    const feed = createFeed();
    const { api, sent } = fakeApi({ 'GET /workspaces/': () => json(200, []), 'POST /workspaces/': () => json(200, { status: 'queued', delivery_mode: 'poll', method: 'message/stream' }) });
    render(<ChatTab workspace={w} workspaces={byId([w])} api={api} feed={feed} canvas={commands} />);
    await user.type(screen.getByLabelText('Message to Laptop agent'), 'are you there?{Enter}');
    await screen.findByText(/waiting there, and its reply will appear here/);
    const requestId = (sent.find((r) => r.method === 'POST')!.body as { id: string }).id;
    const reply = (id: string, text: string) => ({ type: 'A2A_RESPONSE' as const, workspace_id: w.id, payload: { method: 'message/stream', response_body: { jsonrpc: '2.0', id, result: { kind: 'message', role: 'agent', messageId: 'r', parts: [{ kind: 'text', text }] } } }, at: new Date().toISOString(), seq: 2 });
    // Another message's reply is not this one's.
    act(() => feed.publish(reply('someone-else', 'not for you')));
    expect(screen.queryByText(/not for you/)).toBeNull();
    act(() => feed.publish(reply(requestId, 'yes, here')));
    await waitFor(() => expect(screen.getByRole('log').querySelector('[data-from="agent"]')?.textContent).toBe('Laptop agent: yes, here'));
    expect(screen.queryByText(/waiting there/)).toBeNull();
  });

  it('C072 C078 an attached file is uploaded through /chat/uploads before the message, which carries it as a file part; file chips download through /chat/download', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Files' });
    const stored = { uri: 'workspace:/workspace/.molecule/chat-uploads/0a1b-notes.txt', name: 'notes.txt', mimeType: 'text/plain', size: 5 };
    const { api, sent } = fakeApi({
      [`POST /workspaces/${w.id}/chat/uploads`]: () => json(200, { files: [stored] }),
      'GET /workspaces/': () => json(200, []),
      'POST /workspaces/': () => sse([chunk('got it')]),
    });
    render(<ChatTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={commands} />);
    await user.upload(screen.getByLabelText('Files to attach'), new File(['hello'], 'notes.txt', { type: 'text/plain' }));
    expect(within(screen.getByRole('list', { name: 'Files to send' })).getByText(/notes\.txt/)).toBeTruthy();
    await user.type(screen.getByLabelText('Message to Files'), 'read this{Enter}');
    await screen.findByText('got it');

    const posts = sent.filter((s) => s.method === 'POST');
    expect(posts.map((s) => s.url)).toEqual([`/workspaces/${w.id}/chat/uploads`, `/workspaces/${w.id}/a2a`]);
    const form = posts[0]!.body as FormData;
    expect((form.get('files') as File).name).toBe('notes.txt');
    const parts = (posts[1]!.body as { params: { message: { parts: unknown[] } } }).params.message.parts;
    expect(parts).toEqual([{ kind: 'text', text: 'read this' }, { kind: 'file', file: { uri: stored.uri, name: 'notes.txt', mimeType: 'text/plain' } }]);
    expect(screen.queryByRole('list', { name: 'Files to send' })).toBeNull();
    // The sent file's chip downloads through the platform.
    const link = within(screen.getByRole('log')).getByRole('link', { name: /notes\.txt/ });
    expect(link.getAttribute('href')).toBe(`/workspaces/${w.id}/chat/download?path=${encodeURIComponent('/workspace/.molecule/chat-uploads/0a1b-notes.txt')}`);
  });

  it('C072 a refused upload sends no message and keeps the files for another try', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Files' });
    const { api, sent } = fakeApi({
      [`POST /workspaces/${w.id}/chat/uploads`]: () => json(413, { error: 'request file too large (file "big.bin")' }),
      'GET /workspaces/': () => json(200, []),
    });
    render(<ChatTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={commands} />);
    await user.upload(screen.getByLabelText('Files to attach'), new File(['x'], 'big.bin'));
    await user.click(screen.getByRole('button', { name: 'Send' }));
    await screen.findByText(/Not sent: the files could not be uploaded \(request file too large \(file "big.bin"\)\)/);
    expect(sent.filter((s) => s.method === 'POST').map((s) => s.url)).toEqual([`/workspaces/${w.id}/chat/uploads`]);
    expect(within(screen.getByRole('list', { name: 'Files to send' })).getByText(/big\.bin/)).toBeTruthy();
  });

  it('a queued message is followed through the queue until its answer replaces the line', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Busy' });
    let polls = 0;
    const answer = { jsonrpc: '2.0', id: 1, result: { kind: 'message', role: 'agent', parts: [{ kind: 'text', text: 'done: hi' }] } };
    const { api } = fakeApi({
      // The queue item: waiting at first, then delivered with the agent's answer.
      [`GET /workspaces/${w.id}/a2a/queue/q-1`]: () =>
        ++polls === 1 ? json(200, { status: 'queued', attempts: 1, last_error: null }) : json(200, { status: 'completed', attempts: 2, last_error: null, response_body: answer }),
      'GET /workspaces/': () => json(200, []),
      'POST /workspaces/': () => json(202, { queued: true, queue_id: 'q-1', queue_depth: 1, status: 'queued' }),
    });
    render(<ChatTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={commands} />);
    await user.type(screen.getByLabelText('Message to Busy'), 'hi{Enter}');
    await screen.findByText(/your message is queued \(q-1\)/);
    await screen.findByText(/Queue: waiting, 1 delivery attempt so far/, {}, { timeout: 5_000 });
    await screen.findByText('done: hi', {}, { timeout: 10_000 });
    expect(screen.queryByText(/queued/)).toBeNull();
  }, 20_000);
});

describe('secrets editor', () => {
  const view = (over: Record<string, unknown>) => ({ has_value: true, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z', ...over });

  it("lists a workspace's secrets with where each comes from, never a value; only its own can be deleted here", async () => {
    const w = ws({ name: 'member' });
    const { api } = fakeApi({
      [`GET /workspaces/${w.id}/secrets`]: () =>
        json(200, [
          view({ key: 'OPENAI_API_KEY', scope: 'ancestor', workspace_id: w.id, workspace_name: 'lead', overrides: ['global'] }),
          view({ key: 'REGION', scope: 'global' }),
          view({ key: 'TOOL_TOKEN', scope: 'workspace', workspace_id: w.id, workspace_name: 'member' }),
        ]),
    });
    render(<SecretsEditor api={api} workspaceId={w.id} />);
    const rows = await screen.findAllByRole('row');
    expect(rows.slice(1).map((r) => r.textContent)).toEqual([
      expect.stringContaining('OPENAI_API_KEYinherited from lead (overrides global)'),
      expect.stringContaining('REGIONorg-wide'),
      expect.stringContaining('TOOL_TOKENthis workspace'),
    ]);
    expect(screen.getAllByRole('button', { name: /Delete secret/ }).map((b) => b.getAttribute('aria-label'))).toEqual(['Delete secret TOOL_TOKEN']);
  });

  it('checks the name and value before sending (errors at the field); a save says who runs with the old value', async () => {
    const user = userEvent.setup();
    const { api, sent } = fakeApi({
      'GET /settings/secrets': () => json(200, []),
      'PUT /settings/secrets': () => json(200, { status: 'saved', key: 'API_KEY', scope: 'global', restart_required: ['a', 'b', 'c'], restarted: ['a'] }),
    });
    render(<SecretsEditor api={api} />);
    await user.type(screen.getByLabelText('Name'), '1-bad');
    await user.click(screen.getByRole('button', { name: 'Save org-wide' }));
    expect(screen.getByText(/environment variable name/).id).toBe(screen.getByLabelText('Name').getAttribute('aria-describedby'));
    expect(screen.getByText('value must not be empty')).toBeTruthy();
    expect(sent.filter((s) => s.method === 'PUT')).toEqual([]);
    await user.clear(screen.getByLabelText('Name'));
    await user.type(screen.getByLabelText('Name'), 'API_KEY');
    await user.type(screen.getByLabelText('Value'), 'sk-1');
    await user.click(screen.getByLabelText(/Restart the workspaces/));
    await user.click(screen.getByRole('button', { name: 'Save org-wide' }));
    await screen.findByText('API_KEY saved. Restarted 1 workspace to apply it. 2 workspaces run with the old value until restarted.');
    expect(sent.find((s) => s.method === 'PUT')).toEqual({ method: 'PUT', url: '/settings/secrets?restart=true', body: { key: 'API_KEY', value: 'sk-1' } });
    expect((screen.getByLabelText('Value') as HTMLInputElement).value).toBe('');
  });
});

describe('config tab', () => {
  it('what the user types before the kept values load is not overwritten when they arrive', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'cfg-early' });
    const { api: real } = fakeApi({
      [`GET /workspaces/${w.id}/model`]: () => json(200, { model: 'openai/gpt-4o', source: 'workspace_secrets' }),
      [`GET /workspaces/${w.id}/provider`]: () => json(200, { provider: 'openrouter', source: 'workspace_secrets' }),
    });
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let asked = 0;
    const api = { ...real, choice: async (...a: Parameters<typeof real.choice>) => (asked++, await gate, real.choice(...a)) } as typeof real;
    render(<ConfigTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={{ requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined }} />);
    await user.type(screen.getByLabelText('Model'), 'anthropic/claude-haiku');
    expect(asked).toBe(2);
    open();
    await waitFor(() => expect((screen.getByLabelText('Provider') as HTMLInputElement).value).toBe('openrouter'));
    expect((screen.getByLabelText('Model') as HTMLInputElement).value).toBe('anthropic/claude-haiku');
    expect(screen.getByRole('button', { name: 'Save model' }).hasAttribute('disabled')).toBe(false);
  });

  it('shows the kept model and provider, checks a change before sending, and says whether the agent restarts to apply it', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'cfg' });
    const { api, sent } = fakeApi({
      [`GET /workspaces/${w.id}/model`]: () => json(200, { model: 'openai/gpt-4o', source: 'workspace_secrets' }),
      [`GET /workspaces/${w.id}/provider`]: () => json(200, { provider: 'openrouter', source: 'workspace_secrets' }),
      [`PUT /workspaces/${w.id}/model`]: () => json(200, { status: 'saved', model: 'anthropic/claude-haiku', restarted: true }),
    });
    render(<ConfigTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={{ requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined }} />);
    await waitFor(() => expect((screen.getByLabelText('Model') as HTMLInputElement).value).toBe('openai/gpt-4o'));
    expect((screen.getByLabelText('Provider') as HTMLInputElement).value).toBe('openrouter');
    expect(screen.getByRole('button', { name: 'Save model' }).hasAttribute('disabled')).toBe(true);
    await user.clear(screen.getByLabelText('Provider'));
    await user.type(screen.getByLabelText('Provider'), 'Not A Slug');
    await user.click(screen.getByRole('button', { name: 'Save provider' }));
    expect(screen.getByRole('alert').textContent).toMatch(/must be a slug/);
    expect(sent.filter((s) => s.method === 'PUT')).toEqual([]);
    await user.clear(screen.getByLabelText('Model'));
    await user.type(screen.getByLabelText('Model'), 'anthropic/claude-haiku');
    await user.click(screen.getByRole('button', { name: 'Save model' }));
    await screen.findByText('Model saved. The agent is restarting to apply it.');
    expect(sent.find((s) => s.method === 'PUT')).toEqual({ method: 'PUT', url: `/workspaces/${w.id}/model`, body: { model: 'anthropic/claude-haiku' } });
    expect((screen.getByLabelText('Provider') as HTMLInputElement).value).toBe('anthropic');
  });
});

describe('agent card in the Details tab', () => {
  const details = (w: ReturnType<typeof ws>) => {
    const { api } = fakeApi({ [`GET /workspaces/${w.id}/budget`]: () => json(404, { error: 'no budget' }), 'GET /workspaces/': () => json(200, { tokens: [] }) });
    render(<DetailsTab workspace={w} workspaces={byId([w])} api={api} feed={createFeed()} canvas={{ requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined }} />);
  };

  it('shows the card an agent published: name, version, description and skills (#15 item 6)', async () => {
    details(ws({ name: 'Planner', runtime: 'external', agent_card: { name: 'Travel planner', version: '2.1.0', description: 'Plans trips', skills: [{ id: 'plan', name: 'Plan a trip', description: 'Itineraries' }, { id: 'book' }, { description: 'no name' }] } }));
    const card = within(await screen.findByRole('region', { name: 'Agent card' }));
    expect(card.getByText(/Travel planner/).closest('p')?.textContent).toBe('Travel planner (version 2.1.0): Plans trips');
    expect(card.getAllByRole('listitem').map((li) => li.textContent)).toEqual(['Plan a trip: Itineraries', 'book']);
  });

  it('a card with no name, or none at all, shows no section', () => {
    details(ws({ name: 'Quiet', agent_card: { description: 'nameless' } }));
    expect(screen.queryByRole('region', { name: 'Agent card' })).toBeNull();
  });
});

describe('budget in the Details tab', () => {
  const budgetView = (over: Record<string, unknown> = {}) => ({
    budget_limit: null,
    monthly_spend: 0,
    budget_remaining: null,
    budget_period: 'monthly',
    period_start: '2026-03-01T00:00:00.000Z',
    period_resets_at: '2026-04-01T00:00:00.000Z',
    period_spend: 0,
    team_budget_limit: null,
    team_spend: 0,
    team_remaining: null,
    blocked_by: null,
    ...over,
  });

  it("shows the limit, this period's spend, what remains, the team's figures and whose limit blocks calls", async () => {
    const lead = ws({ name: 'Lead' });
    const w = ws({ name: 'Scout', parent_id: lead.id });
    const { api } = fakeApi({
      [`GET /workspaces/${w.id}/budget`]: () =>
        json(200, budgetView({ budget_limit: 500, period_spend: 320, monthly_spend: 320, budget_remaining: 180, team_budget_limit: 400, team_spend: 410, team_remaining: -10, blocked_by: { scope: 'team', workspace_id: lead.id, limit: 1000, spend: 1200, period: 'weekly', resets_at: '2026-03-16T00:00:00.000Z' } })),
      'GET /workspaces/': () => json(200, { tokens: [] }),
    });
    render(<DetailsTab workspace={w} workspaces={byId([lead, w])} api={api} feed={createFeed()} canvas={{ requestDelete: () => undefined, showConnect: () => undefined, move: async () => undefined }} />);
    const section = within(await screen.findByRole('region', { name: 'Budget' }));
    expect(await section.findByRole('alert')).toHaveProperty('textContent', expect.stringMatching(/^Blocked: messages to this workspace are refused, the team budget of Lead is used up \(\$12\.00 of \$10\.00\) until /));
    const rows = section.getAllByRole('term').map((dt) => `${dt.textContent}: ${dt.nextElementSibling?.textContent}`);
    expect(rows.slice(0, 6)).toEqual(['Limit: $5.00 a month', 'Spent this month: $3.20', 'Remaining: $1.80', 'Team limit: $4.00', 'Team spent this month: $4.10', 'Team remaining: -$0.10']);
    expect((section.getByLabelText('Budget limit (USD)') as HTMLInputElement).value).toBe('5.00');
    expect((section.getByLabelText('Team budget limit (USD)') as HTMLInputElement).value).toBe('4.00');
  });

  it('checks amounts before sending, shows the API refusal at its field, then saves (empty clears) and follows WORKSPACE_UPDATED', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Solo' });
    let reads = 0;
    let current = budgetView({ budget_limit: 1000, budget_remaining: 1000 });
    const { api, sent } = fakeApi({
      [`GET /workspaces/${w.id}/budget`]: () => {
        reads++;
        return json(200, current);
      },
      [`PATCH /workspaces/${w.id}/budget`]: (body) => {
        const b = body as { team_budget_limit: number | null };
        if (b.team_budget_limit === 999_900) {
          return json(400, { error: 'invalid request body: /team_budget_limit over the org cap', code: 'invalid_request', details: [{ path: '/team_budget_limit', message: 'team budget is over the org cap' }] });
        }
        current = budgetView({ ...(body as object), budget_remaining: null });
        return json(200, current);
      },
    });
    const feed = createFeed();
    render(<BudgetSection workspace={w} workspaces={byId([w])} api={api} feed={feed} />);
    const limit = await screen.findByLabelText('Budget limit (USD)');
    const team = screen.getByLabelText('Team budget limit (USD)');

    await user.clear(limit);
    await user.type(limit, '12.345');
    await user.click(screen.getByRole('button', { name: 'Save budget' }));
    expect(limit.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByText(/an amount in dollars/).id).toBe(limit.getAttribute('aria-describedby')?.split(' ').at(-1));
    expect(sent.filter((s) => s.method === 'PATCH')).toEqual([]);

    await user.clear(limit);
    await user.type(team, '9999');
    await user.click(screen.getByRole('button', { name: 'Save budget' }));
    await screen.findByText('team budget is over the org cap');
    expect(team.getAttribute('aria-invalid')).toBe('true');

    await user.clear(team);
    await user.type(team, '25');
    await user.selectOptions(screen.getByLabelText('Period'), 'weekly');
    await user.click(screen.getByRole('button', { name: 'Save budget' }));
    await screen.findByText('Budget saved.');
    expect(sent.filter((s) => s.method === 'PATCH').at(-1)).toEqual({ method: 'PATCH', url: `/workspaces/${w.id}/budget`, body: { budget_limit: null, team_budget_limit: 2500, budget_period: 'weekly' } });
    expect(screen.getByText('Team spent this week')).toBeTruthy();
    expect(screen.queryByRole('alert')).toBeNull();

    // Another admin's change arrives as an event: the figures are read again and the notice shows.
    current = budgetView({ budget_limit: 0, budget_remaining: 0, blocked_by: { scope: 'workspace', workspace_id: w.id, limit: 0, spend: 0, period: 'monthly', resets_at: '2026-04-01T00:00:00.000Z' } });
    const before = reads;
    feed.publish({ type: 'WORKSPACE_UPDATED', workspace_id: w.id, payload: { budget: {} }, at: new Date().toISOString(), seq: 1 });
    expect(await screen.findByRole('alert')).toHaveProperty('textContent', expect.stringContaining('its own budget is used up ($0.00 of $0.00)'));
    expect(reads).toBe(before + 1);
  });
});

describe('schedules tab', () => {
  const schedule = (over: Record<string, unknown>) => ({
    id: '00000000-0000-4000-8000-00000000a001',
    workspace_id: 'w',
    name: 'Standup',
    cron_expr: '0 9 * * 1-5',
    timezone: 'Europe/Paris',
    prompt: 'Post the standup',
    enabled: true,
    last_run_at: null,
    next_run_at: '2026-12-07T08:00:00.000Z',
    run_count: 3,
    last_status: 'delivered',
    last_error: null,
    source: 'runtime',
    created_at: '2026-12-01T00:00:00.000Z',
    updated_at: '2026-12-01T00:00:00.000Z',
    ...over,
  });

  it('describes cron expressions in words', () => {
    expect(describeCron('0 9 * * 1-5')).toBe('At 09:00, Monday through Friday');
    expect(describeCron('*/5 * * * *')).toBe('Every 5 minutes');
    expect(describeCron('not cron')).toBeUndefined();
  });

  it('lists schedules in words with their next run; enable, run now and history act on the API; delete is confirmed first', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'sched' });
    const s = schedule({ workspace_id: w.id });
    const base = `/workspaces/${w.id}/schedules`;
    const { api, sent } = fakeApi({
      [`GET ${base}/${s.id}/history`]: () =>
        json(200, [{ id: 'r1', schedule_id: s.id, workspace_id: w.id, trigger: 'cron', status: 'delivered', due_at: s.next_run_at, started_at: s.next_run_at, finished_at: s.next_run_at, duration_ms: 1500, reply_summary: 'standup posted', error: null, message_id: 'm', queue_id: null, timestamp: s.next_run_at }]),
      [`GET ${base}`]: () => json(200, [s]),
      [`PATCH ${base}/${s.id}`]: (b) => json(200, { ...s, ...(b as object) }),
      [`POST ${base}/${s.id}/run`]: () => json(200, { status: 'fired', workspace_id: w.id, prompt: s.prompt, run: { status: 'running' } }),
      [`DELETE ${base}/${s.id}`]: () => json(200, { status: 'deleted' }),
    });
    render(<SchedulesEditor api={api} workspaceId={w.id} />);
    const item = await screen.findByRole('listitem', { name: 'Schedule Standup' });
    expect(item.textContent).toContain('At 09:00, Monday through Friday (Europe/Paris)');
    expect(item.textContent).toContain(`Next run: ${new Date(s.next_run_at).toLocaleString()}`);
    expect(item.textContent).toContain('Runs: 3 · last: delivered');

    await user.click(within(item).getByLabelText('Enabled: Standup'));
    expect(sent.find((x) => x.method === 'PATCH')).toEqual({ method: 'PATCH', url: `${base}/${s.id}`, body: { enabled: false } });
    await user.click(within(item).getByRole('button', { name: 'Run now' }));
    await screen.findByText('Standup: sent (running); see its history.');
    await user.click(within(item).getByRole('button', { name: 'History' }));
    expect(await screen.findByText('standup posted')).toBeTruthy();
    expect(screen.getByRole('table', { name: 'Run history' }).textContent).toContain('1.5 s');

    await user.click(within(item).getByRole('button', { name: 'Delete schedule Standup' }));
    const confirm = screen.getByRole('alertdialog', { name: 'Delete schedule Standup?' });
    await user.click(within(confirm).getByRole('button', { name: 'Cancel' }));
    expect(sent.filter((x) => x.method === 'DELETE')).toEqual([]);
    await user.click(within(item).getByRole('button', { name: 'Delete schedule Standup' }));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Delete schedule' }));
    await screen.findByText('Schedule Standup deleted.');
    expect(sent.filter((x) => x.method === 'DELETE').map((x) => x.url)).toEqual([`${base}/${s.id}`]);
  });

  it("checks a new schedule before sending, and shows the API's refusal at its field", async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'sched-new' });
    const base = `/workspaces/${w.id}/schedules`;
    const { api, sent } = fakeApi({
      [`GET ${base}`]: () => json(200, []),
      [`POST ${base}`]: () => json(400, { error: 'invalid timezone: Mars/Base', code: 'invalid_request', details: [{ path: '/timezone', message: 'invalid timezone: Mars/Base' }] }),
    });
    render(<SchedulesEditor api={api} workspaceId={w.id} />);
    await screen.findByText('No schedules yet.');
    await user.click(screen.getByRole('button', { name: 'New schedule' }));
    // The cron field reads back in words as it is typed.
    expect(screen.getByText('At 09:00, Monday through Friday')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    expect(screen.getByText('name must not be empty').id).toBe(screen.getByLabelText('Name').getAttribute('aria-describedby'));
    expect(screen.getByText('prompt must not be empty').id).toBe(screen.getByLabelText('Prompt').getAttribute('aria-describedby'));
    expect(sent.filter((x) => x.method === 'POST')).toEqual([]);

    await user.type(screen.getByLabelText('Name'), 'Report');
    await user.type(screen.getByLabelText('Prompt'), 'Write it');
    await user.clear(screen.getByLabelText('Time zone'));
    await user.type(screen.getByLabelText('Time zone'), 'Mars/Base');
    await user.click(screen.getByRole('button', { name: 'Create schedule' }));
    const tz = screen.getByLabelText('Time zone');
    await waitFor(() => expect(tz.getAttribute('aria-invalid')).toBe('true'));
    expect(screen.getByText('invalid timezone: Mars/Base').id).toBe(tz.getAttribute('aria-describedby')?.split(' ').at(-1));
    expect(sent.find((x) => x.method === 'POST')?.body).toEqual({ name: 'Report', cron_expr: '0 9 * * 1-5', timezone: 'Mars/Base', prompt: 'Write it', enabled: true });
  });
});

describe('org import', () => {
  const demo = { dir: 'demo-team', name: 'Demo team', description: 'No keys.', workspaces: 4, required_env: [], recommended_env: [], missing_env: [] };
  const llm = { dir: 'llm-team', name: 'LLM team', description: '', workspaces: 3, required_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }], recommended_env: [], missing_env: [{ any_of: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY'] }] };

  it('asks for the keys an org lacks, refuses an empty value at its field, saves them org-wide, then imports', async () => {
    const user = userEvent.setup();
    let saved = false;
    const imported: unknown[] = [];
    const { api, sent } = fakeApi({
      'GET /org/templates': () => json(200, [demo, saved ? { ...llm, missing_env: [] } : llm]),
      'PUT /settings/secrets': () => {
        saved = true;
        return json(200, { status: 'saved', key: 'OPENAI_API_KEY', scope: 'global', restart_required: [], restarted: [] });
      },
      'POST /org/import': () => json(201, { org: 'LLM team', import_id: '00000000-0000-4000-8000-000000000001', count: 3, workspaces: [] }),
    });
    render(<ImportOrgDialog api={api} onClose={() => undefined} onImported={(r) => imported.push(r)} />);
    await user.click(await screen.findByRole('radio', { name: /LLM team/ }));
    await user.selectOptions(screen.getByLabelText('Which key'), 'OPENAI_API_KEY');
    await user.click(screen.getByRole('button', { name: 'Save keys and import' }));
    const value = screen.getByLabelText('OPENAI_API_KEY');
    expect(value.getAttribute('aria-invalid')).toBe('true');
    expect(screen.getByRole('alert').textContent).toBe('Enter the value of OPENAI_API_KEY');
    expect(sent.filter((s) => s.method !== 'GET')).toEqual([]);
    await user.type(value, 'sk-test');
    await user.click(screen.getByRole('button', { name: 'Save keys and import' }));
    await waitFor(() => expect(imported).toHaveLength(1));
    expect(sent.filter((s) => s.method !== 'GET').map((s) => [s.method, s.url, s.body])).toEqual([
      ['PUT', '/settings/secrets', { key: 'OPENAI_API_KEY', value: 'sk-test' }],
      ['POST', '/org/import', { dir: 'llm-team' }],
    ]);
  });

  it('an org that needs nothing imports at once; a refusal is said in words', async () => {
    const user = userEvent.setup();
    const { api } = fakeApi({ 'GET /org/templates': () => json(200, [demo]), 'POST /org/import': () => json(400, { error: 'invalid org template: unknown template "echo" (at /workspaces/0/template)' }) });
    render(<ImportOrgDialog api={api} onClose={() => undefined} onImported={() => undefined} />);
    await user.click(await screen.findByRole('radio', { name: /Demo team/ }));
    expect(screen.getByText('Ready to import.')).toBeTruthy();
    await user.click(screen.getByRole('button', { name: 'Import' }));
    await screen.findByText('Not imported: invalid org template: unknown template "echo" (at /workspaces/0/template)');
  });

  it('the progress follows the import\'s workspaces by status until each has settled', () => {
    const a = ws({ name: 'a', status: 'online' });
    const b = ws({ name: 'b', status: 'provisioning' });
    const imp = { id: 'i', org: 'Demo team', ids: [a.id, b.id, 'not-listed-yet'] };
    const { rerender } = render(<ImportProgress imp={imp} workspaces={byId([a, b])} onDismiss={() => undefined} />);
    expect(screen.getByRole('status').textContent).toContain('Importing Demo team: 1 of 3 online');
    rerender(<ImportProgress imp={{ ...imp, ids: [a.id, b.id] }} workspaces={byId([a, { ...b, status: 'failed' }])} onDismiss={() => undefined} />);
    expect(screen.getByRole('status').textContent).toContain('Imported Demo team: 1 of 2 online, 1 failed');
    expect(screen.getByRole('button', { name: 'Dismiss the Demo team import' })).toBeTruthy();
  });
});

describe('dialog', () => {
  it('still closes on Escape (once) and takes Tab back when the focused control removed itself', async () => {
    const user = userEvent.setup();
    let closed = 0;
    function Removing() {
      const [shown, setShown] = useState(true);
      return shown ? (
        <button type="button" onClick={() => setShown(false)}>
          Revoke
        </button>
      ) : null;
    }
    render(
      <Dialog title="Settings" onClose={() => closed++}>
        <Removing />
        <button type="button">Close</button>
      </Dialog>,
    );
    await user.click(screen.getByRole('button', { name: 'Revoke' }));
    expect(document.activeElement).toBe(document.body);
    await user.tab();
    expect(document.activeElement).toBe(screen.getByRole('button', { name: 'Close' }));
    (document.activeElement as HTMLElement).blur();
    await user.keyboard('{Escape}');
    expect(closed).toBe(1);
    screen.getByRole('button', { name: 'Close' }).focus();
    await user.keyboard('{Escape}');
    expect(closed).toBe(2);
  });
});

describe('files tab', () => {
  const entry = (path: string, type: 'file' | 'dir', size = 0) => ({ path, name: path.split('/').at(-1)!, type, size, modified_at: '2026-01-01T00:00:00.000Z' });
  const text = (status: number, body: string, type = 'text/plain; charset=utf-8') => new Response(body, { status, headers: { 'content-type': type, 'x-molecule-file-source': 'workspace' } });

  it('lists a root, opens a dir lazily, edits and saves a file, deletes it after confirming, uploads into the open dir, and says why a call failed', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Files' });
    const base = `/workspaces/${w.id}/files`;
    const { api, sent } = fakeApi({
      [`GET ${base}?root=%2Fconfigs&path=&`]: () => json(200, { root: '/configs', path: '/configs', entries: [entry('/configs/config.yaml', 'file', 12), entry('/configs/skills', 'dir')], truncated: false, source: 'workspace' }),
      [`GET ${base}?root=%2Fconfigs&path=skills&`]: () => json(200, { root: '/configs', path: '/configs/skills', entries: [entry('/configs/skills/a.md', 'file', 3)], truncated: false, source: 'workspace' }),
      [`GET ${base}?root=%2Fworkspace`]: () => json(409, { error: 'the workspace is not running: start it first to reach /workspace', code: 'conflict' }),
      [`GET ${base}/configs/config.yaml`]: () => text(200, 'name: x\n', 'application/yaml'),
      [`PUT ${base}/configs/skills/up.txt`]: () => json(200, { written: ['/configs/skills/up.txt'] }),
      [`PUT ${base}`]: () => json(200, { written: ['/configs/config.yaml'] }),
      [`DELETE ${base}/configs/config.yaml`]: () => json(200, { deleted: '/configs/config.yaml' }),
    });
    render(<FilesBrowser api={api} workspaceId={w.id} />);
    const tree = await screen.findByRole('list', { name: 'Files under /configs' });
    await within(tree).findByRole('button', { name: /config\.yaml/ });
    // A dir loads only when opened.
    expect(sent.filter((s) => s.url.includes('path=skills'))).toEqual([]);
    await user.click(within(tree).getByRole('button', { name: /skills\// }));
    await within(tree).findByRole('button', { name: /a\.md/ });

    await user.click(within(tree).getByRole('button', { name: /config\.yaml/ }));
    const editor = await screen.findByLabelText('Contents of /configs/config.yaml');
    expect((editor as HTMLTextAreaElement).value).toBe('name: x\n');
    expect(screen.getByRole('link', { name: 'Download' }).getAttribute('href')).toBe(`${base}/configs/config.yaml`);
    await user.type(editor, 'role: y');
    await user.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByText('Saved /configs/config.yaml.');
    expect(sent.find((s) => s.method === 'PUT' && s.url === base)?.body).toEqual({ files: { '/configs/config.yaml': 'name: x\nrole: y' } });

    // Upload goes into the dir last opened.
    await user.upload(screen.getByLabelText(/Upload into \/configs\/skills/), new File(['up'], 'up.txt', { type: 'text/plain' }));
    await screen.findByText('Uploaded /configs/skills/up.txt.');

    await user.click(screen.getByRole('button', { name: 'Delete' }));
    const dialog = await screen.findByRole('alertdialog');
    expect(sent.some((s) => s.method === 'DELETE')).toBe(false);
    await user.click(within(dialog).getByRole('button', { name: 'Delete file' }));
    await screen.findByText('Deleted /configs/config.yaml.');
    expect(sent.filter((s) => s.method === 'DELETE').map((s) => s.url)).toEqual([`${base}/configs/config.yaml`]);

    await user.selectOptions(screen.getByLabelText('Root'), '/workspace');
    await screen.findByText('Could not list /workspace: the workspace is not running: start it first to reach /workspace');
  });
});

describe('plugins tab', () => {
  const info = (name: string, extra: Record<string, unknown> = {}) => ({ name, version: '1.0.0', description: `${name} plugin`, author: 'Molecule', tags: [], skills: [name.toUpperCase()], runtimes: [], commands: 1, ...extra });
  const props = (w: WorkspaceView, api: ReturnType<typeof createApi>) => ({ workspace: w, workspaces: byId([w]), api, feed: createFeed(), canvas: { focus: () => undefined, openPanel: () => undefined } as never });

  it('lists installed plugins (a broken one with why), installs from the registry and from a source, greys a plugin made for another runtime, and uninstalls', async () => {
    const user = userEvent.setup();
    const w = ws({ name: 'Plugged', status: 'online', runtime: 'molecule' });
    const base = `/workspaces/${w.id}/plugins`;
    let installed = [info('team-ask'), { ...info('handmade'), version: '', skills: null, commands: 0, error: 'no plugin.yaml' }];
    const { api, sent } = fakeApi({
      [`GET ${base}`]: () => json(200, installed),
      ['GET /plugins']: () => json(200, [info('clock'), info('hermes-only', { runtimes: ['hermes'] }), info('team-ask')]),
      [`POST ${base}`]: (body) => {
        const source = (body as { source: string }).source;
        if (source === 'github://o/r') return json(422, { error: 'unpinned git source: name a tag, branch or commit after #', code: 'unprocessable' });
        installed = [info('clock'), ...installed];
        return json(200, { status: 'installed', plugin: 'clock', source: `local://${source}`, version: '1.0.0', applied: 'hot_loaded' });
      },
      [`DELETE ${base}/team-ask`]: () => {
        installed = installed.filter((p) => p.name !== 'team-ask');
        return json(200, { status: 'uninstalled', plugin: 'team-ask', applied: 'restarting' });
      },
    });
    render(<PluginsTab {...props(w, api)} />);
    const mine = await screen.findByRole('region', { name: 'Installed' });
    await within(mine).findByText('team-ask');
    expect(within(mine).getByText(/Ignored by the agent: no plugin.yaml/)).toBeTruthy();
    const registry = screen.getByRole('region', { name: 'Registry' });
    await within(registry).findByText('clock');
    expect(within(registry).getByText('Made for hermes; this workspace runs molecule.')).toBeTruthy();
    expect((within(registry).getByRole('button', { name: 'Install plugin hermes-only' }) as HTMLButtonElement).disabled).toBe(true);
    // Already installed: no second install button.
    expect(within(registry).queryByRole('button', { name: 'Install plugin team-ask' })).toBeNull();

    await user.click(within(registry).getByRole('button', { name: 'Install plugin clock' }));
    await screen.findByText('Installed clock: the agent loaded the change, no restart needed.');
    expect(sent.find((s) => s.method === 'POST')?.body).toEqual({ source: 'clock' });
    await within(mine).findByText('clock');

    await user.click(screen.getByRole('button', { name: 'Install' }));
    expect(await screen.findByText(/Give a registry name or a source/)).toBeTruthy();
    await user.type(screen.getByLabelText('Install from a source'), 'github://o/r');
    await user.click(screen.getByRole('button', { name: 'Install' }));
    await screen.findByText('Not installed: unpinned git source: name a tag, branch or commit after #');

    await user.click(within(mine).getByRole('button', { name: 'Uninstall plugin team-ask' }));
    await screen.findByText('Uninstalled team-ask: the agent is restarting to apply it.');
    await waitFor(() => expect(within(mine).queryByText('team-ask')).toBeNull());
  });

  it('a stopped agent: says so and offers no changes; an external agent: download links instead of installs', async () => {
    const stopped = ws({ name: 'Stopped', status: 'offline', runtime: 'molecule' });
    const { api } = fakeApi({ [`GET /workspaces/${stopped.id}/plugins`]: () => json(200, []), ['GET /plugins']: () => json(200, [info('clock')]) });
    render(<PluginsTab {...props(stopped, api)} />);
    await screen.findByText('The agent is not running: start it to see and change its plugins.');
    expect((await screen.findByRole('button', { name: 'Install plugin clock' }) as HTMLButtonElement).disabled).toBe(true);
    cleanup();

    const ext = ws({ name: 'Ext', status: 'online', runtime: 'external' });
    const { api: extApi } = fakeApi({ [`GET /workspaces/${ext.id}/plugins`]: () => json(200, []), ['GET /plugins']: () => json(200, [info('clock')]) });
    render(<PluginsTab {...props(ext, extApi)} />);
    const link = await screen.findByRole('link', { name: 'Download' });
    expect(link.getAttribute('href')).toBe(`/workspaces/${ext.id}/plugins/clock/download`);
    expect(screen.queryByRole('region', { name: 'Installed' })).toBeNull();
    expect(screen.queryByLabelText('Install from a source')).toBeNull();
  });
});

describe('timestamps in tables', () => {
  const now = new Date(2026, 11, 4, 15, 30);
  it('show a time today, a day and time this year, a date before; the full date and time on hover', () => {
    render(
      <ul>
        <li>
          <When iso={new Date(2026, 11, 4, 9, 5).toISOString()} now={now} />
        </li>
        <li>
          <When iso={new Date(2026, 2, 1, 9, 5).toISOString()} now={now} />
        </li>
        <li>
          <When iso={new Date(2025, 2, 1, 9, 5).toISOString()} now={now} />
        </li>
      </ul>,
    );
    const [today, thisYear, before] = screen.getAllByRole('listitem').map((li) => li.querySelector('time')!);
    expect(today!.textContent).toBe(new Date(2026, 11, 4, 9, 5).toLocaleTimeString(undefined, { timeStyle: 'short' }));
    expect(thisYear!.textContent).toMatch(/Mar.*1.*9:05|1.*Mar.*9:05/);
    expect(thisYear!.textContent).not.toContain('2026');
    expect(before!.textContent).toContain('2025');
    expect(before!.getAttribute('title')).toBe(new Date(2025, 2, 1, 9, 5).toLocaleString());
    expect(before!.getAttribute('datetime')).toBe(new Date(2025, 2, 1, 9, 5).toISOString());
  });
});
