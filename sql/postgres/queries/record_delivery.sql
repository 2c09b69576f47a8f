-- Records one attempt of delivery $1 held by instance $2: its new status $3 ('pending' to try again
-- after $4 seconds, 'delivered', 'failed'), the body $5 (fixed at the first attempt), the attempt $6
-- appended to the log. Only while this instance holds it: a late write after its lease was taken
-- over changes nothing.
UPDATE async_job_deliveries
   SET status = $3::text, attempts = attempts + 1,
       next_attempt_at = CASE WHEN $3::text = 'pending' THEN now() + make_interval(secs => $4) ELSE next_attempt_at END,
       delivered_at = CASE WHEN $3::text = 'delivered' THEN now() END,
       body = coalesce(body, $5), attempt_log = attempt_log || jsonb_build_array($6::jsonb),
       instance_id = NULL, lease_until = NULL
 WHERE event_id = $1 AND instance_id = $2 AND status = 'pending'
RETURNING event_id;
