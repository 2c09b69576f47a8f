-- Deletes at most :batch ended jobs whose status is in :statuses (a comma list of terminal
-- status words), ended more than :days days ago (NULL: any time) and owned by :owner (NULL: any),
-- skipping rows others hold and re-checking the status of each row it deletes. :deleted (out)
-- is how many.
-- Binds: statuses VARCHAR2(200), days NUMBER, owner VARCHAR2(128), batch NUMBER,
--   deleted NUMBER (out).
DECLARE
    CURSOR c IS
        SELECT ROWID FROM ASYNC_JOBS
         WHERE INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0
           AND (:days IS NULL OR END_TIME < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:days, 'DAY'))
           AND (:owner IS NULL OR OWNER = :owner)
           FOR UPDATE SKIP LOCKED;
    TYPE t_rowids IS TABLE OF ROWID;
    l_rowids t_rowids := t_rowids();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_rowids LIMIT :batch;
    CLOSE c;
    FORALL i IN 1 .. l_rowids.COUNT
        DELETE FROM ASYNC_JOBS
         WHERE ROWID = l_rowids(i) AND INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0;
    :deleted := SQL%ROWCOUNT;
END;
/
