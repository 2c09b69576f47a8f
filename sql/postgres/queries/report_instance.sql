-- Instance $1's row of async_instances, written with each of its heartbeats: started $2 seconds
-- ago, $3 workers of which $4 busy, and its own per-minute counts of the last 15 minutes ($5, a
-- JSON array). The rows of instances that stopped beating an hour ago go in the same statement.
WITH gone AS (
    DELETE FROM async_instances WHERE heartbeat_at < now() - interval '1 hour' AND instance_id <> $1)
INSERT INTO async_instances (instance_id, started_at, heartbeat_at, workers, workers_busy, counts)
VALUES ($1, now() - make_interval(secs => $2), now(), $3, $4, $5)
ON CONFLICT (instance_id) DO UPDATE
   SET started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, workers = excluded.workers,
       workers_busy = excluded.workers_busy, counts = excluded.counts;
