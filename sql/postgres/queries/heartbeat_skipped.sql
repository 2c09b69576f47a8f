-- Which of instance $1's jobs $2 (those heartbeat.sql skipped: another transaction held their
-- rows) still run here, each with whether its cancellation was requested; read without locking.
SELECT job_id, cancel_requested FROM async_jobs
 WHERE job_id = ANY ($2) AND status = 'running' AND instance_id = $1;
