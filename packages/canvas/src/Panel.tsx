import { useEffect, type ReactNode } from 'react';
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
import { TabList } from './TabList.js';
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
  useEffect(() => document.getElementById(`tab-${current.id}`)?.focus(), [workspace.id]);
  return (
    <aside className="panel" aria-label={`Workspace ${workspace.name}`} onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <div className="panel-head">
        <h2>{workspace.name}</h2>
        <button type="button" onClick={onClose} aria-label="Close panel">
          ×
        </button>
      </div>
      <TabList label="Workspace views" tabs={PANEL_TABS} current={current.id} onTab={onTab} idPrefix="" />
      <div role="tabpanel" id={`panel-${current.id}`} aria-labelledby={`tab-${current.id}`} className="tabpanel">
        {current.render(props)}
      </div>
    </aside>
  );
}
