-- Raises progress, never lowering it, and records the call's session (SID,SERIAL#, when known:
-- NULL otherwise) of jobs still running on instance :instance_id; :ids, :progress and :sessions
-- hold one entry per job.
-- Binds: ids SYS.ODCIVARCHAR2LIST, progress SYS.ODCINUMBERLIST, sessions SYS.ODCIVARCHAR2LIST,
--   instance_id VARCHAR2(64).
DECLARE
    l_ids SYS.ODCIVARCHAR2LIST := :ids;
    l_progress SYS.ODCINUMBERLIST := :progress;
    l_sessions SYS.ODCIVARCHAR2LIST := :sessions;
BEGIN
    FORALL i IN 1 .. l_ids.COUNT
        UPDATE ASYNC_JOBS SET PROGRESS = GREATEST(NVL(PROGRESS, 0), l_progress(i)),
                              SESSION_ID = NVL(l_sessions(i), SESSION_ID)
         WHERE JOB_ID = l_ids(i) AND STATUS = 'running' AND INSTANCE_ID = :instance_id
           AND (NVL(PROGRESS, 0) < l_progress(i) OR l_sessions(i) IS NOT NULL);
END;
/
