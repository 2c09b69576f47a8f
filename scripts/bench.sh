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
. "$repo/scripts/lib/bench-cluster.sh"

bench_header "N=$N C=$C PGBENCH_SECONDS=$PGBENCH_SECONDS scripts/bench.sh$([ $BUILD = 0 ] && echo ' --no-build')"
bench_binaries loadgen
loadgen=$target/release/examples/loadgen

# The workload's SQL: the peer benchmark's own files when ../shared is next to the repo (so the
# limits are exactly the ones peers.py measures), else the copies kept here.
sqldir=$repo/../shared/peers/pgbench
[ -f "$sqldir/lifecycle.sql" ] || sqldir=$repo/scripts/bench

start_cluster

pgbench_tps() { # SCRIPT → tps
  fresh_db "$sqldir/schema.sql"
  "$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$PGBENCH_SECONDS" -h 127.0.0.1 -p "$PGPORT" -U postgres \
    -f "$sqldir/$1" bench >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
  awk -F'[= ]+' '/^tps/ {print $2; exit}' "$work/pgbench.out"
}

run_loadgen() { # MODE [extra args]
  local mode=$1; shift
  "$loadgen" "$mode" --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 --database-url "$DB_URL" \
    -n "$N" -c "$C" "$@"
}

# --- the measurements ----------------------------------------------------------------------------
log "pgbench lone INSERT, 16 clients, ${PGBENCH_SECONDS} s"
insert_tps=$(pgbench_tps lone_insert.sql)
log "  $insert_tps tps"

log "procgate accept: $N jobs from $C clients (workers parked)"
procgate_db
start_gateway WORKERS=1 DB_POOL_SIZE=$((C + 8))
accept_json=$(run_loadgen accept --park)
stop_gateway
log "  $accept_json"

log "pgbench lifecycle, 16 clients, ${PGBENCH_SECONDS} s"
cycle_tps=$(pgbench_tps lifecycle.sql)
log "  $cycle_tps tps"

log "procgate end-to-end: $N jobs from $C clients, WORKERS=$C"
procgate_db
start_gateway WORKERS="$C" DB_POOL_SIZE=$((C + 8))
e2e_json=$(run_loadgen e2e)
stop_gateway
log "  $e2e_json"

# Anything the gateway logged at WARN or above (RUST_LOG=warn) during the runs, except the expected
# cancellation of the parked call at the end of the accept run.
gateway_warnings=$(gateway_warnings 'grace period over')

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
