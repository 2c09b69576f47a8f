-- The job holding an owner's idempotency key (:owner, :idempotency_key).
-- The condition matches the unique index's expression, so the lookup uses it.
-- Binds: owner VARCHAR2(128), idempotency_key VARCHAR2(200).
SELECT JOB_ID FROM ASYNC_JOBS
 WHERE (CASE WHEN IDEMPOTENCY_KEY IS NOT NULL THEN OWNER END) = :owner AND IDEMPOTENCY_KEY = :idempotency_key;
