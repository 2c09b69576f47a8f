-- The job holding an owner's idempotency key. Binds: :owner, :idempotency_key.
-- The condition matches the unique index's expression, so the lookup uses it.
SELECT JOB_ID FROM ASYNC_JOBS
 WHERE (CASE WHEN IDEMPOTENCY_KEY IS NOT NULL THEN OWNER END) = :owner AND IDEMPOTENCY_KEY = :idempotency_key
