-- The rescuer, step 3: ends the lost jobs $3 (still without a heartbeat for $1 seconds): retried
-- if attempts remain and $2 (orphaned jobs are retryable), failed with code 'orphaned' otherwise,
-- or 'cancelled' if a cancellation was requested before the instance went away.
WITH lost AS (
    SELECT job_id, cancel_requested AS cancelled,
           (attempts < max_attempts AND $2 AND NOT cancel_requested) AS retry
      FROM async_jobs
     WHERE status = 'running' AND heartbeat_at < now() - make_interval(secs => $1) AND job_id = ANY ($3)
       FOR UPDATE SKIP LOCKED)
UPDATE async_jobs j
   SET status = CASE WHEN l.cancelled THEN 'cancelled' WHEN l.retry THEN 'pending' ELSE 'failed' END,
       progress = CASE WHEN l.retry THEN 0 WHEN l.cancelled THEN j.progress ELSE 100 END,
       end_time = CASE WHEN l.retry THEN NULL ELSE now() END,
       duration = CASE WHEN l.retry THEN NULL
                       ELSE round(extract(epoch FROM now() - j.start_time)::numeric, 2)::text || 's' END,
       run_at = CASE WHEN l.retry THEN now() ELSE j.run_at END,
       error_code = CASE WHEN l.cancelled THEN 'cancelled' ELSE 'orphaned' END,
       error_msg = 'the instance running this job (' || coalesce(j.instance_id, '?') || ') stopped: no heartbeat for '
                   || $1 || ' s',
       attempt_history = j.attempt_history || jsonb_build_array(jsonb_build_object(
                         'attempt', j.attempts, 'code', 'orphaned', 'message', 'no heartbeat',
                         'started_at', j.start_time, 'ended_at', now(), 'instance_id', j.instance_id)),
       instance_id = CASE WHEN l.retry THEN NULL ELSE j.instance_id END,
       heartbeat_at = NULL, cancel_requested = false, session_id = NULL
  FROM lost l
 WHERE j.job_id = l.job_id AND j.status = 'running'
RETURNING j.job_id, j.status;
