#!/usr/bin/env bash
# Job events with many SSE subscribers on one gateway (issues 10 and 13): the gateway's memory
# and the delivery latency. Each run, on a private PostgreSQL cluster (fsync on), a fresh
# database and a fresh gateway (release build, default settings): examples/ssebench connects S
# subscribers (GET /events, or with --per-job one job's /jobs/{id}/events each), then J PROC_TEST
# jobs are submitted at R jobs/s; every subscriber must see each job's accepted, started and
# completed exactly once. The gateway's VmRSS is read before the subscribers, with all of them
# connected and idle, sampled every 50 ms during the run (and its VmHWM), and after they closed.
# Prints the median of RUNS runs with min and max, then every run's JSON.
#
# Usage: scripts/bench/sse.sh [--subscribers S] [--jobs J] [--rate R] [--runs RUNS] [--per-job]
#                             [--no-build]
#        Defaults: S=1000 J=200 R=50 RUNS=3. Needs cargo, curl, python3 and PostgreSQL's server
#        (installed with apt when missing, which needs root). Only 127.0.0.1 is used; each run
#        is bounded by ssebench's deadline (300 s).
set -euo pipefail

S=1000; J=200; R=50; RUNS=3; BUILD=1; MODE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --subscribers) S=$2; shift 2 ;;
    --jobs) J=$2; shift 2 ;;
    --rate) R=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --per-job) MODE=(--per-job); shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { echo "sse: $*" >&2; }
. "$repo/scripts/lib/bench-cluster.sh"

bench_header "scripts/bench/sse.sh --subscribers $S --jobs $J --rate $R --runs $RUNS ${MODE[*]}$([ $BUILD = 0 ] && echo ' --no-build')"
bench_binaries ssebench
ssebench=$target/release/examples/ssebench

# One descriptor per subscriber on each side, plus the pools and files.
want_fds=$((S + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
  ulimit -n "$want_fds" 2>/dev/null || { echo "need $want_fds open files (ulimit -n), have $(ulimit -n)" >&2; exit 1; }
fi

start_cluster
results=$work/results.jsonl
for run in $(seq "$RUNS"); do
  log "run $run/$RUNS: $S subscribers, $J jobs at $R/s ${MODE[*]}"
  procgate_db
  start_gateway
  status=0
  "$ssebench" --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 --gateway-pid "$gateway_pid" \
    --subscribers "$S" --jobs "$J" --rate "$R" "${MODE[@]}" >"$work/run.json" || status=$?
  stop_gateway
  cat "$work/run.json" >>"$results"
  if [ "$status" != 0 ]; then
    log "run $run failed (ssebench exit $status); its output: $(cat "$work/run.json")"
    log "the gateway's log, last lines:"; tail -20 "$work/gateway.log" >&2
    exit 1
  fi
done
warnings=$(gateway_warnings)

python3 - "$results" "$warnings" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
mib = lambda kib: kib / 1024
def stage(run, name):
    return next(s["memory"] for s in run["gateway_memory"]["samples"] if s["stage"] == name)
rows = [
    ("RSS before subscribers (MiB)", lambda r: mib(stage(r, "before")["rss_kib"])),
    ("RSS, subscribers connected, idle (MiB)", lambda r: mib(stage(r, "connected")["rss_kib"])),
    ("RSS peak, sampled every 50 ms (MiB)", lambda r: mib(r["gateway_memory"]["peak_sampled_rss_kib"])),
    ("VmHWM at the end of the run (MiB)", lambda r: mib(stage(r, "peak_hwm")["hwm_kib"])),
    ("RSS 1 s after the subscribers left (MiB)", lambda r: mib(stage(r, "closed")["rss_kib"])),
    ("gateway CPU per delivered event (µs)", lambda r: r["gateway_cpu_seconds"] / r["events_delivered"] * 1e6),
    ("ssebench's own CPU during the run (s)", lambda r: r["client_cpu_seconds"]),
    ("latency p50 (ms)", lambda r: r["latency_ms"]["p50"]),
    ("latency p90 (ms)", lambda r: r["latency_ms"]["p90"]),
    ("latency p99 (ms)", lambda r: r["latency_ms"]["p99"]),
    ("latency max (ms)", lambda r: r["latency_ms"]["max"]),
] + [(f"  {t} {p} (ms)", (lambda t, p: lambda r: r["latency_ms_by_type"][t].get(p))(t, p))
     for t in ("accepted", "started", "completed") for p in ("p50", "p99")]
first = runs[0]
print()
print(f"{first['subscribers']} subscribers ({first['mode']}), {first['jobs']} jobs at {first['rate']:g}/s; "
      f"{len(runs)} run(s), each on a fresh gateway")
print(f"{'':44}{'median':>9}{'min':>9}{'max':>9}")
for name, get in rows:
    values = [get(r) for r in runs]
    if None in values:  # no live event of that type (--per-job: accepted comes from the history)
        print(f"{name:44}{'-':>9}{'-':>9}{'-':>9}")
        continue
    print(f"{name:44}{statistics.median(values):>9.1f}{min(values):>9.1f}{max(values):>9.1f}")
total = lambda k: sum(r[k] for r in runs)
print(f"events delivered {total('events_delivered')}: {total('events_expected')} required (accepted, started, "
      f"completed) and {total('progress_events')} progress; missing {total('missing')} (progress "
      f"{total('progress_missing')}), repeated {total('repeated')}, unexpected {total('unexpected')}")
peak = max(stage(r, "peak_hwm")["hwm_kib"] for r in runs) * 1024
print(f"issue 13 bound, RSS < 100 MB with {first['subscribers']} subscribers: highest VmHWM "
      f"{peak / 1e6:.1f} MB -> {'met' if peak < 100e6 else 'NOT met'}")
print(f"gateway log: {sys.argv[2]} warning/error line(s)")
for r in runs:
    print(json.dumps(r))
PY
