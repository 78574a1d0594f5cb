import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFile, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_ADMIN_TOKEN, e2eClient, startE2eServer, startFakeMemoryPlugin, startPrivatePostgres, type FakeMemoryPlugin, type PrivatePostgres } from '@molecule/server/testing';

// The canvas in a real browser (Debian chromium through playwright-core) against the real platform
// (process backend, a PostgreSQL of the test's own so it can be stopped): sign in through the printed
// link, create workspaces from the dialog, chat, re-parent by drag, follow statuses live, queue behind
// a busy agent, search, the context menu and shortcuts, batch actions, an external agent's connect
// dialog, deletes, an expired session and a stopped database; axe-core on each view. Screenshots of
// each step land in .molecule/screenshots/ (gitignored); the delivered-chat view's replaces
// docs/canvas.png (the README's) with UPDATE_DOCS_SCREENSHOT=1.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = path.join(ROOT, '.molecule/screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The proxy's request cap (1 MiB): a chat message over it is refused with 413. */
const A2A_BODY_LIMIT = 1024 * 1024;
/** One task slot; each message reports a `Work` tool use, works 8 s, then answers "done: <text>". */
const BUSY_TEMPLATE = `name: Busy
adapter: script
max_concurrent_tasks: 1
script:
  - steps:
      - tool: { name: Work, input: "{{input}}" }
      - delay_ms: 8000
      - reply: "done: {{input}}"
`;

describe('the canvas in Chromium', () => {
  let pg: PrivatePostgres;
  let memory: FakeMemoryPlugin;
  let server: Awaited<ReturnType<typeof startE2eServer>>['server'];
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const c = e2eClient(() => server);
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    const templates = await mkdtemp(path.join(os.tmpdir(), 'molecule-canvas-templates-'));
    for (const t of ['echo', 'delegator', 'slow-worker']) await cp(path.join(ROOT, 'templates', t), path.join(templates, t), { recursive: true });
    const orgs = await mkdtemp(path.join(os.tmpdir(), 'molecule-canvas-orgs-'));
    await cp(path.join(ROOT, 'org-templates'), orgs, { recursive: true });
    await mkdir(path.join(templates, 'slow'));
    await writeFile(path.join(templates, 'slow', 'config.yaml'), BUSY_TEMPLATE);
    pg = await startPrivatePostgres();
    memory = await startFakeMemoryPlugin();
    ({ server } = await startE2eServer(
      { MOLECULE_PROVISIONER: 'process', DATABASE_URL: pg.url, MOLECULE_TEMPLATES_DIR: templates, MOLECULE_ORG_TEMPLATES_DIR: orgs, MEMORY_PLUGIN_URL: memory.url },
      'molecule-canvas-',
    ));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    page = await newPage();
    await mkdir(SHOTS, { recursive: true });
  }, 120_000);
  afterAll(async () => {
    await pg?.start().catch(() => undefined);
    for (const id of Object.values(ids)) await c.remove(id).catch(() => undefined);
    await browser?.close();
    await server?.close();
    await pg?.close();
    await memory?.close();
  }, 60_000);

  async function newPage(): Promise<Page> {
    const p = await context.newPage();
    p.on('pageerror', (e) => void process.stderr.write(`[page error] ${e.message}\n`));
    return p;
  }
  const shot = (name: string) => page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  /** axe-core in the page: serious and critical violations, by rule (after checking that it ran its rules). */
  const axe = async (): Promise<string[]> => {
    // Evaluated through the DevTools protocol: the page's CSP (rightly) refuses inline scripts.
    await page.evaluate(await readFile(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8'));
    const result = await page.evaluate(async () => {
      type Rule = { id: string; impact: string | null; nodes: { target: unknown }[] };
      const page = globalThis as unknown as { document: unknown; axe: { run: (ctx: unknown) => Promise<{ violations: Rule[]; passes: Rule[] }> } };
      const r = await page.axe.run(page.document);
      return { passes: r.passes.length, violations: r.violations.map((v) => ({ id: v.id, impact: v.impact, count: v.nodes.length, where: JSON.stringify(v.nodes.slice(0, 3).map((n) => n.target)) })) };
    });
    expect(result.passes).toBeGreaterThan(5);
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.count}: ${v.where})`);
  };
  const node = (id: string) => page.getByTestId(`workspace-${id}`);
  const statusOf = (id: string) => node(id).getAttribute('data-status');
  const panel = (name: string) => page.getByRole('complementary', { name: `Workspace ${name}` });
  /** Opens a workspace's panel by clicking its card's header. */
  const openPanel = async (id: string, name: string) => {
    await node(id).click({ position: { x: 20, y: 12 } });
    await panel(name).waitFor();
    return panel(name);
  };
  const box = async (l: Locator) => (await l.boundingBox())!;
  const inside = async (childId: string, parentId: string) => {
    const [p, k] = [await box(node(parentId)), await box(node(childId))];
    return k.x >= p.x && k.y >= p.y && k.x + k.width <= p.x + p.width + 1 && k.y + k.height <= p.y + p.height + 1;
  };
  /** Drags a card by its header to a point on the page, in small steps as a hand would. */
  const drag = async (id: string, to: { x: number; y: number }) => {
    const from = await box(node(id));
    await page.mouse.move(from.x + 30, from.y + 12);
    await page.mouse.down();
    await page.mouse.move(from.x + 40, from.y + 20, { steps: 3 });
    await page.mouse.move(to.x, to.y, { steps: 12 });
    await page.mouse.up();
  };
  /** Fills and submits the create dialog; returns the new workspace's id. */
  const createFromDialog = async (fields: { name: string; template?: string; parent?: string; runtime?: string }) => {
    await page.getByRole('button', { name: 'New workspace' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a workspace' });
    await dialog.getByLabel('Name').fill(fields.name);
    if (fields.template) await dialog.getByLabel('Template').selectOption(fields.template);
    if (fields.parent) await dialog.getByLabel('Reports to').selectOption({ label: fields.parent });
    if (fields.runtime) await dialog.getByLabel('Runtime').selectOption(fields.runtime);
    await dialog.getByRole('button', { name: 'Create' }).click();
    const all = async () => ((await (await fetch(`${server.url}/workspaces`, { headers: c.admin })).json()) as { id: string; name: string }[]).filter((w) => w.name === fields.name);
    await expect.poll(async () => (await all()).length, { timeout: 15_000 }).toBe(1);
    return (await all())[0]!.id;
  };

  it('without a session: the sign-in screen, which says where the link is', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Not signed in');
    expect(await page.textContent('main')).toContain('canvas link the platform printed');
    await shot('01-signed-out');
    expect(await axe()).toEqual([]);
  }, 90_000);

  it('the printed link signs in (the token then leaves the URL); an empty org offers to create a workspace', async () => {
    // As a user opens it: a new tab. (A tab already on the page signs in on the fragment change too.)
    await page.close();
    page = await newPage();
    await page.goto(`${server.url}/#token=${encodeURIComponent(E2E_ADMIN_TOKEN)}`);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 60_000 });
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.textContent('main')).toContain('No workspaces yet');
    await page.getByRole('button', { name: 'Create a workspace' }).waitFor();
    await shot('02-empty');
    expect(await axe()).toEqual([]);
  }, 90_000);

  it('the create dialog refuses a bad name at the field, then creates an echo workspace that goes online live; a killed agent recovers', async () => {
    await page.getByRole('button', { name: 'Create a workspace' }).click();
    const dialog = page.getByRole('dialog', { name: 'Create a workspace' });
    await dialog.getByRole('button', { name: 'Create' }).click();
    expect(await dialog.getByLabel('Name').getAttribute('aria-invalid')).toBe('true');
    expect(await dialog.getByRole('alert').textContent()).toBe('name is required');
    await dialog.getByLabel('Name').fill('x'.repeat(300));
    await dialog.getByRole('button', { name: 'Create' }).click();
    expect(await dialog.getByRole('alert').textContent()).toBe('name must be at most 255 characters');
    await shot('03-create-refused');
    expect(await axe()).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await (await fetch(`${server.url}/workspaces`, { headers: c.admin })).json()).toEqual([]);

    ids.echo = await createFromDialog({ name: 'Echo bot', template: 'echo' });
    // The new workspace opens in the panel, and its card follows it online.
    await panel('Echo bot').waitFor();
    await expect.poll(() => statusOf(ids.echo!), { timeout: 60_000 }).toBe('online');
    expect(await node(ids.echo!).textContent()).toContain('Online');
    await shot('04-online');
    expect(await axe()).toEqual([]);

    // The agent dies: the page follows the workspace through its restart without a reload.
    const pid = Number(String((await c.get(ids.echo!)).instance_id).split(':')[1]);
    process.kill(pid, 'SIGKILL');
    await c.waitNoticedDead(ids.echo!, 30_000);
    await expect.poll(() => statusOf(ids.echo!), { timeout: 30_000 }).not.toBe('online');
    await expect.poll(() => statusOf(ids.echo!), { timeout: 60_000 }).toBe('online');
  }, 180_000);

  it('chat: "hi" streams back as "echo: hi", is there again after a reload, and an oversize message is refused in words', async () => {
    const p = await openPanel(ids.echo!, 'Echo bot');
    expect(await p.getByRole('tab', { name: 'Chat' }).getAttribute('aria-selected')).toBe('true');
    await p.getByLabel('Message to Echo bot').fill('hi');
    await p.getByLabel('Message to Echo bot').press('Enter');
    const log = p.getByRole('log', { name: 'Conversation' });
    await expect.poll(() => log.locator('[data-from="agent"]').last().textContent(), { timeout: 30_000 }).toContain('echo: hi');
    await shot('05-chat');
    expect(await axe()).toEqual([]);
    await page.reload();
    const again = await openPanel(ids.echo!, 'Echo bot');
    await expect.poll(() => again.getByRole('log', { name: 'Conversation' }).textContent(), { timeout: 30_000 }).toMatch(/hi.*echo: hi/);
    await again.getByLabel('Message to Echo bot').fill('x'.repeat(A2A_BODY_LIMIT + 10));
    await again.getByLabel('Message to Echo bot').press('Enter');
    await expect.poll(() => again.getByRole('log').locator('[data-from="platform"]').last().textContent(), { timeout: 15_000 }).toContain('The message is too large.');

    // A file attached in the chat goes to the agent's workspace through the platform, and comes back from its chip.
    await again.getByLabel('Files to attach').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello from a file\n') });
    await again.getByLabel('Message to Echo bot').fill('see the file');
    await again.getByLabel('Message to Echo bot').press('Enter');
    const chip = again.getByRole('log', { name: 'Conversation' }).getByTestId('attachment').filter({ hasText: 'notes.txt' }).last();
    await chip.waitFor({ timeout: 30_000 });
    await shot('05b-chat-attachment');
    expect(await axe()).toEqual([]);
    const [download] = await Promise.all([page.waitForEvent('download'), chip.getByRole('link').click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    expect(await readFile((await download.path())!, 'utf8')).toBe('hello from a file\n');
  }, 120_000);

  it('plugins: the Plugins tab installs clock from the registry into the running agent, which then answers /time in the chat', async () => {
    const p = await openPanel(ids.echo!, 'Echo bot');
    await p.getByRole('tab', { name: 'Plugins' }).click();
    const registry = p.getByRole('region', { name: 'Registry' });
    await registry.getByRole('button', { name: 'Install plugin clock' }).click();
    await expect.poll(() => p.getByRole('status').last().textContent(), { timeout: 30_000 }).toBe('Installed clock: the agent loaded the change, no restart needed.');
    await p.getByRole('region', { name: 'Installed' }).getByText('clock', { exact: true }).waitFor();
    await shot('05e-plugins');
    expect(await axe()).toEqual([]);
    await p.getByRole('tab', { name: 'Chat' }).click();
    await p.getByLabel('Message to Echo bot').fill('/time');
    await p.getByLabel('Message to Echo bot').press('Enter');
    await expect.poll(() => p.getByRole('log', { name: 'Conversation' }).locator('[data-from="agent"]').last().textContent(), { timeout: 30_000 }).toMatch(/It is \d{4}-/);
  }, 60_000);

  it('memory: the Memory tab remembers a note for the team, finds it by search and scope, and forgets it', async () => {
    const p = await openPanel(ids.echo!, 'Echo bot');
    await p.getByRole('tab', { name: 'Memory' }).click();
    await p.getByLabel('Remember', { exact: true }).fill('The launch moved to Friday.');
    await p.getByRole('button', { name: 'Remember' }).click();
    const list = p.getByRole('list', { name: 'Memories' });
    await list.getByText('The launch moved to Friday.').waitFor({ timeout: 15_000 });
    await p.getByRole('group', { name: 'Memory scope' }).getByRole('button', { name: 'Team' }).click();
    await p.getByRole('searchbox').fill('launch');
    await p.getByRole('searchbox').press('Enter');
    await list.getByText('The launch moved to Friday.').waitFor();
    await shot('05f-memory');
    expect(await axe()).toEqual([]);
    await list.getByRole('button', { name: /^Forget memory/ }).click();
    await expect.poll(() => p.getByRole('status').last().textContent(), { timeout: 15_000 }).toBe('Forgotten.');
  }, 60_000);

  it('terminal: the Terminal tab opens a shell in the echo agent\'s workspace; `echo hi` answers hi; Escape stays with the shell; exit, Diagnose and Reconnect', async () => {
    const p = await openPanel(ids.echo!, 'Echo bot');
    await p.getByRole('tab', { name: 'Terminal' }).click();
    const status = p.locator('.terminal-bar [role="status"]');
    await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe('Connected');
    const rows = () => p.getByTestId('terminal').locator('.xterm-rows > div').allTextContents();
    await expect.poll(async () => (await rows()).join('\n'), { timeout: 15_000 }).toMatch(/[#$]\s*$/m);
    // Focus went into the terminal: typed keys reach the shell.
    await page.keyboard.type('echo hi');
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await rows()).map((r) => r.trim()), { timeout: 15_000 }).toContain('hi');
    // Escape belongs to the shell while the terminal has focus: the panel stays open.
    await page.keyboard.press('Escape');
    expect(await panel('Echo bot').isVisible()).toBe(true);
    await shot('05c-terminal');
    expect(await axe()).toEqual([]);
    // The shell got that Escape (a pending Meta prefix for bash's line editor): Ctrl-C clears the line.
    await page.keyboard.press('Control+C');
    // The tty flushes input typed before the shell's new prompt: wait for it, then type.
    const lastLine = async () => (await rows()).map((r) => r.trimEnd()).filter((r) => r.trim() !== '').at(-1) ?? '';
    await expect.poll(async () => (await rows()).some((r) => r.includes('^C')) && /[#$]$/.test(await lastLine()), { timeout: 15_000 }).toBe(true);
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe('Disconnected: shell exited');
    await p.getByRole('button', { name: 'Diagnose' }).click();
    const diagnosis = p.getByRole('region', { name: 'Terminal diagnosis' });
    await expect.poll(() => diagnosis.textContent(), { timeout: 15_000 }).toContain('Every step passed.');
    expect(await diagnosis.getByRole('listitem').allTextContents()).toEqual([expect.stringMatching(/^workspace-dir ok/), expect.stringMatching(/^agent-running ok/), expect.stringMatching(/^pty-probe ok/)]);
    await shot('05d-terminal-diagnose');
    await p.getByRole('button', { name: 'Reconnect' }).click();
    await expect.poll(() => status.textContent(), { timeout: 15_000 }).toBe('Connected');
    // The panel stays open on Chat, as the chat step left it for the next one.
    await p.getByRole('tab', { name: 'Chat' }).click();
  }, 60_000);

  it('a child made in the dialog sits in its lead\'s team box; dragged out it goes to the top level, dragged back it rejoins; a reload keeps it', async () => {
    await page.getByRole('button', { name: 'Close panel' }).click();
    ids.helper = await createFromDialog({ name: 'Helper', template: 'echo', parent: 'Echo bot' });
    await page.getByRole('button', { name: 'Close panel' }).click();
    await expect.poll(() => inside(ids.helper!, ids.echo!), { timeout: 30_000 }).toBe(true);
    await expect.poll(() => statusOf(ids.helper!), { timeout: 60_000 }).toBe('online');
    await page.getByRole('button', { name: /fit view/i }).click();
    await page.getByRole('button', { name: /zoom out/i }).click();
    await shot('06-team');

    // Out: dropped on the open canvas below the team.
    const team = await box(node(ids.echo!));
    await drag(ids.helper!, { x: team.x + 40, y: team.y + team.height + 80 });
    await expect.poll(async () => (await c.get(ids.helper!)).parent_id, { timeout: 15_000 }).toBeNull();
    expect(await inside(ids.helper!, ids.echo!)).toBe(false);
    const placed = await c.get(ids.helper!);
    expect(typeof placed.x).toBe('number');
    await page.reload();
    await node(ids.helper!).waitFor();
    expect(await inside(ids.helper!, ids.echo!)).toBe(false);

    // Back in: dropped on the lead's card.
    const lead = await box(node(ids.echo!));
    await drag(ids.helper!, { x: lead.x + lead.width / 2, y: lead.y + 30 });
    await expect.poll(async () => (await c.get(ids.helper!)).parent_id, { timeout: 15_000 }).toBe(ids.echo!);
    await expect.poll(() => inside(ids.helper!, ids.echo!), { timeout: 15_000 }).toBe(true);
    await page.reload();
    await node(ids.helper!).waitFor();
    await expect.poll(() => inside(ids.helper!, ids.echo!), { timeout: 15_000 }).toBe(true);
    await shot('07-rejoined');

    // The member messages its lead (as itself, with its own token): a line between them, live; the toggle hides it.
    const minted = await fetch(`${server.url}/workspaces/${ids.helper!}/tokens`, { method: 'POST', headers: c.admin });
    const helperToken = ((await minted.json()) as { auth_token: string }).auth_token;
    const sent = await fetch(`${server.url}/workspaces/${ids.echo!}/a2a`, {
      method: 'POST',
      headers: { authorization: `Bearer ${helperToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: crypto.randomUUID(), parts: [{ kind: 'text', text: 'status?' }] } } }),
    });
    expect(sent.status).toBe(200);
    const line = page.locator('.react-flow__edge');
    await expect.poll(() => line.count(), { timeout: 15_000 }).toBe(1);
    expect(await line.getAttribute('aria-label')).toBe('Helper messaged Echo bot (1)');
    await shot('07b-traffic');
    await page.getByRole('button', { name: 'A2A traffic' }).click();
    expect(await page.getByRole('button', { name: 'A2A traffic' }).getAttribute('aria-pressed')).toBe('false');
    await expect.poll(() => line.count()).toBe(0);
    await page.getByRole('button', { name: 'A2A traffic' }).click();
    await expect.poll(() => line.count()).toBe(1);
  }, 180_000);

  it('a busy agent: the message is queued, the chat follows it through the queue to its answer, and shows what the agent does meanwhile', async () => {
    ids.slow = await c.create('Slow', 'slow');
    await expect.poll(() => statusOf(ids.slow!), { timeout: 60_000 }).toBe('online');
    // Someone else keeps its one slot busy.
    const first = fetch(`${server.url}/workspaces/${ids.slow!}/a2a`, {
      method: 'POST',
      headers: c.admin,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'message/send', params: { message: { kind: 'message', role: 'user', messageId: crypto.randomUUID(), parts: [{ kind: 'text', text: 'first' }] } } }),
    });
    // It is at work once it has logged its tool use.
    await expect
      .poll(async () => ((await (await fetch(`${server.url}/workspaces/${ids.slow!}/activity?type=agent_log`, { headers: c.admin })).json()) as unknown[]).length, { timeout: 15_000 })
      .toBeGreaterThan(0);
    const p = await openPanel(ids.slow!, 'Slow');
    await p.getByLabel('Message to Slow').fill('second');
    await p.getByLabel('Message to Slow').press('Enter');
    const lastPlatform = () => p.getByRole('log').locator('[data-from="platform"]').last().textContent();
    await expect.poll(lastPlatform, { timeout: 15_000 }).toContain('queued');
    await expect.poll(lastPlatform, { timeout: 15_000 }).toContain('Queue:');
    await shot('08-queued');
    expect(await axe()).toEqual([]);
    await first;
    // Delivered when the slot frees: the queued line becomes the agent's answer; the agent's tool use showed meanwhile.
    await expect.poll(() => p.getByRole('log').locator('[data-from="agent"]').last().textContent(), { timeout: 30_000 }).toContain('done: second');
    expect(await p.getByRole('region', { name: 'What the agent is doing' }).textContent()).toContain('Work');
    await shot('09-delivered');
    // The README's screenshot is refreshed on request, so a test run leaves the tree as it was.
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(path.join(SHOTS, '09-delivered.png'), path.join(ROOT, 'docs/canvas.png'));

    // The same work in the Activity tab (live, filterable) and the Events tab.
    await p.getByRole('tab', { name: 'Activity' }).click();
    await expect.poll(() => p.getByRole('list', { name: 'Activity, newest first' }).textContent(), { timeout: 15_000 }).toContain('agent_log');
    await p.getByLabel('Type').selectOption('a2a_receive');
    await expect.poll(async () => (await p.getByRole('list', { name: 'Activity, newest first' }).locator('li').allTextContents()).every((t) => t.includes('a2a_receive'))).toBe(true);
    await shot('09b-activity');
    expect(await axe()).toEqual([]);
    await p.getByRole('tab', { name: 'Events' }).click();
    await expect.poll(() => p.getByRole('list', { name: 'Events, newest first' }).textContent(), { timeout: 15_000 }).toContain('WORKSPACE_ONLINE');
    await shot('09c-events');
    expect(await axe()).toEqual([]);
    await p.getByRole('tab', { name: 'Chat' }).click();
  }, 120_000);

  it('Ctrl+K finds a workspace by name and opens it; the context menu and the keyboard pause and resume it', async () => {
    await page.getByRole('button', { name: 'Close panel' }).click();
    await page.keyboard.press('Control+k');
    const search = page.getByRole('dialog', { name: 'Find a workspace' });
    await page.keyboard.type('slo');
    expect(await search.getByRole('option').allTextContents()).toEqual([expect.stringContaining('Slow')]);
    await shot('10-search');
    expect(await axe()).toEqual([]);
    await page.keyboard.press('Enter');
    await panel('Slow').waitFor();
    await page.getByRole('button', { name: 'Close panel' }).click();

    await node(ids.slow!).click({ button: 'right', position: { x: 20, y: 12 } });
    const menu = page.getByRole('menu', { name: 'Actions for Slow' });
    await shot('11-menu');
    expect(await axe()).toEqual([]);
    await menu.getByRole('menuitem', { name: /^Pause/ }).click();
    await expect.poll(() => statusOf(ids.slow!), { timeout: 15_000 }).toBe('paused');
    // From the keyboard: focus the card, P resumes it; Shift+F10 opens its menu, Escape closes it and focus comes back.
    const card = page.locator(`.react-flow__node[data-id="${ids.slow!}"]`);
    await card.focus();
    await page.keyboard.press('p');
    await expect.poll(() => statusOf(ids.slow!), { timeout: 15_000 }).not.toBe('paused');
    await page.keyboard.press('Shift+F10');
    await menu.waitFor();
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'detached' });
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute: (n: string) => string | null } } }).document.activeElement.getAttribute('data-id'))).toBe(ids.slow!);
    await expect.poll(() => statusOf(ids.slow!), { timeout: 60_000 }).toBe('online');
  }, 120_000);

  it('a batch action on several workspaces: a partial failure keeps the failed one selected and says why', async () => {
    const r = await fetch(`${server.url}/workspaces/${ids.slow!}/pause`, { method: 'POST', headers: { authorization: c.admin.authorization } });
    expect(r.status).toBe(200);
    await expect.poll(() => statusOf(ids.slow!), { timeout: 15_000 }).toBe('paused');
    await node(ids.slow!).click({ modifiers: ['Control'], position: { x: 20, y: 12 } });
    await node(ids.helper!).click({ modifiers: ['Control'], position: { x: 20, y: 12 } });
    const bar = page.getByRole('toolbar', { name: '2 selected' });
    await shot('12-batch');
    expect(await axe()).toEqual([]);
    await bar.getByRole('button', { name: 'Restart' }).click();
    const notice = page.getByRole('status', { name: 'Notices' });
    await expect.poll(() => notice.textContent()).toContain('1 done, 1 failed (still selected)');
    expect(await notice.textContent()).toContain('Slow: a paused workspace cannot be restarted');
    await page.getByRole('toolbar', { name: '1 selected' }).waitFor();
    expect(await node(ids.slow!).getAttribute('data-picked')).toBe('true');
    await page.getByRole('button', { name: 'Clear selection' }).click();
    await expect.poll(() => statusOf(ids.helper!), { timeout: 60_000 }).toBe('online');
  }, 120_000);

  it('C268 C273 an external workspace: the connect dialog offers its snippets as tabs (Universal MCP first), copies them, and shows the agent come online when one is run', async () => {
    ids.laptop = await createFromDialog({ name: 'Laptop agent', runtime: 'external' });
    const dialog = page.getByRole('dialog', { name: 'Connect Laptop agent' });
    // allTextContents does not wait: the dialog opens once the create answers, so wait for its tabs.
    await dialog.getByRole('tab').first().waitFor();
    expect(await dialog.getByRole('tab').allTextContents()).toEqual(['Universal MCP', 'Python', 'Claude Code', 'Hermes', 'Codex', 'OpenClaw', 'curl', 'Fields']);
    expect(await dialog.getByRole('tab', { name: 'Universal MCP' }).getAttribute('aria-selected')).toBe('true');
    const clipboard = () => page.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText: () => Promise<string> } } }).navigator.clipboard.readText());
    await dialog.getByRole('button', { name: 'Copy Universal MCP snippet' }).click();
    await dialog.getByText('Universal MCP copied.').waitFor();
    expect(await clipboard()).toContain(`${server.url}/connect/molecule-mcp.mjs`);
    await dialog.getByText(/Waiting for the agent to connect/).waitFor();

    // Run the curl snippet as a user would paste it: the dialog and the node turn online.
    await dialog.getByRole('tab', { name: 'curl' }).click();
    await dialog.getByRole('button', { name: 'Copy curl snippet' }).click();
    await dialog.getByText('curl copied.').waitFor();
    await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', await clipboard()]);
    await dialog.getByText('Laptop agent is online.').waitFor();
    await shot('13-connect');
    expect(await axe()).toEqual([]);

    await dialog.getByRole('tab', { name: 'Fields' }).click();
    const token = await dialog.getByLabel('Token').inputValue();
    expect(token).toMatch(/^mol_ws_/);
    await dialog.getByRole('button', { name: 'Copy token' }).click();
    await dialog.getByText('Token copied.').waitFor();
    expect(await clipboard()).toBe(token);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await expect.poll(() => node(ids.laptop!).textContent()).toContain('Online');
  }, 60_000);

  it('secrets: set one org-wide in Settings, see it in a workspace\'s Secrets tab with where it comes from, never its value', async () => {
    await page.getByRole('button', { name: 'Settings' }).click();
    const settings = page.getByRole('dialog', { name: 'Settings' });
    await settings.getByLabel('Name', { exact: true }).fill('bad name');
    await settings.getByRole('button', { name: 'Save org-wide' }).click();
    expect(await settings.getByRole('alert').first().textContent()).toMatch(/environment variable name/);
    await settings.getByLabel('Name', { exact: true }).fill('DEMO_API_KEY');
    await settings.getByLabel('Value').fill('sk-demo-value');
    await settings.getByRole('button', { name: 'Save org-wide' }).click();
    await settings.getByText(/DEMO_API_KEY saved\./).waitFor();
    expect(await settings.textContent()).not.toContain('sk-demo-value');
    // An org token: minted with a name, shown once, listed by prefix, revoked.
    await settings.getByLabel('Name (optional)').fill('e2e-ci');
    await settings.getByRole('button', { name: 'New org token' }).click();
    const minted = (await settings.getByLabel('New org token').textContent())!;
    expect(minted).toMatch(/^mol_org_/);
    expect((await fetch(`${server.url}/workspaces`, { headers: { authorization: `Bearer ${minted}` } })).status).toBe(200);
    await expect.poll(() => settings.getByRole('row').filter({ hasText: 'e2e-ci' }).count()).toBe(1);
    await shot('13b-settings');
    expect(await axe()).toEqual([]);
    await settings.getByRole('button', { name: new RegExp(`Revoke org token ${minted.slice(0, 12)}`) }).click();
    await expect.poll(() => settings.getByRole('row').filter({ hasText: 'e2e-ci' }).count()).toBe(0);
    expect((await fetch(`${server.url}/workspaces`, { headers: { authorization: `Bearer ${minted}` } })).status).toBe(401);
    await page.keyboard.press('Escape');
    const p = await openPanel(ids.laptop!, 'Laptop agent');
    await p.getByRole('tab', { name: 'Secrets' }).click();
    await expect.poll(() => p.getByRole('row').filter({ hasText: 'DEMO_API_KEY' }).textContent()).toContain('org-wide');
    expect(await p.textContent()).not.toContain('sk-demo-value');
    await shot('13c-secrets');
    expect(await axe()).toEqual([]);
    // Config: a model whose prefix names its provider; an external agent applies it at its next start.
    await p.getByRole('tab', { name: 'Config' }).click();
    await p.getByLabel('Model').fill('anthropic/claude-haiku-4-5');
    await p.getByRole('button', { name: 'Save model' }).click();
    await p.getByText('Model saved. It applies at the next start.').waitFor();
    expect(await p.getByLabel('Provider').inputValue()).toBe('anthropic');
    await shot('13d-config');
    expect(await axe()).toEqual([]);
    await p.getByRole('tab', { name: 'Chat' }).click();
    await page.getByRole('button', { name: 'Close panel' }).click();
  }, 60_000);

  it('org import: the preflight asks for the keys an org lacks; the demo team imports and its workspaces appear and come online live', async () => {
    await page.getByRole('button', { name: 'Import org' }).click();
    const dialog = page.getByRole('dialog', { name: 'Import an org' });
    await dialog.getByRole('radio', { name: /LLM team/ }).check();
    // The LLM team needs a key the org-wide secrets lack: asked for here, refused while empty.
    await dialog.getByLabel('Which key').waitFor();
    await dialog.getByRole('button', { name: 'Save keys and import' }).click();
    expect(await dialog.getByRole('alert').first().textContent()).toMatch(/Enter the value of ANTHROPIC_API_KEY/);
    await shot('15a-org-preflight');
    expect(await axe()).toEqual([]);
    await dialog.getByRole('radio', { name: /Demo team/ }).check();
    expect(await dialog.textContent()).toContain('Ready to import.');
    const before = new Set(((await (await fetch(`${server.url}/workspaces`, { headers: c.admin })).json()) as { id: string }[]).map((w) => w.id));
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    const progress = page.locator('.import-progress').filter({ hasText: 'Demo team' });
    await progress.waitFor();
    const imported = async () => ((await (await fetch(`${server.url}/workspaces`, { headers: c.admin })).json()) as { id: string; name: string }[]).filter((w) => !before.has(w.id));
    await expect.poll(async () => (await imported()).length).toBe(4);
    for (const w of await imported()) ids[`org-${w.name}`] = w.id;
    for (const w of await imported()) await node(w.id).waitFor({ timeout: 15_000 });
    await shot('15b-org-importing');
    for (const w of await imported()) await expect.poll(() => statusOf(w.id), { timeout: 60_000 }).toBe('online');
    await expect.poll(() => progress.textContent(), { timeout: 15_000 }).toContain('Imported Demo team: 4 of 4 online');
    // The worker sits in its lead's team box.
    expect(await inside(ids['org-worker']!, ids['org-Lead']!)).toBe(true);
    await shot('15c-org-imported');
    expect(await axe()).toEqual([]);
    await progress.getByRole('button', { name: 'Dismiss the Demo team import' }).click();
    await progress.waitFor({ state: 'detached' });
    // The chart moved to show the new team; the fit-view control shows everything again.
    await page.getByRole('button', { name: /fit view/i }).click();
  }, 120_000);

  it('delete asks first and names the member that goes too; confirmed, the team leaves the chart; a workspace deleted elsewhere closes its panel', async () => {
    const p = await openPanel(ids.echo!, 'Echo bot');
    await p.getByRole('tab', { name: 'Details' }).click();
    await p.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Delete Echo bot?' });
    expect(await dialog.textContent()).toContain('Helper');
    await shot('14-confirm-delete');
    expect(await axe()).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect((await c.get(ids.echo!)).status).toBe('online');
    await p.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete 2 workspaces' }).click();
    await node(ids.echo!).waitFor({ state: 'detached', timeout: 30_000 });
    await node(ids.helper!).waitFor({ state: 'detached', timeout: 30_000 });
    delete ids.echo;
    delete ids.helper;

    // Another tab (here: the API) deletes the workspace whose panel is open: the panel goes with it.
    await openPanel(ids.slow!, 'Slow');
    expect(await c.remove(ids.slow!)).toBe(200);
    await panel('Slow').waitFor({ state: 'detached', timeout: 15_000 });
    delete ids.slow;
  }, 90_000);

  it('an expired session goes back to the sign-in screen', async () => {
    await page.evaluate(() => fetch('/auth/logout', { method: 'POST' }));
    await node(ids.laptop!).click({ position: { x: 20, y: 12 } });
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 15_000 }).toContain('session expired');
  }, 60_000);

  it('the database stops: the unreachable screen says what to check; it comes back by itself when the database does', async () => {
    await page.goto(`${server.url}/#token=${encodeURIComponent(E2E_ADMIN_TOKEN)}`);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    await pg.stop('immediate');
    await page.getByRole('heading', { name: 'The platform is unreachable' }).waitFor({ timeout: 30_000 });
    expect(await page.getByRole('alert').textContent()).toContain('database unreachable');
    await shot('15-unreachable');
    expect(await axe()).toEqual([]);
    await pg.start();
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 60_000 });
    await node(ids.laptop!).waitFor();
  }, 120_000);
});
