-- The jobs holding these (owner $1, idempotency key $2) pairs.
SELECT k.owner, k.idempotency_key, j.job_id
  FROM unnest($1::text[], $2::text[]) AS k(owner, idempotency_key)
  JOIN async_jobs j ON j.owner = k.owner AND j.idempotency_key = k.idempotency_key;
