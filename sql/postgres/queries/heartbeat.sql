-- Renews the lease of instance $1's running jobs $2; returns those still running here, each with
-- whether its cancellation was requested. A row another transaction holds (its outcome, a cancel
-- or a rescue being written) is skipped, never waited for: the heartbeat waits for no lock, so it
-- deadlocks with no statement. The rows the subquery locked are found by primary key alone (its
-- WHERE is re-checked on their latest version; see claim.sql). The caller reads the skipped
-- jobs' state without locking (heartbeat_skipped.sql) before it stops any. By primary key only,
-- whatever the statistics say (the "C" collation of the status fence: see finish.sql).
UPDATE async_jobs j SET heartbeat_at = now()
 WHERE j.job_id IN (SELECT l.job_id FROM async_jobs l
                     WHERE l.job_id = ANY ($2) AND l.status = 'running' COLLATE "C" AND l.instance_id = $1
                       FOR UPDATE SKIP LOCKED)
RETURNING j.job_id, j.cancel_requested;
