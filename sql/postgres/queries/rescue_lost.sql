-- The rescuer, step 1: running jobs whose instance stopped renewing their lease ($1 seconds),
-- locked for this transaction; and which of their instances still hold other live jobs.
SELECT j.job_id, j.instance_id, j.session_id,
       EXISTS (SELECT 1 FROM async_jobs l
                WHERE l.status = 'running' AND l.instance_id = j.instance_id
                  AND l.heartbeat_at >= now() - make_interval(secs => $1)) AS instance_alive
  FROM async_jobs j
 WHERE j.status = 'running' AND j.heartbeat_at < now() - make_interval(secs => $1)
   FOR UPDATE OF j SKIP LOCKED;
