import type { Queryable } from '../../db/port.js';
import { pinnedDigest } from './pins-repo.js';

/** Tags that name whatever was pushed last; anything else counts as pinned (C136). */
const MOVING_TAGS = new Set(['latest', 'staging', 'main', 'dev', 'edge', 'nightly', 'rolling']);

/** Splits `[registry[:port]/]name[:tag][@digest]`; a `:` before the last `/` is a registry port. */
export function parseImageRef(ref: string): { name: string; tag: string | undefined; digest: string | undefined } {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const rest = at >= 0 ? ref.slice(0, at) : ref;
  const colon = rest.lastIndexOf(':');
  const hasTag = colon > rest.lastIndexOf('/');
  return { name: hasTag ? rest.slice(0, colon) : rest, tag: hasTag ? rest.slice(colon + 1) : undefined, digest };
}

/**
 * True only for references whose tag moves (C136): `:latest`, no tag at all, and the well-known
 * branch-like tags. A digest reference never moves; semver, sha-, date- and build-id tags and legacy
 * local tags (`workspace-template:hermes`) are pinned; a registry port is not a tag.
 */
export function imageTagIsMoving(ref: string): boolean {
  const { tag, digest } = parseImageRef(ref);
  if (digest !== undefined) return false;
  return tag === undefined || MOVING_TAGS.has(tag);
}

/** The repository of a reference, without tag or digest: what a digest pin is appended to. */
export const imageBase = (ref: string): string => parseImageRef(ref).name;

/**
 * Which image a workspace runs (C135): an explicit image (a resolved pin) first, then the
 * runtime -> image map, then the default image for a runtime the map does not know.
 */
export function selectImage(opts: { explicit?: string | undefined; runtime: string; images: Readonly<Record<string, string>>; defaultImage: string }): string {
  if (opts.explicit) return opts.explicit;
  return Object.hasOwn(opts.images, opts.runtime) ? opts.images[opts.runtime]! : opts.defaultImage;
}

/**
 * The pinned reference for a runtime image, `<base>@sha256:<digest>`, from runtime_image_pins
 * (C133). No pin, or any database error, answers undefined so the caller falls back to the tag:
 * availability over pinning (fail-open, logged by the caller). `localOverride`
 * (WORKSPACE_IMAGE_LOCAL_OVERRIDE=1) skips the lookup entirely (C134).
 */
export async function resolvePinnedImage(
  q: Queryable,
  templateName: string,
  base: string,
  opts: { localOverride: boolean; onError?: (err: unknown) => void },
): Promise<string | undefined> {
  if (opts.localOverride) return undefined;
  try {
    const digest = await pinnedDigest(q, templateName);
    return digest ? `${imageBase(base)}@sha256:${digest}` : undefined;
  } catch (err) {
    opts.onError?.(err);
    return undefined;
  }
}
