#!/usr/bin/env bash
# `npm test`: every check and every test. Starts real PostgreSQL and Redis on loopback (installing
# them with apt when missing), builds, lints, typechecks, then runs the unit and integration suites.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/services.sh

npm run build --silent
npm run lint --silent
npm run typecheck --silent
svc_start
export MOLECULE_REQUIRE_SERVICES=1
npx vitest run "$@"
