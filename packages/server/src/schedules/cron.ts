import { Cron } from 'croner';

/**
 * Cron expressions and time zones, through `croner`: standard 5-field expressions (minute, hour,
 * day of month, month, day of week; names such as MON or JAN, ranges, steps, lists, and the
 * `@hourly`-style nicknames), interpreted in an IANA time zone, daylight-saving changes included.
 */

/** The canonical IANA name of a time zone (`utc` -> `UTC`), or undefined when it does not exist. */
export function canonicalTimezone(timezone: string): string | undefined {
  if (timezone.trim() === '') return undefined;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

function parse(cronExpr: string, timezone: string): Cron {
  return new Cron(cronExpr.trim(), { timezone, paused: true, mode: '5-part' });
}

/**
 * Why `cron_expr` in `timezone` cannot be a schedule, as a sentence for the caller; null when it
 * can. Refused: an unknown time zone, an expression that does not parse as 5 fields (or a
 * nickname), and one that never fires (e.g. 30 February).
 */
export function validateCron(cron_expr: string, timezone: string): string | null {
  if (canonicalTimezone(timezone) === undefined) return `invalid timezone: ${timezone}`;
  let cron: Cron;
  try {
    cron = parse(cron_expr, timezone);
  } catch {
    // croner's own message names its internals (class names); the caller gets a canned one.
    return `invalid cron expression: ${JSON.stringify(cron_expr)} (expected 5 fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5")`;
  }
  if (cron.nextRun(new Date()) === null) return `cron expression never fires: ${JSON.stringify(cron_expr)}`;
  return null;
}

/**
 * The first time after `after` that `cron_expr` names in `timezone` (strictly after: a schedule
 * that fired at 09:00 next fires at its following time, never at 09:00 again). Null when it never
 * fires again. Throws on an expression `validateCron` refuses.
 */
export function nextRunAfter(cron_expr: string, timezone: string, after: Date): Date | null {
  // A pass of the scheduler asks this for every due schedule with one `after` (and for each run's
  // queue expiry with its one cron time), mostly with a few distinct expressions: remember answers.
  const key = `${cron_expr}\0${timezone}\0${after.getTime()}`;
  let next = nextRuns.get(key);
  if (next === undefined) {
    if (nextRuns.size >= NEXT_RUNS_KEPT) nextRuns.clear();
    next = parse(cron_expr, timezone).nextRun(after)?.getTime() ?? null;
    nextRuns.set(key, next);
  }
  return next === null ? null : new Date(next);
}

const NEXT_RUNS_KEPT = 10_000;
const nextRuns = new Map<string, number | null>();
