#!/usr/bin/env bash
# postgres-live.sh - a throwaway PostgreSQL 15 (Debian bookworm's packages) on
# 127.0.0.1 for the store's tests on PostgreSQL. Run as root; apt must work.
# It runs its own cluster (own data directory, own port) and never touches the
# Debian cluster the package may have made ("main", port 5432).
#
# Usage: scripts/postgres-live.sh COMMAND [PORT]
#   install        Install postgresql-15 from Debian. Idempotent: apt runs only
#                  when the server's binaries are missing.
#   start [PORT]   Make the cluster the first time (initdb as `postgres`, locale
#                  C, UTF-8; scram-sha-256 on 127.0.0.1 only; fsync off: it is
#                  thrown away), start it on 127.0.0.1:PORT (default 5499, or the
#                  port of the previous start), make the role and the database
#                  `sla_bridge_test` (the role's password is made once and kept in
#                  $STATE/password), write the env file. Idempotent: does nothing
#                  but the env file if the server already answers.
#   reset          Drop and make again the database `sla_bridge_test` (the tests
#                  make a schema each and drop it; this is for a clean slate).
#   stop           Stop the server (fast shutdown: open sessions are ended).
#   status         Exit 0 if the server answers, 1 otherwise.
#   env            Print `export NAME=value` lines, and write the same to
#                  $STATE/env and as a flat JSON object to $STATE/env.json
#                  (both 0600: they hold the role's password).
#
# Typical CI step (.ci/run):
#   bash scripts/postgres-live.sh install
#   bash scripts/postgres-live.sh start
#   trap 'bash scripts/postgres-live.sh stop' EXIT
#   ... tests read /tmp/sla-bridge-postgres/env.json (tests/conftest.py) ...
#
# Variables written by `env`:
#   SLA_BRIDGE_PG_URL       postgresql://sla_bridge_test@127.0.0.1:PORT/sla_bridge_test
#                           (no password: sla-bridge refuses one in the URL)
#   SLA_BRIDGE_PG_PASSWORD  the role's password (give it as store_password = { env = ... })
#   SLA_BRIDGE_PG_PORT SLA_BRIDGE_PG_USER SLA_BRIDGE_PG_DATABASE SLA_BRIDGE_PG_STATE_DIR
#   SLA_BRIDGE_PG_LOG
#
# Files: state in $POSTGRES_STATE_DIR (default /tmp/sla-bridge-postgres):
#   data/ (the cluster, owned by postgres), run/ (its Unix socket), log/postgres.log,
#   port, password, env, env.json, lock. Delete it (after `stop`) to start over.
set -euo pipefail

STATE=${POSTGRES_STATE_DIR:-/tmp/sla-bridge-postgres}
DEFAULT_PORT=5499
VERSION=15
BIN=/usr/lib/postgresql/$VERSION/bin
DATA=$STATE/data
RUN=$STATE/run
LOG=$STATE/log/postgres.log
ROLE=sla_bridge_test
DATABASE=sla_bridge_test
START_TIMEOUT=${POSTGRES_START_TIMEOUT:-60}
AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)

say() { printf 'postgres-live: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (apt, the postgres user, the data directory)"; }

installed() { [[ -x $BIN/postgres && -x $BIN/initdb && -x $BIN/pg_ctl ]] && id postgres >/dev/null 2>&1; }

port_of() { # explicit argument, else the port of the last start, else 5499
  if [[ -n ${1:-} ]]; then
    [[ $1 =~ ^[0-9]+$ ]] || die "bad port: $1"
    printf '%s' "$1"
  elif [[ -s $STATE/port ]]; then
    cat "$STATE/port"
  else
    printf '%s' "$DEFAULT_PORT"
  fi
}

lock() {
  mkdir -p "$STATE"
  chmod 0755 "$STATE"
  exec 9>"$STATE/lock"
  flock -w 300 9 || die "could not lock $STATE/lock"
}

# True if the pid file names a live postmaster (not a reused pid, nor a zombie nobody
# reaped: pg_ctl status takes one for a server).
running() {
  local pid state
  [[ -s $DATA/postmaster.pid ]] || return 1
  pid=$(head -n 1 "$DATA/postmaster.pid")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  state=$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
  [[ -n $state && $state != Z ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "postgres" || return 1
}

answers() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 2 >/dev/null 2>&1; }

# psql as the superuser, over the cluster's own socket (peer authentication).
as_super() { (cd / && "${AS_PG[@]}" "$BIN/psql" -X -q -h "$RUN" -p "$1" -U postgres -d postgres -v ON_ERROR_STOP=1 "${@:2}"); }

cmd_install() {
  need_root
  if installed; then
    say "already installed ($("$BIN/postgres" --version))"
    return 0
  fi
  say "apt-get update"
  apt-get update -qq
  say "apt-get install postgresql-$VERSION"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "postgresql-$VERSION" >/dev/null
  installed || die "installed, but no $BIN/postgres (or no postgres user)"
  say "installed $("$BIN/postgres" --version)"
}

make_cluster() {
  install -d -o postgres -g postgres -m 0700 "$DATA"
  install -d -o postgres -g postgres -m 0755 "$RUN" "$STATE/log"
  say "initdb $DATA"
  (cd / && "${AS_PG[@]}" "$BIN/initdb" -D "$DATA" -U postgres --no-locale --encoding=UTF8 \
      --auth-local=peer --auth-host=scram-sha-256 >"$STATE/log/initdb.log" 2>&1) \
    || { cat "$STATE/log/initdb.log" >&2; die "initdb failed"; }
  # Loopback only, TCP with a password; the superuser only over the cluster's own socket.
  cat >"$DATA/pg_hba.conf" <<'EOF'
local   all   postgres                peer
host    all   all       127.0.0.1/32  scram-sha-256
EOF
  chown postgres:postgres "$DATA/pg_hba.conf"
}

password() {
  if [[ ! -s $STATE/password ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$STATE/password")
  fi
  cat "$STATE/password"
}

make_role_and_database() { # PORT
  local port=$1 secret
  secret=$(password)
  # The password reaches psql through its environment (\getenv), never a command line,
  # and is quoted by psql.
  PG_LIVE_SECRET=$secret as_super "$port" -v role="$ROLE" <<'EOF'
\getenv secret PG_LIVE_SECRET
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" LOGIN PASSWORD :'secret';
EOF
  as_super "$port" -v role="$ROLE" -v db="$DATABASE" <<'EOF'
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
EOF
}

cmd_start() {
  need_root
  installed || die "PostgreSQL $VERSION is not installed: run '$0 install' first"
  lock
  local port i
  port=$(port_of "${1:-}")
  if running; then
    local was
    was=$(cat "$STATE/port" 2>/dev/null || echo "?")
    [[ $was == "$port" ]] || die "already running on port $was; stop it first to change port"
    say "already running on 127.0.0.1:$port"
  else
    answers "$port" && die "something else answers on 127.0.0.1:$port; stop it or pick another port"
    [[ -s $DATA/PG_VERSION ]] || make_cluster
    install -d -o postgres -g postgres -m 0755 "$RUN" "$STATE/log"
    rm -f "$DATA/postmaster.pid"  # left by a killed server (running() said no live one)
    printf '==== %s start on 127.0.0.1:%s\n' "$(date -Is)" "$port" >>"$LOG"
    chown postgres:postgres "$LOG"
    # The inner shell closes every inherited descriptor but 0-2 (a CI runner's pipes) so
    # that nothing waits on the server; pg_ctl -w waits until it accepts connections.
    # shellcheck disable=SC2016
    bash -c 'for f in /proc/$$/fd/*; do f=${f##*/}; if [ "$f" -gt 2 ]; then eval "exec $f>&-"; fi; done
             cd / && exec "$@"' _ "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t "$START_TIMEOUT" \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$RUN -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start </dev/null >/dev/null 2>&1 9>&- \
      || { tail -n 20 "$LOG" >&2; die "PostgreSQL did not start (log: $LOG)"; }
    printf '%s' "$port" >"$STATE/port"
  fi
  for i in $(seq 50); do answers "$port" && break; sleep 0.2; done
  answers "$port" || die "PostgreSQL does not answer on 127.0.0.1:$port (log: $LOG)"
  make_role_and_database "$port"
  write_env >/dev/null
  say "PostgreSQL answers on 127.0.0.1:$port (database $DATABASE, role $ROLE; env: $STATE/env.json)"
}

cmd_stop() {
  need_root
  lock
  if ! running; then
    say "not running"
    return 0
  fi
  (cd / && "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1) \
    || { say "fast stop failed: immediate"; (cd / && "${AS_PG[@]}" "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1) || true; }
  say "stopped"
}

cmd_reset() {
  need_root
  local port
  port=$(port_of "")
  running || die "not running: run '$0 start'"
  as_super "$port" -v db="$DATABASE" <<'EOF'
DROP DATABASE IF EXISTS :"db" WITH (FORCE);
EOF
  make_role_and_database "$port"
  say "database $DATABASE made again"
}

cmd_status() {
  local port
  port=$(port_of "${1:-}")
  if answers "$port"; then
    say "answering on 127.0.0.1:$port"
    return 0
  fi
  say "not answering on 127.0.0.1:$port"
  return 1
}

write_env() {
  local port secret
  port=$(port_of "")
  secret=$(password)
  python3 - "$STATE" "$port" "$ROLE" "$DATABASE" "$secret" "$LOG" <<'EOF'
import json, os, shlex, sys
state, port, role, db, secret, log = sys.argv[1:]
env = {
    "SLA_BRIDGE_PG_URL": f"postgresql://{role}@127.0.0.1:{port}/{db}",
    "SLA_BRIDGE_PG_PASSWORD": secret,
    "SLA_BRIDGE_PG_PORT": port,
    "SLA_BRIDGE_PG_USER": role,
    "SLA_BRIDGE_PG_DATABASE": db,
    "SLA_BRIDGE_PG_STATE_DIR": state,
    "SLA_BRIDGE_PG_LOG": log,
}
lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
for name, text in (("env", lines), ("env.json", json.dumps(env, indent=2) + "\n")):
    tmp = f"{state}/{name}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, f"{state}/{name}")
sys.stdout.write(lines)
EOF
}

cmd_env() {
  [[ -s $STATE/password ]] || die "no $STATE/password: run '$0 start' first"
  write_env
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
    install) cmd_install "$@" ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    reset) cmd_reset "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
