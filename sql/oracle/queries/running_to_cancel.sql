-- Bulk cancel (POST /jobs/cancel): at most :row_limit running jobs of procedure :procedure (as
-- written, case-insensitive; NULL: any) and of :owner (NULL: any) whose cancellation is not
-- requested yet; each is then cancelled as one job is (cancel_running.sql).
-- Binds: procedure VARCHAR2(200), owner VARCHAR2(128), row_limit NUMBER.
SELECT JOB_ID FROM ASYNC_JOBS
 WHERE STATUS = 'running' AND CANCEL_REQUESTED = 0
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND (:owner IS NULL OR OWNER = :owner)
   AND ROWNUM <= :row_limit;
