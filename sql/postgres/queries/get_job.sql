-- One job, by id $1; with an owner $2, only if that caller owns it.
SELECT job_id, status, procedure_name, params, owner, progress, created_at, start_time,
       end_time, duration, result, error_code, error_msg, attempts, priority, max_attempts, attempt_history,
       run_at, instance_id, cancel_requested, output, report_percent::float8, message, report_processed,
       report_total, callback, is_function, retry_policy, timeout_ms, capture_output, retry_of
  FROM async_jobs
 WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2);
