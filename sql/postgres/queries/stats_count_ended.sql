-- GET /stats: the jobs in ended status $1 (of owner $2; every owner when NULL), counting at most
-- $3 of them: a range of async_jobs_ended_owner_idx (status, owner) read no further than $3
-- entries, however many ended jobs the table keeps.
SELECT count(*) FROM (SELECT 1 FROM async_jobs
                       WHERE status = $1 AND ($2::text IS NULL OR owner = $2) LIMIT $3) t;
