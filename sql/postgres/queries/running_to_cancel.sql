-- Bulk cancel (POST /jobs/cancel): at most $3 running jobs of procedure $1 (as written,
-- case-insensitive) and of owner $2 (each when given) whose cancellation is not requested yet;
-- each is then cancelled as one job is (cancel_running.sql).
SELECT job_id FROM async_jobs
 WHERE status = 'running' AND NOT cancel_requested
   AND ($1::text IS NULL OR upper(procedure_name) = upper($1))
   AND ($2::text IS NULL OR owner = $2)
 LIMIT $3;
