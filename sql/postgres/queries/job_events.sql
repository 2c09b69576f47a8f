-- Job $1's events after event $2 (0: all of them), oldest first, at most $3.
SELECT event_id, job_id, event_type, event_at, owner, procedure_name, status, progress, attempt,
       error_code, error_msg, message, report_percent::float8, report_processed, report_total, run_at
  FROM async_job_events
 WHERE job_id = $1 AND event_id > $2
 ORDER BY event_id
 LIMIT $3;
