-- Claims the first $2 due pending jobs for instance $1: highest priority, then oldest; rows
-- other claimers hold are skipped, never waited for. The subquery locks them, its WHERE re-checked
-- on each row's latest version, so they are pending when the UPDATE changes them: it finds them
-- by their row address (ctid; a locked row cannot move), which only a TID scan reads, whatever
-- the statistics (by job_id, the planner has picked a whole listing index on a fresh table). Planned
-- as claim_plan.sql says, which runs first in the same transaction. A row updated by another
-- transaction after this statement began is left pending, to the next claim.
-- Returns each job's owner and how long it waited since it was due (for /stats and /metrics).
-- Each attempt starts with no report of the procedure's own (message, figures).
UPDATE async_jobs j
   SET status = 'running', progress = 10, start_time = now(), instance_id = $1,
       message = NULL, report_percent = NULL, report_processed = NULL, report_total = NULL,
       heartbeat_at = now(), attempts = j.attempts + 1, cancel_requested = false
 WHERE j.ctid = ANY (ARRAY(
           SELECT ctid FROM async_jobs
            WHERE status = 'pending' AND run_at <= now()
            ORDER BY priority DESC, created_at
            LIMIT $2
              FOR UPDATE SKIP LOCKED))
RETURNING j.job_id, j.procedure_name, j.params, j.is_function, j.attempts, j.retry_policy, j.timeout_ms,
          j.capture_output, j.owner, extract(epoch FROM j.start_time - j.run_at)::float8;
