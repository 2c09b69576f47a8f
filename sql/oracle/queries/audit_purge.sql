-- Deletes at most :row_limit audit rows recorded more than :days days ago (AUDIT_RETENTION_DAYS),
-- through ASYNC_AUDIT_TIME_IX.
-- Binds: days NUMBER, row_limit NUMBER.
DELETE FROM ASYNC_AUDIT
 WHERE OCCURRED_AT < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:days, 'DAY')
   AND ROWNUM <= :row_limit;
