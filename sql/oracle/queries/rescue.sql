-- Running jobs whose instance stopped renewing their lease (:lease_seconds): first the sessions
-- their calls run on are killed (ALTER SYSTEM KILL SESSION ... IMMEDIATE, where the gateway's user
-- has ALTER SYSTEM; :kill_denied (out) = 1 tells that it has not: the dead session's rollback and
-- the completion's fence still keep its effects out); then they are retried if attempts remain
-- (and :retry_orphans = 1), failed with code 'orphaned' otherwise, or 'cancelled' when that was
-- requested. Returned through the :rescued cursor. A session id is checked to be two numbers
-- before it is used.
-- Binds: lease_seconds NUMBER, retry_orphans NUMBER, kill_denied NUMBER (out),
--   rescued REFCURSOR (out).
DECLARE
    CURSOR c IS
        SELECT JOB_ID, SESSION_ID FROM ASYNC_JOBS
         WHERE STATUS = 'running' AND HEARTBEAT_AT < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:lease_seconds, 'SECOND')
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_sessions SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_done SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    insufficient_privileges EXCEPTION;
    PRAGMA EXCEPTION_INIT(insufficient_privileges, -1031);
BEGIN
    :kill_denied := 0;
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids, l_sessions LIMIT 10000;
    CLOSE c;
    FOR i IN 1 .. l_sessions.COUNT LOOP
        IF REGEXP_LIKE(l_sessions(i), '^[0-9]+,[0-9]+$') THEN
            BEGIN
                EXECUTE IMMEDIATE 'ALTER SYSTEM KILL SESSION ''' || l_sessions(i) || ''' IMMEDIATE';
            EXCEPTION
                WHEN insufficient_privileges THEN :kill_denied := 1;
                WHEN OTHERS THEN NULL; -- ORA-00030: the session is gone already
            END;
        END IF;
    END LOOP;
    FORALL i IN 1 .. l_ids.COUNT
        UPDATE ASYNC_JOBS
           SET STATUS = CASE WHEN CANCEL_REQUESTED = 1 THEN 'cancelled'
                             WHEN ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN 'pending' ELSE 'failed' END,
               PROGRESS = CASE WHEN CANCEL_REQUESTED = 1 THEN PROGRESS
                               WHEN ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN 0 ELSE 100 END,
               END_TIME = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN NULL ELSE SYS_EXTRACT_UTC(SYSTIMESTAMP) END,
               DURATION = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN NULL ELSE TO_CHAR(ROUND(EXTRACT(DAY FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 86400 + EXTRACT(HOUR FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 3600 + EXTRACT(MINUTE FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 60 + EXTRACT(SECOND FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)), 2), 'FM999999999990.00') || 's' END,
               RUN_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP),
               ERROR_CODE = CASE WHEN CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE 'orphaned' END,
               ERROR_MSG = 'the instance running this job (' || NVL(INSTANCE_ID, '?')
                           || ') stopped: no heartbeat for ' || :lease_seconds || ' s',
               ATTEMPT_HISTORY = CASE WHEN DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) > 2 THEN SUBSTR(ATTEMPT_HISTORY, 1, DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) - 1) || ',' || JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE 'orphaned', 'message' VALUE 'no heartbeat', 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'ended_at' VALUE TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'instance_id' VALUE INSTANCE_ID) || ']' ELSE TO_CLOB('[' || JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE 'orphaned', 'message' VALUE 'no heartbeat', 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'ended_at' VALUE TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD"T"HH24:MI:SS.FF6"Z"'), 'instance_id' VALUE INSTANCE_ID) || ']') END,
               INSTANCE_ID = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1
                                  THEN NULL ELSE INSTANCE_ID END,
               HEARTBEAT_AT = NULL, CANCEL_REQUESTED = 0, SESSION_ID = NULL
         WHERE JOB_ID = l_ids(i) AND STATUS = 'running'
        RETURNING JOB_ID BULK COLLECT INTO l_done;
    OPEN :rescued FOR
        SELECT JOB_ID, STATUS FROM ASYNC_JOBS WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_done));
END;
/
