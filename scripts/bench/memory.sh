#!/usr/bin/env bash
# The gateway's memory under issue 13 §5's combination: 1 M rows in the table, 100,000 pending
# jobs and 1,000 SSE subscribers, all at once. Each run, on a private PostgreSQL cluster (fsync
# on), in a fresh `bench` database:
#   1. 900,000 ended jobs (completed 90 %, failed 6 %, cancelled 4 %; PROC_TEST 70 %,
#      PROC_TEST_ERROR 29 %, PROC_TEST_RARE 1 %; owners bench, alice, bob, carol; params and
#      result JSON of about 100 bytes; 8 jobs a second, ending ≥ 3.5 h ago) and then 100,000
#      pending PROC_TEST jobs of `bench` due now (the newest), written straight into async_jobs
#      (INSERT ... SELECT generate_series, the event triggers off; VACUUM ANALYZE after), as
#      scripts/bench/listing.sh loads;
#   2. `procgate serve` (release build, bench-cluster.sh's settings, WORKERS=16) starts on them:
#      it claims and runs the backlog while it is measured;
#   3. examples/ssebench --hold-secs connects SUBSCRIBERS subscribers to GET /events (100 at a
#      time) and keeps them reading; once all are connected, examples/loadgen accept submits
#      SUBMIT more PROC_TEST jobs over HTTP (4 clients);
#   4. the gateway's VmRSS is sampled every 100 ms from its start to the end of the run (python3
#      reading /proc/PID/status), VmHWM read at the end; every 5 s GET /jobs?limit=50, GET /stats
#      and GET /metrics are sent (each must answer 200);
#   5. the run ends when every pending and submitted job has completed (polled every second),
#      or fails at the deadline (DEADLINE seconds from the gateway's start).
# Prints per run: rows in the table, pending at start, subscribers connected, jobs completed, the
# seconds it took, RSS before the subscribers / peak sampled VmRSS / VmHWM (MB, 10^6 bytes);
# then median [min–max] over the runs and whether RSS < 100 MB was met (the highest VmHWM), and
# every run's JSON. Exits non-zero if a run fails (deadline, a job not completed, a probe not 200,
# a subscriber stream ended early).
#
# Usage: scripts/bench/memory.sh [--runs RUNS] [--subscribers S] [--submit N] [--deadline SECS]
#                                [--ended E --pending P] [--no-build]
#        Defaults: RUNS=3 S=1000 N=5000 SECS=600 E=900000 P=100000 (smaller E and P: a quick
#        check of the script, not issue 13's figure). Needs cargo, curl, python3 and PostgreSQL's
#        server and client (installed with apt when missing, which needs root); 127.0.0.1 only.
set -euo pipefail

RUNS=3; S=1000; SUBMIT=5000; DEADLINE=600; BUILD=1
ENDED=900000; PENDING=100000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --subscribers) S=$2; shift 2 ;;
    --submit) SUBMIT=$2; shift 2 ;;
    --deadline) DEADLINE=$2; shift 2 ;;
    --ended) ENDED=$2; shift 2 ;;
    --pending) PENDING=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { echo "memory: $*" >&2; }
. "$repo/scripts/lib/bench-cluster.sh"

bench_header "scripts/bench/memory.sh --runs $RUNS --subscribers $S --submit $SUBMIT --deadline $DEADLINE$(
  [ "$ENDED/$PENDING" = 900000/100000 ] || echo " --ended $ENDED --pending $PENDING")$([ $BUILD = 0 ] && echo ' --no-build')"
bench_binaries ssebench loadgen
ssebench=$target/release/examples/ssebench
loadgen=$target/release/examples/loadgen

# One descriptor per subscriber on each side, plus the pools and files.
want_fds=$((S + 256))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
  ulimit -n "$want_fds" 2>/dev/null || { echo "need $want_fds open files (ulimit -n), have $(ulimit -n)" >&2; exit 1; }
fi

start_cluster
q() { psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c "$1"; }

# The helpers this script starts besides the gateway: stopped on any exit, before the cluster.
sampler_pid=; hold_pid=; loadgen_pid=
stop_helpers() {
  local pid
  for pid in $hold_pid $loadgen_pid $sampler_pid $probes_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in $hold_pid $loadgen_pid $sampler_pid $probes_pid; do wait "$pid" 2>/dev/null || true; done
  hold_pid=; loadgen_pid=; sampler_pid=; probes_pid=
}
trap 'stop_helpers; cleanup_cluster' EXIT

load_jobs() {
  psql_do -d bench -v ended="$ENDED" -v pending="$PENDING" <<'SQL'
ALTER TABLE async_jobs DISABLE TRIGGER USER;
-- Job i is created at now() - (ENDED + PENDING - i) / 8 s: 8 a second, the pending ones newest.
INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, progress, created_at, start_time,
                        end_time, duration, result, error_code, error_msg, attempts, run_at)
SELECT md5(i::text), s.status, p.name,
       jsonb_build_array(jsonb_build_object('name', 'p_input', 'value', 'order ' || i || ' for customer ' || (i % 9973)),
                         jsonb_build_object('name', 'p_output', 'direction', 'OUT')),
       CASE i % 7 WHEN 4 THEN 'alice' WHEN 5 THEN 'bob' WHEN 6 THEN 'carol' ELSE 'bench' END,
       100, t.created, t.created, t.created + interval '2 seconds', '2.00s',
       CASE WHEN s.status = 'completed'
            THEN jsonb_build_object('p_output', 'Procesado: order ' || i || ' for customer ' || (i % 9973)) END,
       CASE WHEN s.status = 'failed' THEN 'P0001' END,
       CASE WHEN s.status = 'failed' THEN 'Error intencional de prueba (order ' || i || ')' END,
       1, t.created
  FROM generate_series(1, :ended) i,
       LATERAL (SELECT now() - ((:ended + :pending - i) / 8) * interval '1 second' AS created) t,
       LATERAL (SELECT CASE WHEN i % 100 < 90 THEN 'completed' WHEN i % 100 < 96 THEN 'failed'
                            ELSE 'cancelled' END AS status) s,
       LATERAL (SELECT CASE WHEN i % 101 = 7 THEN 'PROC_TEST_RARE' WHEN i % 101 < 30 THEN 'PROC_TEST_ERROR'
                            ELSE 'PROC_TEST' END AS name) p;
-- The backlog: PROC_TEST jobs as POST /procedure/async stores them, due now.
INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, created_at, start_time, run_at)
SELECT md5(i::text), 'pending', 'PROC_TEST',
       jsonb_build_array(jsonb_build_object('name', 'p_input', 'value', 'order ' || i || ' for customer ' || (i % 9973)),
                         jsonb_build_object('name', 'p_output', 'direction', 'OUT')),
       'bench', t.created, t.created, now()
  FROM generate_series(:ended + 1, :ended + :pending) i,
       LATERAL (SELECT now() - ((:ended + :pending - i) / 8) * interval '1 second' AS created) t;
ALTER TABLE async_jobs ENABLE TRIGGER USER;
VACUUM (ANALYZE) async_jobs;
SQL
}

# Samples VmRSS of PID every 100 ms until SIGTERM (or the process is gone); then prints the
# samples taken and the largest, in kB as /proc says.
start_sampler() { # PID OUT
  python3 - "$1" >"$2" <<'PY' &
import signal, sys, time
pid, peak, n, stop = sys.argv[1], 0, 0, False
def halt(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, halt)
while not stop:
    try:
        with open(f"/proc/{pid}/status") as f:
            rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
    except (OSError, StopIteration):
        break
    peak, n = max(peak, rss), n + 1
    time.sleep(0.1)
print(n, peak)
PY
  sampler_pid=$!
}

status_kb() { awk -v f="$1:" '$1 == f {print $2}' "/proc/$gateway_pid/status"; }

# GET PATH: "status seconds" (000 when it could not connect or took over 60 s).
probe() {
  curl -s -o /dev/null -m 60 -w '%{http_code} %{time_total}' -H 'Authorization: Bearer bench-token-123' \
    "http://127.0.0.1:$GW_PORT$1" || true
}

# One round of the three probes, at once, in the background (a slow answer does not hold up the
# polling); a round starts only when the previous one is over. Lines: "PATH STATUS SECONDS AT".
probes_pid=
probe_round() { # AT (seconds into the run)
  if [ -n "$probes_pid" ] && kill -0 "$probes_pid" 2>/dev/null; then return; fi
  (
    for path in '/jobs?limit=50' /stats /metrics; do
      echo "$path $(probe "$path") $1" >"$work/probe.$(echo "$path" | tr -c 'a-z' _)" &
    done
    wait
    cat "$work"/probe.* >>"$work/probes"; rm -f "$work"/probe.*
  ) &
  probes_pid=$!
}

results=$work/results.jsonl
failed_runs=0
for run in $(seq "$RUNS"); do
  log "run $run/$RUNS: loading $ENDED ended and $PENDING pending jobs"
  procgate_db
  t=$SECONDS
  load_jobs
  rows=$(q "SELECT count(*) FROM async_jobs")
  pending_at_start=$(q "SELECT count(*) FROM async_jobs WHERE status = 'pending' AND run_at <= now()")
  log "loaded $rows rows ($pending_at_start pending) in $((SECONDS - t)) s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  : >"$work/gateway.log"

  start_ts=$(q "SELECT now()")
  t0=$(date +%s.%N)
  spawn_procgate serve WORKERS=16
  start_sampler "$gateway_pid" "$work/sampler.out"
  wait_ready
  rss_before_kb=$(status_kb VmRSS)

  rm -f "$work/hold.json" "$work/hold.err" "$work/loadgen.json" "$work/loadgen.err"  # not last run's
  "$ssebench" --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 --subscribers "$S" \
    --hold-secs "$DEADLINE" --deadline-secs "$DEADLINE" >"$work/hold.json" 2>"$work/hold.err" &
  hold_pid=$!
  deadline=$((SECONDS + DEADLINE))
  failure=
  until grep -qs 'subscribers connected' "$work/hold.err"; do
    if ! kill -0 "$hold_pid" 2>/dev/null; then failure="ssebench: $(tail -3 "$work/hold.err")"; break; fi
    if [ $SECONDS -ge $deadline ]; then failure="the subscribers did not connect by the deadline"; break; fi
    sleep 0.1
  done
  connected=0
  [ -z "$failure" ] && connected=$S
  rss_connected_kb=$(status_kb VmRSS)
  log "$connected subscribers connected; RSS $((rss_connected_kb / 1000)) MB"

  "$loadgen" accept --url "http://127.0.0.1:$GW_PORT" --token bench-token-123 -n "$SUBMIT" -c 4 \
    --deadline-secs "$DEADLINE" >"$work/loadgen.json" 2>"$work/loadgen.err" &
  loadgen_pid=$!

  # Poll: every second the counts, every 5 s the three probes; until all done or the deadline.
  : >"$work/probes"
  expected=$((pending_at_start + SUBMIT))
  loadgen_status=
  ticks=0
  while [ -z "$failure" ]; do
    if [ -z "$loadgen_status" ] && ! kill -0 "$loadgen_pid" 2>/dev/null; then
      loadgen_status=0; wait "$loadgen_pid" || loadgen_status=$?; loadgen_pid=
      [ "$loadgen_status" = 0 ] || failure="loadgen accept failed: $(tail -3 "$work/loadgen.err")"
    fi
    # (Each count reads a partial index: the terminal one by end_time, the pending one, the
    # running one; the loaded jobs all ended hours before start_ts.)
    IFS='|' read -r completed other_ended open_jobs < <(q "SELECT
        (SELECT count(*) FROM async_jobs WHERE status IN ('completed', 'failed', 'cancelled')
            AND end_time >= '$start_ts' AND status = 'completed'),
        (SELECT count(*) FROM async_jobs WHERE status IN ('completed', 'failed', 'cancelled')
            AND end_time >= '$start_ts' AND status <> 'completed'),
        (SELECT count(*) FROM async_jobs WHERE status = 'pending') +
        (SELECT count(*) FROM async_jobs WHERE status = 'running')")
    if [ "$loadgen_status" = 0 ] && [ "$open_jobs" = 0 ]; then
      [ "$completed" = "$expected" ] && [ "$other_ended" = 0 ] ||
        failure="$completed completed and $other_ended failed/cancelled of $expected"
      break
    fi
    if [ $((ticks % 5)) = 0 ]; then
      probe_round "$ticks"
      log "$(printf '%4d s' $((ticks))): completed $completed/$expected, open $open_jobs," \
          "RSS $(($(status_kb VmRSS) / 1000)) MB"
    fi
    if [ $SECONDS -ge $deadline ]; then
      failure="the deadline ($DEADLINE s) passed with $open_jobs jobs pending or running"
      break
    fi
    ticks=$((ticks + 1))
    sleep 1
  done
  seconds=$(python3 -c "import time; print(round(time.time() - $t0, 1))")
  hwm_kb=$(status_kb VmHWM)
  rss_end_kb=$(status_kb VmRSS)

  # The last probes (at most 60 s), the subscribers' report (ssebench prints it on SIGTERM),
  # then the sampler's.
  [ -z "$probes_pid" ] || { wait "$probes_pid" || true; probes_pid=; }
  kill -TERM "$hold_pid" 2>/dev/null || true
  hold_status=0; wait "$hold_pid" || hold_status=$?; hold_pid=
  [ -n "$failure" ] || [ "$hold_status" = 0 ] || failure="ssebench: $(tail -3 "$work/hold.err")"
  kill -TERM "$sampler_pid" 2>/dev/null || true
  wait "$sampler_pid" || true; sampler_pid=
  [ -z "$loadgen_pid" ] || { kill -TERM "$loadgen_pid" 2>/dev/null || true; wait "$loadgen_pid" || true; loadgen_pid=; }
  stop_gateway
  warnings=$(gateway_warnings)

  read -r samples peak_kb <"$work/sampler.out"
  bad_probes=$(awk '$2 != 200' "$work/probes" | wc -l)
  # (A probe still running at the end was waited for above.)
  [ -n "$failure" ] || [ "$bad_probes" = 0 ] || failure="$bad_probes probe(s) not 200: $(awk '$2 != 200' "$work/probes" | head -3 | tr '\n' ';')"
  python3 - "$work/hold.json" "$work/loadgen.json" "$work/probes" "$failure" >>"$results" <<PY
import json, sys
def load(path):
    try:
        return json.loads(open(path).read().strip() or "null")
    except (OSError, ValueError):
        return None
probes = {}
for line in open(sys.argv[3]):
    path, status, secs, at = line.split()
    p = probes.setdefault(path, {"n": 0, "non_200": 0, "max_s": 0.0, "each": []})
    p["n"] += 1
    p["non_200"] += status != "200"
    p["max_s"] = max(p["max_s"], float(secs))
    p["each"].append(f"{at}s:{status}:{float(secs):.2f}s")  # when (s into the run), status, time taken
print(json.dumps({
    "run": $run, "rows": $rows, "pending_at_start": $pending_at_start, "submitted": $SUBMIT,
    "subscribers_connected": $connected, "completed": ${completed:-0}, "seconds": $seconds,
    "rss_before_subscribers_mb": $rss_before_kb * 1024 / 1e6,
    "rss_subscribers_connected_mb": $rss_connected_kb * 1024 / 1e6,
    "peak_rss_mb": $peak_kb * 1024 / 1e6, "rss_samples": $samples,
    "vmhwm_mb": $hwm_kb * 1024 / 1e6, "rss_at_end_mb": $rss_end_kb * 1024 / 1e6,
    "gateway_warnings": $warnings, "probes": probes,
    "subscribers": load(sys.argv[1]), "loadgen": load(sys.argv[2]),
    "failure": sys.argv[4] or None,
}))
PY
  if [ -n "$failure" ]; then
    log "run $run FAILED: $failure"
    log "the gateway's log, last lines:"; tail -20 "$work/gateway.log" >&2
    failed_runs=$((failed_runs + 1))
  else
    log "run $run done in $seconds s: peak RSS $((peak_kb * 1024 / 1000000)) MB, VmHWM $((hwm_kb * 1024 / 1000000)) MB"
  fi
done

python3 - "$results" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print()
print(f"{len(runs)} run(s); each a fresh database and gateway (WORKERS=16); MB = 10^6 bytes")
print(f"{'run':>3} {'rows':>9} {'pending':>8} {'subs':>5} {'completed':>9} {'seconds':>8}"
      f" {'RSS before':>10} {'peak RSS':>9} {'VmHWM':>7}  events/subscriber  probes")
for r in runs:
    subs = r["subscribers"] or {}
    per = subs.get("events_per_subscriber") or {}
    probes = ", ".join(f"{p} {v['n'] - v['non_200']}/{v['n']} ({v['max_s'] * 1000:.0f} ms max)"
                       for p, v in r["probes"].items())
    print(f"{r['run']:>3} {r['rows']:>9} {r['pending_at_start']:>8} {r['subscribers_connected']:>5} "
          f"{r['completed']:>9} {r['seconds']:>8.1f} {r['rss_before_subscribers_mb']:>10.1f} "
          f"{r['peak_rss_mb']:>9.1f} {r['vmhwm_mb']:>7.1f}  {per.get('median', '-')} [{per.get('min', '-')}–"
          f"{per.get('max', '-')}]  {probes}" + (f"  FAILED: {r['failure']}" if r["failure"] else ""))
def cell(key, fmt="{:.1f}"):
    v = [r[key] for r in runs]
    return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}–{fmt.format(max(v))}]"
print(f"median [min–max]: seconds {cell('seconds')}; RSS before subscribers {cell('rss_before_subscribers_mb')} MB; "
      f"with subscribers connected {cell('rss_subscribers_connected_mb')} MB; peak RSS {cell('peak_rss_mb')} MB; "
      f"VmHWM {cell('vmhwm_mb')} MB")
peak = max(r["vmhwm_mb"] for r in runs)
ok = all(not r["failure"] for r in runs)
print(f"issue 13 §5, RSS < 100 MB with {runs[0]['rows']:,} rows, {runs[0]['pending_at_start']:,} pending and "
      f"{runs[0]['subscribers_connected']:,} subscribers: highest VmHWM {peak:.1f} MB -> {'met' if peak < 100 and ok else 'not met'}"
      + ("" if ok else " (a run failed)"))
print(f"gateway log: {sum(r['gateway_warnings'] for r in runs)} warning/error line(s)")
for r in runs:
    print(json.dumps(r))
PY
[ "$failed_runs" = 0 ]
