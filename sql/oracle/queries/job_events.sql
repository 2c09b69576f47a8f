-- Job :job_id's events after event :after_id (0: all of them), oldest first, at most :row_limit.
-- Binds: job_id VARCHAR2(32), after_id NUMBER, row_limit NUMBER.
SELECT EVENT_ID, JOB_ID, EVENT_TYPE, EVENT_AT, OWNER, PROCEDURE_NAME, STATUS, PROGRESS, ATTEMPT, ERROR_CODE,
       ERROR_MSG, MESSAGE, REPORT_PERCENT, REPORT_PROCESSED, REPORT_TOTAL, RUN_AT
  FROM ASYNC_JOB_EVENTS
 WHERE JOB_ID = :job_id AND EVENT_ID > :after_id
 ORDER BY EVENT_ID
 FETCH FIRST :row_limit ROWS ONLY;
