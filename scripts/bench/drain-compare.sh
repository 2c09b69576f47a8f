#!/usr/bin/env bash
# A diagnostic, not the benchmark (that is scripts/bench.sh): how fast one gateway runs jobs
# that are already pending, for two builds side by side on the same fresh cluster settings.
#   scripts/bench/drain-compare.sh BIN_A BIN_B [N] [ROUNDS]
# Each round, for each binary: a private cluster (fsync on), the job table, the test
# procedures, N pending jobs inserted by SQL — PROC_TEST (writes nothing) and PROC_TEST_LOG
# (inserts a row) — then `procgate serve` with WORKERS=16 until none is pending or running.
# Prints jobs/s per binary, procedure and round. Needs PostgreSQL's server binaries and root.
set -euo pipefail
A=$1; B=$2; N=${3:-20000}; ROUNDS=${4:-2}
repo=$(cd "$(dirname "$0")/../.." && pwd)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

drain() { # BIN PROCEDURE PARAMS_JSON
  local bin=$1 proc=$2 params=$3 work port url gw start end
  work=$(mktemp -d /tmp/procgate-drain-XXXXXX); chmod 777 "$work"
  runuser -u postgres -- "$PGBIN/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
  port=$(free_port)
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/data" -w -l "$work/pg.log" \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on -c shared_buffers=256MB" start >/dev/null
  local psql=(psql -q -X -h 127.0.0.1 -p "$port" -U postgres)
  "${psql[@]}" -d postgres -c "CREATE DATABASE bench" >/dev/null
  url="postgres://postgres@127.0.0.1:$port/bench"
  DATABASE_URL=$url API_TOKEN=drain-token-0123456789 "$bin" migrate >/dev/null 2>&1
  "${psql[@]}" -d bench -f "$repo/sql/postgres/create_test_procedures.sql" >/dev/null 2>&1
  "${psql[@]}" -d bench -v params="$params" -v proc="$proc" -v n="$N" >/dev/null <<'SQL'
INSERT INTO async_jobs (job_id, status, procedure_name, params, owner)
SELECT md5(g::text), 'pending', :'proc', :'params'::jsonb, 'bench' FROM generate_series(1, :n) g;
ANALYZE async_jobs;
SQL
  start=$(date +%s.%N)
  DATABASE_URL=$url PORT=$(free_port) API_TOKENS=bench:bench-token-123:admin PROCEDURE_ALLOWLIST='PROC_TEST*' \
    RUST_LOG=warn WORKERS=16 DB_POOL_SIZE=24 POLL_INTERVAL=100ms "$bin" serve >"$work/gw.log" 2>&1 &
  gw=$!
  until [ "$("${psql[@]}" -d bench -tA -c "SELECT count(*) FROM async_jobs WHERE status IN ('pending','running')")" = 0 ]; do
    sleep 0.1
  done
  end=$(date +%s.%N)
  kill "$gw"; wait "$gw" 2>/dev/null || true
  runuser -u postgres -- "$PGBIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null
  rm -rf "$work"
  python3 -c "print(f'{$N/($end-$start):.0f}')"
}

plain='[{"name":"p_input","value":"x","direction":"IN","type":"STRING"},{"name":"p_output","direction":"OUT","type":"STRING"}]'
logged='[{"name":"p_tag","value":"t","direction":"IN","type":"STRING"}]'
echo "N=$N; jobs/s; A=$A; B=$B"
for r in $(seq "$ROUNDS"); do
  for proc in PROC_TEST PROC_TEST_LOG; do
    params=$plain; [ "$proc" = PROC_TEST_LOG ] && params=$logged
    echo "round $r $proc: A $(drain "$A" "$proc" "$params")  B $(drain "$B" "$proc" "$params")"
  done
done
