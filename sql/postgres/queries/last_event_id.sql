-- The highest event id written so far (0 when there is none).
SELECT coalesce(max(event_id), 0) FROM async_job_events;
