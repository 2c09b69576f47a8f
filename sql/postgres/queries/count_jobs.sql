-- How many jobs match a listing's filters, counting at most $6 of them: statuses $1, procedure
-- $2, owner $3, created at or after $4 and before $5 (each when given). Sent unprepared (planned
-- with its values, as list_jobs.sql), it reads no more than $6 entries of the filters' index.
SELECT count(*) FROM (SELECT 1 FROM async_jobs
                       WHERE ($1::text[] IS NULL OR status = ANY ($1))
                         AND ($2::text IS NULL OR upper(procedure_name) = upper($2))
                         AND ($3::text IS NULL OR owner = $3)
                         AND ($4::timestamptz IS NULL OR created_at >= $4)
                         AND ($5::timestamptz IS NULL OR created_at < $5)
                       LIMIT $6) t;
