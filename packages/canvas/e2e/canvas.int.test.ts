import { copyFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { E2E_ADMIN_TOKEN, e2eClient, startE2eServer } from '@molecule/server/testing';

// The canvas in a real browser (Debian chromium through playwright-core) against the real platform
// (process backend, PostgreSQL): sign in through the printed link, watch a workspace come online and
// change status live, and check each view with axe-core. Screenshots of each step land in
// .molecule/screenshots/ (gitignored); the team view's replaces docs/canvas.png (the README's) with UPDATE_DOCS_SCREENSHOT=1.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SHOTS = path.join(ROOT, '.molecule/screenshots');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

describe('the canvas in Chromium', () => {
  let server: Awaited<ReturnType<typeof startE2eServer>>['server'];
  let browser: Browser;
  let page: Page;
  const c = e2eClient(() => server);
  const made: string[] = [];

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process', DATABASE_URL: process.env.TEST_DATABASE_URL }, 'molecule-canvas-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('console', (m) => void (m.type() === 'error' && process.stderr.write(`[page] ${JSON.stringify(m.text())}\n`)));
    page.on('pageerror', (e) => void process.stderr.write(`[page error] ${e.message}\n`));
    await mkdir(SHOTS, { recursive: true });
  }, 60_000);
  afterAll(async () => {
    for (const id of made) await c.remove(id);
    await browser?.close();
    await server?.close();
  }, 60_000);

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
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (e) => void process.stderr.write(`[page error] ${e.message}\n`));
    await page.goto(`${server.url}/#token=${encodeURIComponent(E2E_ADMIN_TOKEN)}`);
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 60_000 });
    expect(page.url()).toBe(`${server.url}/`);
    expect(await page.textContent('main')).toContain('No workspaces yet');
    await shot('02-empty');
    expect(await axe()).toEqual([]);
  }, 90_000);

  it('a new echo workspace appears and goes online live; a killed agent shows its status change, then recovers', async () => {
    const id = await c.create('Echo bot', 'echo');
    made.push(id);
    const node = page.getByTestId(`workspace-${id}`);
    await node.waitFor({ timeout: 30_000 });
    await expect.poll(() => node.getAttribute('data-status'), { timeout: 60_000 }).toBe('online');
    expect(await node.textContent()).toContain('Online');
    expect(await node.getAttribute('aria-label')).toBe('Echo bot: Online');
    await shot('03-online');
    expect(await axe()).toEqual([]);

    // The agent dies: the page follows the workspace through its restart without a reload.
    const pid = Number(String((await c.get(id)).instance_id).split(':')[1]);
    process.kill(pid, 'SIGKILL');
    await c.waitNoticedDead(id, 30_000);
    await expect.poll(() => node.getAttribute('data-status'), { timeout: 30_000 }).not.toBe('online');
    await shot('04-restarting');
    await expect.poll(() => node.getAttribute('data-status'), { timeout: 60_000 }).toBe('online');
  }, 180_000);

  it('a child is drawn inside its parent\'s team box', async () => {
    const child = await c.create('Helper', 'echo');
    made.unshift(child);
    const parent = made[made.length - 1]!;
    const r = await fetch(`${server.url}/workspaces/${child}`, { method: 'PATCH', headers: c.admin, body: JSON.stringify({ parent_id: parent }) });
    expect(r.status).toBe(200);
    const box = async (id: string) => (await page.getByTestId(`workspace-${id}`).boundingBox())!;
    await expect.poll(async () => {
      const [p, k] = [await box(parent), await box(child)];
      return k.x >= p.x && k.y >= p.y && k.x + k.width <= p.x + p.width + 1 && k.y + k.height <= p.y + p.height + 1;
    }, { timeout: 30_000 }).toBe(true);
    await expect.poll(() => page.getByTestId(`workspace-${child}`).getAttribute('data-status'), { timeout: 60_000 }).toBe('online');
    await page.getByRole('button', { name: /fit view/i }).click();
    await shot('05-team');
    // The README's screenshot is refreshed on request, so a test run leaves the tree as it was.
    if (process.env.UPDATE_DOCS_SCREENSHOT === '1') await copyFile(path.join(SHOTS, '05-team.png'), path.join(ROOT, 'docs/canvas.png'));
  }, 120_000);

  it('a node opens its panel (click, or Enter from the keyboard): a streamed chat kept across a reload, details, a restart followed live, a delete that names what goes with it', async () => {
    const [child, parent] = [made[0]!, made[made.length - 1]!];
    await page.getByTestId(`workspace-${parent}`).click({ position: { x: 20, y: 12 } });
    const panel = page.getByRole('complementary', { name: 'Workspace Echo bot' });
    await panel.waitFor();
    // Chat first: "hi" streams back as "echo: hi", and the conversation is there again after a reload.
    expect(await panel.getByRole('tab', { name: 'Chat' }).getAttribute('aria-selected')).toBe('true');
    await panel.getByLabel('Message to Echo bot').fill('hi');
    await panel.getByLabel('Message to Echo bot').press('Enter');
    const log = panel.getByRole('log', { name: 'Conversation' });
    await expect.poll(() => log.locator('[data-from="agent"]').last().textContent(), { timeout: 30_000 }).toContain('echo: hi');
    await shot('06-chat');
    expect(await axe()).toEqual([]);
    await page.reload();
    await page.getByTestId(`workspace-${parent}`).click({ position: { x: 20, y: 12 } });
    await expect.poll(() => panel.getByRole('log', { name: 'Conversation' }).textContent(), { timeout: 30_000 }).toMatch(/hi.*echo: hi/);

    await panel.getByRole('tab', { name: 'Details' }).click();
    expect(await panel.getByRole('tab', { name: 'Details' }).getAttribute('aria-selected')).toBe('true');
    expect(await panel.textContent()).toContain('template echo');
    await shot('06b-details');
    expect(await axe()).toEqual([]);

    // Restart: the panel and the node follow the workspace back to online.
    await panel.getByRole('button', { name: 'Restart' }).click();
    await expect.poll(() => panel.getByRole('status').textContent()).toContain('Restart: done.');
    await expect.poll(() => page.getByTestId(`workspace-${parent}`).getAttribute('data-status'), { timeout: 60_000 }).toBe('online');

    // Delete asks first and names the child that goes too; Escape backs out with nothing removed.
    await panel.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('alertdialog');
    expect(await dialog.textContent()).toContain('Helper');
    await shot('07-confirm-delete');
    expect(await axe()).toEqual([]);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect((await c.get(parent)).status).toBe('online');

    // From the keyboard: the child's node, Enter, its panel.
    await page.getByTestId(`workspace-${child}`).click({ position: { x: 20, y: 12 } });
    await page.getByRole('button', { name: 'Close panel' }).click();
    await page.locator(`.react-flow__node[data-id="${child}"]`).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('complementary', { name: 'Workspace Helper' }).waitFor();
    // Focus moved into the panel: the next Tab reaches its tabs, not the chart's controls.
    expect(await page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute: (n: string) => string | null } } }).document.activeElement.getAttribute('role'))).toBe('tab');

    // Confirmed, the team goes, and the chart says so live.
    await page.getByTestId(`workspace-${parent}`).click({ position: { x: 20, y: 12 } });
    await page.getByRole('complementary', { name: 'Workspace Echo bot' }).getByRole('tab', { name: 'Details' }).click();
    await page.getByRole('complementary', { name: 'Workspace Echo bot' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Delete 2 workspaces' }).click();
    await page.getByText('No workspaces yet').waitFor({ timeout: 30_000 });
    made.length = 0;
  }, 180_000);
});
