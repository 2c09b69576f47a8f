-- Bulk cancel (POST /jobs/cancel): cancels at most $3 pending jobs of procedure $1 (as written,
-- case-insensitive) and of owner $2 (each when given); they will never run. Rows a claimer holds
-- are skipped (it is starting them: they are running jobs now). Returns the ids cancelled.
UPDATE async_jobs SET status = 'cancelled', end_time = now(), error_code = 'cancelled',
       error_msg = 'cancelled by request before it ran'
 WHERE job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = 'pending'
              AND ($1::text IS NULL OR upper(procedure_name) = upper($1))
              AND ($2::text IS NULL OR owner = $2)
            LIMIT $3
              FOR UPDATE SKIP LOCKED))
   AND status = 'pending'
RETURNING job_id;
