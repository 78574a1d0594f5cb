import { z } from 'zod';
import { CreateScheduleBody, ErrorBody, Schedule, ScheduleRun, UpdateScheduleBody } from '@molecule/contracts';
import { requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { notFound } from '../http/errors.js';
import type { App } from '../http/types.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { createSchedule, deleteSchedule, listSchedules, runScheduleNow, scheduleHistory, updateSchedule, type FireDeps } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const ScheduleParams = IdParams.extend({ scheduleId: z.uuid({ error: 'invalid schedule ID' }) });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 410: ErrorBody };
const tags = ['schedules'];

/**
 * Cron schedules of a workspace (`/workspaces/:id/schedules`): the upstream routes, with the run
 * route firing on the server and a history of each firing. A schedule of another workspace is
 * 404; a removed workspace is 410.
 */
export function registerScheduleRoutes(app: App, deps: FireDeps & AuthDeps): void {
  const wsAccess = requireWorkspaceAccess(deps);
  const liveWorkspace = (id: string) => requireLiveWorkspace(deps.db, id);

  app.get(
    '/workspaces/:id/schedules',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: { summary: "A workspace's cron schedules, oldest first", tags, params: IdParams, response: { 200: z.array(Schedule), ...errors } },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      return listSchedules(deps, req.params.id);
    },
  );

  app.post(
    '/workspaces/:id/schedules',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Create a cron schedule',
        description:
          'A 5-field cron expression (minute hour day-of-month month day-of-week, or a nickname such as `@daily`) in an IANA `timezone` (default UTC), and the prompt sent to the agent at each time (at most 32 KiB). An expression that does not parse or never fires, or an unknown time zone, is 400 naming the field. 201 with the schedule (and upstream\'s `status: "created"`).',
        tags,
        params: IdParams,
        body: CreateScheduleBody,
        response: { 201: Schedule.extend({ status: z.literal('created') }), ...errors },
      },
    },
    async (req, reply) => {
      await liveWorkspace(req.params.id);
      const s = await createSchedule(deps, req.params.id, { ...req.body, source: 'runtime' });
      return reply.code(201).send({ ...s, status: 'created' as const });
    },
  );

  app.patch(
    '/workspaces/:id/schedules/:scheduleId',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Change a cron schedule',
        description:
          'Any of name, cron_expr, timezone, prompt, enabled; absent fields are kept. A new cron_expr or timezone is validated with the other and next_run_at is recomputed; enabling recomputes it, disabling clears it.',
        tags,
        params: ScheduleParams,
        body: UpdateScheduleBody,
        response: { 200: Schedule.extend({ status: z.literal('updated') }), ...errors },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      return { ...(await updateSchedule(deps, req.params.id, req.params.scheduleId, req.body)), status: 'updated' as const };
    },
  );

  app.delete(
    '/workspaces/:id/schedules/:scheduleId',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: { summary: 'Delete a cron schedule (and its history)', tags, params: ScheduleParams, response: { 200: z.object({ status: z.literal('deleted') }), ...errors } },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      if (!(await deleteSchedule(deps, req.params.id, req.params.scheduleId))) throw notFound('schedule not found');
      return { status: 'deleted' as const };
    },
  );

  app.post(
    '/workspaces/:id/schedules/:scheduleId/run',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: 'Fire a schedule now',
        description:
          "Sends the prompt now, outside the cron (enabled or not; next_run_at is kept), through the A2A proxy as the scheduler's firings do. Answers as the run starts (`run.status` `running`); its history row says how it ended. Unlike upstream, the server sends it: a client must not also post the prompt to /a2a.",
        tags,
        params: ScheduleParams,
        response: { 200: z.object({ status: z.literal('fired'), workspace_id: z.uuid(), prompt: z.string(), run: ScheduleRun }), ...errors, 409: ErrorBody },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      const { schedule, run, done } = await runScheduleNow(deps, req.params.id, req.params.scheduleId);
      void done.catch((err: unknown) => deps.log.error({ err, workspace_id: req.params.id }, 'manual schedule run failed'));
      return { status: 'fired' as const, workspace_id: schedule.workspace_id, prompt: schedule.prompt, run };
    },
  );

  app.get(
    '/workspaces/:id/schedules/:scheduleId/history',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "A schedule's recent runs, newest first",
        description: `Status (running, delivered, queued, failed, skipped), duration, the start of the agent's reply (500 characters) and a safe error sentence. At least the newest 100 runs are kept.`,
        tags,
        params: ScheduleParams,
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
        response: { 200: z.array(ScheduleRun), ...errors },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      return scheduleHistory(deps, req.params.id, req.params.scheduleId, req.query.limit);
    },
  );
}
