-- Read in the heartbeat's transaction, after its update has locked the rows: of :ids
-- (SYS.ODCIVARCHAR2LIST), the jobs instance :instance_id must stop (cancellation requested, or
-- no longer running there: rescued, re-claimed).
-- Binds: ids SYS.ODCIVARCHAR2LIST, instance_id VARCHAR2(64).
SELECT COLUMN_VALUE FROM TABLE(:ids)
 WHERE COLUMN_VALUE NOT IN (SELECT JOB_ID FROM ASYNC_JOBS
                             WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'running'
                               AND INSTANCE_ID = :instance_id AND CANCEL_REQUESTED = 0);
