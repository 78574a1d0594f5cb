# Sourced by scripts/test.sh and scripts/bench.sh: installs (if missing) and starts PostgreSQL and
# Redis on loopback in a temp dir, exports TEST_DATABASE_URL / TEST_REDIS_URL, and stops both on exit.
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

svc_stop() {
  [ -n "${SVC_DIR:-}" ] || return 0
  "${SVC_PG_CTL[@]}" -m immediate stop >/dev/null 2>&1 || true
  [ -f "$SVC_DIR/redis.pid" ] && kill "$(cat "$SVC_DIR/redis.pid")" 2>/dev/null || true
  rm -rf "$SVC_DIR"
  SVC_DIR=""
}
