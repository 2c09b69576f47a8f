-- Running jobs per limit key (see claim_candidates.sql).
SELECT coalesce(routine, upper(procedure_name)), count(*) FROM async_jobs WHERE status = 'running' GROUP BY 1;
