import { describe, expect, it } from 'vitest';
import { periodWindow, utcDay } from './period.js';

const at = (iso: string) => new Date(iso);
const win = (p: Parameters<typeof periodWindow>[0], iso: string) => {
  const w = periodWindow(p, at(iso));
  return [w.start.toISOString(), w.end.toISOString()];
};

describe('budget periods (UTC)', () => {
  it('daily: the UTC day, whatever the local time zone', () => {
    expect(win('daily', '2026-03-10T00:00:00.000Z')).toEqual(['2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z']);
    expect(win('daily', '2026-03-10T23:59:59.999Z')).toEqual(['2026-03-10T00:00:00.000Z', '2026-03-11T00:00:00.000Z']);
    expect(win('daily', '2026-12-31T12:00:00.000Z')).toEqual(['2026-12-31T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('weekly: Monday 00:00 to the next Monday (ISO weeks), across month and year ends', () => {
    // 2026-03-09 is a Monday.
    expect(win('weekly', '2026-03-09T00:00:00.000Z')).toEqual(['2026-03-09T00:00:00.000Z', '2026-03-16T00:00:00.000Z']);
    expect(win('weekly', '2026-03-15T23:59:59.999Z')).toEqual(['2026-03-09T00:00:00.000Z', '2026-03-16T00:00:00.000Z']);
    expect(win('weekly', '2027-01-01T08:00:00.000Z')).toEqual(['2026-12-28T00:00:00.000Z', '2027-01-04T00:00:00.000Z']);
  });

  it('monthly (the default): the calendar month, February and December included', () => {
    expect(win('monthly', '2026-02-28T23:00:00.000Z')).toEqual(['2026-02-01T00:00:00.000Z', '2026-03-01T00:00:00.000Z']);
    expect(win('monthly', '2026-12-01T00:00:00.000Z')).toEqual(['2026-12-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z']);
  });

  it('a spend row is keyed by the UTC day', () => {
    expect(utcDay(at('2026-03-10T23:59:59.999Z'))).toBe('2026-03-10');
  });
});
