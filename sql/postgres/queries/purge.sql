-- Deletes at most $4 terminal jobs with a status in $1, ended more than $2 days ago (when given),
-- of owner $3 (when given); rows another transaction holds are skipped.
DELETE FROM async_jobs
 WHERE job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = ANY ($1)
              AND ($2::int4 IS NULL OR end_time < now() - make_interval(days => $2))
              AND ($3::text IS NULL OR owner = $3)
            LIMIT $4
              FOR UPDATE SKIP LOCKED))
   AND status = ANY ($1);
