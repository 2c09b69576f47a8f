#!/usr/bin/env bash
# procgate's throughput next to the database's own limits (issue 13, "Benchmarks"), on a private
# PostgreSQL cluster (fsync on). Each run measures, in this order, each procgate figure right after
# the pgbench limit it is compared with (the machines here drift):
#   lone INSERT (pgbench) → accept: an API-only gateway (WORKERS=0) on a fresh database; C clients
#                           POST /procedure/async PROC_TEST N times; checked: no job was claimed
#   lifecycle (pgbench)   → drain: a worker-only instance (`procgate work`, WORKERS=C) started on
#                           those N pending jobs; from its spawn until all N are completed
#   lifecycle (pgbench)   → end to end: a fresh database, WORKERS=C, C clients submit N jobs; from
#                           the first submit until all N are completed
# Ratios: accept ÷ lone INSERT, drain and end to end ÷ lifecycle (1.0 = one job per statement at
# the database's limit; only batching goes past it). pgbench runs in its own database, so the
# accepted jobs wait in `bench` while the lifecycle limit is measured. After each figure, before
# the instance is stopped, its peak RSS (VmHWM in /proc/PID/status). RUNS runs; the table gives
# median [min–max] of each figure and whether issue 13's marks are met (information only: the exit
# status says only whether the runs worked). Then scripts/bench/listing.sh (GET /jobs at 1 M rows)
# when it exists, with --runs RUNS --no-build, unless --no-listing.
#
# Usage: scripts/bench.sh [--n N] [--c C] [--pgbench-seconds S] [--runs RUNS] [--no-build]
#                         [--no-listing]
#        (or N=.., C=.., PGBENCH_SECONDS=.., RUNS=.. in the environment). Needs cargo, curl,
#        python3, and PostgreSQL's server and client (installed with apt when missing, needs root).
set -euo pipefail

N=${N:-20000}
C=${C:-16}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}
RUNS=${RUNS:-3}
BUILD=1
LISTING=1
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --c) C=$2; shift 2 ;;
    --pgbench-seconds) PGBENCH_SECONDS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --no-listing) LISTING=0; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$RUNS" -ge 1 ] 2>/dev/null || { echo "--runs must be a positive number" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
log() { echo "bench: $*" >&2; }
. "$repo/scripts/lib/bench-cluster.sh"

bench_header "N=$N C=$C PGBENCH_SECONDS=$PGBENCH_SECONDS RUNS=$RUNS scripts/bench.sh$([ $BUILD = 0 ] && echo ' --no-build')$([ $LISTING = 0 ] && echo ' --no-listing')"
bench_binaries loadgen
loadgen=$target/release/examples/loadgen

# The workload's SQL: the peer benchmark's own files when ../shared is next to the repo (so the
# limits are exactly the ones peers.py measures), else the copies kept here.
sqldir=$repo/../shared/peers/pgbench
[ -f "$sqldir/lifecycle.sql" ] || sqldir=$repo/scripts/bench

start_cluster

TICKS=$(getconf CLK_TCK)

# A database is dropped as soon as its figure is measured, so that autovacuum's work on its dead
# rows does not run during the next figure and join that figure's cluster CPU.
drop_db() { psql_do -d postgres -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

# SCRIPT → a JSON object: tps, and the CPU microseconds one transaction cost the cluster and
# pgbench itself. In a database of its own (`bench` keeps procgate's jobs).
pgbench_tps() {
  fresh_named_db pgbench "$sqldir/schema.sql"
  local pg0 pg1
  pg0=$(pg_cpu_ticks)
  with_cpu "$work/client.cpu" "$PGBIN/pgbench" -n -M prepared -c 16 -j 2 -T "$PGBENCH_SECONDS" -h 127.0.0.1 \
    -p "$PGPORT" -U postgres -f "$sqldir/$1" pgbench >"$work/pgbench.out" 2>&1 || { cat "$work/pgbench.out" >&2; return 1; }
  pg1=$(pg_cpu_ticks)
  drop_db pgbench
  python3 - "$work/pgbench.out" "$((pg1 - pg0))" "$TICKS" "$(cat "$work/client.cpu")" <<'PY'
import json, re, sys
out, pg_ticks, ticks, client_s = open(sys.argv[1]).read(), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
tps = float(re.search(r"^tps = ([0-9.]+)", out, re.M).group(1))
txs = int(re.search(r"^number of transactions actually processed: (\d+)", out, re.M).group(1))
print(json.dumps({"tps": tps, "cpu_us": {"postgres": round(pg_ticks / ticks / txs * 1e6, 1),
                                         "client": round(client_s / txs * 1e6, 1)}}))
PY
}

# MODE [extra args]: loadgen's JSON line, with the CPU microseconds one job cost the cluster, the
# instance ($gateway_pid, while loadgen ran; for drain its whole life, start-up included) and
# loadgen itself.
run_loadgen() {
  local mode=$1 pg0 pg1 gw0 gw1 out
  shift
  pg0=$(pg_cpu_ticks)
  gw0=$([ "$mode" = drain ] && echo 0 || cpu_ticks "$gateway_pid")
  out=$(with_cpu "$work/client.cpu" "$loadgen" "$mode" --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 \
    --database-url "$DB_URL" -n "$N" -c "$C" "$@") \
    || { echo "loadgen $mode failed; the gateway's log:" >&2; tail -20 "$work/gateway.log" >&2; exit 1; }
  pg1=$(pg_cpu_ticks)
  gw1=$(cpu_ticks "$gateway_pid")
  with_field "$out" cpu_us "$(python3 -c 'import json, sys
n, ticks, pg, gw, client = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
print(json.dumps({"gateway": round(gw / ticks / n * 1e6, 1), "postgres": round(pg / ticks / n * 1e6, 1),
                  "client": round(client / n * 1e6, 1)}))' "$N" "$TICKS" "$((pg1 - pg0))" "$((gw1 - gw0))" "$(cat "$work/client.cpu")")"
}

# Appends "key": value (a JSON value) to a one-line JSON object.
with_field() { echo "${1%\}},\"$2\":$3}"; }

# One run: the three figures, each after its limit; prints one JSON line.
run_once() { # RUN
  local run=$1 insert_tps accept drain_tps drain e2e_tps e2e pending
  log "run $run/$RUNS: pgbench lone INSERT, 16 clients, ${PGBENCH_SECONDS} s"
  insert_tps=$(pgbench_tps lone_insert.sql)
  log "  $insert_tps"

  log "run $run/$RUNS: accept: $N jobs from $C clients on an API-only gateway (WORKERS=0)"
  procgate_db
  start_gateway WORKERS=0 DB_POOL_SIZE=$((C + 8))
  accept=$(run_loadgen accept)
  accept=$(with_field "$accept" rss_mb "$(gateway_hwm_mb)")
  stop_gateway
  log "  $accept"
  pending=$(psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c \
    "SELECT count(*) FROM async_jobs WHERE status = 'pending'")
  [ "$pending" = "$N" ] || { echo "expected $N pending jobs after the accept run, found $pending" >&2; exit 1; }

  log "run $run/$RUNS: pgbench lifecycle, 16 clients, ${PGBENCH_SECONDS} s"
  drain_tps=$(pgbench_tps lifecycle.sql)
  log "  $drain_tps"

  log "run $run/$RUNS: drain: procgate work (WORKERS=$C) on the $N pending jobs"
  # Not waited for: loadgen counts from its own start, right after the spawn (start-up included).
  spawn_procgate work WORKERS="$C" DB_POOL_SIZE=$((C + 8))
  drain=$(run_loadgen drain)
  drain=$(with_field "$drain" rss_mb "$(gateway_hwm_mb)")
  stop_gateway
  drop_db bench
  log "  $drain"

  log "run $run/$RUNS: pgbench lifecycle, 16 clients, ${PGBENCH_SECONDS} s"
  e2e_tps=$(pgbench_tps lifecycle.sql)
  log "  $e2e_tps"

  log "run $run/$RUNS: end to end: $N jobs from $C clients, WORKERS=$C"
  procgate_db
  start_gateway WORKERS="$C" DB_POOL_SIZE=$((C + 8))
  e2e=$(run_loadgen e2e)
  e2e=$(with_field "$e2e" rss_mb "$(gateway_hwm_mb)")
  stop_gateway
  drop_db bench
  log "  $e2e"

  echo "{\"run\":$run,\"insert\":$insert_tps,\"drain_lifecycle\":$drain_tps,\"e2e_lifecycle\":$e2e_tps,\"accept\":$accept,\"drain\":$drain,\"e2e\":$e2e}"
}

: >"$work/runs.jsonl"
for run in $(seq "$RUNS"); do
  run_once "$run" >>"$work/runs.jsonl"
done

# Anything the gateway logged at WARN or above (RUST_LOG=warn) during the runs.
gateway_warnings=$(gateway_warnings)

# --- the table -----------------------------------------------------------------------------------
python3 - "$N" "$C" "$work/runs.jsonl" "$gateway_warnings" <<'EOF'
import json, os, statistics, sys
n, c, warnings = int(sys.argv[1]), int(sys.argv[2]), sys.argv[4]
runs = [json.loads(line) for line in open(sys.argv[3])]

def figure(key, limit_key):
    rows = []
    for r in runs:
        f = r[key]
        rate = n / f["seconds"]
        limit = r[limit_key]["tps"]
        rows.append({"limit": limit, "rate": rate, "ratio": rate / limit, "cpu": f["cpu_us"],
                     "limit_cpu": r[limit_key]["cpu_us"],
                     "p99": f.get("p99_ms"), "rss": f["rss_mb"], "claimed": f.get("claimed_during_accept")})
    return rows

figures = [("accept", "lone INSERT", figure("accept", "insert")),
           ("drain", "lifecycle", figure("drain", "drain_lifecycle")),
           ("end to end", "lifecycle", figure("e2e", "e2e_lifecycle"))]

def spread(values, fmt):
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}–{max(values):{fmt}}]"

print()
print(f"N={n} C={c}, {len(runs)} run(s); each limit is pgbench (16 clients) right before the figure; "
      f"median [min–max] over the runs")
print(f"{'figure':12}{'limit (pgbench tps)':>28}{'jobs/s':>24}{'ratio':>22}{'p99 ms':>22}{'RSS MB':>8}")
for name, limit, rows in figures:
    p99 = spread([r["p99"] for r in rows], ".2f") if rows[0]["p99"] is not None else "-"
    print(f"{name:12}{limit + ' ' + spread([r['limit'] for r in rows], '.0f'):>28}"
          f"{spread([r['rate'] for r in rows], '.0f'):>24}{spread([r['ratio'] for r in rows], '.2f'):>22}"
          f"{p99:>22}{max(r['rss'] for r in rows):>8.1f}")
print("  p99: of one POST /procedure/async (for end to end: submits made while the workers run)")
print("  RSS: the highest VmHWM of the figure's instance over the runs")
print("  per run (ratio, jobs/s):")
for i, r in enumerate(runs):
    print(f"    run {r['run']}: " + "; ".join(f"{name} {rows[i]['ratio']:.2f} ({rows[i]['rate']:.0f})"
                                          for name, _, rows in figures))

# Where the CPU goes: what one job (one pgbench transaction) cost each process, and the rate the
# machine's cores would allow if they did nothing else.
cores = os.cpu_count()
print(f"  CPU per job, µs (median over the runs; user + system): the instance, PostgreSQL, the load generator;")
print(f"  'ceiling': {cores} cores ÷ their sum, the rate at which this machine's CPU is all used")
print(f"    {'':28}{'instance':>10}{'postgres':>10}{'client':>10}{'sum':>8}{'ceiling/s':>11}")
def cpu_line(label, cpus):
    parts = {k: statistics.median(c.get(k, 0) for c in cpus) for k in ("gateway", "postgres", "client")}
    total = sum(parts.values())
    gw = f"{parts['gateway']:.0f}" if any("gateway" in c for c in cpus) else "-"
    print(f"    {label:28}{gw:>10}{parts['postgres']:>10.0f}{parts['client']:>10.0f}{total:>8.0f}{cores * 1e6 / total:>11.0f}")
for name, limit, rows in figures:
    cpu_line(f"{limit} (pgbench, per tx)", [r["limit_cpu"] for r in rows])
    cpu_line(name, [r["cpu"] for r in rows])

claimed = sum(r["claimed"] or 0 for r in figures[0][2])
if claimed:
    print(f"  warning: {claimed} job(s) were claimed during the accept runs (API-only: expected 0)")

# Issue 13's marks, on the medians; information only.
def med(rows, k):
    return statistics.median(r[k] for r in rows)
acc, drain, e2e = (rows for _, _, rows in figures)
marks = [
    ("accept ≥ 1.0× lone INSERT, submit p99 < 10 ms",
     med(acc, "ratio") >= 1.0 and med(acc, "p99") < 10,
     f"{med(acc, 'ratio'):.2f}×, p99 {med(acc, 'p99'):.2f} ms"),
    ("drain ≥ 2.5× lifecycle", med(drain, "ratio") >= 2.5, f"{med(drain, 'ratio'):.2f}×"),
    ("end to end ≥ 1.5× lifecycle", med(e2e, "ratio") >= 1.5, f"{med(e2e, 'ratio'):.2f}×"),
]
for name, _, rows in figures:
    worst, m = min(r["ratio"] for r in rows), med(rows, "ratio")
    marks.append((f"{name}: worst ≥ 0.8× median", worst >= 0.8 * m, f"{worst:.2f} vs {m:.2f} ({worst / m:.2f})"))
rss = max(r["rss"] for _, _, rows in figures for r in rows)
marks.append(("RSS < 100 MB", rss < 100, f"highest {rss:.1f} MB"))
print("issue 13's marks (medians of the runs):")
for name, ok, value in marks:
    print(f"  {name:48}{'met' if ok else 'not met':>8}   {value}")
print(f"gateway log: {warnings} warning/error line(s)")
for r in runs:
    print(json.dumps(r))
EOF

# --- listing latencies at 1 M rows (another script, its own cluster) -----------------------------
if [ "$LISTING" = 1 ]; then
  if [ -x "$repo/scripts/bench/listing.sh" ]; then
    cleanup_cluster # this cluster is done; the listing starts its own
    echo
    log "scripts/bench/listing.sh --runs $RUNS --no-build"
    "$repo/scripts/bench/listing.sh" --runs "$RUNS" --no-build
  else
    log "no scripts/bench/listing.sh: listing latencies not measured"
  fi
fi
