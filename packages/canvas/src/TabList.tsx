import { useEffect, useRef, useState } from 'react';

export interface TabItem {
  id: string;
  label: string;
}

/**
 * A row of tabs (WAI-ARIA tabs pattern): arrow keys, Home and End move between them and take the
 * focus along; only the selected tab is in the tab order. Each tab controls `<idPrefix>panel-<id>`.
 */
export function TabList({ label, tabs, current, onTab, idPrefix }: { label: string; tabs: readonly TabItem[]; current: string; onTab: (id: string) => void; idPrefix: string }) {
  const list = useRef<HTMLDivElement>(null);
  const [moved, setMoved] = useState(false);
  useEffect(() => {
    if (!moved) return;
    list.current?.querySelector<HTMLElement>('[aria-selected="true"]')?.focus();
    setMoved(false);
  }, [moved, current]);
  const onKey = (e: React.KeyboardEvent) => {
    const i = tabs.findIndex((t) => t.id === current);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : undefined;
    if (next === undefined) return;
    e.preventDefault();
    onTab(tabs[(next + tabs.length) % tabs.length]!.id);
    setMoved(true);
  };
  return (
    <div role="tablist" aria-label={label} className="tabs" ref={list} onKeyDown={onKey}>
      {tabs.map((t) => (
        <button
          key={t.id}
          type="button"
          role="tab"
          aria-selected={t.id === current}
          tabIndex={t.id === current ? 0 : -1}
          id={`${idPrefix}tab-${t.id}`}
          aria-controls={`${idPrefix}panel-${t.id}`}
          onClick={() => onTab(t.id)}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}
