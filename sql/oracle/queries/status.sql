-- The status of job :job_id (when it belongs to :owner, or :owner is NULL).
-- Binds: job_id VARCHAR2(32), owner VARCHAR2(128).
SELECT STATUS FROM ASYNC_JOBS WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner);
