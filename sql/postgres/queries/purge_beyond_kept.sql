-- Retention by count (JOB_KEEP_COMPLETED, JOB_KEEP_FAILED): deletes at most $3 jobs of terminal
-- status $1 beyond its $2 most recently ended ones. The terminal-status test lets the planner
-- walk the end-time index (async_jobs_ended_idx) newest first.
DELETE FROM async_jobs
 WHERE job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = $1 AND status IN ('completed', 'failed', 'cancelled')
            ORDER BY end_time DESC, job_id DESC
           OFFSET $2
            LIMIT $3))
   AND status = $1;
