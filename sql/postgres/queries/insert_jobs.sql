-- Inserts a batch of jobs as pending and notifies listeners in the same transaction (delivered
-- at commit, once). A job whose owner already has its idempotency key is skipped.
-- $1 ids, $2 names, $3 params, $4 owners, $5 is_function, $6 priorities, $7 run_at, $8 max_attempts,
-- $9 retry policies, $10 timeouts (ms), $11 idempotency keys, $12 capture_output, $13 routines,
-- $14 callbacks, $15 the jobs they retry
WITH ins AS (
    INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, is_function, priority, run_at,
                            max_attempts, retry_policy, timeout_ms, idempotency_key, capture_output, routine,
                            callback, retry_of)
    SELECT t.id, 'pending', t.name, t.params, t.owner, t.is_function, t.priority, coalesce(t.run_at, now()),
           t.max_attempts, t.retry_policy, t.timeout_ms, t.idempotency_key, t.capture_output, t.routine,
           t.callback, t.retry_of
      FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::int2[], $7::timestamptz[],
                  $8::int4[], $9::jsonb[], $10::int8[], $11::text[], $12::bool[], $13::text[],
                  $14::jsonb[], $15::text[]) WITH ORDINALITY
           AS t(id, name, params, owner, is_function, priority, run_at, max_attempts, retry_policy, timeout_ms,
                idempotency_key, capture_output, routine, callback, retry_of, ord)
     ORDER BY t.ord
        ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING job_id)
SELECT job_id, pg_notify('procgate_jobs', '') FROM ins;
