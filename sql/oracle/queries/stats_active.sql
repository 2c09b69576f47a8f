-- GET /stats: the queue's unfinished jobs per procedure (:owner only; every owner when NULL): due
-- pending jobs, delayed ones (RUN_AT still ahead), running ones, and how many seconds the oldest
-- due job has waited since its RUN_AT. Each branch reads an index led by STATUS
-- (ASYNC_JOBS_PENDING_IX, ASYNC_JOBS_RUNNING_IX): the cost follows the queue's depth.
-- Binds: owner VARCHAR2(128).
SELECT PROCEDURE_NAME, SUM(DUE), SUM(DELAYED), SUM(RUNNING),
       (CAST(SYS_EXTRACT_UTC(SYSTIMESTAMP) AS DATE) - CAST(MIN(OLDEST_DUE) AS DATE)) * 86400
  FROM (SELECT PROCEDURE_NAME,
               SUM(CASE WHEN RUN_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP) THEN 1 ELSE 0 END) AS DUE,
               SUM(CASE WHEN RUN_AT > SYS_EXTRACT_UTC(SYSTIMESTAMP) THEN 1 ELSE 0 END) AS DELAYED,
               0 AS RUNNING,
               MIN(CASE WHEN RUN_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP) THEN RUN_AT END) AS OLDEST_DUE
          FROM ASYNC_JOBS
         WHERE STATUS = 'pending' AND (:owner IS NULL OR OWNER = :owner)
         GROUP BY PROCEDURE_NAME
        UNION ALL
        SELECT PROCEDURE_NAME, 0, 0, COUNT(*), NULL
          FROM ASYNC_JOBS
         WHERE STATUS = 'running' AND (:owner IS NULL OR OWNER = :owner)
         GROUP BY PROCEDURE_NAME)
 GROUP BY PROCEDURE_NAME
 ORDER BY PROCEDURE_NAME;
