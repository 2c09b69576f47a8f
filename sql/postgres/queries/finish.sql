-- Ends attempts of jobs instance $8 runs: terminal, or back to pending (a retry) when the
-- outcome's status is 'pending'. Conditional on the job still running here, in the same attempt
-- ($7): a late or stale write (after a rescue, a cancel, another instance's claim) changes nothing.
-- A retry of a job whose cancellation was requested meanwhile ends it 'cancelled' instead.
-- Times are the statement's, not the transaction's: a job's completion runs in the transaction of
-- its call, which began before the call did.
-- The rows are reached by primary key only (`job_id = ANY ($1)`), whatever the table's statistics
-- say: the status fence compares in the "C" collation, which no index of async_jobs is built with,
-- so neither async_jobs_running_idx (partial on status = 'running') nor a listing index led by
-- status can answer it. Left to its estimates on a table filled seconds ago (never analyzed), or
-- analyzed while no job ran, PostgreSQL read every running row of every instance through one of
-- those on each write (a bitmap scan, which never marks dead index entries: 1,000 buffers a write
-- and 2.5 ms after 20,000 jobs; docs/design.md, "Plans that do not depend on statistics").
-- Equality in "C" is byte equality, as in the database's own collation.
-- $1 ids, $2 statuses, $3 results, $4 error codes, $5 messages, $6 retry delays (s), $7 attempts,
-- $8 instance, $9 captured output
UPDATE async_jobs j
   SET status = (CASE WHEN o.status = 'pending' AND j.cancel_requested THEN 'cancelled' ELSE o.status END),
       progress = CASE (CASE WHEN o.status = 'pending' AND j.cancel_requested THEN 'cancelled' ELSE o.status END) WHEN 'pending' THEN 0 WHEN 'cancelled' THEN j.progress ELSE 100 END,
       end_time = CASE WHEN (o.status = 'pending' AND NOT j.cancel_requested) THEN NULL ELSE statement_timestamp() END,
       duration = CASE WHEN (o.status = 'pending' AND NOT j.cancel_requested) THEN NULL
                       ELSE round(extract(epoch FROM statement_timestamp() - j.start_time)::numeric, 2)::text || 's' END,
       result = o.result,
       error_code = CASE WHEN o.status = 'pending' AND j.cancel_requested THEN 'cancelled' ELSE o.code END,
       error_msg = CASE WHEN o.status = 'pending' AND j.cancel_requested
                        THEN 'cancelled by request (its last attempt failed: ' || o.message || ')' ELSE o.message END,
       output = o.output,
       run_at = CASE WHEN (o.status = 'pending' AND NOT j.cancel_requested) THEN statement_timestamp() + make_interval(secs => o.retry_in) ELSE j.run_at END,
       attempt_history = CASE WHEN o.code IS NULL THEN j.attempt_history
                              ELSE j.attempt_history || jsonb_build_array(jsonb_build_object(
                                   'attempt', j.attempts, 'code', o.code, 'message', o.message,
                                   'started_at', j.start_time, 'ended_at', statement_timestamp(), 'instance_id', j.instance_id)) END,
       instance_id = CASE WHEN (o.status = 'pending' AND NOT j.cancel_requested) THEN NULL ELSE j.instance_id END,
       heartbeat_at = NULL, cancel_requested = false, session_id = NULL
  FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[], $6::float8[], $7::int4[], $9::jsonb[])
       AS o(id, status, result, code, message, retry_in, attempt, output)
 WHERE j.job_id = ANY ($1) AND j.job_id = o.id AND j.status = 'running' COLLATE "C" AND j.instance_id = $8 AND j.attempts = o.attempt
RETURNING j.job_id;
