#!/usr/bin/env bash
# Job listings at a million rows (issue 13 §4): GET /jobs latency by filter shape and page. On a
# private PostgreSQL cluster (fsync on), ROWS jobs are written straight into async_jobs (INSERT ...
# SELECT generate_series; the event triggers off while loading, then VACUUM ANALYZE) with
#   6 states:     completed 90 %, failed 4 %, cancelled 3 %, running 1 % (a live lease: heartbeats
#                 spread over an hour a year ahead, so the rescuer leaves them alone), pending
#                 delayed 1 % (run_at in a day) and pending awaiting a retry 1 % (attempts 1, run_at
#                 in an hour): nothing is due, so the gateway changes nothing while it is measured;
#   3 procedures: PROC_TEST 70 %, PROC_TEST_ERROR 29 %, PROC_TEST_RARE 1 %;
#   2 owners:     bench (an admin, 99 %) and alice (1 %); 4 clients (tokens): bench, ops (admins),
#                 alice and bob (no job);
#   creation:     8 jobs per instant (a batch), an instant a second, newest now.
# (State, procedure and owner are drawn from i mod 100, 101 and 103: independent of each other.)
# Then the gateway (WORKERS=1) is started RUNS times; each run sends REQUESTS requests per shape
# one after the other on one keep-alive connection (python3 http.client) after 10 unmeasured ones
# (fewer once a shape has taken 15 s: a slow build), and records p50 and p99 of each shape. A cursor shape follows `next` from where it starts (a
# new page each request); an offset shape steps its offset. Prints, per shape, the median, min and
# max over the runs of p50 and p99 (ms) and the rows of the first answer (--runs 0: none), then with --explain
# `EXPLAIN (ANALYZE, BUFFERS)` of the page and count statements of the listed shapes, as sent
# (each planned with its values).
#
# Usage: scripts/bench/listing.sh [--rows ROWS] [--requests REQUESTS] [--runs RUNS] [--explain]
#                                 [--procgate BIN --schema FILE] [--no-build]
#        Defaults: ROWS=1000000 REQUESTS=200 RUNS=3. --procgate/--schema measure another build
#        (e.g. main's binary and its sql/postgres/create_async_jobs_table.sql): a build without
#        cursors shows its cursor shapes as n/a. Needs cargo, curl, python3 and PostgreSQL's
#        server and client (installed with apt when missing, which needs root); 127.0.0.1 only.
set -euo pipefail

ROWS=1000000; REQUESTS=200; RUNS=3; BUILD=1; EXPLAIN=0; BIN=; SCHEMA=
while [ $# -gt 0 ]; do
  case "$1" in
    --rows) ROWS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --explain) EXPLAIN=1; shift ;;
    --procgate) BIN=$2; shift 2 ;;
    --schema) SCHEMA=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "$0")/../.." && pwd)
log() { echo "listing: $*" >&2; }
. "$repo/scripts/lib/bench-cluster.sh"

bench_header "scripts/bench/listing.sh --rows $ROWS --requests $REQUESTS --runs $RUNS$([ $EXPLAIN = 1 ] && echo ' --explain')$([ -n "$BIN" ] && echo " --procgate $BIN --schema $SCHEMA")$([ $BUILD = 0 ] && echo ' --no-build')"
if [ -n "$BIN" ]; then
  procgate=$BIN
  [ -x "$procgate" ] && [ -f "$SCHEMA" ] || { echo "--procgate needs an executable and --schema a file" >&2; exit 2; }
else
  bench_binaries
  SCHEMA=$repo/sql/postgres/create_async_jobs_table.sql
fi

queries=$(dirname "$SCHEMA")/queries  # the statement files of the build measured (--explain)

start_cluster
fresh_db "$SCHEMA" "$repo/sql/postgres/create_test_procedures.sql"
log "loading $ROWS jobs"
started=$SECONDS
psql_do -d bench -v rows="$ROWS" <<'SQL'
ALTER TABLE async_jobs DISABLE TRIGGER USER;
INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, progress, created_at, start_time,
                        end_time, duration, result, error_code, error_msg, attempts, run_at, instance_id,
                        heartbeat_at)
SELECT md5(i::text), s.status,
       CASE WHEN i % 101 = 7 THEN 'PROC_TEST_RARE' WHEN i % 101 < 30 THEN 'PROC_TEST_ERROR' ELSE 'PROC_TEST' END,
       jsonb_build_object('p_input', 'job ' || i),
       CASE WHEN i % 103 = 42 THEN 'alice' ELSE 'bench' END,
       CASE s.status WHEN 'running' THEN 10 WHEN 'pending' THEN 0 ELSE 100 END,
       t.created, t.created,
       CASE WHEN s.status IN ('completed', 'failed', 'cancelled') THEN t.created + interval '2 seconds' END,
       CASE WHEN s.status IN ('completed', 'failed', 'cancelled') THEN '2.00s' END,
       CASE WHEN s.status = 'completed' THEN '{"p_output": "done"}'::jsonb END,
       CASE WHEN s.status = 'failed' THEN 'P0001' END,
       CASE WHEN s.status = 'failed' THEN 'boom' END,
       CASE WHEN s.retry THEN 1 WHEN s.status = 'pending' THEN 0 ELSE 1 END,
       CASE WHEN s.retry THEN now() + interval '1 hour' WHEN s.status = 'pending' THEN now() + interval '1 day'
            ELSE t.created END,
       CASE WHEN s.status = 'running' THEN 'bench-elsewhere' END,
       CASE WHEN s.status = 'running' THEN now() + interval '1 year' + random() * interval '1 hour' END
  FROM generate_series(1, :rows) i,
       LATERAL (SELECT now() - ((:rows - i) / 8) * interval '1 second' AS created) t,
       LATERAL (SELECT CASE WHEN i % 100 < 90 THEN 'completed' WHEN i % 100 < 94 THEN 'failed'
                            WHEN i % 100 < 97 THEN 'cancelled' WHEN i % 100 = 97 THEN 'running'
                            ELSE 'pending' END AS status,
                       i % 100 = 99 AS retry) s;
ALTER TABLE async_jobs ENABLE TRIGGER USER;
VACUUM (ANALYZE) async_jobs;
SQL
log "loaded in $((SECONDS - started)) s ($(psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench \
  -c "SELECT pg_size_pretty(pg_total_relation_size('async_jobs'))") with its indexes)"

# Where the cursor shapes start: the position half-way down the whole list, and half-way down the
# failed jobs (the bench builds the cursor a page would hand out there: base64url of
# "<created_at µs>.<job_id>").
read -r mid_all mid_failed < <(psql -X -At -F ' ' -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c "
  SELECT (SELECT (extract(epoch FROM created_at) * 1000000)::int8 || '.' || job_id FROM async_jobs
           ORDER BY created_at DESC, job_id OFFSET $ROWS / 2 LIMIT 1),
         (SELECT (extract(epoch FROM created_at) * 1000000)::int8 || '.' || job_id FROM async_jobs
           WHERE status = 'failed' ORDER BY created_at DESC, job_id OFFSET $ROWS / 50 LIMIT 1)")
window_from=$(psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c \
  "SELECT to_char((now() - interval '30 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
window_to=$(psql -X -At -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -c \
  "SELECT to_char((now() - interval '29 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")

results=$work/results.jsonl
for run in $(seq "$RUNS"); do
  log "run $run/$RUNS: $REQUESTS requests per shape; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  start_gateway WORKERS=1 DB_POOL_SIZE=8 \
    API_TOKENS=bench:bench-token-123:admin,ops:ops-token-1234:admin,alice:alice-token-123,bob:bob-token-1234
  python3 - "$GW_PORT" "$REQUESTS" "$mid_all" "$mid_failed" "$window_from" "$window_to" "$ROWS" >>"$results" <<'PY'
import base64, http.client, json, statistics, sys, time
port, requests, mid_all, mid_failed, window_from, window_to, rows = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
cursor = lambda raw: base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
BUDGET_MS = 15_000  # per shape
ADMIN, ALICE, BOB = "bench-token-123", "alice-token-123", "bob-token-1234"
# (name, token, query, how it moves from request to request: None, "cursor" or an offset step)
shapes = [
    ("first page, no filter (admin)", ADMIN, "limit=50", None),
    ("owner=alice (admin; 1 %)", ADMIN, "owner=alice", None),
    ("alice's own (non-admin; 1 %)", ALICE, "", None),
    ("bob's own (non-admin; none)", BOB, "", None),
    ("status=failed (4 %)", ADMIN, "status=failed", None),
    ("status=running (1 %)", ADMIN, "status=running", None),
    ("status=pending (2 %)", ADMIN, "status=pending", None),
    ("status=failed,cancelled (7 %)", ADMIN, "status=failed,cancelled", None),
    ("procedure=PROC_TEST (70 %)", ADMIN, "procedure=PROC_TEST", None),
    ("procedure=proc_test_rare (1 %)", ADMIN, "procedure=proc_test_rare", None),
    ("owner=alice&status=failed", ADMIN, "owner=alice&status=failed", None),
    ("status=failed&procedure=PROC_TEST_ERROR", ADMIN, "status=failed&procedure=PROC_TEST_ERROR", None),
    ("status=running&procedure=PROC_TEST_RARE", ADMIN, "status=running&procedure=PROC_TEST_RARE", None),
    ("alice: status=cancelled&procedure=PROC_TEST_RARE", ALICE, "status=cancelled&procedure=PROC_TEST_RARE", None),
    ("a one-hour created_at window", ADMIN, f"created_after={window_from}&created_before={window_to}", None),
    (f"cursor pages from half-way ({int(rows) // 2:,} deep)", ADMIN, f"limit=50&cursor={cursor(mid_all)}", "cursor"),
    ("status=failed cursor pages from half-way", ADMIN, f"status=failed&limit=50&cursor={cursor(mid_failed)}", "cursor"),
    ("alice: cursor pages from her first", ALICE, "limit=50", "cursor"),
    ("offset pages 0..10,000 (step 50)", ADMIN, "limit=50", 50),
    ("offset=10000", ADMIN, "limit=50&offset=10000", None),
    ("offset=500000", ADMIN, "limit=50&offset=500000", None),
]
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
def get(token, query):
    start = time.perf_counter()
    conn.request("GET", "/jobs?" + query, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    body = resp.read()
    return (time.perf_counter() - start) * 1000, resp.status, body
out = {"shapes": []}
for name, token, query, moves in shapes:
    base, times, status, first, offset, q = query, [], None, None, 0, query
    spent = 0.0
    for n in range(requests + 10):
        if spent > BUDGET_MS:  # a slow build: fewer requests, counted in `n`
            break
        ms, status, body = get(token, q)
        if status != 200:
            break
        page = json.loads(body)
        first = first or page
        spent += ms
        if n >= 10:
            times.append(ms)
        if moves == "cursor":
            if "next" not in page:  # a build without cursors
                times = None
                break
            nxt = page["next"] or cursor(mid_all)  # the end: start again
            q = base.split("&cursor=")[0] + "&cursor=" + nxt
        elif moves:
            offset = (offset + moves) % 10_001
            q = f"{base}&offset={offset}"
    row = {"shape": name, "status": status}
    if status == 200 and times:
        times.sort()
        row.update(n=len(times), p50=statistics.median(times), p99=times[min(len(times) - 1, int(len(times) * 0.99))],
                   rows=len(first["jobs"]), total=first["total"], exact=first.get("total_exact"))
    elif status == 200:
        row["na"] = "no cursor in this build"
    else:
        row["error"] = json.loads(body).get("error", {}).get("code")
    out["shapes"].append(row)
print(json.dumps(out))
PY
  stop_gateway
  log "run $run/$RUNS done; load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared: other work inflates p99)"
done
warnings=$(gateway_warnings)

[ "$RUNS" -gt 0 ] && python3 - "$results" "$warnings" "$ROWS" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
print()
print(f"GET /jobs with {int(sys.argv[3]):,} jobs: p50 and p99 (ms) per shape, median [min-max] of {len(runs)} run(s)")
print(f"{'shape':50}{'p50':>22}{'p99':>22}  rows  total")
worst = 0
for i, first in enumerate(runs[0]["shapes"]):
    rows = [r["shapes"][i] for r in runs]
    if "p50" not in first:
        what = first.get("na") or f"HTTP {first['status']} {first.get('error')}"
        print(f"{first['shape']:50}{what:>44}")
        continue
    cell = lambda k: (lambda v: f"{statistics.median(v):7.2f} [{min(v):.2f}-{max(v):.2f}]")([r[k] for r in rows])
    worst = max(worst, max(r["p99"] for r in rows))
    total = f"{first['total']}{'' if first.get('exact') in (True, None) else ' (est.)'}"
    few = "" if min(r["n"] for r in rows) >= 100 else f"  ({min(r['n'] for r in rows)} requests)"
    print(f"{first['shape']:50}{cell('p50'):>22}{cell('p99'):>22}{first['rows']:>6}  {total}{few}")
print(f"issue 13 §4, every shape p99 < 20 ms: worst p99 of any run {worst:.2f} ms -> {'met' if worst < 20 else 'NOT met'}")
print(f"gateway log: {sys.argv[2]} warning/error line(s)")
PY

if [ "$EXPLAIN" = 1 ]; then
  explain() { # TITLE FILE PARAMS
    echo; echo "EXPLAIN (ANALYZE, BUFFERS) $1: $2 with ($3)"
    { echo "SET plan_cache_mode = force_custom_plan;"
      echo "PREPARE q AS $(cat "$queries/$2")"
      echo "EXPLAIN (ANALYZE, BUFFERS) EXECUTE q($3);"; } |
      psql -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -d bench -P pager=off
  }
  # The worst shapes: before (main), an owner with no job and a common procedure; after, one
  # status of one procedure.
  for shape in "owner=bob (no job)|NULL, NULL, 'bob'" "procedure=PROC_TEST|NULL, 'PROC_TEST', NULL" \
               "status=failed&procedure=PROC_TEST_ERROR|'{failed}', 'PROC_TEST_ERROR', NULL" "no filter|NULL, NULL, NULL"; do
    title=${shape%%|*}; p=${shape#*|}
    if grep -q '\$8' "$queries/list_jobs.sql"; then
      explain "$title, first page" list_jobs.sql "$p, 50, 0, NULL, NULL, NULL, NULL"
      explain "$title, total" count_jobs.sql "$p, NULL, NULL, 1001"
    else
      explain "$title, first page" list_jobs.sql "$p, 50, 0, NULL, NULL"
      explain "$title, total" count_jobs.sql "$p, NULL, NULL"
    fi
  done
fi
