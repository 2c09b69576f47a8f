-- Deletes job :job_id (when it belongs to :owner, or :owner is NULL) unless it is running.
-- Binds: job_id VARCHAR2(32), owner VARCHAR2(128).
DELETE FROM ASYNC_JOBS
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS <> 'running';
