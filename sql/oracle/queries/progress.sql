-- Raises progress, never lowering it, and records the call's session (SID,SERIAL#, when known:
-- NULL otherwise) and the procedure's own latest report (each field when reported: NULL keeps
-- the one before) of jobs still running on instance :instance_id; :ids, :progress, :sessions,
-- :percents, :messages (at most 1000 characters each), :processed and :totals hold one entry
-- per job.
-- Binds: ids SYS.ODCIVARCHAR2LIST, progress SYS.ODCINUMBERLIST, sessions SYS.ODCIVARCHAR2LIST,
--   percents SYS.ODCINUMBERLIST, messages SYS.ODCIVARCHAR2LIST, processed SYS.ODCINUMBERLIST,
--   totals SYS.ODCINUMBERLIST, instance_id VARCHAR2(64).
DECLARE
    l_ids SYS.ODCIVARCHAR2LIST := :ids;
    l_progress SYS.ODCINUMBERLIST := :progress;
    l_sessions SYS.ODCIVARCHAR2LIST := :sessions;
    l_percents SYS.ODCINUMBERLIST := :percents;
    l_messages SYS.ODCIVARCHAR2LIST := :messages;
    l_processed SYS.ODCINUMBERLIST := :processed;
    l_totals SYS.ODCINUMBERLIST := :totals;
BEGIN
    FORALL i IN 1 .. l_ids.COUNT
        UPDATE ASYNC_JOBS SET PROGRESS = GREATEST(NVL(PROGRESS, 0), l_progress(i)),
                              SESSION_ID = NVL(l_sessions(i), SESSION_ID),
                              REPORT_PERCENT = NVL(l_percents(i), REPORT_PERCENT),
                              MESSAGE = CASE WHEN l_messages(i) IS NULL THEN MESSAGE ELSE TO_CLOB(l_messages(i)) END,
                              REPORT_PROCESSED = NVL(l_processed(i), REPORT_PROCESSED),
                              REPORT_TOTAL = NVL(l_totals(i), REPORT_TOTAL),
                              -- What a client sees changed: counted (to 1000); the event trigger
                              -- writes a 'progress' event for the first 100.
                              PROGRESS_EVENTS = LEAST(PROGRESS_EVENTS + CASE
                                  WHEN NVL(PROGRESS, 0) < l_progress(i) OR l_percents(i) IS NOT NULL
                                    OR l_messages(i) IS NOT NULL OR l_processed(i) IS NOT NULL
                                    OR l_totals(i) IS NOT NULL THEN 1 ELSE 0 END, 1000)
         WHERE JOB_ID = l_ids(i) AND STATUS = 'running' AND INSTANCE_ID = :instance_id
           AND (NVL(PROGRESS, 0) < l_progress(i) OR l_sessions(i) IS NOT NULL
                OR l_percents(i) IS NOT NULL OR l_messages(i) IS NOT NULL
                OR l_processed(i) IS NOT NULL OR l_totals(i) IS NOT NULL);
END;
/
