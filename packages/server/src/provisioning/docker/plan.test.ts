import { describe, expect, it } from 'vitest';
import { containerName, idFromContainerName, idFromVolumeName, managedLabels, volumeName, workspaceVolumeName } from './names.js';
import { dockerClientOptions, networkPlan } from './network.js';
import { TIER_LIMITS, tierHostConfig } from './tiers.js';

const id = '0b7c2d4e-1f2a-4b3c-8d9e-0a1b2c3d4e5f';

describe('docker names, labels, tiers and networks', () => {
  it('C100 C101 names the container ws-<id>, the volumes ws-<id>-configs and ws-<id>-workspace, labelled managed', () => {
    expect(containerName(id)).toBe(`ws-${id}`);
    expect(volumeName(id)).toBe(`ws-${id}-configs`);
    expect(workspaceVolumeName(id)).toBe(`ws-${id}-workspace`);
    expect(managedLabels(id)).toEqual({ 'molecule.platform.managed': 'true', 'molecule.workspace.id': id });
  });

  it('C102 narrows the engine name filter (a substring match) to names starting with ws-', () => {
    expect(idFromContainerName(`/ws-${id}`)).toBe(id);
    expect(idFromContainerName(`ws-${id}`)).toBe(id);
    expect(idFromContainerName('/my-ws-tool')).toBeUndefined();
    expect(idFromContainerName('/ws-')).toBeUndefined();
    expect(idFromVolumeName(`ws-${id}-configs`)).toBe(id);
    expect(idFromVolumeName(`ws-${id}-workspace`)).toBe(id);
    expect(idFromVolumeName('my-ws-x-configs')).toBeUndefined();
    expect(idFromVolumeName('my-ws-x-workspace')).toBeUndefined();
    expect(idFromVolumeName('ws--workspace')).toBeUndefined();
    expect(idFromVolumeName(`ws-${id}-data`)).toBeUndefined();
  });

  it('applies one limits table per tier, and the default tier for an unknown one', () => {
    expect(tierHostConfig(1)).toMatchObject({ Memory: 256 * 2 ** 20, MemorySwap: 256 * 2 ** 20, NanoCpus: 5e8 });
    expect(tierHostConfig(2)).toMatchObject({ Memory: 512 * 2 ** 20, NanoCpus: 1e9 });
    expect(tierHostConfig(3)).toMatchObject({ Memory: 2048 * 2 ** 20, NanoCpus: 2e9 });
    expect(tierHostConfig(4)).toMatchObject({ Memory: 4096 * 2 ** 20, NanoCpus: 4e9 });
    expect(tierHostConfig(9)).toEqual(tierHostConfig(2));
    const sizes = Object.values(TIER_LIMITS);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]!.memoryMiB).toBeGreaterThan(sizes[i - 1]!.memoryMiB);
  });

  it('host network: the agent listens on a loopback port of its own and advertises it', () => {
    const p = networkPlan('host', id, 41234, 'http://127.0.0.1:8080');
    expect(p).toEqual({ networkMode: 'host', env: { HOST: '127.0.0.1', PORT: '41234', MOLECULE_WORKSPACE_URL: 'http://127.0.0.1:41234' }, url: 'http://127.0.0.1:41234' });
  });

  it('bridge network: port 8000 published on loopback, a loopback platform URL goes through the host gateway', () => {
    const p = networkPlan('bridge', id, 41234, 'http://127.0.0.1:8080');
    expect(p.portBindings).toEqual({ '8000/tcp': [{ HostIp: '127.0.0.1', HostPort: '41234' }] });
    expect(p.extraHosts).toEqual(['host.docker.internal:host-gateway']);
    expect(p.env).toEqual({ HOST: '0.0.0.0', PORT: '8000', MOLECULE_WORKSPACE_URL: 'http://127.0.0.1:41234', PLATFORM_URL: 'http://host.docker.internal:8080' });
    expect(networkPlan('bridge', id, 41234, 'http://platform.example:8080').env.PLATFORM_URL).toBeUndefined();
  });

  it('user network: reached by container name on port 8000', () => {
    const p = networkPlan('molecule-net', id, 0, 'http://molecule:8080');
    expect(p.url).toBe(`http://ws-${id}:8000`);
    expect(p.endpoints).toEqual({ 'molecule-net': { Aliases: [`ws-${id}`] } });
    expect(p.env).toEqual({ HOST: '0.0.0.0', PORT: '8000', MOLECULE_WORKSPACE_URL: `http://ws-${id}:8000` });
  });

  it('DOCKER_HOST becomes a socket path or a TCP address', () => {
    expect(dockerClientOptions('unix:///var/run/docker.sock')).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(dockerClientOptions('tcp://10.0.0.5:2375')).toEqual({ host: '10.0.0.5', port: 2375, protocol: 'http' });
    expect(dockerClientOptions('tcp://engine')).toEqual({ host: 'engine', port: 2375, protocol: 'http' });
    expect(dockerClientOptions('https://engine:2376')).toEqual({ host: 'engine', port: 2376, protocol: 'https' });
  });
});
