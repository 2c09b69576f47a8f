-- A page of jobs, newest first (created_at DESC, job_id): statuses $1, procedure $2, owner $3,
-- created at or after $6 and before $7, after the cursor position (created_at $8, job_id $9)
-- (each when given), $4 rows from row $5. Sent unprepared, so each listing is planned with its
-- values: the NULL filters fold away and the planner picks the index of the filters given
-- (async_jobs_list_*_idx). The page's keys are found first, from the index alone (each listing
-- index holds the filtered columns: an index-only scan skips the rows other filters or the
-- offset drop without reading them), then only the page's rows are read. `created_at <= $8`
-- repeats the cursor's bound as a range the index scan starts from; the OR after it only drops
-- that instant's jobs up to the cursor's.
SELECT job_id, status, procedure_name, params, owner, progress, created_at, start_time,
       end_time, duration, result, error_code, error_msg, attempts, priority, max_attempts, attempt_history,
       run_at, instance_id, cancel_requested, output, report_percent::float8, message, report_processed,
       report_total, callback, is_function, retry_policy, timeout_ms, capture_output, retry_of
  FROM (SELECT job_id, created_at AS page_at
          FROM async_jobs
         WHERE ($1::text[] IS NULL OR status = ANY ($1))
           AND ($2::text IS NULL OR upper(procedure_name) = upper($2))
           AND ($3::text IS NULL OR owner = $3)
           AND ($6::timestamptz IS NULL OR created_at >= $6)
           AND ($7::timestamptz IS NULL OR created_at < $7)
           AND ($8::timestamptz IS NULL OR created_at <= $8)
           AND ($8::timestamptz IS NULL OR created_at < $8 OR job_id > $9::text)
         ORDER BY created_at DESC, job_id
         LIMIT $4 OFFSET $5) page
  JOIN async_jobs USING (job_id)
 ORDER BY page_at DESC, job_id;
