-- Raises running jobs' progress ($2) and records the session their call runs on ($4, when
-- known), for jobs still running on this instance ($3). Progress never goes down. A row another
-- transaction holds is skipped, not waited for: it is a job whose completion is being committed
-- with its call (or a cancel request), and its progress is moot.
UPDATE async_jobs j
   SET progress = greatest(j.progress, u.progress),
       session_id = coalesce(u.session_id, j.session_id)
  FROM unnest($1::text[], $2::int2[], $4::text[]) AS u(id, progress, session_id)
 WHERE j.job_id = u.id
   AND j.job_id IN (SELECT l.job_id FROM async_jobs l
                     WHERE l.job_id = ANY ($1) AND l.status = 'running' AND l.instance_id = $3
                       FOR UPDATE SKIP LOCKED)
   AND j.status = 'running' AND j.instance_id = $3
   AND (j.progress < u.progress OR u.session_id IS DISTINCT FROM j.session_id AND u.session_id IS NOT NULL);
