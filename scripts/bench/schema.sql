-- A copy of ../shared/peers/pgbench/schema.sql, used by scripts/bench.sh when ../shared is absent.
-- The workload every system runs: one trivial procedure with an IN and an INOUT parameter,
-- and (for pgbench only) a jobs table shaped like a gateway's job rows.
CREATE SCHEMA IF NOT EXISTS peer_bench;
CREATE OR REPLACE PROCEDURE peer_bench.proc_test(p_input text, INOUT p_output text DEFAULT NULL)
LANGUAGE plpgsql AS $$ BEGIN p_output := 'Procesado: ' || p_input; END $$;
CREATE TABLE IF NOT EXISTS peer_bench.jobs (
  id         text PRIMARY KEY,
  status     text NOT NULL DEFAULT 'pending',
  procedure  text NOT NULL,
  params     jsonb,
  result     jsonb,
  progress   int NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL DEFAULT now(),
  start_time timestamptz,
  end_time   timestamptz
);
CREATE INDEX IF NOT EXISTS jobs_pending ON peer_bench.jobs (created_at) WHERE status = 'pending';
