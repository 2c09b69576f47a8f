-- 1 when this session's open transaction has written anything (Oracle starts a transaction at
-- the first change), 0 otherwise: a job's call that wrote nothing has no effect to commit with
-- its completion.
-- Binds: none.
SELECT CASE WHEN DBMS_TRANSACTION.LOCAL_TRANSACTION_ID IS NULL THEN 0 ELSE 1 END FROM DUAL;
