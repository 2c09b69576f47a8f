-- Flags running job $1 (of owner $2, when given) for its instance to interrupt, and tells every
-- instance at once (NOTIFY procgate_cancel).
UPDATE async_jobs SET cancel_requested = true
 WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2) AND status = 'running'
RETURNING pg_notify('procgate_cancel', job_id);
