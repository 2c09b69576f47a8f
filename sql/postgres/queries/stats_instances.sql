-- GET /stats: the instances that beat within the last $1 seconds, with how many seconds ago each
-- beat (by the database's clock) and its per-minute counts.
SELECT instance_id, started_at, heartbeat_at, extract(epoch FROM now() - heartbeat_at)::float8,
       workers, workers_busy, counts
  FROM async_instances
 WHERE heartbeat_at >= now() - make_interval(secs => $1)
 ORDER BY instance_id;
