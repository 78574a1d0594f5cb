import type { BudgetPeriod } from '@molecule/contracts';

/** One budget period: [start, end), both UTC midnights. */
export interface PeriodWindow {
  start: Date;
  end: Date;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The period `now` falls in, in UTC: `daily` the day, `weekly` the ISO week (Monday to Monday),
 * `monthly` the calendar month. Spend is kept per UTC day, so every window is a run of whole days.
 */
export function periodWindow(period: BudgetPeriod, now: Date): PeriodWindow {
  const day = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  switch (period) {
    case 'daily':
      return { start: new Date(day), end: new Date(day + DAY_MS) };
    case 'weekly': {
      const sinceMonday = (now.getUTCDay() + 6) % 7;
      const start = day - sinceMonday * DAY_MS;
      return { start: new Date(start), end: new Date(start + 7 * DAY_MS) };
    }
    case 'monthly':
      return { start: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)), end: new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)) };
  }
}

/** The UTC day of an instant as a SQL date (`YYYY-MM-DD`): the key of a spend row. */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);
