-- Job $1's webhook deliveries, oldest event first.
SELECT event_id, job_id, event_type, url, status, attempts, created_at, next_attempt_at, delivered_at, attempt_log
  FROM async_job_deliveries
 WHERE job_id = $1
 ORDER BY event_id;
