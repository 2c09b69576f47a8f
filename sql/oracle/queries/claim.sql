-- Claims the first :claim_limit due pending jobs for instance :instance_id (highest
-- priority, then oldest), skipping rows other claimers hold, and returns them through the
-- :claimed cursor. FOR UPDATE cannot lock "the first n rows" with ROWNUM/FETCH FIRST, so a
-- FOR UPDATE SKIP LOCKED cursor is fetched at most :claim_limit rows (only those are locked);
-- the update re-checks each row's status.
-- Each job comes with its owner and the seconds it waited since it was due (/stats, /metrics).
-- Binds: claim_limit NUMBER, instance_id VARCHAR2(64), claimed REFCURSOR (out).
DECLARE
    CURSOR c IS
        SELECT JOB_ID FROM ASYNC_JOBS
         WHERE STATUS = 'pending' AND RUN_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
         ORDER BY PRIORITY DESC, CREATED_AT
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_claimed SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids LIMIT :claim_limit;
    CLOSE c;
    FORALL i IN 1 .. l_ids.COUNT
    UPDATE ASYNC_JOBS
       SET STATUS = 'running', PROGRESS = 10, START_TIME = SYS_EXTRACT_UTC(SYSTIMESTAMP), INSTANCE_ID = :instance_id,
           MESSAGE = NULL, REPORT_PERCENT = NULL, REPORT_PROCESSED = NULL, REPORT_TOTAL = NULL,
           HEARTBEAT_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP), ATTEMPTS = ATTEMPTS + 1, CANCEL_REQUESTED = 0
     WHERE JOB_ID = l_ids(i) AND STATUS = 'pending'
    RETURNING JOB_ID BULK COLLECT INTO l_claimed;
    OPEN :claimed FOR
        SELECT JOB_ID, PROCEDURE_NAME, PARAMS, IS_FUNCTION, ATTEMPTS, RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT,
               OWNER, (CAST(START_TIME AS DATE) - CAST(RUN_AT AS DATE)) * 86400 FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_claimed))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;
/
