-- Every job's events with an id above $1, and those with an id in $2 (ids an earlier read
-- skipped: written by transactions that had not committed yet), oldest first, at most $3.
SELECT event_id, job_id, event_type, event_at, owner, procedure_name, status, progress, attempt,
       error_code, error_msg, message, report_percent::float8, report_processed, report_total, run_at
  FROM async_job_events
 WHERE event_id > $1 OR event_id = ANY ($2::int8[])
 ORDER BY event_id
 LIMIT $3;
