import { useEffect, useRef, type ReactNode } from 'react';

/**
 * A modal dialog: focus moves into it (to `initialFocus`, else its first control), stays inside
 * (Tab wraps), returns to where it was on close, and Escape closes it.
 */
export function Dialog({
  title,
  onClose,
  children,
  role = 'dialog',
  describedBy,
  initialFocus,
  wide,
}: {
  title: string;
  onClose: () => void;
  children: ReactNode;
  role?: 'dialog' | 'alertdialog';
  describedBy?: string;
  initialFocus?: string;
  wide?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const titleId = useRef(`dialog-${Math.random().toString(36).slice(2)}`).current;
  useEffect(() => {
    const before = document.activeElement as HTMLElement | null;
    const first = initialFocus ? box.current?.querySelector<HTMLElement>(initialFocus) : focusables(box.current)[0];
    first?.focus();
    return () => before?.focus?.();
    // Focus moves in once, when the dialog opens.
  }, []);
  // A control that removes itself (a revoked token's button) drops focus to the page: Escape must
  // still close the dialog, and Tab must come back into it.
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const onDocKey = (e: KeyboardEvent) => {
      if (box.current?.contains(e.target as Node)) return; // the dialog's own handler has it
      if (e.target !== document.body && e.target !== document.documentElement) return;
      if (e.key === 'Escape') close.current();
      else if (e.key === 'Tab') {
        e.preventDefault();
        focusables(box.current)[0]?.focus();
      }
    };
    document.addEventListener('keydown', onDocKey);
    return () => document.removeEventListener('keydown', onDocKey);
  }, []);
  const onKeyDown = (e: React.KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onClose();
      return;
    }
    if (e.key !== 'Tab') return;
    const all = focusables(box.current);
    const [first, last] = [all[0], all[all.length - 1]];
    if (e.shiftKey && document.activeElement === first) {
      e.preventDefault();
      last?.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
      e.preventDefault();
      first?.focus();
    }
  };
  return (
    <div className="backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className={wide ? 'dialog dialog-wide' : 'dialog'} role={role} aria-modal="true" aria-labelledby={titleId} aria-describedby={describedBy} ref={box} onKeyDown={onKeyDown}>
        <h2 id={titleId}>{title}</h2>
        {children}
      </div>
    </div>
  );
}

function focusables(root: HTMLElement | null): HTMLElement[] {
  return [...(root?.querySelectorAll<HTMLElement>('button, [href], input, select, textarea, [tabindex]:not([tabindex="-1"])') ?? [])].filter(
    (el) => !el.hasAttribute('disabled'),
  );
}
