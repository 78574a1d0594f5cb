import { z } from 'zod';
import { ErrorBody, MODEL_SECRET, PROVIDER_SECRET, SecretChange, SecretKey, SecretView, SetModelBody, SetProviderBody, SetSecretBody, Status } from '@molecule/contracts';
import { requireAdmin, requireOwnWorkspaceToken, requireWorkspaceAccess, type AuthDeps } from '../auth/principal.js';
import { HttpError, notFound } from '../http/errors.js';
import type { App } from '../http/types.js';
import { requireLiveWorkspace } from '../workspaces/errors.js';
import { restartWorkspace } from '../workspaces/lifecycle.js';
import { setWorkspaceModel, type WorkspaceDeps } from '../workspaces/service.js';
import { changeView, listGlobalSecretViews, listWorkspaceSecrets, ownSecret, removeSecret, resolveSecretEnv, saveSecret, SecretsUnreadable, type SecretTarget } from './service.js';

const IdParams = z.object({ id: z.uuid({ error: 'invalid workspace ID' }) });
const KeyParams = z.object({ key: SecretKey });
const RestartQuery = z.object({ restart: z.enum(['true', 'false']).optional().transform((v) => v === 'true') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

/**
 * Secrets: org-wide (`/settings/secrets`, admin) and per workspace (`/workspaces/:id/secrets`).
 * Lists show keys and where each comes from, never values; only the agent itself reads its values.
 * A change answers which workspaces run with an old value until restarted, and restarts them when
 * asked (`?restart=true`).
 */
export function registerSecretRoutes(app: App, deps: WorkspaceDeps & AuthDeps): void {
  const admin = requireAdmin(deps);
  const wsAccess = requireWorkspaceAccess(deps);
  const own = requireOwnWorkspaceToken(deps);

  /** Restarts what a change affected, when asked: those a restart cannot take now (paused, hibernated...) pick the change up when they next start. */
  const applyChange = async (status: SecretChange['status'], target: SecretTarget, key: string, affected: string[], restart: boolean): Promise<SecretChange> => {
    const restarted: string[] = [];
    if (restart) {
      for (const id of affected) {
        try {
          await restartWorkspace(deps, id);
          restarted.push(id);
        } catch (err) {
          deps.log.info({ workspace_id: id, err }, 'secret change: workspace not restarted now; it applies the change at its next start');
        }
      }
    }
    for (const id of affected) {
      await deps.broadcaster.recordAndBroadcast('WORKSPACE_UPDATED', id, { restart_pending: !restarted.includes(id), secret_key: key, secret_scope: target.scope });
    }
    return changeView(status, target, key, affected, restarted);
  };
  const liveWorkspace = (id: string) => requireLiveWorkspace(deps.db, id);

  const listSchema = (summary: string, description: string) => ({ summary, description, tags: ['secrets'], response: { 200: z.array(SecretView), ...errors, 410: ErrorBody } });

  app.get(
    '/settings/secrets',
    { config: { access: 'admin' }, onRequest: admin, schema: listSchema('List the org-wide secrets', 'Keys and times, never values.') },
    async () => listGlobalSecretViews(deps.db),
  );

  for (const method of ['put', 'post'] as const) {
    app[method](
      '/settings/secrets',
      {
        config: { access: 'admin' },
        onRequest: admin,
        schema: {
          summary: 'Set an org-wide secret',
          description:
            'Every workspace without a nearer value of the key gets it at its next start; they are listed in restart_required and marked restart_pending. `?restart=true` restarts them now.',
          tags: ['secrets'],
          querystring: RestartQuery,
          body: SetSecretBody,
          response: { 200: SecretChange, ...errors },
        },
      },
      async (req) => {
        const target: SecretTarget = { scope: 'global' };
        const affected = await saveSecret(deps, target, req.body.key, req.body.value);
        return applyChange('saved', target, req.body.key, affected, req.query.restart);
      },
    );
  }

  app.delete(
    '/settings/secrets/:key',
    {
      config: { access: 'admin' },
      onRequest: admin,
      schema: { summary: 'Delete an org-wide secret', tags: ['secrets'], params: KeyParams, querystring: RestartQuery, response: { 200: SecretChange, ...errors } },
    },
    async (req) => {
      const target: SecretTarget = { scope: 'global' };
      const affected = await removeSecret(deps, target, req.params.key);
      if (!affected) throw notFound('secret not found');
      return applyChange('deleted', target, req.params.key, affected, req.query.restart);
    },
  );

  app.get(
    '/workspaces/:id/secrets',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        ...listSchema(
          "A workspace's secrets, with where each comes from",
          'The keys its agent gets: org-wide, from an ancestor, or its own; the nearest wins. `scope` and `workspace_name` say which layer supplied each key, `overrides` which layers it hides. Never values.',
        ),
        params: IdParams,
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      return listWorkspaceSecrets(deps.db, req.params.id);
    },
  );

  app.get(
    '/workspaces/:id/secrets/values',
    {
      // Any credential passes authentication; the route's own rule then admits only this workspace's token.
      config: { access: 'credential' },
      onRequest: own,
      schema: {
        summary: "The workspace's secret values (its own token only)",
        description:
          'The values its agent runs with, nearest layer winning: for an agent that bootstraps its own environment. Admin credentials are refused (403). A value that does not open with the current key fails the whole answer (500, naming the keys).',
        tags: ['secrets'],
        params: IdParams,
        response: { 200: z.record(z.string(), z.string()), ...errors, 410: ErrorBody, 500: ErrorBody },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      try {
        return await resolveSecretEnv(deps, req.params.id);
      } catch (err) {
        if (err instanceof SecretsUnreadable) {
          deps.log.error({ workspace_id: req.params.id, failed_keys: err.failedKeys }, 'secrets could not be decrypted');
          throw new HttpError(500, 'one or more secrets could not be decrypted; refusing to return a partial set', 'internal', { failed_keys: err.failedKeys });
        }
        throw err;
      }
    },
  );

  for (const method of ['put', 'post'] as const) {
    app[method](
      '/workspaces/:id/secrets',
      {
        config: { access: 'workspace' },
        onRequest: wsAccess,
        schema: {
          summary: "Set one of a workspace's own secrets",
          description:
            'It and the members under it without a nearer value get it at their next start (restart_required, marked restart_pending); `?restart=true` restarts them now.',
          tags: ['secrets'],
          params: IdParams,
          querystring: RestartQuery,
          body: SetSecretBody,
          response: { 200: SecretChange, ...errors, 410: ErrorBody },
        },
      },
      async (req) => {
        await liveWorkspace(req.params.id);
        const target: SecretTarget = { scope: 'workspace', workspaceId: req.params.id };
        const affected = await saveSecret(deps, target, req.body.key, req.body.value);
        return applyChange('saved', target, req.body.key, affected, req.query.restart);
      },
    );
  }

  /** A model or provider change applies at once: the agent is restarted when it can be (C207); otherwise at its next start. */
  const restartIfRunning = async (id: string): Promise<boolean> => {
    try {
      // An external workspace answers without restarting (its agent runs elsewhere).
      return (await restartWorkspace(deps, id)).status === Status.Provisioning;
    } catch (err) {
      deps.log.info({ workspace_id: id, err }, 'model or provider change: workspace not restarted now; it applies at its next start');
      return false;
    }
  };
  const choiceSchema = (what: 'model' | 'provider') => ({
    tags: ['secrets'],
    params: IdParams,
    response: { 200: z.object({ [what]: z.string(), source: z.enum(['workspace_secrets', 'default']) }), ...errors, 410: ErrorBody },
  });

  // The two GETs: the kept choice, or "" with source "default".
  for (const [what, secret, summary] of [
    ['model', MODEL_SECRET, "The workspace's chosen model"],
    ['provider', PROVIDER_SECRET, "The workspace's LLM provider"],
  ] as const) {
    app.get(
      `/workspaces/:id/${what}`,
      {
        config: { access: 'workspace' },
        onRequest: wsAccess,
        schema: { summary, description: `Kept as its ${secret} secret; "" with source "default" when none is set.`, ...choiceSchema(what) },
      },
      async (req) => {
        await liveWorkspace(req.params.id);
        const value = await ownSecret(deps, req.params.id, secret);
        return value ? { [what]: value, source: 'workspace_secrets' as const } : { [what]: '', source: 'default' as const };
      },
    );
  }

  app.put(
    '/workspaces/:id/model',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Choose the workspace's model",
        description:
          'Kept as MODEL_PROVIDER (and the provider its slug prefix names as LLM_PROVIDER, C127), on the row, and across restarts; "" clears it. The agent restarts to apply it when it can.',
        tags: ['secrets'],
        params: IdParams,
        body: SetModelBody,
        response: { 200: z.object({ status: z.enum(['saved', 'cleared']), model: z.string().optional(), restarted: z.boolean() }), ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      const model = req.body.model.trim();
      await setWorkspaceModel(deps, req.params.id, model);
      const restarted = await restartIfRunning(req.params.id);
      return model === '' ? { status: 'cleared' as const, restarted } : { status: 'saved' as const, model, restarted };
    },
  );

  app.put(
    '/workspaces/:id/provider',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Set the workspace's LLM provider",
        description: 'Kept as LLM_PROVIDER; "" clears it. The agent restarts to apply it when it can (C207).',
        tags: ['secrets'],
        params: IdParams,
        body: SetProviderBody,
        response: { 200: z.object({ status: z.enum(['saved', 'cleared']), provider: z.string().optional(), restarted: z.boolean() }), ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      const target: SecretTarget = { scope: 'workspace', workspaceId: req.params.id };
      const provider = req.body.provider;
      if (provider === '') await removeSecret(deps, target, PROVIDER_SECRET);
      else await saveSecret(deps, target, PROVIDER_SECRET, provider);
      const restarted = await restartIfRunning(req.params.id);
      return provider === '' ? { status: 'cleared' as const, restarted } : { status: 'saved' as const, provider, restarted };
    },
  );

  app.delete(
    '/workspaces/:id/secrets/:key',
    {
      config: { access: 'workspace' },
      onRequest: wsAccess,
      schema: {
        summary: "Delete one of a workspace's own secrets",
        description: 'The layer below (an ancestor, or org-wide) shows through again at the next start.',
        tags: ['secrets'],
        params: IdParams.extend(KeyParams.shape),
        querystring: RestartQuery,
        response: { 200: SecretChange, ...errors, 410: ErrorBody },
      },
    },
    async (req) => {
      await liveWorkspace(req.params.id);
      const target: SecretTarget = { scope: 'workspace', workspaceId: req.params.id };
      const affected = await removeSecret(deps, target, req.params.key);
      if (!affected) throw notFound('secret not found');
      return applyChange('deleted', target, req.params.key, affected, req.query.restart);
    },
  );
}
