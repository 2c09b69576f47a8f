-- Cancels job $1 (of owner $2, when given) if it is still pending: it will never run.
UPDATE async_jobs SET status = 'cancelled', end_time = now(), error_code = 'cancelled',
       error_msg = 'cancelled by request before it ran'
 WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2) AND status = 'pending'
RETURNING job_id;
