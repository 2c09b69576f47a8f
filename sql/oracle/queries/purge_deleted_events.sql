-- Removes the 'deleted' rows left by jobs deleted more than :age_seconds seconds ago, at most
-- :row_limit of them.
-- Binds: age_seconds NUMBER, row_limit NUMBER.
DELETE FROM ASYNC_JOB_EVENTS
 WHERE (CASE WHEN EVENT_TYPE = 'deleted' THEN EVENT_AT END)
       < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:age_seconds, 'SECOND')
   AND ROWNUM <= :row_limit;
