import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ActivityTab } from './ActivityTab.js';
import { ChatTab } from './Chat.js';
import { ConfigTab } from './ConfigTab.js';
import { DetailsTab } from './DetailsTab.js';
import { EventsTab } from './EventsTab.js';
import { SecretsTab } from './Secrets.js';
import { SchedulesTab } from './Schedules.js';
import { FilesTab } from './Files.js';
import { PluginsTab } from './Plugins.js';
import { MemoryTab } from './Memory.js';
import { TerminalTab } from './Terminal.js';
import type { TabProps } from './tab.js';

export type { TabProps };

/**
 * The side panel's tabs, in order. A later feature (files, plugins, terminal, memory, approvals,
 * traces, channels) adds its tab here and nowhere else.
 */
export const PANEL_TABS: { id: string; label: string; render: (p: TabProps) => ReactNode }[] = [
  { id: 'chat', label: 'Chat', render: (p) => <ChatTab key={p.workspace.id} {...p} /> },
  { id: 'activity', label: 'Activity', render: (p) => <ActivityTab key={p.workspace.id} {...p} /> },
  { id: 'details', label: 'Details', render: (p) => <DetailsTab {...p} /> },
  { id: 'config', label: 'Config', render: (p) => <ConfigTab key={p.workspace.id} {...p} /> },
  { id: 'secrets', label: 'Secrets', render: (p) => <SecretsTab key={p.workspace.id} {...p} /> },
  { id: 'schedules', label: 'Schedules', render: (p) => <SchedulesTab key={p.workspace.id} {...p} /> },
  { id: 'files', label: 'Files', render: (p) => <FilesTab key={p.workspace.id} {...p} /> },
  { id: 'plugins', label: 'Plugins', render: (p) => <PluginsTab key={p.workspace.id} {...p} /> },
  { id: 'memory', label: 'Memory', render: (p) => <MemoryTab key={p.workspace.id} {...p} /> },
  { id: 'terminal', label: 'Terminal', render: (p) => <TerminalTab key={p.workspace.id} {...p} /> },
  { id: 'events', label: 'Events', render: (p) => <EventsTab key={p.workspace.id} {...p} /> },
];

/** The selected workspace's panel: its tabs (arrow keys move between them), closed with Escape or the close button. */
export function Panel({ tab, onTab, onClose, ...props }: TabProps & { tab: string; onTab: (id: string) => void; onClose: () => void }) {
  const { workspace } = props;
  const current = PANEL_TABS.find((t) => t.id === tab) ?? PANEL_TABS[0]!;
  // Opening the panel (by click or by Enter on a node) moves focus into it, to its selected tab.
  const tabs = useRef<HTMLDivElement>(null);
  useEffect(() => tabs.current?.querySelector<HTMLElement>('[aria-selected="true"]')?.focus(), [workspace.id]);
  const [focusTab, setFocusTab] = useState(false);
  useEffect(() => {
    if (!focusTab) return;
    tabs.current?.querySelector<HTMLElement>('[aria-selected="true"]')?.focus();
    setFocusTab(false);
  }, [focusTab, current.id]);
  const onTabKey = (e: React.KeyboardEvent) => {
    const i = PANEL_TABS.findIndex((t) => t.id === current.id);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? PANEL_TABS.length - 1 : undefined;
    if (next === undefined) return;
    e.preventDefault();
    onTab(PANEL_TABS[(next + PANEL_TABS.length) % PANEL_TABS.length]!.id);
    setFocusTab(true);
  };
  return (
    <aside className="panel" aria-label={`Workspace ${workspace.name}`} onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <div className="panel-head">
        <h2>{workspace.name}</h2>
        <button type="button" onClick={onClose} aria-label="Close panel">
          ×
        </button>
      </div>
      <div role="tablist" aria-label="Workspace views" className="tabs" ref={tabs} onKeyDown={onTabKey}>
        {PANEL_TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            role="tab"
            aria-selected={t.id === current.id}
            tabIndex={t.id === current.id ? 0 : -1}
            id={`tab-${t.id}`}
            aria-controls={`tabpanel-${t.id}`}
            onClick={() => onTab(t.id)}
          >
            {t.label}
          </button>
        ))}
      </div>
      <div role="tabpanel" id={`tabpanel-${current.id}`} aria-labelledby={`tab-${current.id}`} className="tabpanel">
        {current.render(props)}
      </div>
    </aside>
  );
}
