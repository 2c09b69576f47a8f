-- Claims the picked candidates, $2 their row addresses (ctid, as text), for instance $1: locked as
-- pending by claim_candidates.sql in this transaction, so found by address alone (see claim.sql).
-- Returns each job's owner and how long it waited since it was due (for /stats and /metrics).
UPDATE async_jobs j
   SET status = 'running', progress = 10, start_time = now(), instance_id = $1,
       message = NULL, report_percent = NULL, report_processed = NULL, report_total = NULL,
       heartbeat_at = now(), attempts = j.attempts + 1, cancel_requested = false
 WHERE j.ctid = ANY ($2::text[]::tid[])
RETURNING j.job_id, j.procedure_name, j.params, j.is_function, j.attempts, j.retry_policy, j.timeout_ms,
          j.capture_output, j.owner, extract(epoch FROM j.start_time - j.run_at)::float8;
