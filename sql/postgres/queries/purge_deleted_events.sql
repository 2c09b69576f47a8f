-- Removes the `deleted` rows left by jobs deleted more than $1 seconds ago, at most $2 of them.
DELETE FROM async_job_events
 WHERE event_id IN (SELECT event_id FROM async_job_events
                     WHERE event_type = 'deleted' AND event_at < now() - make_interval(secs => $1)
                     LIMIT $2);
