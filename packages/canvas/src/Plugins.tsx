import { useCallback, useEffect, useState } from 'react';
import { pluginSupportsRuntime, type InstallPluginResult, type PluginInfo } from '@molecule/contracts';
import { errorText } from './actions.js';
import { TextField } from './Field.js';
import type { TabProps } from './tab.js';

/** How an install or uninstall reached the agent, in words. */
export function appliedNote(verb: 'Installed' | 'Uninstalled', name: string, applied: InstallPluginResult['applied']): string {
  return applied === 'hot_loaded' ? `${verb} ${name}: the agent loaded the change, no restart needed.` : `${verb} ${name}: the agent is restarting to apply it.`;
}

/** Why a registry plugin cannot go on this workspace, or undefined when it can. */
export function incompatibility(p: PluginInfo, runtime: string): string | undefined {
  return pluginSupportsRuntime(p.runtimes, runtime) ? undefined : `Made for ${p.runtimes?.join(', ')}; this workspace runs ${runtime}.`;
}

const downloadUrl = (id: string, name: string) => `/workspaces/${encodeURIComponent(id)}/plugins/${encodeURIComponent(name)}/download`;

function Skills({ p }: { p: PluginInfo }) {
  if (!p.skills?.length && !p.commands) return null;
  return (
    <span className="hint">
      {p.skills?.length ? ` Skills: ${p.skills.join(', ')}.` : ''}
      {p.commands ? ` ${p.commands} command${p.commands === 1 ? '' : 's'}.` : ''}
    </span>
  );
}

/**
 * The Plugins tab: what the workspace has installed (uninstall), the registry (install; plugins
 * made for other runtimes greyed with the reason), and an install from any source the platform
 * takes. External agents install plugins themselves: they get download links instead.
 */
export function PluginsTab({ workspace, api }: TabProps) {
  const [installed, setInstalled] = useState<PluginInfo[] | undefined>();
  const [registry, setRegistry] = useState<PluginInfo[] | undefined>();
  const [source, setSource] = useState('');
  const [sourceError, setSourceError] = useState<string | undefined>();
  const [busy, setBusy] = useState<string | undefined>();
  const [note, setNote] = useState('');
  const external = workspace.runtime === 'external';
  const running = workspace.status === 'online' || workspace.status === 'degraded';
  const load = useCallback(() => {
    api
      .plugins(workspace.id)
      .then(setInstalled)
      .catch((err: unknown) => setNote(`Could not list the installed plugins: ${errorText(err)}`));
    api
      .pluginRegistry()
      .then(setRegistry)
      .catch((err: unknown) => setNote(`Could not list the registry: ${errorText(err)}`));
  }, [api, workspace.id]);
  useEffect(load, [load, workspace.status]);

  const install = async (src: string, label: string) => {
    setBusy(label);
    setNote(`Installing ${label}…`);
    try {
      const r = await api.installPlugin(workspace.id, src);
      setNote(appliedNote('Installed', r.plugin, r.applied));
      if (src === source) setSource('');
      load();
    } catch (err) {
      setNote(`Not installed: ${errorText(err)}`);
    } finally {
      setBusy(undefined);
    }
  };
  const uninstall = async (name: string) => {
    setBusy(name);
    try {
      const r = await api.uninstallPlugin(workspace.id, name);
      setNote(appliedNote('Uninstalled', r.plugin, r.applied));
      load();
    } catch (err) {
      setNote(`Not uninstalled: ${errorText(err)}`);
    } finally {
      setBusy(undefined);
    }
  };
  const installedNames = new Set((installed ?? []).map((p) => p.name));
  const canChange = running && !external && busy === undefined;

  return (
    <div className="plugins">
      {external ? (
        <p className="note">An external agent installs plugins itself: download one below and unpack it into its configs&apos; plugins folder.</p>
      ) : !running ? (
        <p className="pending">The agent is not running: start it to see and change its plugins.</p>
      ) : null}
      {!external ? (
        <section aria-labelledby="plugins-installed">
          <h3 id="plugins-installed">Installed</h3>
          {installed === undefined ? null : installed.length === 0 ? (
            <p className="note">{running ? 'No plugins installed.' : 'Nothing to show while the agent is stopped.'}</p>
          ) : (
            <ul className="plugin-list">
              {installed.map((p) => (
                <li key={p.name} className={p.error ? 'plugin broken' : 'plugin'}>
                  <div>
                    <strong>{p.name}</strong> {p.version ? <span className="hint">{p.version}</span> : null}
                    <div>
                      {p.error ? <span className="error">Ignored by the agent: {p.error}.</span> : p.description}
                      <Skills p={p} />
                    </div>
                  </div>
                  <button type="button" className="danger small" disabled={!canChange} aria-label={`Uninstall plugin ${p.name}`} onClick={() => void uninstall(p.name)}>
                    {busy === p.name ? 'Removing…' : 'Uninstall'}
                  </button>
                </li>
              ))}
            </ul>
          )}
        </section>
      ) : null}
      <section aria-labelledby="plugins-registry">
        <h3 id="plugins-registry">Registry</h3>
        {registry === undefined ? null : registry.length === 0 ? (
          <p className="note">The registry is empty.</p>
        ) : (
          <ul className="plugin-list">
            {registry.map((p) => {
              const why = external ? undefined : incompatibility(p, workspace.runtime);
              return (
                <li key={p.name} className={why ? 'plugin incompatible' : 'plugin'} aria-disabled={why ? true : undefined}>
                  <div>
                    <strong>{p.name}</strong> <span className="hint">{p.version}</span>
                    <div>
                      {p.description}
                      <Skills p={p} />
                    </div>
                    {why ? <div className="hint">{why}</div> : null}
                  </div>
                  {external ? (
                    <a className="button small" href={downloadUrl(workspace.id, p.name)} download={`${p.name}.tar.gz`}>
                      Download
                    </a>
                  ) : installedNames.has(p.name) ? (
                    <span className="hint">Installed</span>
                  ) : (
                    <button type="button" className="small" disabled={!canChange || why !== undefined} aria-label={`Install plugin ${p.name}`} onClick={() => void install(p.name, p.name)}>
                      {busy === p.name ? 'Installing…' : 'Install'}
                    </button>
                  )}
                </li>
              );
            })}
          </ul>
        )}
      </section>
      {!external ? (
        <form
          className="form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            const s = source.trim();
            if (!s) {
              setSourceError('Give a registry name or a source such as github://owner/repo#v1.0.0');
              return;
            }
            setSourceError(undefined);
            void install(s, s);
          }}
        >
          <TextField id="plugin-source" label="Install from a source" value={source} onChange={setSource} error={sourceError} placeholder="github://owner/repo#v1.0.0" />
          <div className="actions">
            <button type="submit" disabled={!canChange}>
              Install
            </button>
          </div>
        </form>
      ) : null}
      <p className="note" role="status" aria-live="polite">
        {note}
      </p>
    </div>
  );
}
