#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for Hygie's test suite.
#
#   scripts/pg.sh start [--fresh]   start (initdb first if needed); prints the URL on stdout
#   scripts/pg.sh stop              stop it (no-op when not running)
#   scripts/pg.sh url               print the URL of the running cluster
#   scripts/pg.sh env               print `export HYGIE_TEST_POSTGRES_URL=…` (for eval)
#   scripts/pg.sh status            exit 0 when running
#   scripts/pg.sh destroy           stop it and delete its data directory
#
# The cluster listens on 127.0.0.1 on a free port (kept between runs when still free) and on a
# unix socket in its own directory, with trust authentication (local tests only) and fsync on:
# the suite checks durability after kill -9. initdb refuses to run as root, so as root the
# cluster belongs to the `postgres` OS user (created when missing). The data lives under
# ./var/pg-test, or under /tmp when the `postgres` user cannot write there; HYGIE_PG_DIR overrides.
# Nothing here downloads anything: PostgreSQL itself is installed by scripts/test.sh.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

say() { printf 'pg.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

find_pg_bin() {
  if [[ -n "${HYGIE_PG_BIN:-}" ]]; then
    printf '%s\n' "$HYGIE_PG_BIN"
    return
  fi
  local candidate
  candidate=$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null \
    | sort -V | tail -n 1)
  if [[ -n "$candidate" ]]; then
    dirname "$candidate"
  elif command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"
  fi
}

PG_BIN=$(find_pg_bin)
[[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]] \
  || die "PostgreSQL server binaries not found (apt-get install -y postgresql, or set HYGIE_PG_BIN)"

# Run a command as the cluster's owner.
as_owner() {
  if (( IS_ROOT )); then
    # From /: the checkout may not be readable by the postgres user.
    (cd / && runuser -u postgres -- "$@")
  else
    "$@"
  fi
}

ensure_postgres_user() {
  (( IS_ROOT )) || return 0
  if ! id postgres >/dev/null 2>&1; then
    say "creating the postgres OS user"
    useradd --system --user-group --no-create-home --home-dir /var/lib/postgresql \
      --shell /bin/bash postgres
  fi
}

choose_base_dir() {
  if [[ -n "${HYGIE_PG_DIR:-}" ]]; then
    printf '%s\n' "$HYGIE_PG_DIR"
    return
  fi
  local preferred="$REPO_ROOT/var/pg-test"
  if (( ! IS_ROOT )); then
    printf '%s\n' "$preferred"
    return
  fi
  mkdir -p "$preferred"
  chown postgres: "$preferred"
  if (cd / && runuser -u postgres -- test -w "$preferred") 2>/dev/null; then
    printf '%s\n' "$preferred"
  else
    # The repository is not reachable by the postgres user (e.g. a clone under /root).
    rmdir "$preferred" 2>/dev/null || true
    printf '/tmp/hygie-pg-test-%s\n' "$(printf '%s' "$REPO_ROOT" | cksum | cut -d' ' -f1)"
  fi
}

ensure_postgres_user
BASE=$(choose_base_dir)
DATA="$BASE/data"
LOG="$BASE/postgres.log"
PORT_FILE="$BASE/port"
SOCK_DIR="$BASE/run"

is_running() {
  [[ -f "$DATA/PG_VERSION" ]] && as_owner "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

port_is_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

url() {
  [[ -f "$PORT_FILE" ]] || die "no cluster in $BASE (run: scripts/pg.sh start)"
  printf 'postgresql://postgres@127.0.0.1:%s/postgres\n' "$(cat "$PORT_FILE")"
}

init_cluster() {
  mkdir -p "$BASE"
  (( IS_ROOT )) && chown postgres: "$BASE"
  local locale_args=(--locale=C)
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then
    # Byte-order collation (fast, deterministic) with Unicode-aware lower()/upper().
    locale_args=(--lc-collate=C --lc-ctype=C.UTF-8 --lc-messages=C --lc-monetary=C
                 --lc-numeric=C --lc-time=C)
  fi
  say "initdb in $DATA"
  as_owner "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
    "${locale_args[@]}" --no-sync >"$BASE/initdb.log" 2>&1 \
    || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
  printf "\ninclude_if_exists = 'hygie_test.conf'\n" | as_owner tee -a "$DATA/postgresql.conf" >/dev/null
}

write_config() {
  local port=$1 sock_dirs=""
  mkdir -p "$SOCK_DIR"
  (( IS_ROOT )) && chown postgres: "$SOCK_DIR"
  # A unix socket path is limited to ~107 bytes; skip the socket for very deep checkouts.
  if (( ${#SOCK_DIR} < 90 )); then
    sock_dirs=$SOCK_DIR
  fi
  as_owner tee "$DATA/hygie_test.conf" >/dev/null <<CONF
# Written by scripts/pg.sh on every start: local test cluster only.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock_dirs'
max_connections = 200
shared_buffers = 128MB
# Durability is under test: keep every safety setting at its production value.
fsync = on
synchronous_commit = on
full_page_writes = on
log_min_messages = warning
log_line_prefix = '%m [%p] %d '
CONF
}

start() {
  local fresh=0
  [[ "${1:-}" == "--fresh" ]] && fresh=1
  if (( fresh )); then
    stop
    rm -rf "$DATA"
  fi
  if is_running; then
    url
    return
  fi
  [[ -f "$DATA/PG_VERSION" ]] || init_cluster
  local port=""
  [[ -f "$PORT_FILE" ]] && port=$(cat "$PORT_FILE")
  if [[ -z "$port" ]] || ! port_is_free "$port"; then
    port=$(free_port)
  fi
  printf '%s\n' "$port" >"$PORT_FILE"
  write_config "$port"
  : >"$LOG"
  (( IS_ROOT )) && chown postgres: "$LOG"
  if ! as_owner "$PG_BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null; then
    tail -n 30 "$LOG" >&2 || true
    die "PostgreSQL did not start"
  fi
  url
}

stop() {
  if is_running; then
    as_owner "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
  fi
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) stop ;;
  url) is_running || die "not running"; url ;;
  env) is_running || die "not running"; printf 'export HYGIE_TEST_POSTGRES_URL=%q\n' "$(url)" ;;
  status) is_running ;;
  destroy) stop; rm -rf "$BASE" ;;
  *) die "usage: scripts/pg.sh start [--fresh] | stop | url | env | status | destroy" ;;
esac
