-- Bulk cancel (POST /jobs/cancel): cancels at most :batch pending jobs of procedure :procedure (as
-- written, case-insensitive; NULL: any) and of :owner (NULL: any); they will never run. The
-- statement's row count is how many.
-- Binds: procedure VARCHAR2(200), owner VARCHAR2(128), batch NUMBER.
UPDATE ASYNC_JOBS SET STATUS = 'cancelled', END_TIME = SYS_EXTRACT_UTC(SYSTIMESTAMP), ERROR_CODE = 'cancelled',
       ERROR_MSG = 'cancelled by request before it ran'
 WHERE STATUS = 'pending'
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND (:owner IS NULL OR OWNER = :owner)
   AND ROWNUM <= :batch;
