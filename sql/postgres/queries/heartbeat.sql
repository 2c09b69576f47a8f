-- Renews the lease of instance $1's running jobs $2; returns which of them must stop (their
-- cancellation was requested); those missing from the answer no longer run here.
UPDATE async_jobs SET heartbeat_at = now()
 WHERE job_id = ANY ($2) AND status = 'running' AND instance_id = $1
RETURNING job_id, cancel_requested;
