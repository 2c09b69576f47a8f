-- Due pending jobs in claim order (locked as fetched, at most :candidate_limit), except those
-- of procedures at their limit (:saturated, a SYS.ODCIVARCHAR2LIST), returned with their limit key
-- through the :candidates cursor; the caller picks within each one's room.
-- Binds: saturated SYS.ODCIVARCHAR2LIST, candidate_limit NUMBER, candidates REFCURSOR (out).
DECLARE
    CURSOR c IS
        SELECT JOB_ID FROM ASYNC_JOBS
         WHERE STATUS = 'pending' AND RUN_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
           AND NVL(ROUTINE, UPPER(PROCEDURE_NAME)) NOT IN (SELECT COLUMN_VALUE FROM TABLE(:saturated))
         ORDER BY PRIORITY DESC, CREATED_AT
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids LIMIT :candidate_limit;
    CLOSE c;
    OPEN :candidates FOR
        SELECT JOB_ID, NVL(ROUTINE, UPPER(PROCEDURE_NAME)) FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_ids))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;
/
