#!/usr/bin/env bash
# `npm run bench`: builds, starts real PostgreSQL and Redis on loopback and, as root, a Docker engine
# (installing them, and nginx, with apt when missing; stopped on exit), then runs the benchmarks in bench/. They
# print numbers and ratios; they are not tests and do not fail on a missed target. See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

npm run build --silent
svc_start
svc_docker_start
# bench/a2a-proxy compares the platform's proxy with nginx as a plain reverse proxy (skipped without it).
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then svc_log "installing nginx"; svc_apt_install nginx-light || true; fi
node --import tsx bench/http.ts "$@"
node --import tsx bench/heartbeat.ts
node --import tsx bench/provision.ts
node --import tsx bench/adapters.ts
node --import tsx bench/a2a-proxy.ts
node --import tsx bench/a2a-queue.ts
node --import tsx bench/scheduler.ts
node --import tsx bench/org-import.ts
node --import tsx bench/files.ts
node --import tsx bench/terminal.ts
node --import tsx bench/canvas.ts
node --import tsx bench/memory.ts
node --import tsx bench/external.ts
node --import tsx bench/agent-socket-replicas.ts
