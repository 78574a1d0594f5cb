import { z } from 'zod';

/**
 * The script language of `molecule-agent`'s script adapter and of plugins' commands: rules of steps
 * (reply, delay, fail, tool, delegate, send_files), their schema and parser. Shared so the platform
 * checks a plugin's commands when it is installed with the same rules the agent runs them with.
 */

/** A problem in a file, under the field it concerns (`config.yaml max_tokens`). */
export interface FieldIssue {
  /** The variable (`PORT`) or the file field (`config.yaml max_concurrent_tasks`) at fault. */
  field: string;
  message: string;
}

/** A tool use a `script` step plays (reported as an agent_log activity row, C037). */
export interface ScriptTool {
  name: string;
  input?: string;
  output?: string;
  error?: string;
}
/** A `script` step that hands the message to a peer through the platform tools. */
export interface ScriptDelegate {
  /** The peer's workspace id, name or role. */
  to: string;
  /** What to send; `{{input}}` is the message text. */
  task: string;
}
/** Files shown to the user through the platform (C085); `{{input}}` in a path or the message is the message text. */
export interface ScriptSendFiles {
  message: string;
  files: string[];
}
/** Which of its memory namespaces a `remember` or `recall` step means: its own, its team's, its org's. */
export const MEMORY_SCOPES = ['workspace', 'team', 'org'] as const;
export type MemoryScope = (typeof MEMORY_SCOPES)[number];
/** Stores `content` (`{{input}}` by default) in memory through the platform tools. */
export interface ScriptRemember {
  content: string;
  scope: MemoryScope;
}
/** Searches memory for `query` (`{{input}}` by default) in one scope or all readable; the memories found are the reply. */
export interface ScriptRecall {
  query: string;
  scope?: MemoryScope | undefined;
}
/** One step of a `script` adapter run. */
export type ScriptStep =
  | { reply: string }
  | { delay_ms: number }
  | { fail: string }
  | { tool: ScriptTool }
  | { delegate: ScriptDelegate }
  | { send_files: ScriptSendFiles }
  | { remember: ScriptRemember }
  | { recall: ScriptRecall };
/** A script rule: the first rule whose `match` (a regular expression) finds the input text runs. */
export interface ScriptRule {
  match: string | undefined;
  steps: ScriptStep[];
}

/** A skill on the agent card. */
export interface SkillConfig {
  id: string;
  name: string;
  description: string;
  tags: string[];
  examples: string[];
}

/** A skill as a config or a plugin manifest gives it: a name, or a name with details. */
export const SkillSchema = z.union([
  z.string().min(1),
  z
    .object({
      id: z.string().min(1).optional(),
      name: z.string().min(1),
      description: z.string().default(''),
      tags: z.array(z.string()).default([]),
      examples: z.array(z.string()).default([]),
    })
    .strict(),
]);

const StepSchema = z
  .object({
    reply: z.string().optional(),
    delay_ms: z.number().int().min(0).max(3_600_000).optional(),
    fail: z.string().optional(),
    tool: z
      .object({ name: z.string().min(1).max(256), input: z.string().optional(), output: z.string().optional(), error: z.string().optional() })
      .strict()
      .optional(),
    delegate: z
      .object({ to: z.string().trim().min(1).max(256), task: z.string().min(1).max(100_000).default('{{input}}') })
      .strict()
      .optional(),
    send_files: z
      .object({ message: z.string().min(1).max(100_000), files: z.array(z.string().min(1).max(4096)).min(1).max(20) })
      .strict()
      .optional(),
    remember: z
      .object({ content: z.string().min(1).max(100_000).default('{{input}}'), scope: z.enum(MEMORY_SCOPES).default('workspace') })
      .strict()
      .optional(),
    recall: z
      .object({ query: z.string().max(1000).default('{{input}}'), scope: z.enum(MEMORY_SCOPES).optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => Object.keys(s).length === 1, { message: 'a step has exactly one of reply, delay_ms, fail, tool, delegate, send_files, remember, recall' });

const RuleSchema = z
  .object({
    match: z
      .string()
      .refine(isValidRegex, { message: 'not a valid regular expression' })
      .optional(),
    steps: z.array(StepSchema).min(1),
  })
  .strict();

function isValidRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/**
 * A script is either a list of steps (run for every message) or a list of rules
 * (`{match?, steps}`, first match wins). Issues are reported under `field`.
 */
export function parseScript(raw: unknown, field: string): { rules?: ScriptRule[]; issues: FieldIssue[] } {
  const isRuleList = Array.isArray(raw) && raw.some((e) => typeof e === 'object' && e !== null && 'steps' in e);
  const result = isRuleList ? z.array(RuleSchema).min(1).safeParse(raw) : z.array(StepSchema).min(1).safeParse(raw);
  if (!result.success) return { issues: zodIssues(result.error, field) };
  const rules: ScriptRule[] = isRuleList
    ? (result.data as z.infer<typeof RuleSchema>[]).map((r) => ({ match: r.match, steps: r.steps.map(toStep) }))
    : [{ match: undefined, steps: (result.data as z.infer<typeof StepSchema>[]).map(toStep) }];
  return { rules, issues: [] };
}

function toStep(s: z.infer<typeof StepSchema>): ScriptStep {
  if (s.reply !== undefined) return { reply: s.reply };
  if (s.delay_ms !== undefined) return { delay_ms: s.delay_ms };
  if (s.tool !== undefined) return { tool: s.tool };
  if (s.delegate !== undefined) return { delegate: s.delegate };
  if (s.send_files !== undefined) return { send_files: s.send_files };
  if (s.remember !== undefined) return { remember: s.remember };
  if (s.recall !== undefined) return { recall: s.recall };
  return { fail: s.fail ?? '' };
}

/** A zod error as field issues under `prefix` (`config.yaml max_tokens`, `plugin.yaml script.0.steps`). */
export function zodIssues(error: z.ZodError, prefix: string): FieldIssue[] {
  return error.issues.map((i) => ({
    field: [prefix, ...i.path.map(String)].filter(Boolean).join('.').replace(/^([\w-]+\.yaml)\./, '$1 '),
    message: i.message,
  }));
}

/** A skill as the agent card carries it, from what a file gave. */
export function toSkill(s: z.infer<typeof SkillSchema>): SkillConfig {
  return typeof s === 'string'
    ? { id: slug(s), name: s, description: '', tags: [], examples: [] }
    : { id: s.id ?? slug(s.name), name: s.name, description: s.description, tags: s.tags, examples: s.examples };
}

function slug(s: string): string {
  return (
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'skill'
  );
}
