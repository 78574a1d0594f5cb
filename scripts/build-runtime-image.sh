#!/usr/bin/env bash
# Builds the workspace runtime image (molecule-agent) without any registry: bundles the built
# packages/runtime into one file with esbuild, lays out a root filesystem holding this machine's node
# binary, its shared libraries, the CA certificates and the bundle, and `docker import`s it.
#
#   bash scripts/build-runtime-image.sh [IMAGE]     # default molecule/agent:local; honours DOCKER_HOST
#
# Needs `npm run build` first (packages/runtime/dist). For a registry-based image use
# packages/runtime/Dockerfile instead (docs/operations.md).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE="${1:-molecule/agent:local}"
ENTRY=packages/runtime/dist/main.js
[ -f "$ENTRY" ] || { echo "build-runtime-image: $ENTRY is missing; run npm run build first" >&2; exit 1; }
command -v docker >/dev/null || { echo "build-runtime-image: the docker CLI is not on PATH" >&2; exit 1; }

WORK="$(mktemp -d /tmp/molecule-runtime-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
mkdir -p "$ROOTFS/app" "$ROOTFS/usr/local/bin" "$ROOTFS/configs" "$ROOTFS/workspace" "$ROOTFS/root" "$ROOTFS/etc" "$ROOTFS/tmp"
chmod 1777 "$ROOTFS/tmp"

node scripts/bundle-runtime.mjs "$ROOTFS/app/molecule-agent.mjs"

NODE="$(command -v node)"
cp "$NODE" "$ROOTFS/usr/local/bin/node"
# A shell and a few tools for the workspace terminal (a TTY exec of /bin/bash, else /bin/sh).
mkdir -p "$ROOTFS/bin"
TOOLS=()
for t in bash sh stty sleep cat ls env; do
  p="$(command -v "$t" 2>/dev/null || true)"
  [ -n "$p" ] || continue
  cp -L "$p" "$ROOTFS/bin/$t"
  TOOLS+=("$p")
done
# The shared libraries node and the tools link against, at the paths the loader looks for them.
for lib in $(ldd "$NODE" "${TOOLS[@]}" | grep -o '/[^ ]*' | sort -u); do
  [ -f "$lib" ] || continue
  mkdir -p "$ROOTFS$(dirname "$lib")"
  cp -L "$lib" "$ROOTFS$lib"
done
[ -d /etc/ssl/certs ] && { mkdir -p "$ROOTFS/etc/ssl"; cp -rL /etc/ssl/certs "$ROOTFS/etc/ssl/certs"; }
printf 'root:x:0:0:root:/root:/sbin/nologin\n' >"$ROOTFS/etc/passwd"
printf 'root:x:0:\n' >"$ROOTFS/etc/group"

tar -C "$ROOTFS" -c . | docker import \
  --change 'ENTRYPOINT ["/usr/local/bin/node","/app/molecule-agent.mjs"]' \
  --change 'ENV PATH=/usr/local/bin:/bin NODE_ENV=production MOLECULE_CONFIGS_DIR=/configs MOLECULE_WORKSPACE_DIR=/workspace HOME=/root' \
  --change 'ENV SSL_CERT_DIR=/etc/ssl/certs' \
  --change 'WORKDIR /workspace' \
  --change 'EXPOSE 8000' \
  --change 'LABEL org.opencontainers.image.title=molecule-agent' \
  - "$IMAGE" >/dev/null
echo "built $IMAGE ($(du -sh "$ROOTFS" | cut -f1) root filesystem)"
