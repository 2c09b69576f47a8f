-- Completes job $1 inside the transaction of its call, fenced: only while it is still running on
-- instance $2 in attempt $3. $4: the call's OUT values, $5: its captured output lines. By primary
-- key only (the "C" collation of the status fence: see finish.sql).
-- It travels with the COMMIT that follows it. When the fence matches no row (the job was rescued
-- or taken over while the call ran) it fails on purpose — 1 / 0, SQLSTATE 22012 — which aborts
-- the transaction, so that COMMIT rolls the call's effects back instead.
WITH done AS (
    UPDATE async_jobs j
       SET status = 'completed', progress = 100, end_time = statement_timestamp(),
           duration = round(extract(epoch FROM statement_timestamp() - j.start_time)::numeric, 2)::text || 's',
           result = $4, output = $5, error_code = NULL, error_msg = NULL,
           heartbeat_at = NULL, cancel_requested = false, session_id = NULL
     WHERE j.job_id = $1 AND j.status = 'running' COLLATE "C" AND j.instance_id = $2 AND j.attempts = $3
    RETURNING 1)
SELECT 1 / count(*)::int FROM done;
