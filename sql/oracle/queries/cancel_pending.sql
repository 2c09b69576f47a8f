-- Cancels job :job_id if it is still pending (and belongs to :owner, when not NULL).
-- Binds: job_id VARCHAR2(32), owner VARCHAR2(128).
UPDATE ASYNC_JOBS SET STATUS = 'cancelled', END_TIME = SYS_EXTRACT_UTC(SYSTIMESTAMP), ERROR_CODE = 'cancelled',
       ERROR_MSG = 'cancelled by request before it ran'
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS = 'pending';
