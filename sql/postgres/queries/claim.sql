-- Claims the first $2 due pending jobs for instance $1: highest priority, then oldest; rows
-- other claimers hold are skipped, never waited for; the outer condition re-checks the status.
-- Returns each job's owner and how long it waited since it was due (for /stats and /metrics).
-- Each attempt starts with no report of the procedure's own (message, figures).
UPDATE async_jobs j
   SET status = 'running', progress = 10, start_time = now(), instance_id = $1,
       message = NULL, report_percent = NULL, report_processed = NULL, report_total = NULL,
       heartbeat_at = now(), attempts = j.attempts + 1, cancel_requested = false
 WHERE j.job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = 'pending' AND run_at <= now()
            ORDER BY priority DESC, created_at
            LIMIT $2
              FOR UPDATE SKIP LOCKED))
   AND j.status = 'pending'
RETURNING j.job_id, j.procedure_name, j.params, j.is_function, j.attempts, j.retry_policy, j.timeout_ms,
          j.capture_output, j.owner, extract(epoch FROM j.start_time - j.run_at)::float8;
