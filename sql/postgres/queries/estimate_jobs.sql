-- The planner's estimate of how many jobs match a listing's filters, for totals above the exact
-- cap: the "Plan Rows" of this plan's top node. Statuses $1, procedure $2, owner $3, created at or
-- after $4 and before $5 (each when given). Plans only; reads no row. From psql (PREPARE cannot
-- hold an EXPLAIN): EXPLAIN EXECUTE a prepared count_jobs.sql, or \bind (psql 16+).
EXPLAIN (FORMAT JSON)
SELECT 1 FROM async_jobs
 WHERE ($1::text[] IS NULL OR status = ANY ($1))
   AND ($2::text IS NULL OR upper(procedure_name) = upper($2))
   AND ($3::text IS NULL OR owner = $3)
   AND ($4::timestamptz IS NULL OR created_at >= $4)
   AND ($5::timestamptz IS NULL OR created_at < $5);
