#!/usr/bin/env bash
# procgate's throughput next to the database's own limits, in one run on a private PostgreSQL
# cluster (fsync on). Each procgate figure is measured right after the pgbench limit it is
# compared with (the machines here drift), each on a fresh database:
#   lone INSERT (pgbench)  → accept: C clients POST /procedure/async PROC_TEST, the only worker
#                            parked on a long call (WORKERS=1), so the jobs are only accepted
#   lifecycle (pgbench)    → end-to-end: WORKERS=C, C clients submit N jobs; until all completed
# Ratios: accept ÷ lone INSERT and end-to-end ÷ lifecycle (1.0 = one job per statement at the
# database's limit; only batching goes past it).
#
# Usage: scripts/bench.sh [--n N] [--c C] [--pgbench-seconds S] [--no-build]
#        (or N=.., C=.., PGBENCH_SECONDS=.. in the environment). Needs cargo, curl, python3, and
#        PostgreSQL's server and client (installed with apt when missing, which needs root).
set -euo pipefail

N=${N:-20000}
C=${C:-16}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}
BUILD=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --pgbench-seconds) PGBENCH_SECONDS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { echo "bench: $*" >&2; }

echo "command: N=$N C=$C PGBENCH_SECONDS=$PGBENCH_SECONDS scripts/bench.sh$([ $BUILD = 0 ] && echo ' --no-build')"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) cores, $(uname -sr);" \
     "procgate $(git describe --always --dirty 2>/dev/null || echo '?')"

# --- binaries ------------------------------------------------------------------------------------
if [ "$BUILD" = 1 ]; then
  log "cargo build --release --examples --bins"
  cargo build --release --examples --bins --quiet
fi
target=${CARGO_TARGET_DIR:-$repo/target}
procgate=$target/release/procgate
loadgen=$target/release/examples/loadgen
[ -x "$procgate" ] && [ -x "$loadgen" ] || { echo "missing $procgate or $loadgen (drop --no-build)" >&2; exit 1; }

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ]; then
  log "installing PostgreSQL (apt-get install -y postgresql)"
  apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
fi
PGBIN=$(pg_bindir)

# The workload's SQL: the peer benchmark's own files when ../shared is next to the repo (so the
# limits are exactly the ones peers.py measures), else the copies kept here.
sqldir=$repo/../shared/peers/pgbench
[ -f "$sqldir/lifecycle.sql" ] || sqldir=$repo/scripts/bench

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- a private cluster, removed on exit ----------------------------------------------------------
work=$(mktemp -d /tmp/procgate-bench-XXXXXX)
chmod 777 "$work"
as_pg=()
[ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
gateway_pid=
stop_gateway() { # SIGTERM (finishes running jobs), then KILL after 20 s
  [ -n "$gateway_pid" ] || return 0
  kill -TERM "$gateway_pid" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while kill -0 "$gateway_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
  kill -KILL "$gateway_pid" 2>/dev/null || true
  wait "$gateway_pid" 2>/dev/null || true
  gateway_pid=
}
cleanup() {
  stop_gateway
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"${as_pg[@]}" "$PGBIN/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
PGPORT=$(free_port)
"${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -w -t 60 -l "$work/postgres.log" -o \
  "-p $PGPORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on \
   -c synchronous_commit=on -c shared_buffers=256MB" start >/dev/null
log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (fsync on)"
DB_URL="postgres://postgres@127.0.0.1:$PGPORT/bench"
psql_do() { PGOPTIONS="-c client_min_messages=warning" psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@" >/dev/null; }

# A fresh `bench` database with the given SQL files loaded.
fresh_db() {
  psql_do -d postgres -c "DROP DATABASE IF EXISTS bench WITH (FORCE)" -c "CREATE DATABASE bench"
  local f
  for f in "$@"; do psql_do -d bench -f "$f"; done
}

pgbench_tps() { # SCRIPT → tps
  fresh_db "$sqldir/schema.sql"
  "$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$PGBENCH_SECONDS" -h 127.0.0.1 -p "$PGPORT" -U postgres \
    -f "$sqldir/$1" bench >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
  awk -F'[= ]+' '/^tps/ {print $2; exit}' "$work/pgbench.out"
}

# --- the gateway ---------------------------------------------------------------------------------
GW_PORT=
start_gateway() { # WORKERS
  GW_PORT=$(free_port)
  DATABASE_URL=$DB_URL PORT=$GW_PORT API_TOKENS=bench:bench-token-123:admin \
    PROCEDURE_ALLOWLIST='PROC_TEST*,peer_bench.*' RUST_LOG=warn NO_COLOR=1 WORKERS=$1 DB_POOL_SIZE=$((C + 8)) \
    SHUTDOWN_GRACE=1s "$procgate" serve >>"$work/gateway.log" 2>&1 &
  gateway_pid=$!
  local deadline=$((SECONDS + 30))
  until curl -sf "http://127.0.0.1:$GW_PORT/ready" >/dev/null 2>&1; do
    if ! kill -0 "$gateway_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the gateway did not become ready; its log:" >&2; tail -20 "$work/gateway.log" >&2; exit 1
    fi
    sleep 0.05
  done
}

run_loadgen() { # MODE [extra args]
  local mode=$1; shift
  "$loadgen" "$mode" --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 --database-url "$DB_URL" \
    -n "$N" -c "$C" "$@"
}

procgate_db() { fresh_db sql/postgres/create_async_jobs_table.sql sql/postgres/create_test_procedures.sql; }

# --- the measurements ----------------------------------------------------------------------------
log "pgbench lone INSERT, 16 clients, ${PGBENCH_SECONDS} s"
insert_tps=$(pgbench_tps lone_insert.sql)
log "  $insert_tps tps"

log "procgate accept: $N jobs from $C clients (workers parked)"
procgate_db
start_gateway 1
accept_json=$(run_loadgen accept --park)
stop_gateway
log "  $accept_json"

log "pgbench lifecycle, 16 clients, ${PGBENCH_SECONDS} s"
cycle_tps=$(pgbench_tps lifecycle.sql)
log "  $cycle_tps tps"

log "procgate end-to-end: $N jobs from $C clients, WORKERS=$C"
procgate_db
start_gateway "$C"
e2e_json=$(run_loadgen e2e)
stop_gateway
log "  $e2e_json"

# Anything the gateway logged at WARN or above (RUST_LOG=warn) during the runs, except the expected
# cancellation of the parked call at the end of the accept run.
grep -E 'WARN|ERROR' "$work/gateway.log" | grep -v 'grace period over' >"$work/warnings" || true
gateway_warnings=$(wc -l <"$work/warnings")
if [ "$gateway_warnings" != 0 ]; then
  log "the gateway logged $gateway_warnings warning/error line(s), e.g.:"
  head -5 "$work/warnings" >&2
fi

# --- the table -----------------------------------------------------------------------------------
python3 - "$N" "$C" "$insert_tps" "$cycle_tps" "$accept_json" "$e2e_json" "$gateway_warnings" <<'EOF'
import json, sys
n, c, ins, cyc = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
acc, e2e = json.loads(sys.argv[5]), json.loads(sys.argv[6])
acc_rate, e2e_rate = n / acc["seconds"], n / e2e["seconds"]
print()
print(f"N={n} C={c}; pgbench: 16 clients, each limit measured right before the figure below it")
print(f"{'':44}{'jobs/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'ratio':>8}")
print(f"{'limit: lone INSERT (pgbench tps)':44}{ins:>9.0f}")
print(f"{'procgate accept (POST /procedure/async)':44}{acc_rate:>9.0f}{acc['p50_ms']:>9.2f}{acc['p99_ms']:>9.2f}"
      f"{acc_rate / ins:>8.2f}")
print(f"{'limit: job lifecycle (pgbench tps)':44}{cyc:>9.0f}")
print(f"{'procgate end-to-end (submit → completed)':44}{e2e_rate:>9.0f}{e2e['p50_ms']:>9.2f}{e2e['p99_ms']:>9.2f}"
      f"{e2e_rate / cyc:>8.2f}")
print(f"  (end-to-end: p50/p99 are of the submits, made while workers run; all {n} accepted after "
      f"{e2e['accept_seconds']:.2f} s, all completed after {e2e['seconds']:.2f} s)")
if acc.get("claimed_during_accept"):
    print(f"  warning: {acc['claimed_during_accept']} jobs were claimed during the accept run")
print(f"  gateway log: {sys.argv[7]} warning/error line(s)")
print(json.dumps({"n": n, "c": c, "insert_tps": ins, "lifecycle_tps": cyc, "accept": acc, "e2e": e2e,
                  "accept_per_insert": acc_rate / ins, "e2e_per_lifecycle": e2e_rate / cyc}))
EOF
