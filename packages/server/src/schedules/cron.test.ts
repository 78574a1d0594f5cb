import { describe, expect, it } from 'vitest';
import { CreateScheduleBody, MAX_SCHEDULE_PROMPT_BYTES, UpdateScheduleBody } from '@molecule/contracts';
import { canonicalTimezone, nextRunAfter, validateCron } from './cron.js';

describe('cron expressions and time zones', () => {
  it.each([
    ['*/5 * * * *', 'UTC'],
    ['0 9 * * 1-5', 'Europe/Paris'],
    ['30 2 1 JAN,JUL *', 'America/New_York'],
    ['0 0 * * MON', 'Asia/Kolkata'],
    ['@daily', 'UTC'],
    ['  15 10 * * *  ', 'utc'],
  ])('accepts %j in %s', (expr, tz) => {
    expect(validateCron(expr, tz)).toBeNull();
  });

  it.each([
    ['61 * * * *', 'UTC', /invalid cron expression/],
    ['* * * *', 'UTC', /invalid cron expression/],
    ['* * * * * *', 'UTC', /invalid cron expression/],
    ['', 'UTC', /invalid cron expression/],
    ['every day', 'UTC', /invalid cron expression/],
    ['0 0 30 2 *', 'UTC', /never fires/],
    ['* * * * *', 'Mars/Olympus_Mons', /invalid timezone: Mars\/Olympus_Mons/],
    ['* * * * *', '', /invalid timezone/],
  ])('refuses %j in %j with a sentence that names the problem', (expr, tz, message) => {
    const problem = validateCron(expr, tz);
    expect(problem).toMatch(message);
    // Never croner's own internals (class names).
    expect(problem).not.toMatch(/CronPattern|CronDate|toTZ/);
  });

  it('names time zones canonically and rejects unknown ones', () => {
    expect(canonicalTimezone('utc')).toBe('UTC');
    expect(canonicalTimezone('Europe/Berlin')).toBe('Europe/Berlin');
    expect(canonicalTimezone('Nowhere/Special')).toBeUndefined();
  });

  it('the next run is strictly after the given time, in UTC', () => {
    expect(nextRunAfter('*/5 * * * *', 'UTC', new Date('2026-03-29T00:30:00Z'))!.toISOString()).toBe('2026-03-29T00:35:00.000Z');
    expect(nextRunAfter('*/5 * * * *', 'UTC', new Date('2026-03-29T00:29:59.500Z'))!.toISOString()).toBe('2026-03-29T00:30:00.000Z');
    // Answers are remembered; each caller gets its own Date.
    const first = nextRunAfter('*/5 * * * *', 'UTC', new Date('2026-03-29T00:30:00Z'))!;
    first.setTime(0);
    expect(nextRunAfter('*/5 * * * *', 'UTC', new Date('2026-03-29T00:30:00Z'))!.toISOString()).toBe('2026-03-29T00:35:00.000Z');
  });

  it('the next run follows the time zone, across a daylight-saving change', () => {
    // 09:00 in Paris: 08:00 UTC in winter (CET), 07:00 UTC after the change on 29 March 2026 (CEST).
    expect(nextRunAfter('0 9 * * *', 'Europe/Paris', new Date('2026-03-27T12:00:00Z'))!.toISOString()).toBe('2026-03-28T08:00:00.000Z');
    expect(nextRunAfter('0 9 * * *', 'Europe/Paris', new Date('2026-03-28T12:00:00Z'))!.toISOString()).toBe('2026-03-29T07:00:00.000Z');
    // Weekdays only: Friday evening -> Monday morning.
    expect(nextRunAfter('0 9 * * 1-5', 'America/New_York', new Date('2026-07-03T23:00:00Z'))!.toISOString()).toBe('2026-07-06T13:00:00.000Z');
  });

  it('a time missed while the platform was down is not replayed: the next run is after now', () => {
    const now = new Date('2026-05-01T10:07:30Z');
    expect(nextRunAfter('* * * * *', 'UTC', now)!.toISOString()).toBe('2026-05-01T10:08:00.000Z');
  });
});

describe('schedule bodies', () => {
  const ok = { name: 'daily report', cron_expr: '0 9 * * *', prompt: 'Write the report' };

  it('defaults timezone to UTC and enabled to true, and strips carriage returns from the prompt', () => {
    expect(CreateScheduleBody.parse({ ...ok, prompt: 'line 1\r\nline 2' })).toEqual({ ...ok, prompt: 'line 1\nline 2', timezone: 'UTC', enabled: true });
  });

  it.each([
    ['an empty name', { ...ok, name: '  ' }, /name must not be empty/],
    ['an empty prompt', { ...ok, prompt: ' \r\n ' }, /prompt must not be empty/],
    ['an oversize prompt', { ...ok, prompt: 'x'.repeat(MAX_SCHEDULE_PROMPT_BYTES + 1) }, /at most 32768 bytes/],
    ['a missing cron_expr', { name: 'n', prompt: 'p' }, /cron_expr must be a string/],
    ['an unknown field', { ...ok, every: '5m' }, /every/],
    ['enabled as a string', { ...ok, enabled: 'yes' }, /enabled must be true or false/],
  ])('refuses %s', (_what, body, message) => {
    const r = CreateScheduleBody.safeParse(body);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });

  it('a prompt of exactly 32 KiB of UTF-8 is accepted', () => {
    const snowmen = '☃'.repeat(Math.floor(MAX_SCHEDULE_PROMPT_BYTES / 3));
    expect(CreateScheduleBody.safeParse({ ...ok, prompt: snowmen }).success).toBe(true);
    expect(CreateScheduleBody.safeParse({ ...ok, prompt: `${snowmen}☃` }).success).toBe(false);
  });

  it('a change needs at least one known field', () => {
    expect(UpdateScheduleBody.safeParse({}).success).toBe(false);
    expect(UpdateScheduleBody.safeParse({ colour: 'red' }).success).toBe(false);
    expect(UpdateScheduleBody.parse({ enabled: false })).toEqual({ enabled: false });
  });
});
