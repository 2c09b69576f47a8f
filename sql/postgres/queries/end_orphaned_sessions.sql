-- The rescuer, step 2: ends the database sessions a dead instance left behind, before its jobs
-- are failed or retried. Every session of an instance that holds no live job any more
-- ($1: their application_name tags), and the recorded call sessions ($2: pids) of an instance
-- that still has live jobs ($3: its tags). Needs the same role as the gateway's sessions, or
-- membership in pg_signal_backend.
SELECT pid, pg_terminate_backend(pid)
  FROM pg_stat_activity
 WHERE pid <> pg_backend_pid()
   AND (application_name = ANY ($1) OR (pid = ANY ($2) AND application_name = ANY ($3)));
