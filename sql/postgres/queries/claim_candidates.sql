-- With per-procedure limits: due pending jobs in claim order (locked), except those of routines
-- already at their limit ($1: their limit keys); at most $2. The claimer picks within each
-- routine's room. A job's limit key is its resolved routine (or, for a row written before the
-- routine column existed, its name as written). With each, its row address (ctid, as text), by
-- which claim_picked.sql finds it.
SELECT ctid::text, coalesce(routine, upper(procedure_name)) FROM async_jobs
 WHERE status = 'pending' AND run_at <= now() AND NOT (coalesce(routine, upper(procedure_name)) = ANY ($1))
 ORDER BY priority DESC, created_at
 LIMIT $2
   FOR UPDATE SKIP LOCKED;
