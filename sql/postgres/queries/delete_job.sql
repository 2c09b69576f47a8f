-- Deletes job $1 (of owner $2, when given) unless it is running.
DELETE FROM async_jobs WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2) AND status <> 'running'
RETURNING job_id;
