import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BUDGET_PERIODS, CONNECT_SNIPPETS, DELIVERY_MODES, EXTERNAL_RUNTIME, RUNTIMES, type BudgetPeriod, type BudgetView, type CreateWorkspaceBody, type DeliveryMode, type EnvRequirement, type Runtime, type SecretChange } from '@molecule/contracts';
import { ApiError, MoleculeClient, PlatformUnreachableError, type DeleteWorkspaceResult } from './client.js';
import { resolveConnection, type Connection, type ConnectionFlags } from './connection.js';
import { CliError } from './errors.js';
import { fields, json, table } from './format.js';
import { envWords, followImport, importSource } from './org.js';

type Env = Record<string, string | undefined>;

/** Everything the program touches outside itself, so tests can run it in-process. */
export interface CliIo {
  /** Normal output (tables, JSON, created credentials). */
  out(text: string): void;
  /** Errors, hints and warnings. */
  err(text: string): void;
  env: Env;
  /** Resolves relative --data-dir values; defaults to process.cwd(). */
  cwd?: string;
  /** Runs the platform in the foreground for `molecule up`; defaults to @molecule/server's runMain. */
  runServer?: (env: Env) => Promise<void>;
  /** All of standard input (a secret's value when not given as an argument); defaults to process.stdin. */
  readStdin?: () => Promise<string>;
  /** Standard error is a terminal: progress redraws one line in place. */
  tty?: boolean;
}

async function processStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new CliError('no value given: pass it as an argument, or pipe it in (for example: printf %s "$KEY" | molecule secret set NAME)');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface ClientFlags extends ConnectionFlags {
  json?: boolean;
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

const START_HINT = 'is the platform running? start it with `npm start` (or `molecule up`), or point --url / MOLECULE_URL at it';

/**
 * Builds the `molecule` command tree. It never exits the process: failures surface as a thrown
 * CommanderError (usage, help) or CliError/ApiError/PlatformUnreachableError; `runCli` turns those
 * into messages and an exit code.
 */
export function buildProgram(io: CliIo): Command {
  const program = new Command('molecule')
    .description('Molecule: an org-native control plane for teams of AI agents')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('up')
    .description('run the platform in the foreground (same as `npm start`); PGlite in the data dir unless DATABASE_URL is set')
    .option('--port <n>', 'port to listen on (env PORT, default 8080)', parsePort)
    .option('--host <host>', 'address to bind (env HOST, default 127.0.0.1)')
    .option('--data-dir <dir>', 'data directory (env MOLECULE_DATA_DIR, default ./.molecule)')
    .action(async (opts: { port?: number; host?: string; dataDir?: string }) => {
      const env: Env = { ...io.env };
      if (opts.port !== undefined) env.PORT = String(opts.port);
      if (opts.host !== undefined) env.HOST = opts.host;
      if (opts.dataDir !== undefined) env.MOLECULE_DATA_DIR = opts.dataDir;
      await (io.runServer ?? runServerInProcess)(env);
    });

  const workspace = program.command('workspace').alias('ws').description('list, create and remove workspaces');

  withConnection(workspace.command('ls').alias('list').description('list live workspaces')).action(async (opts: ClientFlags) => {
    const client = await connect(io, opts);
    const list = await client.call((c) => c.listWorkspaces());
    if (opts.json) return io.out(json(list));
    if (list.length === 0) return io.out('no workspaces yet; create one with `molecule workspace create <name>`\n');
    const names = new Map(list.map((w) => [w.id, w.name]));
    io.out(
      table(
        ['ID', 'NAME', 'ROLE', 'RUNTIME', 'TIER', 'STATUS', 'PARENT'],
        list.map((w) => [
          w.id,
          w.name,
          w.role ?? '-',
          w.runtime,
          `T${w.tier}`,
          w.status,
          w.parent_id === null ? '-' : (names.get(w.parent_id) ?? w.parent_id),
        ]),
      ),
    );
  });

  withConnection(
    workspace
      .command('create')
      .description('create a workspace; an external one prints the connection its agent needs')
      .argument('<name>', 'display name')
      .option('--role <role>', 'what this workspace does in the org')
      .option('--parent <id>', 'parent workspace id')
      .addOption(new Option('--runtime <runtime>', 'agent runtime (default molecule)').choices(RUNTIMES))
      .option('--tier <tier>', 'resource tier: 1-4 or T1-T4 (default 2)', parseTier)
      .option('--model <model>', 'model the agent uses')
      .option('--template <name>', 'workspace template folder, e.g. echo or assistant')
      .addOption(new Option('--delivery-mode <mode>', 'how A2A messages reach it (default push; poll for external)').choices(DELIVERY_MODES)),
  ).action(
    async (
      name: string,
      opts: ClientFlags & { role?: string; parent?: string; runtime?: Runtime; tier?: number; model?: string; template?: string; deliveryMode?: DeliveryMode },
    ) => {
      const client = await connect(io, opts);
      const body: CreateWorkspaceBody = {
        name,
        ...(opts.role !== undefined ? { role: opts.role } : {}),
        ...(opts.parent !== undefined ? { parent_id: opts.parent } : {}),
        ...(opts.runtime !== undefined ? { runtime: opts.runtime } : {}),
        ...(opts.tier !== undefined ? { tier: opts.tier } : {}),
        ...(opts.model !== undefined ? { model: opts.model } : {}),
        ...(opts.template !== undefined ? { template: opts.template } : {}),
        ...(opts.deliveryMode !== undefined ? { delivery_mode: opts.deliveryMode } : {}),
      };
      const ws = await client.call((c) => c.createWorkspace(body));
      if (ws.connection) {
        io.err('warning: the auth token below is shown only this once; save it now, it cannot be retrieved again\n');
      }
      if (opts.json) return io.out(json(ws));
      io.out(`created workspace "${ws.name}" ${ws.id}\n`);
      io.out(
        fields([
          ['status', ws.status],
          ['runtime', ws.runtime],
          ['tier', `T${ws.tier}`],
          ['delivery', ws.delivery_mode],
          ...(ws.role !== null ? [['role', ws.role] as const] : []),
          ...(ws.parent_id !== null ? [['parent', ws.parent_id] as const] : []),
          ...(ws.model !== null ? [['model', ws.model] as const] : []),
          ...(ws.template !== null ? [['template', ws.template] as const] : []),
          ...(ws.last_sample_error !== '' ? [['error', ws.last_sample_error] as const] : []),
        ]),
      );
      if (ws.connection) {
        const c = ws.connection;
        io.out(`\nconnection for the ${EXTERNAL_RUNTIME} agent:\n`);
        io.out(
          fields([
            ['workspace_id', c.workspace_id],
            ['platform_url', c.platform_url],
            ['auth_token', c.auth_token],
            ['registry_endpoint', c.registry_endpoint],
            ['heartbeat_endpoint', c.heartbeat_endpoint],
          ]),
        );
      }
    },
  );

  withConnection(
    workspace
      .command('rm')
      .alias('delete')
      .description('remove a workspace (and, with --confirm, its children)')
      .argument('<id>', 'workspace id')
      .option('--confirm', 'also remove its live children')
      .option('--purge', 'hard-delete the rows instead of marking them removed'),
  ).action(async (id: string, opts: ClientFlags & { confirm?: boolean; purge?: boolean }) => {
    const client = await connect(io, opts);
    let result: DeleteWorkspaceResult;
    try {
      result = await client.call((c) => c.deleteWorkspace(id, { confirm: opts.confirm === true, purge: opts.purge === true }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'confirmation_required') {
        const children = Array.isArray(err.body.children) ? (err.body.children as { id?: unknown; name?: unknown }[]) : [];
        throw new CliError(err.message, [
          ...children.map((ch) => `child: ${String(ch.id)}  ${String(ch.name)}`),
          `pass --confirm to remove ${id} together with its children`,
        ]);
      }
      throw err;
    }
    if (opts.json) return io.out(json(result));
    const others = result.cascade_deleted === 1 ? '1 descendant' : `${result.cascade_deleted} descendants`;
    io.out(`${result.status} workspace ${id}${result.cascade_deleted > 0 ? ` and ${others}` : ''}\n`);
  });

  withConnection(
    workspace
      .command('events')
      .description("a workspace's recorded events, newest first")
      .argument('<id>', 'workspace id')
      .option('--limit <n>', 'how many (1-1000, default 20)', parseLimit, 20),
  ).action(async (id: string, opts: ClientFlags & { limit: number }) => {
    const client = await connect(io, opts);
    const events = await client.call((c) => c.workspaceEvents(id, opts.limit));
    if (opts.json) return io.out(json(events));
    if (events.length === 0) return io.out(`no recorded events for ${id}\n`);
    for (const e of events) io.out(`${e.at}  #${String(e.seq)}  ${e.type}${Object.keys(e.payload).length > 0 ? `  ${JSON.stringify(e.payload)}` : ''}\n`);
  });

  withConnection(
    workspace
      .command('connect')
      .description("print an external workspace's connect snippets (Universal MCP, Python, Claude Code, Hermes, Codex, OpenClaw, curl)")
      .argument('<id>', 'workspace id')
      .option('--new-token', 'mint a fresh token and stamp it into the snippets (shown once); without it the token is a placeholder'),
  ).action(async (id: string, opts: ClientFlags & { newToken?: boolean }) => {
    const client = await connect(io, opts);
    const c = await client.call((api) => api.workspaceConnection(id, opts.newToken === true));
    if (opts.newToken === true) io.err('warning: the auth token below is shown only this once; save it now, it cannot be retrieved again\n');
    if (opts.json) return io.out(json(c));
    io.out(
      fields([
        ['workspace_id', c.workspace_id],
        ['platform_url', c.platform_url],
        ['auth_token', c.auth_token],
      ]),
    );
    for (const s of CONNECT_SNIPPETS) {
      const text = c[s.field];
      if (text !== undefined) io.out(`\n== ${s.label} ==\n${text.endsWith('\n') ? text : `${text}\n`}`);
    }
  });

  const token = program.command('token').description('workspace credentials');
  withConnection(
    token.command('create').description('mint a workspace token (shown once)').argument('<workspace-id>', 'workspace id'),
  ).action(async (workspaceId: string, opts: ClientFlags) => {
    const client = await connect(io, opts);
    const t = await client.call((c) => c.createWorkspaceToken(workspaceId));
    io.err(`warning: ${t.message}\n`);
    if (opts.json) return io.out(json(t));
    io.out(`created token ${t.prefix}… (id ${t.id}) for workspace ${t.workspace_id}\n`);
    io.out(fields([['auth_token', t.auth_token]]));
  });

  const secret = program.command('secret').description('secrets agents get as environment variables (org-wide, or per workspace)');
  const secretScope = (c: Command) =>
    withConnection(c.option('-w, --workspace <id>', "a workspace's own secret (default: org-wide)").option('--restart', 'restart the workspaces that use it now'));
  secretScope(
    secret
      .command('set')
      .description('set a secret; the value comes from stdin when omitted (keeps it out of shell history)')
      .argument('<key>', 'an environment variable name')
      .argument('[value]', 'the value'),
  ).action(async (key: string, value: string | undefined, opts: ClientFlags & { workspace?: string; restart?: boolean }) => {
    const v = value ?? (await (io.readStdin ?? processStdin)()).replace(/\r?\n$/, '');
    const client = await connect(io, opts);
    const r = await client.call((c) => c.setSecret(key, v, { ...(opts.workspace ? { workspaceId: opts.workspace } : {}), restart: opts.restart === true }));
    if (opts.json) return io.out(json(r));
    io.out(`saved ${r.scope} secret ${r.key}\n`);
    io.out(restartNote(r));
  });
  withConnection(
    secret.command('ls').alias('list').description("list secret names and where each comes from (never values)").option('-w, --workspace <id>', "a workspace's effective secrets"),
  ).action(async (opts: ClientFlags & { workspace?: string }) => {
    const client = await connect(io, opts);
    const list = await client.call((c) => c.listSecrets(opts.workspace));
    if (opts.json) return io.out(json(list));
    if (opts.workspace) io.out(`secrets of workspace ${opts.workspace} (the nearest layer wins):\n`);
    if (list.length === 0) return io.out('no secrets\n');
    io.out(
      table(
        ['KEY', 'FROM', 'OVERRIDES', 'UPDATED'],
        list.map((s) => [s.key, s.scope === 'global' ? 'org-wide' : s.scope === 'workspace' ? 'this workspace' : `ancestor ${s.workspace_name ?? ''}`, (s.overrides ?? []).join(', '), s.updated_at]),
      ),
    );
  });
  secretScope(secret.command('rm').alias('delete').description('delete a secret').argument('<key>', 'its name')).action(
    async (key: string, opts: ClientFlags & { workspace?: string; restart?: boolean }) => {
      const client = await connect(io, opts);
      const r = await client.call((c) => c.deleteSecret(key, { ...(opts.workspace ? { workspaceId: opts.workspace } : {}), restart: opts.restart === true }));
      if (opts.json) return io.out(json(r));
      io.out(`deleted ${r.scope} secret ${r.key}\n`);
      io.out(restartNote(r));
    },
  );

  const schedule = program.command('schedule').description("a workspace's cron schedules: prompts sent to its agent at set times");
  withConnection(schedule.command('ls').alias('list').description('list the schedules, their next run and last outcome').argument('<workspace>', 'workspace id or name')).action(
    async (ref: string, opts: ClientFlags) => {
      const client = await connect(io, opts);
      const id = await workspaceIdOf(client, ref);
      const list = await client.call((c) => c.listSchedules(id));
      if (opts.json) return io.out(json(list));
      if (list.length === 0) return io.out('no schedules\n');
      io.out(
        table(
          ['ID', 'NAME', 'CRON', 'TZ', 'ENABLED', 'NEXT RUN', 'RUNS', 'LAST'],
          list.map((s) => [s.id, s.name, s.cron_expr, s.timezone, s.enabled ? 'yes' : 'no', s.next_run_at ?? '-', String(s.run_count), s.last_status ?? '-']),
        ),
      );
    },
  );
  withConnection(
    schedule
      .command('add')
      .description('add a schedule; the prompt comes from stdin when --prompt is omitted')
      .argument('<workspace>', 'workspace id or name')
      .requiredOption('--name <name>', 'what it is called')
      .requiredOption('--cron <expr>', '5 fields: minute hour day-of-month month day-of-week (e.g. "0 9 * * 1-5"), or @daily...')
      .option('--tz <zone>', 'an IANA time zone the cron is read in', 'UTC')
      .option('--prompt <text>', 'what is sent to the agent')
      .option('--disabled', 'create it disabled'),
  ).action(async (ref: string, opts: ClientFlags & { name: string; cron: string; tz: string; prompt?: string; disabled?: boolean }) => {
    const prompt = opts.prompt ?? (await (io.readStdin ?? processStdin)());
    const client = await connect(io, opts);
    const id = await workspaceIdOf(client, ref);
    const s = await client.call((c) => c.createSchedule(id, { name: opts.name, cron_expr: opts.cron, timezone: opts.tz, prompt, enabled: opts.disabled !== true }));
    if (opts.json) return io.out(json(s));
    io.out(`created schedule "${s.name}" ${s.id}\n`);
    io.out(fields([['cron', `${s.cron_expr} (${s.timezone})`], ['next run', s.next_run_at ?? 'disabled']]));
  });
  withConnection(schedule.command('rm').alias('delete').description('delete a schedule and its history').argument('<workspace>', 'workspace id or name').argument('<schedule-id>', 'schedule id')).action(
    async (ref: string, scheduleId: string, opts: ClientFlags) => {
      const client = await connect(io, opts);
      const id = await workspaceIdOf(client, ref);
      const r = await client.call((c) => c.deleteSchedule(id, scheduleId));
      if (opts.json) return io.out(json(r));
      io.out(`deleted schedule ${scheduleId}\n`);
    },
  );
  withConnection(schedule.command('run').description('fire a schedule now, outside its cron').argument('<workspace>', 'workspace id or name').argument('<schedule-id>', 'schedule id')).action(
    async (ref: string, scheduleId: string, opts: ClientFlags) => {
      const client = await connect(io, opts);
      const id = await workspaceIdOf(client, ref);
      const r = await client.call((c) => c.runSchedule(id, scheduleId));
      if (opts.json) return io.out(json(r));
      io.out(`fired schedule ${scheduleId} (run ${r.run.id}, ${r.run.status}); \`molecule schedule ls\` shows how it ended\n`);
    },
  );

  const budget = program.command('budget').description("a workspace's budget: its own limit and its team's (USD cents), and the period they reset on");
  withConnection(budget.command('show', { isDefault: true }).description('show the limits, spend this period, what remains and what blocks calls').argument('<workspace>', 'workspace id or name')).action(
    async (ref: string, opts: ClientFlags) => {
      const client = await connect(io, opts);
      const id = await workspaceIdOf(client, ref);
      const b = await client.call((c) => c.getBudget(id));
      io.out(opts.json ? json(b) : budgetText(b));
    },
  );
  withConnection(
    budget
      .command('set')
      .description('set or clear (none) the limits, or the period (default: monthly); admin only')
      .argument('<workspace>', 'workspace id or name')
      .option('--limit <cents|none>', "the workspace's own limit, in USD cents", parseCents)
      .option('--team-limit <cents|none>', 'the limit of it and everything under it, in USD cents', parseCents)
      .addOption(new Option('--period <period>', 'when both limits start over (UTC)').choices([...BUDGET_PERIODS, 'default'])),
  ).action(async (ref: string, opts: ClientFlags & { limit?: number | 'none'; teamLimit?: number | 'none'; period?: BudgetPeriod | 'default' }) => {
    if (opts.limit === undefined && opts.teamLimit === undefined && opts.period === undefined) throw new CliError('nothing to set: give --limit, --team-limit or --period');
    const client = await connect(io, opts);
    const id = await workspaceIdOf(client, ref);
    const b = await client.call((c) =>
      c.setBudget(id, {
        ...(opts.limit !== undefined ? { budget_limit: opts.limit === 'none' ? null : opts.limit } : {}),
        ...(opts.teamLimit !== undefined ? { team_budget_limit: opts.teamLimit === 'none' ? null : opts.teamLimit } : {}),
        ...(opts.period !== undefined ? { budget_period: opts.period === 'default' ? null : opts.period } : {}),
      }),
    );
    io.out(opts.json ? json(b) : `budget of ${ref} saved\n${budgetText(b)}`);
  });

  const org = program.command('org').description('org templates: whole teams described once and imported in one go');
  withConnection(org.command('ls').alias('list').description('list the org templates on the platform and the keys each still needs')).action(async (opts: ClientFlags) => {
    const client = await connect(io, opts);
    const list = await client.call((c) => c.listOrgTemplates());
    if (opts.json) return io.out(json(list));
    if (list.length === 0) return io.out('no org templates\n');
    io.out(
      table(
        ['TEMPLATE', 'NAME', 'WORKSPACES', 'NEEDS'],
        list.map((o) => [o.dir, o.name, String(o.workspaces), o.missing_env.length === 0 ? 'ready' : `missing ${o.missing_env.map(envWords).join('; ')}`]),
      ),
    );
  });
  withConnection(
    org
      .command('import')
      .description('import an org: a template on the platform by name, or a local folder holding org.yaml; shows progress until every workspace is online or failed')
      .argument('<template>', 'an org template name (see `molecule org ls`), or a path to a folder with org.yaml or to the file')
      .option('--no-wait', 'print the new workspaces and return without following them')
      .option('--timeout <seconds>', 'how long to follow the import (default 900)', parseSeconds, 900),
  ).action(async (arg: string, opts: ClientFlags & { wait: boolean; timeout: number }) => {
    const source = await importSource(arg, io.cwd ?? process.cwd());
    const client = await connect(io, opts);
    let result;
    try {
      result = await client.call((c) => c.importOrg('dir' in source ? { dir: source.dir } : { template: source.template }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'precondition_failed') {
        throw new CliError(`${arg} needs keys the org-wide secrets do not have yet`, [
          ...((err.body.missing_env as EnvRequirement[] | undefined) ?? []).map((r) => `missing: ${envWords(r)}`),
          'set each with `molecule secret set KEY` (the value is read from stdin), then import again',
        ]);
      }
      throw err;
    }
    if (!opts.json) io.out(`importing "${result.org}": ${result.count} workspace(s), import ${result.import_id}\n`);
    if (!opts.wait) {
      if (opts.json) return io.out(json(result));
      return io.out(table(['ID', 'NAME', 'PARENT', 'STATUS'], result.workspaces.map((w) => [w.id, w.name, w.parent_id ?? '', w.status])));
    }
    const followed = await followImport(result, { list: () => client.call((c) => c.listWorkspaces()), write: (s) => io.err(s), tty: io.tty === true, timeoutMs: opts.timeout * 1000 });
    if (opts.json) io.out(json({ ...result, ...followed.tally, failed: followed.failed.map((w) => ({ id: w.id, name: w.name, error: w.last_sample_error })) }));
    if (followed.failed.length > 0) {
      throw new CliError(
        `${followed.failed.length} of ${result.count} workspace(s) failed to start`,
        followed.failed.map((w) => `${w.name} (${w.id}): ${w.last_sample_error || 'no reason recorded'}`),
      );
    }
    if (followed.timedOut) throw new CliError(`not every workspace was online after ${opts.timeout} s; \`molecule workspace ls\` shows where each stands`);
    if (!opts.json) io.out(`all ${result.count} workspace(s) of "${result.org}" are ${followed.tally.awaiting > 0 ? 'online or waiting for their external agent' : 'online'}\n`);
  });

  const memory = program.command('memory').description("agents' memories: move them between platforms (admin only)");
  withConnection(
    memory
      .command('export')
      .description('write every memory (each workspace\'s own, its team\'s and org\'s) as JSON, oldest first, secret-redacted')
      .option('-o, --out <file>', 'write to this file instead of standard output'),
  ).action(async (opts: ClientFlags & { out?: string }) => {
    const client = await connect(io, opts);
    const r = await client.call((c) => c.exportMemories());
    const text = `${JSON.stringify(r.entries, null, 2)}\n`;
    if (opts.out) {
      writeFileSync(path.resolve(io.cwd ?? process.cwd(), opts.out), text, { mode: 0o600 });
      io.err(`exported ${r.entries.length} memories to ${opts.out}\n`);
    } else {
      io.out(text);
    }
    if (r.incomplete > 0) throw new CliError(`the export is incomplete: the memory store could not read ${r.incomplete} namespace(s)`, ['check the memory store, then export again']);
  });
  withConnection(
    memory
      .command('import')
      .description('import an export (this platform\'s or upstream\'s): each memory goes to its workspace by id, else by name; importing the same file again makes no copies')
      .argument('<file>', 'a JSON array of memories, as `molecule memory export` writes it')
      .addOption(new Option('--dry-run', 'count what would be imported and skipped; write nothing').conflicts('verify'))
      .addOption(new Option('--verify', 'check that every entry is in the store; write nothing; exit 1 when any is missing').conflicts('dryRun')),
  ).action(async (file: string, opts: ClientFlags & { dryRun?: boolean; verify?: boolean }) => {
    let entries: unknown;
    try {
      entries = JSON.parse(readFileSync(path.resolve(io.cwd ?? process.cwd(), file), 'utf8'));
    } catch (err) {
      throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'not JSON'}`);
    }
    if (!Array.isArray(entries)) throw new CliError(`${file} is not a JSON array of memories`);
    const mode = opts.dryRun ? 'dry_run' : opts.verify ? 'verify' : 'apply';
    const client = await connect(io, opts);
    const r = await client.call((c) => c.importMemories(entries, mode));
    if (opts.json) io.out(json(r));
    else {
      const reasons = Object.entries(r.skipped_by_reason).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k.replaceAll('_', ' ')}`);
      const verb = mode === 'verify' ? 'found in the store' : mode === 'dry_run' ? 'would be imported' : 'imported';
      io.out(`${r.imported} of ${r.total} ${verb}; ${r.skipped} skipped${reasons.length ? ` (${reasons.join(', ')})` : ''}; ${r.errors} ${mode === 'verify' ? 'missing' : 'failed'}\n`);
    }
    if (mode === 'verify' && r.errors > 0) throw new CliError(`${r.errors} of the file's memories are not in the store`, [`their positions in the file: ${(r.missing ?? []).join(', ')}${r.errors > 100 ? ' (the first 100)' : ''}`]);
    if (mode === 'apply' && r.errors > 0) throw new CliError(`${r.errors} memories could not be stored; importing the file again retries them without copying the rest`);
  });

  return program;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A workspace id as given, or the id of the one live workspace with that name. */
async function workspaceIdOf(client: BoundClient, ref: string): Promise<string> {
  if (UUID.test(ref)) return ref;
  const named = (await client.call((c) => c.listWorkspaces())).filter((w) => w.name === ref);
  if (named.length === 1) return named[0]!.id;
  if (named.length === 0) throw new CliError(`no workspace named "${ref}"`, ['`molecule workspace ls` lists them']);
  throw new CliError(`${named.length} workspaces are named "${ref}": give the id`, named.map((w) => w.id));
}

/** `--limit 500` (USD cents) or `--limit none` (clears it; commander turns a parsed null into "", so the word is kept). */
function parseCents(v: string): number | 'none' {
  if (v === 'none') return v;
  if (!/^\d{1,15}$/.test(v)) throw new InvalidArgumentError('an amount in USD cents (a whole number, e.g. 2500 for $25), or none');
  return Number(v);
}

const usd = (cents: number) => `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;

/** A budget in words: its limits, spend and remaining this period, and what blocks calls. */
function budgetText(b: BudgetView): string {
  const pairs: [string, string][] = [
    ['period', `${b.budget_period} (${b.period_start} to ${b.period_resets_at})`],
    ['limit', b.budget_limit === null ? 'none' : usd(b.budget_limit)],
    ['spent', usd(b.period_spend)],
    ['remaining', b.budget_remaining === null ? '-' : usd(b.budget_remaining)],
    ['team limit', b.team_budget_limit === null ? 'none' : usd(b.team_budget_limit)],
    ['team spent', usd(b.team_spend)],
    ['team remaining', b.team_remaining === null ? '-' : usd(b.team_remaining)],
    ['blocked', b.blocked_by === null ? 'no' : `yes: ${b.blocked_by.scope} limit of ${b.blocked_by.workspace_id} reached (${usd(b.blocked_by.spend)} of ${usd(b.blocked_by.limit)}) until ${b.blocked_by.resets_at}`],
  ];
  return fields(pairs);
}

/** What a secret change means for running agents, in words. */
function restartNote(r: SecretChange): string {
  const waiting = r.restart_required.filter((id) => !r.restarted.includes(id));
  const lines: string[] = [];
  if (r.restarted.length > 0) lines.push(`restarted ${r.restarted.length} workspace(s) to apply it`);
  if (waiting.length > 0) lines.push(`${waiting.length} workspace(s) run with the old value until restarted (--restart does it): ${waiting.join(', ')}`);
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * Runs the CLI on `argv` (the arguments after the program name) and answers the exit code. Every
 * failure is printed to `io.err`; nothing here calls process.exit.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await buildProgram(io).parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode; // commander already printed help or usage
    if (err instanceof CliError) {
      io.err(`error: ${err.message}\n`);
      for (const h of err.hints) io.err(`hint: ${h}\n`);
      return err.exitCode;
    }
    if (err instanceof ApiError || err instanceof PlatformUnreachableError) {
      io.err(`error: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'platform URL (env MOLECULE_URL, default http://127.0.0.1:8080)')
    .option('--token <token>', 'admin token (env MOLECULE_ADMIN_TOKEN; default: read <data-dir>/admin_token)')
    .option('--data-dir <dir>', 'data dir holding admin_token (env MOLECULE_DATA_DIR, default ./.molecule)')
    .option('--json', 'print the raw JSON answer');
}

/** A client whose calls turn API and network failures into CliErrors with hints. */
interface BoundClient {
  call<T>(fn: (c: MoleculeClient) => Promise<T>): Promise<T>;
}

async function connect(io: CliIo, flags: ConnectionFlags): Promise<BoundClient> {
  const conn = await resolveConnection(flags, io.env, io.cwd ?? process.cwd());
  const client = new MoleculeClient({ baseUrl: conn.baseUrl, token: conn.token });
  return {
    async call(fn) {
      try {
        return await fn(client);
      } catch (err) {
        throw explain(err, conn);
      }
    },
  };
}

function explain(err: unknown, conn: Connection): unknown {
  if (err instanceof PlatformUnreachableError) {
    if (err.reason === 'timeout') return new CliError(`the platform at ${conn.baseUrl} did not answer in time`);
    return new CliError(err.message, [START_HINT]);
  }
  if (err instanceof ApiError) {
    if (err.status === 401) {
      return new CliError(`${err.message} (HTTP 401)`, [
        `the platform at ${conn.baseUrl} rejected the admin token from ${conn.tokenSource}; pass the right one with --token or MOLECULE_ADMIN_TOKEN`,
      ]);
    }
    if (err.code === 'confirmation_required' || err.code === 'precondition_failed') return err; // the command adds its own hints
    return new CliError(err.message);
  }
  return err;
}

async function runServerInProcess(env: Env): Promise<void> {
  // Imported on demand: the server pulls in Fastify and PGlite, which the HTTP commands never need.
  const { runMain } = await import('@molecule/server');
  await runMain(env);
}

function parsePort(raw: string): number {
  if (!/^\d+$/.test(raw) || Number(raw) > 65535) throw new InvalidArgumentError('expected a port number 0-65535');
  return Number(raw);
}

function parseTier(raw: string): number {
  const m = /^[Tt]?([1-4])$/.exec(raw.trim());
  if (!m) throw new InvalidArgumentError('expected 1-4 or T1-T4');
  return Number(m[1]);
}

function parseSeconds(raw: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(raw.trim())) throw new InvalidArgumentError('expected a whole number of seconds from 1 to 999999');
  return Number(raw);
}

function parseLimit(raw: string): number {
  if (!/^[1-9][0-9]{0,3}$/.test(raw.trim()) || Number(raw) > 1000) throw new InvalidArgumentError('expected a whole number from 1 to 1000');
  return Number(raw);
}
