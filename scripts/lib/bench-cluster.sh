# Shared by the benchmarks (scripts/bench.sh, scripts/bench/sse.sh): the release binaries, a
# private PostgreSQL cluster (fsync on) on 127.0.0.1, and a gateway on it; the gateway and the
# cluster are stopped, and the cluster removed, when the script exits.
#
# The sourcing script sets `repo` (the repository), `BUILD` (1: build first) and a `log`
# function, then calls, in order:
#   bench_header COMMAND           prints the command, date, machine and commit (for the record)
#   bench_binaries NAME...         builds (if BUILD=1) and checks target/release/{procgate,NAME}
#   start_cluster                  sets PGBIN, PGPORT, DB_URL, work; installs the exit trap
#   fresh_db FILE... / procgate_db a fresh `bench` database with those SQL files
#   start_gateway [VAR=VALUE...]   the gateway on DB_URL, ready; sets GW_PORT and gateway_pid
#   stop_gateway                   SIGTERM, SIGKILL after 20 s
#   gateway_warnings [IGNORE_ERE]  how many WARN/ERROR lines the gateway logged (first 5 to stderr)
#   fresh_named_db NAME FILE...    a fresh database NAME (fresh_db is `fresh_named_db bench`)
#   spawn_procgate CMD [VAR=VALUE...]  `procgate CMD` (serve, work) on DB_URL, not waited for;
#                                  sets GW_PORT and gateway_pid (wait_ready waits for /ready)
#   gateway_hwm_mb                 the running gateway's peak RSS (VmHWM), in MB (10^6 bytes)
#   cpu_ticks PID / pg_cpu_ticks   CPU time (user + system, in clock ticks) of one process, or of
#                                  the cluster's (the postmaster's and every child's)
#   with_cpu FILE CMD...           runs CMD; writes its CPU seconds (user + system) into FILE
# The gateway's token is bench-token-123 (admin); its log is $work/gateway.log.

bench_header() {
  echo "command: $1"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); host: $(nproc) cores, $(uname -sr);" \
       "procgate $(git -C "$repo" describe --always --dirty 2>/dev/null || echo '?')"
}

bench_binaries() {
  if [ "$BUILD" = 1 ]; then
    log "cargo build --release --examples --bins"
    (cd "$repo" && cargo build --release --examples --bins --quiet)
  fi
  target=${CARGO_TARGET_DIR:-$repo/target}
  procgate=$target/release/procgate
  local name
  for name in "$procgate" "${@/#/$target/release/examples/}"; do
    [ -x "$name" ] || { echo "missing $name (drop --no-build)" >&2; exit 1; }
  done
}

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

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

start_cluster() {
  if [ -z "$(pg_bindir)" ] || [ ! -x "$(pg_bindir)/initdb" ]; then
    log "installing PostgreSQL (apt-get install -y postgresql)"
    apt-get install -y -q postgresql >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q postgresql >/dev/null; }
  fi
  PGBIN=$(pg_bindir)
  work=$(mktemp -d /tmp/procgate-bench-XXXXXX)
  chmod 777 "$work"
  as_pg=()
  [ "$(id -u)" = 0 ] && as_pg=(runuser -u postgres --)
  trap cleanup_cluster EXIT
  trap 'exit 130' INT TERM
  "${as_pg[@]}" "$PGBIN/initdb" -D "$work/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
  PGPORT=$(free_port)
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -w -t 60 -l "$work/postgres.log" -o \
    "-p $PGPORT -k $work -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=on \
     -c synchronous_commit=on -c shared_buffers=256MB" start >/dev/null
  log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PGPORT (fsync on)"
  DB_URL="postgres://postgres@127.0.0.1:$PGPORT/bench"
}

cleanup_cluster() {
  stop_gateway
  "${as_pg[@]}" "$PGBIN/pg_ctl" -D "$work/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}

psql_do() { PGOPTIONS="-c client_min_messages=warning" psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PGPORT" -U postgres "$@" >/dev/null; }

# A fresh `bench` database with the given SQL files loaded.
fresh_db() { fresh_named_db bench "$@"; }

procgate_db() { fresh_db "$repo/sql/postgres/create_async_jobs_table.sql" "$repo/sql/postgres/create_test_procedures.sql"; }

GW_PORT=
start_gateway() { # [VAR=VALUE...]: settings added to (or replacing) the defaults of spawn_procgate
  spawn_procgate serve "$@"
  wait_ready
}

wait_ready() {
  local deadline=$((SECONDS + 30))
  until curl -sf "http://127.0.0.1:$GW_PORT/ready" >/dev/null 2>&1; do
    if ! kill -0 "$gateway_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
      echo "the gateway did not become ready; its log:" >&2; tail -20 "$work/gateway.log" >&2; exit 1
    fi
    sleep 0.05
  done
}

gateway_warnings() { # [IGNORE_ERE]
  grep -E 'WARN|ERROR' "$work/gateway.log" | grep -Ev "${1:-^$}" >"$work/warnings" || true
  local n
  n=$(wc -l <"$work/warnings")
  if [ "$n" != 0 ]; then
    log "the gateway logged $n warning/error line(s), e.g.:"
    head -5 "$work/warnings" >&2
  fi
  echo "$n"
}

# A fresh database NAME with the given SQL files loaded.
fresh_named_db() { # NAME FILE...
  local db=$1 f
  shift
  psql_do -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  for f in "$@"; do psql_do -d "$db" -f "$f"; done
}

spawn_procgate() { # CMD [VAR=VALUE...]: settings added to (or replacing) the defaults below
  local cmd=$1
  shift
  GW_PORT=$(free_port)
  # `env` execs procgate, so gateway_pid is procgate's own pid (its /proc/PID/status is read).
  env DATABASE_URL="$DB_URL" PORT="$GW_PORT" API_TOKENS=bench:bench-token-123:admin \
    PROCEDURE_ALLOWLIST='PROC_TEST*,peer_bench.*' RUST_LOG=warn NO_COLOR=1 SHUTDOWN_GRACE=1s \
    "$@" "$procgate" "$cmd" >>"$work/gateway.log" 2>&1 &
  gateway_pid=$!
}

gateway_hwm_mb() {
  awk '/^VmHWM:/ {printf "%.1f\n", $2 * 1024 / 1e6}' "/proc/$gateway_pid/status"
}

cpu_ticks() { # PID → user + system clock ticks so far (0 once it is gone)
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

pg_cpu_ticks() { # the cluster's CPU: the postmaster, its live children (backends, walwriter, ...)
  local postmaster # and those that ended (a child's time is added to the postmaster's when it exits)
  postmaster=$(head -1 "$work/data/postmaster.pid")
  # cat, not awk's own file list: a process that ends meanwhile is skipped (mawk stops at it).
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
    awk -v pm="$postmaster" '$1 == pm {t += $14 + $15 + $16 + $17} $4 == pm {t += $14 + $15} END {print t + 0}'
}

with_cpu() { # FILE CMD...: runs CMD (its status is returned); FILE gets its CPU seconds
  local file=$1
  shift
  python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{u.ru_utime + u.ru_stime:.3f}\n")
sys.exit(r.returncode)' "$file" "$@"
}
