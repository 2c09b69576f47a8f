-- The highest event id written so far (0 when there is none).
-- Binds: none.
SELECT NVL(MAX(EVENT_ID), 0) FROM ASYNC_JOB_EVENTS;
