import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeLlm, type FakeLlm, type FakeTurn } from '../../../../runtime/src/test-support/fake-llm.js';
import type { RunningServer } from '../../main.js';
import { e2eClient, startE2eServer } from '../../test-support/e2e.js';
import { readDir, removeWorkspaceArtifacts, testDocker } from '../../test-support/docker.js';
import { containerName } from './names.js';

// Issue 16's "one adapter on Docker": the openai-agents runtime from templates/openai-agents, run by
// the bundled runtime image (scripts/build-runtime-image.sh: the SDK inlined, nothing fetched), with
// host networking so the container reaches the platform and the fake OpenAI server on loopback. It
// mirrors the process backend's end to end (packages/runtime/src/adapters/process-e2e.int.test.ts).
/** openai-agents from its template in a container: delegate_task, the proxy, activity, a restart. */
export function dockerAdaptersSuite(): void {
  describe('openai-agents on the docker backend', () => {
    const { docker, host, image } = testDocker();
    let server: RunningServer;
    let llm: FakeLlm;
    const turns: FakeTurn[] = [];
    const made: string[] = [];
    const c = e2eClient(() => server);

    beforeAll(async () => {
      llm = await startFakeLlm({ turns });
      const started = await startE2eServer({ MOLECULE_PROVISIONER: 'docker', DOCKER_HOST: host, MOLECULE_DOCKER_NETWORK: 'host', MOLECULE_RUNTIME_IMAGE: image }, 'molecule-docker-adapters-');
      expect(started.warnings).toEqual([]);
      server = started.server;
      // Org-wide secrets: the container's environment, as an operator would give it a key.
      for (const [key, value] of [
        ['OPENAI_API_KEY', 'sk-docker-e2e'],
        ['OPENAI_BASE_URL', `${llm.url}/v1`],
      ]) {
        const r = await fetch(`${server.url}/settings/secrets`, { method: 'PUT', headers: c.admin, body: JSON.stringify({ key, value }) });
        expect(r.status).toBeLessThan(300);
      }
    });
    afterAll(async () => {
      await server?.close();
      await llm?.close();
      for (const id of made) await removeWorkspaceArtifacts(docker, id);
    });

    it('C037 the model delegates to the echo child through delegate_task, answers through the proxy, the tool use is in the activity log, and a restart keeps the session in the workspace volume', async () => {
      const parent = await c.create(`docker-oa-${randomUUID().slice(0, 6)}`, 'openai-agents');
      made.push(parent);
      const worker = await c.create('worker', 'echo', parent);
      made.push(worker);
      await c.waitOnline(parent, 90_000);
      await c.waitOnline(worker, 90_000);
      const row = await c.get(parent);
      expect(row.runtime).toBe('openai-agents');
      expect(row.instance_id).toBe((await docker.getContainer(containerName(parent)).inspect()).Id);

      const marker = `job-${randomUUID().slice(0, 8)}`;
      turns.push({ toolCalls: [{ name: 'delegate_task', args: { workspace_id: worker, task: marker } }] }, { chunks: ['The worker said: ', `echo: ${marker}`] });
      const ctx = randomUUID();
      expect(await c.sendViaProxy(parent, `please have the worker do ${marker}`, ctx)).toEqual({ state: 'completed', text: `The worker said: echo: ${marker}` });
      await expect.poll(async () => (await c.toolRows(parent, marker)).map((r) => `${String(r.method)}:${String(r.status)}`), { timeout: 15_000 }).toEqual(['delegate_task:ok']);
      // The SDK session file is in the working directory, which is the workspace volume.
      const sessions = [...(await readDir(docker.getContainer(containerName(parent)), '/workspace')).keys()].filter((k) => k.startsWith('.molecule/openai-agents/sessions/'));
      expect(sessions).toHaveLength(1);

      await c.restart(parent, 90_000);
      expect((await c.get(parent)).instance_id).toBe((await docker.getContainer(containerName(parent)).inspect()).Id);
      turns.push({ chunks: ['still here'] });
      expect(await c.sendViaProxy(parent, 'do you remember?', ctx)).toEqual({ state: 'completed', text: 'still here' });
      const last = llm.requests.at(-1)!.body.messages as { role: string; content: unknown }[];
      expect(last.filter((m) => m.role === 'user').map((m) => m.content)).toEqual([`please have the worker do ${marker}`, 'do you remember?']);
    }, 300_000); // three container starts on a loaded 2-core CI machine
  });
}
