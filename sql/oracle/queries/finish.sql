-- Ends one attempt: terminal, or back to pending (a retry, in :retry_in seconds) when :status
-- is 'pending'; procgate sends it as array DML, one row per outcome of a batch, and reads each
-- row's count. Conditional on the job still running on :instance_id in attempt :attempt: a
-- late or stale write changes nothing (its row count is 0). A retry of a job whose cancellation
-- was requested meanwhile ends it 'cancelled' instead: a requested cancel always wins over a retry.
-- :history_message is the message shortened for the attempt history; the LOB binds :result,
-- :message, :output (the captured lines, JSON) are assigned whole (they may be temporary LOBs),
-- after the other SET binds and before the small WHERE binds.
-- Binds: status VARCHAR2(20), code VARCHAR2(64), retry_in NUMBER, history_message VARCHAR2(4000),
--   result CLOB, message CLOB, output CLOB, job_id VARCHAR2(32), instance_id VARCHAR2(64),
--   attempt NUMBER.
UPDATE ASYNC_JOBS
   SET STATUS = (CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :status END),
       PROGRESS = CASE (CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :status END) WHEN 'pending' THEN 0 WHEN 'cancelled' THEN PROGRESS ELSE 100 END,
       END_TIME = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE SYS_EXTRACT_UTC(SYSTIMESTAMP) END,
       DURATION = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE TO_CHAR(ROUND(EXTRACT(DAY FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 86400 + EXTRACT(HOUR FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 3600 + EXTRACT(MINUTE FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 60 + EXTRACT(SECOND FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)), 2), 'FM999999999990.00') || 's' END,
       ERROR_CODE = CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :code END,
       RUN_AT = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN SYS_EXTRACT_UTC(SYSTIMESTAMP) + NUMTODSINTERVAL(:retry_in, 'SECOND') ELSE RUN_AT END,
       ATTEMPT_HISTORY = CASE WHEN :code IS NULL THEN ATTEMPT_HISTORY ELSE CASE WHEN DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) > 2 THEN SUBSTR(ATTEMPT_HISTORY, 1, DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) - 1) || ',' || JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE :code, 'message' VALUE :history_message, 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'ended_at' VALUE TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'instance_id' VALUE INSTANCE_ID) || ']' ELSE TO_CLOB('[' || JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE :code, 'message' VALUE :history_message, 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'ended_at' VALUE TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'instance_id' VALUE INSTANCE_ID) || ']') END END,
       INSTANCE_ID = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE INSTANCE_ID END,
       HEARTBEAT_AT = NULL, CANCEL_REQUESTED = 0, SESSION_ID = NULL,
       RESULT = :result, ERROR_MSG = :message, OUTPUT = :output
 WHERE JOB_ID = :job_id AND STATUS = 'running' AND INSTANCE_ID = :instance_id AND ATTEMPTS = :attempt;
