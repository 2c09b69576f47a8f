-- The wake-up channels: new jobs (procgate_jobs), cancellation requests (procgate_cancel,
-- payload: the job id) and new events (procgate_events, payload: the instance that wrote them).
LISTEN procgate_jobs;
LISTEN procgate_cancel;
LISTEN procgate_events;
