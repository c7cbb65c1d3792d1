#!/usr/bin/env bash
# redmine-live.sh - a real Redmine 5 (Debian bookworm packages, SQLite) on
# 127.0.0.1 for sla-bridge's end-to-end tests. Run as root on a Debian bookworm
# machine (CI); apt must work. No Docker, no other network access needed.
#
# Usage: scripts/redmine-live.sh COMMAND [PORT]
#   install        Install redmine, redmine-sqlite and puma from Debian (debconf
#                  preseeded: SQLite instance "default", English). Idempotent:
#                  apt-get update/install run only if a package is missing.
#   start [PORT]   Start puma as www-data on 127.0.0.1:PORT (default 3999, or
#                  the port of the previous start) and wait until it answers
#                  (bounded by $REDMINE_START_TIMEOUT, default 60 s). The first
#                  time (no pristine snapshot yet) it first runs
#                  scripts/redmine-setup.rb with `rails runner` (REST API on,
#                  project "support" with categories Training and Production,
#                  custom fields "SLA labels", "SLA deadline", "Workaround" and
#                  "Reported at", role "Support" whose workflow has no direct
#                  Feedback -> Closed, group "Support Team", users with API
#                  keys: agent, customer, cust-admin, jdupont, mlefebvre,
#                  sla-bot), then saves the database as the pristine snapshot.
#                  A changed redmine-setup.rb (or label list) redoes the set-up
#                  on the pristine database at the next start.
#                  Idempotent: does nothing if our server already answers.
#   reset          Stop, copy the pristine database back (root:www-data 0660),
#                  empty Rails' file cache, delete attachments uploaded since the
#                  snapshot, start again (same port).
#   restore        Faster reset (~0.2 s) for a RUNNING server: copies the pristine
#                  database into the live one with SQLite's online backup API,
#                  empties the cache and new attachments; the server keeps
#                  running. Falls back to `reset` if the server is not running.
#   stop           Stop the server (TERM, wait up to 20 s, then KILL).
#   status         Exit 0 if the server answers, 1 otherwise.
#   env            Print `export NAME=value` lines for the tests, and write the
#                  same to $STATE/env and as a flat JSON object (same names,
#                  string values) to $STATE/env.json.
#
# Typical CI step:
#   bash scripts/redmine-live.sh install
#   bash scripts/redmine-live.sh start
#   eval "$(bash scripts/redmine-live.sh env)"     # or read /tmp/sla-bridge-redmine/env.json
#   ... tests; between tests needing a clean Redmine call `restore` (~0.5 s;
#       no request may be in flight: one that is gets a 500 "database is
#       locked") or `reset` (~5-9 s, restarts the server) ...
#   bash scripts/redmine-live.sh stop
#
# Variables written by `env` (ids are Redmine's numeric ids):
#   REDMINE_URL REDMINE_PORT REDMINE_API_KEY (admin) REDMINE_ADMIN_LOGIN
#   REDMINE_ADMIN_PASSWORD REDMINE_ADMIN_ID
#   REDMINE_AGENT_LOGIN REDMINE_AGENT_PASSWORD REDMINE_AGENT_ID REDMINE_AGENT_KEY
#   REDMINE_CUSTOMER_LOGIN REDMINE_CUSTOMER_PASSWORD REDMINE_CUSTOMER_ID REDMINE_CUSTOMER_KEY
#   REDMINE_PROJECT (identifier) REDMINE_PROJECT_ID
#   REDMINE_LABELS_FIELD_ID REDMINE_DEADLINE_FIELD_ID REDMINE_WORKAROUND_FIELD_ID
#   REDMINE_REPORTED_AT_FIELD_ID
#   REDMINE_USER_<LOGIN>_{ID,LOGIN,NAME,PASSWORD,KEY} for every user the set-up
#   made (LOGIN upper-cased, '-' -> '_': REDMINE_USER_SLA_BOT_KEY)
#   REDMINE_GROUP_<NAME>_ID  REDMINE_CATEGORY_<NAME>_ID
#   REDMINE_SLA_LABELS (space-separated possible values of the labels field)
#   REDMINE_TRACKER_<NAME>_ID  REDMINE_STATUS_<NAME>_ID  REDMINE_PRIORITY_<NAME>_ID
#   REDMINE_ROLE_<NAME>_ID     (NAME upper-cased, spaces -> _, e.g. IN_PROGRESS)
#   REDMINE_CLOSED_STATUS_IDS REDMINE_DEFAULT_PRIORITY_ID
#   REDMINE_AGENT_ROLE_ID REDMINE_CUSTOMER_ROLE_ID
#   REDMINE_DB REDMINE_STATE_DIR REDMINE_PUMA_LOG REDMINE_RAILS_LOG
#   (Severity: Redmine has none; map severities to priority names in the
#   tracker config, e.g. "Urgent" = "bloquante", ids from REDMINE_PRIORITY_*.)
#
# Notes:
# - The "SLA labels" list field accepts every string under [labels] of
#   ../config.example.toml (except `prefix`, including labels.breached and
#   labels.severity) plus clocks.workaround_labels,
#   clocks.definitive_workaround_labels and scope.out_of_scope_labels; another
#   config: SLA_BRIDGE_CONFIG=/path/to.toml. If the labels change, the next
#   `start` redoes the set-up on the pristine database and re-snapshots.
# - puma runs with ONE thread (see cmd_start): concurrent requests queue.
# - Port: `start PORT` remembers it; reset/restore/status/env reuse it.
#
# Files: state in $REDMINE_STATE_DIR (default /tmp/sla-bridge-redmine):
#   puma.log, puma.pid (written by this script), port, setup.json (output of
#   redmine-setup.rb), setup.sha256 (of the set-up script that made it),
#   pristine.sqlite3, env, env.json.
# Delete the state directory (after `stop`) to force the set-up to run again.
set -euo pipefail

STATE=${REDMINE_STATE_DIR:-/tmp/sla-bridge-redmine}
DEFAULT_PORT=3999
START_TIMEOUT=${REDMINE_START_TIMEOUT:-60}
REDMINE_ROOT=/usr/share/redmine
DB=/var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default
RAILS_LOG=/var/log/redmine/default/production.log
CACHE_DIR=/var/cache/redmine/default/tmp/cache
FILES_DIR=/var/lib/redmine/default/files
PACKAGES=(redmine redmine-sqlite puma)
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CONFIG=${SLA_BRIDGE_CONFIG:-$SCRIPT_DIR/../config.example.toml}
PIDFILE=$STATE/puma.pid
LOG=$STATE/puma.log
PRISTINE=$STATE/pristine.sqlite3
SETUP_JSON=$STATE/setup.json
SYS_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

say() { printf 'redmine-live: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
now() { printf '%s' "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (apt, setpriv, database ownership)"; }

packages_installed() {
  local p s
  for p in "${PACKAGES[@]}"; do
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [[ $s == "install ok installed" ]] || return 1
  done
}

# The port: explicit argument, else the one of the last start, else 3999.
port_of() {
  if [[ -n ${1:-} ]]; then
    [[ $1 =~ ^[0-9]+$ ]] || die "bad port: $1"
    printf '%s' "$1"
  elif [[ -s $STATE/port ]]; then
    cat "$STATE/port"
  else
    printf '%s' "$DEFAULT_PORT"
  fi
}

answers() { # PORT: true if Redmine's home page answers 2xx/3xx
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1/" 2>/dev/null) || true
  [[ $code == [23]?? ]]
}

our_pid() { # prints the pid if the pid file names a live puma (not a reused pid)
  local pid
  [[ -s $PIDFILE ]] || return 1
  pid=$(cat "$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  # Right after the launch the pid may still be the launching shell/setpriv.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Eq 'puma|setpriv|bash -c' || return 1
  printf '%s' "$pid"
}

# Prefixes for a command run as www-data with a clean environment (add
# NAME=VALUE words between the two). Run them from the Rails root.
WWW_ENV=(env -i PATH="$SYS_PATH" HOME=/tmp LANG=C.UTF-8 RAILS_ENV=production)
AS_WWW=(setpriv --reuid=www-data --regid=www-data --init-groups --)

lock() {
  mkdir -p "$STATE"
  chmod 0755 "$STATE"
  exec 9>"$STATE/lock"
  flock -w 300 9 || die "could not lock $STATE/lock"
}

cmd_install() {
  need_root
  local t0 missing=()
  t0=$(now)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if packages_installed && [[ ${#missing[@]} -eq 0 ]]; then
    say "already installed ($(dpkg-query -W -f='${Version}' redmine)); $(elapsed "$t0") s"
    return 0
  fi
  say "apt-get update"
  apt-get update -qq
  debconf-set-selections <<'EOF'
redmine redmine/current-instances string default
redmine redmine/instances/default/dbconfig-install boolean true
redmine redmine/instances/default/database-type select sqlite3
redmine redmine/instances/default/default-language select en
EOF
  say "apt-get install ${PACKAGES[*]} ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${PACKAGES[@]}" "${missing[@]}"
  [[ -f $DB ]] || die "installed, but no database at $DB (see the notes: purge-and-reinstall trap)"
  [[ -f /etc/redmine/default/database.yml ]] || die "installed, but no /etc/redmine/default/database.yml"
  say "installed redmine $(dpkg-query -W -f='${Version}' redmine) in $(elapsed "$t0") s"
}

# Every label value of the config: all strings under [labels] except `prefix`
# (recursively: labels.breached, labels.severity), plus the non-SLA labels the
# contract reads (clocks.workaround_labels, clocks.definitive_workaround_labels,
# scope.out_of_scope_labels) so tests can set them too. One per line.
sla_labels() {
  [[ -f $CONFIG ]] || die "no config at $CONFIG"
  python3 - "$CONFIG" <<'EOF'
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    cfg = tomllib.load(f)
out = []
def walk(node, top):
    if isinstance(node, dict):
        for k, v in node.items():
            if not (top and k == "prefix"):
                walk(v, False)
    elif isinstance(node, list):
        for v in node:
            walk(v, False)
    elif isinstance(node, str):
        out.append(node)
walk(cfg.get("labels", {}), True)
for table, key in (("clocks", "workaround_labels"), ("clocks", "definitive_workaround_labels"),
                   ("scope", "out_of_scope_labels")):
    walk(cfg.get(table, {}).get(key, []), False)
seen = set()
for label in out:
    if label not in seen:
        seen.add(label)
        print(label)
EOF
}

run_setup() {
  local t0 labels out rb
  t0=$(now)
  labels=$(sla_labels)
  [[ -n $labels ]] || die "no labels found in $CONFIG"
  # www-data may not be able to read the clone (e.g. under /root): copy the script.
  rb=$STATE/redmine-setup.rb
  install -m 0644 "$SCRIPT_DIR/redmine-setup.rb" "$rb"
  say "set-up: rails runner redmine-setup.rb ($(wc -l <<<"$labels") labels)"
  if ! out=$(cd "$REDMINE_ROOT" && "${WWW_ENV[@]}" SLA_LABELS="$labels" "${AS_WWW[@]}" \
                ruby bin/rails runner -e production "$rb" 2>"$STATE/setup.err"); then
    cat "$STATE/setup.err" >&2
    printf '%s\n' "$out" >&2
    die "redmine-setup.rb failed"
  fi
  printf '%s\n' "$out" | tail -n 1 >"$SETUP_JSON.tmp"
  python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$SETUP_JSON.tmp" 2>/dev/null \
    || { printf '%s\n' "$out" >&2; cat "$STATE/setup.err" >&2; die "redmine-setup.rb printed no JSON on its last line"; }
  mv "$SETUP_JSON.tmp" "$SETUP_JSON"
  setup_digest >"$STATE/setup.sha256"
  say "set-up done in $(elapsed "$t0") s"
}

setup_digest() { sha256sum "$SCRIPT_DIR/redmine-setup.rb" | cut -d' ' -f1; }

# True if the snapshot and setup.json exist and were made by the set-up script
# as it is now, with the labels the config has now.
state_current() {
  [[ -s $PRISTINE && -s $SETUP_JSON && -s $STATE/setup.sha256 ]] || return 1
  [[ $(cat "$STATE/setup.sha256") == "$(setup_digest)" ]] || return 1
  sla_labels | python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["labels"] != sys.stdin.read().split())' "$SETUP_JSON"
}

# Copy the pristine snapshot over the database file (server stopped).
restore_db_file() {
  rm -f "$DB-journal" "$DB-wal" "$DB-shm"
  cp "$PRISTINE" "$DB"
  chown root:www-data "$DB"
  chmod 0660 "$DB"
  clean_cache_and_files
}

# Rails' file cache, and attachments uploaded since the snapshot.
clean_cache_and_files() {
  rm -rf "$CACHE_DIR"
  if [[ -d $FILES_DIR ]]; then
    find "$FILES_DIR" -mindepth 1 -type f -newer "$PRISTINE" -delete
    find "$FILES_DIR" -mindepth 1 -type d -empty -delete
  fi
}

log_since_start() { # the last 40 lines of puma.log written since the last start
  awk '/^==== / { n = 0 } { buf[n++] = $0 } END { for (i = (n > 40 ? n - 40 : 0); i < n; i++) print buf[i] }' "$LOG" || true
}

wait_until_answering() { # PID PORT
  local pid=$1 port=$2 deadline
  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      say "puma (pid $pid) died; its log ($LOG):"
      log_since_start >&2
      rm -f "$PIDFILE"
      die "Redmine did not start"
    fi
    answers "$port" && return 0
    if (( $(date +%s) >= deadline )); then
      say "no answer on 127.0.0.1:$port after ${START_TIMEOUT} s; puma's log ($LOG):"
      log_since_start >&2
      say "last lines of $RAILS_LOG:"
      tail -n 10 "$RAILS_LOG" >&2 || true
      die "Redmine did not answer in time (puma pid $pid left running; run stop)"
    fi
    sleep 0.2
  done
}

cmd_start() {
  need_root
  packages_installed || die "Redmine is not installed: run '$0 install' first"
  command -v curl >/dev/null || die "curl is missing: run '$0 install'"
  lock
  local port pid t0
  port=$(port_of "${1:-}")
  t0=$(now)
  if pid=$(our_pid); then
    local running_port
    running_port=$(cat "$STATE/port" 2>/dev/null || echo "?")
    if [[ $running_port != "$port" ]]; then
      die "already running on port $running_port (pid $pid); stop it first to change port"
    fi
    if state_current; then
      if answers "$port"; then
        say "already running on http://127.0.0.1:$port (pid $pid)"
      else
        say "pid $pid is running but not answering yet: waiting"
        wait_until_answering "$pid" "$port"
        say "Redmine answers on http://127.0.0.1:$port (pid $pid)"
      fi
      write_env >/dev/null
      return 0
    fi
    say "pid $pid is running but the set-up is missing or stale: restarting"
    stop_server
  elif answers "$port"; then
    die "something else answers on 127.0.0.1:$port (no live pid in $PIDFILE); stop it or pick another port"
  fi

  if ! state_current; then
    if [[ -s $PRISTINE && -s $SETUP_JSON ]]; then
      say "redmine-setup.rb or the labels in $CONFIG changed: redoing the set-up on the pristine database"
      restore_db_file
    fi
    run_setup
    rm -f "$PRISTINE"
    cp "$DB" "$PRISTINE.tmp"
    chown root:www-data "$PRISTINE.tmp"
    chmod 0640 "$PRISTINE.tmp"
    mv "$PRISTINE.tmp" "$PRISTINE"
    say "pristine snapshot saved to $PRISTINE"
  fi

  printf '%s' "$port" >"$STATE/port"
  rm -f "$PIDFILE"
  printf '==== %s start on 127.0.0.1:%s\n' "$(date -Is)" "$port" >>"$LOG"
  # The inner shell writes its own pid, then execs (env, setpriv and puma all
  # exec), so the pid file holds puma's pid. setsid: survive the caller's
  # terminal/process group. 9>&-: do not hand our lock to puma.
  # -t 1:1: ONE thread. Debian's database.yml sets no SQLite busy timeout, so
  # with several threads concurrent writes fail with 500 "database is locked"
  # (seen: 2 of 40 parallel POSTs); adding `timeout:` made requests stall up
  # to 20 s (the sqlite3 gem holds Ruby's lock while waiting). One thread
  # serialises requests: parallel clients just queue.
  # The inner shell also closes every other inherited descriptor (a CI runner's
  # pipes) so that nothing waits on puma.
  # shellcheck disable=SC2016
  setsid bash -c 'for f in /proc/$$/fd/*; do f=${f##*/}; if [ "$f" -gt 2 ]; then eval "exec $f>&-"; fi; done
                  echo $$ >"$0"; cd "$1" && shift && exec "$@"' "$PIDFILE" "$REDMINE_ROOT" \
    "${WWW_ENV[@]}" "${AS_WWW[@]}" puma -b "tcp://127.0.0.1:$port" -e production -t 1:1 config.ru \
    </dev/null >>"$LOG" 2>&1 9>&- &
  local i
  for i in $(seq 50); do [[ -s $PIDFILE ]] && break; sleep 0.02; done
  pid=$(cat "$PIDFILE" 2>/dev/null) || die "no pid file written"
  wait_until_answering "$pid" "$port"
  write_env >/dev/null
  say "Redmine answers on http://127.0.0.1:$port (pid $pid) after $(elapsed "$t0") s"
}

stop_server() {
  local pid i
  if ! pid=$(our_pid); then
    rm -f "$PIDFILE"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "puma (pid $pid) ignored TERM for 20 s: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    for i in $(seq 25); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

cmd_stop() {
  need_root
  lock
  if ! our_pid >/dev/null; then
    say "not running (no live pid in $PIDFILE)"
  fi
  stop_server
}

cmd_reset() {
  need_root
  [[ -s $PRISTINE ]] || die "no pristine snapshot ($PRISTINE): run '$0 start' first"
  local t0 port
  t0=$(now)
  port=$(port_of "")
  lock
  stop_server
  restore_db_file
  exec 9>&-   # cmd_start takes the lock again
  cmd_start "$port"
  say "reset done in $(elapsed "$t0") s"
}

cmd_restore() {
  need_root
  [[ -s $PRISTINE ]] || die "no pristine snapshot ($PRISTINE): run '$0 start' first"
  local t0 port pid
  t0=$(now)
  port=$(port_of "")
  lock
  if ! pid=$(our_pid) || ! answers "$port"; then
    say "not running: full reset instead"
    exec 9>&-
    cmd_reset
    return
  fi
  chown root:www-data "$PRISTINE"
  chmod 0640 "$PRISTINE"
  # SQLite's online backup API into the live database (as www-data, the
  # database's writer): it takes the write lock, and the server's open
  # connections see the restored content from their next transaction on.
  (cd / && "${WWW_ENV[@]}" "${AS_WWW[@]}" ruby -rsqlite3 -e '
    src = SQLite3::Database.new(ARGV[0], readonly: true)
    dst = SQLite3::Database.new(ARGV[1])
    backup = SQLite3::Backup.new(dst, "main", src, "main")
    deadline = Time.now + 30
    loop do
      rc = backup.step(-1)
      break if rc == SQLite3::Constants::ErrorCode::DONE
      unless [SQLite3::Constants::ErrorCode::BUSY, SQLite3::Constants::ErrorCode::LOCKED].include?(rc) && Time.now < deadline
        abort "sqlite backup failed: #{rc}"
      end
      sleep 0.02
    end
    backup.finish
  ' "$PRISTINE" "$DB") || die "in-place restore failed (try: $0 reset)"
  clean_cache_and_files
  say "restored the pristine database in place (server pid $pid kept) in $(elapsed "$t0") s"
}

cmd_status() {
  local port pid
  port=$(port_of "${1:-}")
  if answers "$port"; then
    pid=$(our_pid || echo "unknown")
    say "answering on http://127.0.0.1:$port (pid $pid)"
    return 0
  fi
  say "not answering on 127.0.0.1:$port"
  return 1
}

# Build the env file and env.json from setup.json; print the export lines.
write_env() {
  [[ -s $SETUP_JSON ]] || die "no $SETUP_JSON: run '$0 start' first"
  python3 - "$SETUP_JSON" "$STATE" "$(port_of "")" "$DB" "$LOG" "$RAILS_LOG" <<'EOF'
import json, re, shlex, sys
setup_path, state, port, db, log, rails_log = sys.argv[1:]
s = json.load(open(setup_path))
def key(name):
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
env = {
    "REDMINE_URL": f"http://127.0.0.1:{port}",
    "REDMINE_PORT": port,
    "REDMINE_API_KEY": s["admin"]["api_key"],
    "REDMINE_ADMIN_LOGIN": s["admin"]["login"],
    "REDMINE_ADMIN_PASSWORD": s["admin"]["password"],
    "REDMINE_ADMIN_ID": s["admin"]["id"],
}
for who in ("agent", "customer"):
    u = s[who]
    W = who.upper()
    env[f"REDMINE_{W}_LOGIN"] = u["login"]
    env[f"REDMINE_{W}_PASSWORD"] = u["password"]
    env[f"REDMINE_{W}_ID"] = u["id"]
    env[f"REDMINE_{W}_KEY"] = u["api_key"]
    env[f"REDMINE_{W}_ROLE_ID"] = u["role_id"]
for login, u in s.get("users", {}).items():
    for name in ("id", "login", "name", "password", "api_key"):
        env[f"REDMINE_USER_{key(login)}_{'KEY' if name == 'api_key' else name.upper()}"] = u[name]
for g in s.get("groups", []):
    env[f"REDMINE_GROUP_{key(g['name'])}_ID"] = g["id"]
for c in s.get("categories", []):
    env[f"REDMINE_CATEGORY_{key(c['name'])}_ID"] = c["id"]
env["REDMINE_PROJECT"] = s["project"]["identifier"]
env["REDMINE_PROJECT_ID"] = s["project"]["id"]
for field, field_id in s["custom_fields"].items():
    env[f"REDMINE_{key(field)}_FIELD_ID"] = field_id
env["REDMINE_SLA_LABELS"] = " ".join(s["labels"])
for kind in ("trackers", "statuses", "priorities", "roles"):
    singular = {"trackers": "TRACKER", "statuses": "STATUS", "priorities": "PRIORITY", "roles": "ROLE"}[kind]
    for item in s[kind]:
        env[f"REDMINE_{singular}_{key(item['name'])}_ID"] = item["id"]
env["REDMINE_CLOSED_STATUS_IDS"] = " ".join(str(x["id"]) for x in s["statuses"] if x["is_closed"])
env["REDMINE_DEFAULT_PRIORITY_ID"] = next((x["id"] for x in s["priorities"] if x["is_default"]), "")
env["REDMINE_DB"] = db
env["REDMINE_STATE_DIR"] = state
env["REDMINE_PUMA_LOG"] = log
env["REDMINE_RAILS_LOG"] = rails_log
env = {k: str(v) for k, v in env.items()}
lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
with open(f"{state}/env.tmp", "w") as f:
    f.write(lines)
with open(f"{state}/env.json.tmp", "w") as f:
    json.dump(env, f, indent=2)
    f.write("\n")
import os
os.replace(f"{state}/env.tmp", f"{state}/env")
os.replace(f"{state}/env.json.tmp", f"{state}/env.json")
sys.stdout.write(lines)
EOF
}

cmd_env() {
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
    restore) cmd_restore "$@" ;;
    status) cmd_status "$@" ;;
    env) cmd_env "$@" ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}

main "$@"
