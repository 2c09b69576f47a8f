-- Every job's events with an id above :after_id, and those whose id is in :missing (a comma list
-- of ids an earlier read skipped: written by transactions that had not committed yet; none
-- below :lowest_missing), oldest first, at most :row_limit.
-- Binds: after_id NUMBER, lowest_missing NUMBER, missing VARCHAR2(4000), row_limit NUMBER.
SELECT EVENT_ID, JOB_ID, EVENT_TYPE, EVENT_AT, OWNER, PROCEDURE_NAME, STATUS, PROGRESS, ATTEMPT, ERROR_CODE,
       ERROR_MSG, MESSAGE, REPORT_PERCENT, REPORT_PROCESSED, REPORT_TOTAL, RUN_AT
  FROM ASYNC_JOB_EVENTS
 WHERE EVENT_ID > :after_id
    OR EVENT_ID BETWEEN :lowest_missing AND :after_id
       AND INSTR(',' || :missing || ',', ',' || TO_CHAR(EVENT_ID) || ',') > 0
 ORDER BY EVENT_ID
 FETCH FIRST :row_limit ROWS ONLY;
