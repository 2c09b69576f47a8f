-- Raises running jobs' progress ($2), records the session their call runs on ($4, when known)
-- and the procedure's own latest report (percent $5, message $6, processed $7, total $8: each
-- when reported, the others kept), for jobs still running on this instance ($3). Progress never
-- goes down. A row another transaction holds is skipped, not waited for: it is a job whose
-- completion is being committed with its call (or a cancel request), and its progress is moot.
-- `progress_events` counts the records that changed what a client sees (up to 1000): the job's
-- event trigger writes a `progress` event for the first 100. By primary key only, whatever the
-- statistics say (the "C" collation of the status fence: see finish.sql).
UPDATE async_jobs j
   SET progress = greatest(j.progress, u.progress),
       session_id = coalesce(u.session_id, j.session_id),
       report_percent = coalesce(u.percent, j.report_percent),
       message = coalesce(u.message, j.message),
       report_processed = coalesce(u.processed, j.report_processed),
       report_total = coalesce(u.total, j.report_total),
       progress_events = least(j.progress_events + CASE
           WHEN j.progress < u.progress
             OR u.percent IS DISTINCT FROM j.report_percent AND u.percent IS NOT NULL
             OR u.message IS DISTINCT FROM j.message AND u.message IS NOT NULL
             OR u.processed IS DISTINCT FROM j.report_processed AND u.processed IS NOT NULL
             OR u.total IS DISTINCT FROM j.report_total AND u.total IS NOT NULL THEN 1 ELSE 0 END, 1000)
  FROM unnest($1::text[], $2::int2[], $4::text[], $5::float8[]::numeric(5,2)[], $6::text[], $7::int8[], $8::int8[])
       AS u(id, progress, session_id, percent, message, processed, total)
 WHERE j.job_id = u.id
   AND j.job_id IN (SELECT l.job_id FROM async_jobs l
                     WHERE l.job_id = ANY ($1) AND l.status = 'running' COLLATE "C" AND l.instance_id = $3
                       FOR UPDATE SKIP LOCKED)
   AND j.status = 'running' COLLATE "C" AND j.instance_id = $3
   AND (j.progress < u.progress OR u.session_id IS DISTINCT FROM j.session_id AND u.session_id IS NOT NULL
        OR u.percent IS DISTINCT FROM j.report_percent AND u.percent IS NOT NULL
        OR u.message IS DISTINCT FROM j.message AND u.message IS NOT NULL
        OR u.processed IS DISTINCT FROM j.report_processed AND u.processed IS NOT NULL
        OR u.total IS DISTINCT FROM j.report_total AND u.total IS NOT NULL);
