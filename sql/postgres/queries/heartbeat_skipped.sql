-- Which of instance $1's jobs $2 (those heartbeat.sql skipped: another transaction held their
-- rows) still run here, each with whether its cancellation was requested; read without locking.
-- By primary key only (the "C" collation of the status fence: see finish.sql).
SELECT job_id, cancel_requested FROM async_jobs
 WHERE job_id = ANY ($2) AND status = 'running' COLLATE "C" AND instance_id = $1;
