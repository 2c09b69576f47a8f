-- Raises running jobs' progress ($2) and records the session their call runs on ($4, when
-- known), for jobs still running on this instance ($3). Progress never goes down.
UPDATE async_jobs j
   SET progress = greatest(j.progress, u.progress),
       session_id = coalesce(u.session_id, j.session_id)
  FROM unnest($1::text[], $2::int2[], $4::text[]) AS u(id, progress, session_id)
 WHERE j.job_id = u.id AND j.status = 'running' AND j.instance_id = $3
   AND (j.progress < u.progress OR u.session_id IS DISTINCT FROM j.session_id AND u.session_id IS NOT NULL)
