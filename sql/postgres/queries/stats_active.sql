-- GET /stats: the queue's unfinished jobs per procedure (owner $1 only; every owner when NULL):
-- due pending jobs, delayed ones (run_at still ahead), running ones, and how many seconds the
-- oldest due job has waited since its run_at. Each branch reads one partial index
-- (async_jobs_pending_idx, async_jobs_running_idx): the cost follows the queue's depth, never
-- the number of ended jobs the table keeps.
SELECT procedure_name, sum(due)::int8, sum(delayed)::int8, sum(running)::int8,
       extract(epoch FROM now() - min(oldest_due))::float8
  FROM (SELECT procedure_name,
               count(*) FILTER (WHERE run_at <= now()) AS due,
               count(*) FILTER (WHERE run_at > now()) AS delayed,
               0::int8 AS running,
               min(run_at) FILTER (WHERE run_at <= now()) AS oldest_due
          FROM async_jobs
         WHERE status = 'pending' AND ($1::text IS NULL OR owner = $1)
         GROUP BY procedure_name
        UNION ALL
        SELECT procedure_name, 0, 0, count(*), NULL
          FROM async_jobs
         WHERE status = 'running' AND ($1::text IS NULL OR owner = $1)
         GROUP BY procedure_name) q
 GROUP BY procedure_name
 ORDER BY procedure_name;
