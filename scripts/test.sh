#!/usr/bin/env bash
# `npm test`: every check and every test. Starts real PostgreSQL and Redis on loopback and, as root,
# a private Docker engine with the runtime image built offline (installing them with apt when
# missing), builds, lints, typechecks, then runs the unit and integration suites.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

npm run build --silent
npm run lint --silent
npm run typecheck --silent
svc_start
svc_docker_start
export MOLECULE_REQUIRE_SERVICES=1
npx vitest run "$@"
