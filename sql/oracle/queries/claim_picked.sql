-- Claims the picked candidates (:ids, a SYS.ODCIVARCHAR2LIST, already locked by this
-- transaction) for instance :instance_id and returns them through the :claimed cursor.
-- Each job comes with its owner and the seconds it waited since it was due (/stats, /metrics).
-- Binds: ids SYS.ODCIVARCHAR2LIST, instance_id VARCHAR2(64), claimed REFCURSOR (out).
DECLARE
    l_claimed SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    UPDATE ASYNC_JOBS
       SET STATUS = 'running', PROGRESS = 10, START_TIME = SYS_EXTRACT_UTC(SYSTIMESTAMP), INSTANCE_ID = :instance_id,
           MESSAGE = NULL, REPORT_PERCENT = NULL, REPORT_PROCESSED = NULL, REPORT_TOTAL = NULL,
           HEARTBEAT_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP), ATTEMPTS = ATTEMPTS + 1, CANCEL_REQUESTED = 0
     WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'pending'
    RETURNING JOB_ID BULK COLLECT INTO l_claimed;
    OPEN :claimed FOR
        SELECT JOB_ID, PROCEDURE_NAME, PARAMS, IS_FUNCTION, ATTEMPTS, RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT,
               OWNER, (CAST(START_TIME AS DATE) - CAST(RUN_AT AS DATE)) * 86400 FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_claimed))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;
/
