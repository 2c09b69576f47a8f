-- Claims up to $3 due webhook deliveries for instance $1, leased for $2 seconds: pending ones whose
-- next attempt is due and that no live lease holds (a dead instance's lease runs out), oldest due
-- first, skipping rows another deliverer holds.
UPDATE async_job_deliveries d
   SET instance_id = $1, lease_until = now() + make_interval(secs => $2)
 WHERE d.event_id = ANY (ARRAY(
           SELECT event_id FROM async_job_deliveries
            WHERE status = 'pending' AND next_attempt_at <= now()
              AND (lease_until IS NULL OR lease_until < now())
            ORDER BY next_attempt_at
            LIMIT $3
              FOR UPDATE SKIP LOCKED))
   AND d.status = 'pending'
RETURNING d.event_id, d.job_id, d.event_type, d.url, d.owner, d.attempts, d.body;
