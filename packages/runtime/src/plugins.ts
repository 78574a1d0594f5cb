import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parsePluginManifest, PLUGIN_MANIFEST, PLUGINS_CONFIG_DIR, toSkill, type PluginManifest, type SkillConfig } from '@molecule/contracts';
import { parse as parseYaml } from 'yaml';
import { runSteps } from './adapters/script.js';
import type { Adapter, AdapterContext, AdapterEvent, AdapterInput } from './adapters/types.js';
import type { Logger } from './log.js';

/**
 * The plugins installed in `<configs>/plugins/<name>/`, each with a `plugin.yaml`, in name order. A
 * folder whose manifest is missing or broken is skipped with a warning (the platform checks
 * manifests before it installs them; this guards hand-made folders).
 */
export async function loadPlugins(configsDir: string, log: Logger): Promise<PluginManifest[]> {
  const dir = path.join(configsDir, PLUGINS_CONFIG_DIR);
  let names: string[];
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const plugins: PluginManifest[] = [];
  for (const name of names.sort()) {
    const file = path.join(dir, name, PLUGIN_MANIFEST);
    try {
      const { manifest, issues } = parsePluginManifest(parseYaml(await readFile(file, 'utf8'), { maxAliasCount: 100 }));
      if (!manifest) {
        log.warn({ plugin: name, issues }, 'plugin skipped: its plugin.yaml is not valid');
      } else if (manifest.name !== name) {
        log.warn({ plugin: name, manifest_name: manifest.name }, 'plugin skipped: its folder and its plugin.yaml name differ');
      } else {
        plugins.push(manifest);
      }
    } catch (err) {
      log.warn({ plugin: name, err: (err as Error).message.split('\n')[0] }, 'plugin skipped: its plugin.yaml cannot be read');
    }
  }
  return plugins;
}

/** The skills plugins add to the agent card, after the workspace's own (a skill id already there is not repeated). */
export function withPluginSkills(own: readonly SkillConfig[], plugins: readonly PluginManifest[]): SkillConfig[] {
  const out = [...own];
  const ids = new Set(own.map((s) => s.id));
  for (const p of plugins) {
    for (const s of p.skills.map(toSkill)) {
      const skill = { ...s, tags: s.tags.includes(`plugin:${p.name}`) ? s.tags : [...s.tags, `plugin:${p.name}`] };
      if (!ids.has(skill.id)) out.push(skill);
      ids.add(skill.id);
    }
  }
  return out;
}

/**
 * The agent's adapter with its plugins' commands in front: a message one command matches (plugins in
 * name order, commands in file order) is answered by that command's steps, reported as a
 * `plugin:<name>` tool use; every other message goes to the adapter. `set` swaps the plugins
 * between turns (a turn already running keeps the command it matched).
 */
export class PluginAdapter implements Adapter {
  private commands: { plugin: string; match: RegExp; steps: PluginManifest['commands'][number]['steps'] }[] = [];

  constructor(private readonly inner: Adapter) {}

  get name(): string {
    return this.inner.name;
  }

  set(plugins: readonly PluginManifest[]): void {
    this.commands = plugins.flatMap((p) => p.commands.map((c) => ({ plugin: p.name, match: new RegExp(c.match!), steps: c.steps })));
  }

  run(input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> | Promise<string> {
    for (const c of this.commands) {
      const m = c.match.exec(input.text);
      if (m) return this.command(c.plugin, c.steps, m, input, ctx);
    }
    return this.inner.run(input, ctx);
  }

  private async *command(plugin: string, steps: PluginManifest['commands'][number]['steps'], m: RegExpExecArray, input: AdapterInput, ctx: AdapterContext): AsyncIterable<AdapterEvent> {
    yield { type: 'tool', name: `plugin:${plugin}`, input: input.text.slice(0, 200), output: `matched ${JSON.stringify(m[0].slice(0, 100))}` };
    yield* runSteps(steps, input, ctx, m);
  }

  capabilities(): ReturnType<NonNullable<Adapter['capabilities']>> {
    return this.inner.capabilities?.() ?? {};
  }

  idleTimeoutSeconds(): number | undefined {
    return this.inner.idleTimeoutSeconds?.();
  }

  wedgedReason(): string | undefined {
    return this.inner.wedgedReason?.();
  }

  async close(): Promise<void> {
    await this.inner.close?.();
  }
}
