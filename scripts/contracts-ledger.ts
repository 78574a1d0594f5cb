/**
 * The contracts ledger: every id of `shared/spec/contracts.md` with its state. `tested` comes from
 * the tests themselves (every test file naming the id); this hand-kept table says what the rest
 * are: deliberately different (and what users get instead), not applicable (why), or not built yet
 * (the issue that will build it). `npm run docs:contracts` writes docs/contracts.md; a unit test
 * fails when an id has no state, when a "not built" id is named by a test (the table went stale),
 * or when docs/contracts.md is out of date.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export type LedgerEntry =
  | { state: 'different'; note: string }
  | { state: 'not_applicable'; note: string }
  | { state: 'not_built'; issue: number | null; note: string };

const notBuilt = (issue: number | null, note: string, ids: string[]): Record<string, LedgerEntry> =>
  Object.fromEntries(ids.map((id) => [id, { state: 'not_built', issue, note }]));
const ids = (from: number, to: number, except: number[] = []): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i)
    .filter((n) => !except.includes(n))
    .map((n) => `C${String(n).padStart(3, '0')}`);

export const LEDGER: Record<string, LedgerEntry> = {
  ...notBuilt(null, 'template-image refresh from GHCR and its watcher: no issue filed; images are pinned per template by digest (C133-C137)', ids(138, 143)),
  C248: {
    state: 'different',
    note: 'There is no legacy memory table and so no cutover switch: the admin export and import always go through the memory plugin (the built-in store when none is configured), which is the path upstream takes with MEMORY_V2_CUTOVER=true.',
  },
  C249: {
    state: 'different',
    note: 'No cutover variable exists (C248), so its two loud warnings have nothing to warn about. What remains holds: an external plugin that fails its boot probe logs one warning and the platform starts; the built-in store (no MEMORY_PLUGIN_URL) and a healthy plugin log no warning.',
  },
  C255: {
    state: 'different',
    note: "The backfill reads an export file (ours or upstream's GET /admin/memories/export) instead of the agent_memories table of the same database, which does not exist here: `molecule memory import <file> --dry-run|--verify` (or apply by default). Modes are exclusive; dry-run never calls the plugin; scopes map LOCAL -> workspace:<id>, TEAM -> team:<root>, GLOBAL -> org:<root>; each entry's id is derived from namespace and content, so reruns never duplicate.",
  },
  C256: {
    state: 'different',
    note: 'Error policy of the file-based import (C255): an unknown workspace or scope, blank content or a bad date is skipped and counted by reason; a plugin failure on an entry counts as an error and the import goes on (a rerun retries it without copying the rest); a body that is not an array of entries is refused whole (400) before anything is written.',
  },
  C257: {
    state: 'different',
    note: 'Verify checks every entry of the file (not a random sample of a table) against a full listing of the namespaces involved; the plugin may hold more; any missing entry exits 1 and names their positions; verify with dry-run is refused.',
  },
  C237: {
    state: 'different',
    note: "Unset MEMORY_PLUGIN_URL still means memory works with no configuration, but through the built-in store (packages/memory-postgres run in-process on the platform's PostgreSQL or on PGlite in the data dir) rather than a legacy table; MEMORY_PLUGIN_URL=off turns memory off. A set URL is probed once at boot and a failed probe never fails the start, as upstream.",
  },
  C264: {
    state: 'different',
    note: 'The real-process suite of the built-in plugin (packages/memory-postgres/src/main.int.test.ts) is not gated and never skips: it runs in the integration project on the test PostgreSQL every CI run.',
  },
  C052: {
    state: 'different',
    note: "A poll-mode target is never dialled and the message is recorded as a2a_receive (queued), as the contract says; but a blocking message/send (A2A's default), or a message/stream (answered as one SSE event), to a poll agent that is online waits, up to the sender's idle timeout, for the agent's reply through its inbox (POST /workspaces/:id/inbox/:message_id/reply) and answers with it, so a teammate's send completes like a push agent's (#15). A non-blocking send (configuration.blocking: false), any other method, an agent not online, or no reply in time still get 200 {status:\"queued\", delivery_mode:\"poll\", method}.",
  },
  C108: {
    state: 'not_applicable',
    note: "Go's typed-nil pitfall: the one Provisioner is built by createProvisioner and is undefined when there is none.",
  },
  C109: {
    state: 'not_applicable',
    note: 'There is no per-backend handler field: every "is there a backend" check reads deps.provisioner (restart without one is 503, C149).',
  },
  C128: {
    state: 'different',
    note: 'An empty or unknown runtime is refused at create with a 400 naming it, never coerced to claude-code: a user who asked for a runtime never silently gets another (#16 completes the registry).',
  },
  C147: { state: 'not_applicable', note: 'A restart stops and starts through the one configured backend; there are no Docker-only or CP-only paths to dispatch between.' },
  C150: { state: 'not_applicable', note: 'Same reason as C147: auto-restart reprovisions through the one configured backend, whichever it is.' },
  C151: { state: 'not_applicable', note: "A restart reuses the workspace's own template (or none); no template is derived from the runtime." },
  C164: { state: 'not_applicable', note: 'The loops start whatever the backend; each sweep asks deps.provisioner and does nothing without one.' },
  C194: { state: 'not_applicable', note: 'Never built: there is no shared-context route (unknown routes answer 404) and config.yaml ignores unknown keys such as shared_context.' },
  C197: {
    state: 'different',
    note: "Every runtime runs in the one runtime image with its configs volume at /configs, so the Files API's /configs is /configs for all; upstream's per-image base paths (hermes ~/.hermes, langgraph /opt/configs) would point at nothing here.",
  },
  C183: {
    state: 'different',
    note: "The workspace row is read once, with its runtime, before the plugin handlers decide anything; there is no second runtime lookup that could fail on its own. When that one read fails the request fails (500 for a datastore error, nothing written), so an external workspace is never sent to a container check and a container-backed one is never refused with the external hint.",
  },
  C196: {
    state: 'different',
    note: "Files of a control-plane instance are reached through its own agent (molecule-agent's /internal/files endpoints, behind the inbound secret, which re-checks every path), not over EC2 Instance Connect SSH: no SSH keys to push, no tunnel, the same path rules on every backend.",
  },
  C227: {
    state: 'not_applicable',
    note: 'EC2 Instance Connect terminals belong to the control-plane backend, which has no terminal port here (501 "terminal not supported on this backend"); the process backend opens a pty and the Docker backend a TTY exec, no ssh.',
  },
  C229: { state: 'not_applicable', note: 'Same reason as C227: no EC2 path. Diagnose runs workspace-dir, agent-running, pty-probe (process) or docker-client, container-found, container-running, exec-probe (Docker).' },
  C213: { state: 'not_applicable', note: 'One org per deployment: there is no SaaS tenant routing; MOLECULE_ORG_ID is only sent to the control plane.' },
  C224: {
    state: 'different',
    note: 'Chat file forwards re-check the workspace URL when they send and at every connection (the guarded A2A client of C050), instead of trusting the register-time check: a URL the platform may not dial is refused (502) and nothing is sent.',
  },
  C222: { state: 'not_applicable', note: 'There is no host.docker.internal rewrite: URLs are checked as stored and again at every connection (C050).' },
  C223: {
    state: 'different',
    note: "No global SSRF switch: each app's deps carry its agent-URL policy, and a test that needs private addresses builds a permissive policy for that app only.",
  },
  C055: {
    state: 'different',
    note: 'A refused JSON-RPC request is HTTP 200 carrying the error object (still naming the field), not HTTP 400: the A2A spec, @a2a-js/sdk, the TCK and the Python SDK expect 200, and on a 400 they lose the typed error. The proxy\'s own refusals (401, 403, 402, 202 queued, 503) keep their statuses.',
  },
  C053: {
    state: 'different',
    note: 'The delivery mode is read with the target row (URL included), not by a separate lookup: when that read fails there is no URL to push to either, so the answer is 503 platform_unavailable and the caller retries. As the contract wants, a failed read is never a silent poll queueing.',
  },
  C212: {
    state: 'different',
    note: 'The test-token route is off unless MOLECULE_ENABLE_TEST_TOKENS=1 and never on in production (upstream: on whenever MOLECULE_ENV is not exactly "production"), and it is never open: there is always an admin token (generated when ADMIN_TOKEN is unset), and an org token or the canvas session count as admin, as on POST /workspaces/:id/tokens, which mints the same thing.',
  },
  C061: {
    state: 'different',
    note: 'An invalid expires_in_seconds (0, negative, a string) is refused with a 400 JSON-RPC error naming the field, instead of silently meaning "no expiry": a caller who asked for an expiry hears that it would not get one.',
  },
  C282: {
    state: 'different',
    note: 'MOLECULE_PROVISIONER picks the backend explicitly and MOLECULE_ENV the SSRF relaxation; MOLECULE_ORG_ID does not switch modes (it is sent to the control plane).',
  },
};

export interface Contract {
  id: string;
  area: string;
  text: string;
}

/** The contracts of the spec, in order. */
export function readContracts(specFile: string): Contract[] {
  const out: Contract[] = [];
  for (const line of readFileSync(specFile, 'utf8').split('\n')) {
    const m = /^- \[[ x]\] \*\*(C\d{3})\*\* `\[([^\]]+)\]` (.*)$/.exec(line);
    if (m) out.push({ id: m[1]!, area: m[2]!, text: m[3]!.replace(/\s*_\(src:[^)]*\)_\s*$/, '') });
  }
  return out;
}

const TEST_FILE = /\.(test|int\.test|suite|contract)\.ts$/;

/** Every test file (relative to `root`) naming each contract id. */
export function testsNaming(root: string): Map<string, string[]> {
  const found = new Map<string, Set<string>>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue;
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (TEST_FILE.test(name)) {
        for (const m of readFileSync(p, 'utf8').matchAll(/\bC\d{3}\b/g)) {
          if (!found.has(m[0])) found.set(m[0], new Set());
          found.get(m[0])!.add(path.relative(root, p).split(path.sep).join('/'));
        }
      }
    }
  };
  walk(path.join(root, 'packages'));
  return new Map([...found].map(([id, files]) => [id, [...files].sort()]));
}

/** docs/contracts.md. */
export function renderLedger(contracts: Contract[], tested: Map<string, string[]>): string {
  const count = { tested: 0, different: 0, not_applicable: 0, not_built: 0, none: 0 };
  const rows = contracts.map((c) => {
    const files = tested.get(c.id);
    const entry = LEDGER[c.id];
    let state: string;
    if (entry?.state === 'different') {
      count.different++;
      state = `**different**: ${entry.note}${files ? ` (pinned by ${files.map((f) => `\`${f}\``).join(', ')})` : ''}`;
    } else if (files) {
      count.tested++;
      state = `tested: ${files.map((f) => `\`${f}\``).join(', ')}`;
    } else if (entry?.state === 'not_applicable') {
      count.not_applicable++;
      state = `not applicable: ${entry.note}`;
    } else if (entry?.state === 'not_built') {
      count.not_built++;
      state = `not built yet (${entry.issue === null ? 'no issue yet' : `#${entry.issue}`}): ${entry.note}`;
    } else {
      count.none++;
      state = '**no state**';
    }
    const text = c.text.length > 140 ? `${c.text.slice(0, 137)}...` : c.text;
    return `| ${c.id} | ${c.area} | ${text.replace(/\|/g, '\\|')} | ${state.replace(/\|/g, '\\|')} |`;
  });
  return [
    '# Contracts ledger',
    '',
    '<!-- Generated by `npm run docs:contracts` from the tests and scripts/contracts-ledger.ts; do not edit by hand. -->',
    '',
    `Every behavioural contract of \`shared/spec/contracts.md\` and where it stands: ${count.tested} tested (the test files that`,
    `name the id), ${count.different} deliberately different, ${count.not_applicable} not applicable, ${count.not_built} not built yet.`,
    '',
    '| id | area | contract | state |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
