import { RUNTIME_REGISTRY, runtimeImageEnv, runtimeSpec, type RuntimeName, type RuntimeSupportView } from '@molecule/contracts';
import type { ProvisionerBackend } from '../config.js';

/**
 * What this platform's backend can do with a runtime: run it (`runs_with`: `molecule-agent (adapter
 * x)`, `image <ref>`, `external`, `control plane`), or why not, naming what would (`reason`).
 */
export type RuntimeSupport = RuntimeSupportView;

/**
 * Whether the selected backend can run a runtime (issue #16): the process backend runs only
 * runtimes with a molecule-agent adapter; Docker runs those in the runtime image and any runtime an
 * operator mapped to an image (WORKSPACE_IMAGE_<RUNTIME>); the control plane is passed the runtime
 * and decides; `external` never needs a backend. Undefined for a name the registry does not know.
 */
export function runtimeSupport(
  backend: ProvisionerBackend,
  name: string,
  runtimeImages: Readonly<Record<string, string>> = {},
): RuntimeSupport | undefined {
  const spec = runtimeSpec(name);
  if (!spec) return undefined;
  const base = { name: name as RuntimeName, required_env: spec.requiredEnv, description: spec.description };
  if (spec.external) return { ...base, runnable: true, runs_with: 'external' };
  const env = runtimeImageEnv(name);
  if (backend === 'none') {
    return { ...base, runnable: false, reason: `no provisioner is configured: set MOLECULE_PROVISIONER, or create the workspace with runtime "external"` };
  }
  if (backend === 'controlplane') return { ...base, runnable: true, runs_with: 'control plane' };
  if (backend === 'docker') {
    const image = Object.hasOwn(runtimeImages, name) ? runtimeImages[name] : undefined;
    if (image) return { ...base, runnable: true, runs_with: `image ${image}` };
    if (spec.adapter && !spec.notInRuntimeImage) return { ...base, runnable: true, runs_with: `molecule-agent (adapter ${spec.adapter}) in the runtime image` };
    if (spec.adapter) return { ...base, runnable: false, reason: `the runtime image cannot run "${name}" (adapter ${spec.adapter}): set ${env} to an image that runs it` };
    return { ...base, runnable: false, reason: `runtime "${name}" has no molecule-agent adapter: set ${env} to an image that runs it` };
  }
  if (spec.adapter) return { ...base, runnable: true, runs_with: `molecule-agent (adapter ${spec.adapter})` };
  return {
    ...base,
    runnable: false,
    reason: `runtime "${name}" has no molecule-agent adapter, so the process backend cannot run it: use MOLECULE_PROVISIONER=docker with ${env} set to an image, or the control plane`,
  };
}

/** Every runtime of the registry, with what this backend can do with it (GET /runtimes). */
export function runtimeSupportList(backend: ProvisionerBackend, runtimeImages: Readonly<Record<string, string>> = {}): RuntimeSupport[] {
  return Object.keys(RUNTIME_REGISTRY).map((n) => runtimeSupport(backend, n, runtimeImages)!);
}
