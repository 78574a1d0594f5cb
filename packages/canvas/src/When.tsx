/**
 * A moment as short as its distance from now allows (a time today, a day and time this year, a date
 * otherwise), the full local date and time on hover: keeps tables of timestamps narrow in the panel.
 */
export function When({ iso, now = new Date() }: { iso: string; now?: Date }) {
  const d = new Date(iso);
  return (
    <time dateTime={iso} title={d.toLocaleString()}>
      {shortWhen(d, now)}
    </time>
  );
}

export function shortWhen(d: Date, now: Date): string {
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString(undefined, { timeStyle: 'short' });
  if (d.getFullYear() === now.getFullYear()) return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${d.toLocaleTimeString(undefined, { timeStyle: 'short' })}`;
  return d.toLocaleDateString(undefined, { dateStyle: 'medium' });
}
