-- Requests the cancellation of job :job_id if it is running (and belongs to :owner, when not
-- NULL); its instance stops it at its next heartbeat.
-- Binds: job_id VARCHAR2(32), owner VARCHAR2(128).
UPDATE ASYNC_JOBS SET CANCEL_REQUESTED = 1
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS = 'running';
