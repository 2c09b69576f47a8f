-- The status of job $1 (of owner $2, when given).
SELECT status FROM async_jobs WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2);
