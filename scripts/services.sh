# Sourced by scripts/test.sh and scripts/bench.sh: installs (if missing) PostgreSQL, Redis and
# HAProxy, starts PostgreSQL and Redis on loopback in a temp dir, exports TEST_DATABASE_URL / TEST_REDIS_URL, and stops both on exit.
# svc_docker_start (after svc_start) adds a private Docker engine: TEST_DOCKER_HOST and
# TEST_RUNTIME_IMAGE, the runtime image built offline into it.
set -euo pipefail

svc_log() { printf '[services] %s\n' "$*" >&2; }

svc_apt_install() {
  if [ "$(id -u)" -ne 0 ]; then
    svc_log "missing packages ($*) and not root: install them with apt-get install -y $*"
    return 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q "$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }
}

svc_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

svc_free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

svc_start() {
  if [ -z "$(svc_pg_bin)" ]; then svc_log "installing postgresql"; svc_apt_install postgresql; fi
  if ! command -v redis-server >/dev/null 2>&1; then svc_log "installing redis-server"; svc_apt_install redis-server; fi
  # The two-replica test runs deploy/haproxy.cfg in front of two platform processes.
  if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then svc_log "installing haproxy"; svc_apt_install haproxy; fi
  # The canvas's end-to-end tests drive Debian's Chromium through playwright-core.
  if ! command -v chromium >/dev/null 2>&1; then svc_log "installing chromium"; svc_apt_install chromium; fi
  local pgbin; pgbin="$(svc_pg_bin)"
  SVC_DIR="$(mktemp -d /tmp/molecule-services.XXXXXX)"
  chmod 755 "$SVC_DIR"
  local pgport rport runas=()
  pgport="$(svc_free_port)"; rport="$(svc_free_port)"
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root; the Debian package provides the postgres user.
    mkdir -p "$SVC_DIR/pg"; chown postgres "$SVC_DIR/pg"; runas=(runuser -u postgres --)
  fi
  "${runas[@]}" "$pgbin/initdb" -D "$SVC_DIR/pg/data" -A trust -U postgres >/dev/null
  "${runas[@]}" "$pgbin/pg_ctl" -D "$SVC_DIR/pg/data" -l "$SVC_DIR/pg/log" -w start \
    -o "-c listen_addresses=127.0.0.1 -p $pgport -k $SVC_DIR/pg -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" >/dev/null
  SVC_PG_CTL=("${runas[@]}" "$pgbin/pg_ctl" -D "$SVC_DIR/pg/data")
  redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$SVC_DIR/redis.pid" --logfile "$SVC_DIR/redis.log" --dir "$SVC_DIR"
  for _ in $(seq 1 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pgport/postgres"
  export TEST_REDIS_URL="redis://127.0.0.1:$rport"
  svc_log "postgres on 127.0.0.1:$pgport, redis on 127.0.0.1:$rport"
  trap svc_stop EXIT
}

# A Docker engine of our own (its own socket, data and exec roots under $SVC_DIR, no bridge and no
# iptables changes: containers use --network host), and the runtime image built into it. Needs root.
# When the engine cannot start, TEST_DOCKER_HOST stays unset and the Docker integration tests fail
# saying so; nothing else is affected.
svc_docker_start() {
  [ -n "${SVC_DIR:-}" ] || { svc_log "svc_docker_start needs svc_start first"; return 1; }
  if [ "$(id -u)" -ne 0 ]; then svc_log "not root: no Docker engine (the Docker integration tests will fail)"; return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then svc_log "installing docker.io"; svc_apt_install docker.io || return 0; fi
  local d="$SVC_DIR/docker"
  mkdir -p "$d"
  dockerd --iptables=false --ip6tables=false --bridge=none --data-root "$d/root" --exec-root "$d/exec" \
    -H "unix://$d/docker.sock" --pidfile "$d/dockerd.pid" >"$d/log" 2>&1 &
  SVC_DOCKERD_PID=$!
  local host="unix://$d/docker.sock"
  for _ in $(seq 1 300); do
    DOCKER_HOST="$host" docker version >/dev/null 2>&1 && break
    kill -0 "$SVC_DOCKERD_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ! DOCKER_HOST="$host" docker version >/dev/null 2>&1; then
    svc_log "dockerd did not start (the Docker integration tests will fail); its log:"; tail -n 20 "$d/log" >&2
    return 0
  fi
  svc_log "docker engine on $host"
  local image="molecule/agent:local"
  if ! DOCKER_HOST="$host" bash "$(dirname "${BASH_SOURCE[0]}")/build-runtime-image.sh" "$image" >"$d/build.log" 2>&1; then
    svc_log "building the runtime image failed (the Docker integration tests will fail); its log:"; tail -n 20 "$d/build.log" >&2
    return 0
  fi
  export TEST_DOCKER_HOST="$host" TEST_RUNTIME_IMAGE="$image"
}

svc_docker_stop() {
  [ -n "${SVC_DOCKERD_PID:-}" ] || return 0
  kill "$SVC_DOCKERD_PID" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$SVC_DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$SVC_DOCKERD_PID" 2>/dev/null || true
  # Whatever the engine left mounted under its roots (overlay layers, netns, shm) goes before rm -rf.
  awk -v d="$SVC_DIR/docker" 'index($2, d) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  SVC_DOCKERD_PID=""
}

svc_stop() {
  [ -n "${SVC_DIR:-}" ] || return 0
  svc_docker_stop
  "${SVC_PG_CTL[@]}" -m immediate stop >/dev/null 2>&1 || true
  [ -f "$SVC_DIR/redis.pid" ] && kill "$(cat "$SVC_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$SVC_DIR"
  SVC_DIR=""
}
