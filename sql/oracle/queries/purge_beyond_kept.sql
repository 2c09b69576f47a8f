-- Retention by count (JOB_KEEP_COMPLETED, JOB_KEEP_FAILED): deletes at most :batch jobs of
-- terminal status :status beyond its :keep most recently ended ones. The statement's row count is
-- how many.
-- Binds: status VARCHAR2(20), keep NUMBER, batch NUMBER.
DELETE FROM ASYNC_JOBS
 WHERE ROWID IN (SELECT rid
                   FROM (SELECT ROWID AS rid, ROW_NUMBER() OVER (ORDER BY END_TIME DESC, JOB_ID DESC) AS rn
                           FROM ASYNC_JOBS
                          WHERE STATUS = :status AND STATUS IN ('completed', 'failed', 'cancelled'))
                  WHERE rn > :keep AND rn <= :keep + :batch)
   AND STATUS = :status;
