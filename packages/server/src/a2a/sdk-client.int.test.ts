import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientFactory, ClientFactoryOptions, DefaultAgentCardResolver, JsonRpcTransportFactory } from '@a2a-js/sdk/client';
import { AgentCard, Role, TaskState } from '@a2a-js/sdk';
import type { RunningServer } from '../main.js';
import { e2eClient, startE2eServer } from '../test-support/e2e.js';

// The official A2A client talks to a real molecule-agent (process backend) through the platform's
// proxy: the card the platform serves points at the proxy, the client's credential is a platform one.
describe('@a2a-js/sdk client through the proxy', () => {
  let server: RunningServer;
  const c = e2eClient(() => server);
  const headers = c.admin;

  beforeAll(async () => {
    ({ server } = await startE2eServer({ MOLECULE_PROVISIONER: 'process', DATABASE_URL: process.env.TEST_DATABASE_URL }, 'molecule-sdk-'));
  });
  afterAll(async () => server?.close());

  it('sends a message through the proxy and reads the reply; both sides are in the activity log', async () => {
    const id = await c.create(`sdk-${randomUUID().slice(0, 6)}`, 'echo');
    await c.waitOnline(id, 60_000);

    const authFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: headers.authorization } });
    const factory = new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch, legacyCompat: { enabled: true } })],
        cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
      }),
    );
    const cardUrl = `${server.url}/workspaces/${id}/a2a/agent-card`;
    // The card says a bearer is required, in both readings: the client's resolver keeps the JSON
    // Schema form (type/scheme, as v0.3), and a v1 protobuf-JSON reader gets httpAuthSecurityScheme.
    const resolved = (await new DefaultAgentCardResolver({ fetchImpl: authFetch }).resolve(cardUrl, '')) as unknown as Record<string, Record<string, unknown>>;
    expect(resolved.securitySchemes!.molecule_platform).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(resolved.security).toEqual([{ molecule_platform: [] }]);
    const proto = AgentCard.fromJSON(await (await authFetch(cardUrl)).json());
    expect(proto.securitySchemes.molecule_platform?.scheme).toMatchObject({ $case: 'httpAuthSecurityScheme', value: { scheme: 'Bearer' } });
    expect(proto.securityRequirements).toEqual([{ schemes: { molecule_platform: { list: [] } } }]);
    const client = await factory.createFromUrl(cardUrl, '');
    const reply = await client.sendMessage({
      tenant: '',
      message: { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: 'hi via sdk' }, metadata: undefined, filename: '', mediaType: '' }], metadata: undefined, extensions: [], referenceTaskIds: [] },
      configuration: undefined,
      metadata: undefined,
    });
    expect(JSON.stringify(reply)).toContain('echo: hi via sdk');

    const rows = async () => (await server.deps.db.query<{ activity_type: string; method: string; status: string }>(`SELECT activity_type, method, status FROM activity_logs WHERE workspace_id = $1`, [id])).rows;
    await expect.poll(rows).toEqual([{ activity_type: 'a2a_receive', method: 'SendMessage', status: 'ok' }]);

    // JSON-RPC errors reach the client as its typed errors, with their codes: the agent's own
    // (an unknown task) and the proxy's (a message with no parts, refused before dispatch).
    const missing = await client.getTask({ tenant: '', id: 'no-such-task', historyLength: undefined }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ name: 'TaskNotFoundError', envelopeCode: -32001 });
    const empty = await client
      .sendMessage({
        tenant: '',
        message: { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [], metadata: undefined, extensions: [], referenceTaskIds: [] },
        configuration: undefined,
        metadata: undefined,
      })
      .catch((e: unknown) => e);
    expect(empty).toMatchObject({ name: 'RequestMalformedError', envelopeCode: -32602, data: { field: 'params.message.parts' } });
  }, 120_000);

  it('a task can be listed, resubscribed and cancelled through the proxy (slow-worker template)', async () => {
    const id = await c.create(`sdk-slow-${randomUUID().slice(0, 6)}`, 'slow-worker');
    await c.waitOnline(id, 60_000);
    const authFetch: typeof fetch = (input, init) => fetch(input, { ...init, headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), authorization: headers.authorization } });
    const client = await new ClientFactory(
      ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
        transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch })],
        cardResolver: new DefaultAgentCardResolver({ fetchImpl: authFetch }),
      }),
    ).createFromUrl(`${server.url}/workspaces/${id}/a2a/agent-card`, '');

    const started = await client.sendMessage({
      tenant: '',
      message: { messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER, parts: [{ content: { $case: 'text', value: 'a long job' }, metadata: undefined, filename: '', mediaType: '' }], metadata: undefined, extensions: [], referenceTaskIds: [] },
      configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, historyLength: undefined, returnImmediately: true },
      metadata: undefined,
    });
    // A Task (not a Message), returned while it still works.
    expect('messageId' in started).toBe(false);
    const taskId = (started as { id: string }).id;
    expect(typeof taskId).toBe('string');

    const listed = await client.listTasks({ tenant: '', contextId: '', status: 0, pageToken: '', statusTimestampAfter: undefined });
    expect(listed.tasks.map((t) => t.id)).toContain(taskId);

    // Resubscribing streams the running task's events; the first one is its current state.
    const events = client.resubscribeTask({ tenant: '', id: taskId });
    const first = await events.next();
    expect(first.done).toBe(false);
    expect(JSON.stringify(first.value)).toContain(taskId);
    await events.return(undefined);

    const cancelled = await client.cancelTask({ tenant: '', id: taskId, metadata: undefined });
    expect(cancelled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    const after = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
    expect(after.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
  }, 120_000);
});
