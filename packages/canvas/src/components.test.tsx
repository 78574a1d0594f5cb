// @vitest-environment jsdom
import { cleanup, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { WorkspaceView } from '@molecule/contracts';
import { createApi } from './api.js';
import { ConfirmDelete } from './ConfirmDelete.js';
import { ConnectDialog, CreateDialog } from './CreateDialog.js';
import { createFeed } from './feed.js';
import { ChatTab } from './Chat.js';
import { ConfigTab } from './ConfigTab.js';
import { ContextMenu } from './Menu.js';
import { Panel, PANEL_TABS } from './Panel.js';
import { SearchDialog } from './Search.js';
import { SecretsEditor } from './Secrets.js';
import { ws } from './test-fixture.js';

afterEach(cleanup);

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
/** The real API client over a fake fetch that answers by route and records what was sent. */
function fakeApi(routes: Record<string, (body: unknown) => Response>) {
  const sent: { method: string; url: string; body: unknown }[] = [];
  const api = createApi({
    fetchImpl: async (input, init) => {
      const url = String(input);
      const method = init?.method ?? 'GET';
      const body = init?.body ? JSON.parse(String(init.body)) : undefined;
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
    // Nothing was sent but the read of the templates to choose from.
    expect(sent.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /templates']);
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
  it('shows the token once with a copy button, and the connection details the API returned', async () => {
    const user = userEvent.setup();
    const connection = {
      workspace_id: '00000000-0000-4000-8000-000000000abc',
      platform_url: 'http://127.0.0.1:8080',
      auth_token: 'mol_ws_secret',
      registry_endpoint: 'http://127.0.0.1:8080/registry/register',
      heartbeat_endpoint: 'http://127.0.0.1:8080/registry/heartbeat',
    };
    render(<ConnectDialog name="Laptop" connection={connection} onClose={() => undefined} />);
    expect((screen.getByLabelText('Token') as HTMLInputElement).value).toBe('mol_ws_secret');
    expect(screen.getByRole('dialog').textContent).toContain('POST http://127.0.0.1:8080/registry/register');
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
