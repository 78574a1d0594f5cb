import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import { WORKSPACE_STATUSES } from '@molecule/contracts';
import { ApiError, createApi, PlatformUnavailableError } from './api.js';
import { connectLive } from './live.js';
import { OrgChart } from './OrgChart.js';
import { Panel } from './Panel.js';
import { STATUS_LOOK } from './status.js';
import { countByStatus, createCanvasStore, setWorkspaces, type CanvasState, type CanvasStore } from './store.js';

const api = createApi();
const store = createCanvasStore();

export function useCanvas<T>(s: CanvasStore, pick: (state: CanvasState) => T): T {
  return useSyncExternalStore(s.subscribe, () => pick(s.getState()));
}

/** Signs in with the token of the login URL (in the fragment, never sent in a URL), then loads. */
async function start(): Promise<void> {
  const m = /(?:^|&)token=([^&]+)/.exec(location.hash.slice(1));
  if (m) {
    history.replaceState(null, '', location.pathname);
    try {
      await api.login(decodeURIComponent(m[1]!));
    } catch (err) {
      if (err instanceof PlatformUnavailableError) throw err;
      store.setState({ screen: 'login', message: 'That login link is not valid (it may be from an earlier start of the platform).' });
      return;
    }
  }
  await load();
}

async function load(): Promise<void> {
  try {
    setWorkspaces(store, await api.workspaces());
    store.setState({ screen: 'ready', message: '' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) store.setState({ screen: 'login', message: 'Not signed in.' });
    else if (err instanceof PlatformUnavailableError) store.setState({ screen: 'unreachable', message: err.message });
    else store.setState({ screen: 'unreachable', message: err instanceof Error ? err.message : String(err) });
  }
}

export function App() {
  const screen = useCanvas(store, (s) => s.screen);
  const message = useCanvas(store, (s) => s.message);
  useEffect(() => {
    const run = () => void start().catch((err: unknown) => store.setState({ screen: 'unreachable', message: err instanceof Error ? err.message : String(err) }));
    run();
    // A login link opened in a tab already on this page changes only the fragment: sign in then too.
    window.addEventListener('hashchange', run);
    return () => window.removeEventListener('hashchange', run);
  }, []);
  useEffect(() => (screen === 'ready' ? connectLive(store, api) : undefined), [screen]);

  if (screen === 'loading') return <main className="centre" aria-busy="true">Loading…</main>;
  if (screen === 'login') {
    return (
      <main className="centre">
        <h1>Molecule</h1>
        <p role="alert">{message}</p>
        <p>
          Open the canvas link the platform printed when it started (<code>npm start</code> shows it). With <code>ADMIN_TOKEN</code> set, open{' '}
          <code>/#token=&lt;ADMIN_TOKEN&gt;</code>.
        </p>
      </main>
    );
  }
  if (screen === 'unreachable') {
    return (
      <main className="centre">
        <h1>The platform is unreachable</h1>
        <p role="alert">{message}</p>
        <p>Check that the platform process is running and that its database is up (the platform's log says what failed).</p>
        <button type="button" onClick={() => void load()}>
          Try again
        </button>
      </main>
    );
  }
  return <Canvas />;
}

function Canvas() {
  const workspaces = useCanvas(store, (s) => s.workspaces);
  const connection = useCanvas(store, (s) => s.connection);
  const selected = useCanvas(store, (s) => s.selected);
  const selectedWorkspace = selected ? workspaces[selected] : undefined;
  const counts = useMemo(() => countByStatus(workspaces), [workspaces]);
  const list = useMemo(() => Object.values(workspaces), [workspaces]);
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);
  return (
    <div className="app">
      <header className="toolbar">
        <h1>Molecule</h1>
        <ul className="counts" aria-label="Workspaces by status">
          {WORKSPACE_STATUSES.filter((s) => counts[s]).map((s) => (
            <li key={s} style={{ borderColor: STATUS_LOOK[s].colour }}>
              {STATUS_LOOK[s].label}: {counts[s]}
            </li>
          ))}
        </ul>
        <span className={`pill pill-${connection}`} role="status" aria-live="polite">
          {connection === 'live' ? 'Live' : connection === 'connecting' ? 'Connecting…' : 'Reconnecting…'}
        </span>
      </header>
      {list.length === 0 ? (
        <main className="centre">
          <h2>No workspaces yet</h2>
          <p>
            Create one: <code>npx molecule workspace create my-agent --template echo</code>
          </p>
        </main>
      ) : (
        <div className="body">
          <OrgChart workspaces={list} now={now} selected={selected} onSelect={(id) => store.setState({ selected: id })} />
          {selectedWorkspace ? <Panel workspace={selectedWorkspace} workspaces={workspaces} api={api} onClose={() => store.setState({ selected: undefined })} /> : null}
        </div>
      )}
    </div>
  );
}
