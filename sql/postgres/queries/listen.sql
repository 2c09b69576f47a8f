-- The wake-up channels: new jobs (procgate_jobs) and cancellation requests (procgate_cancel,
-- payload: the job id).
LISTEN procgate_jobs;
LISTEN procgate_cancel;;
