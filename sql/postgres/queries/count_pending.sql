-- Owner $1's pending jobs, counting at most $2 of them.
SELECT count(*) FROM (SELECT 1 FROM async_jobs WHERE owner = $1 AND status = 'pending' LIMIT $2) t;
