-- GET /stats: the jobs in ended status :status (of :owner; every owner when NULL), counting at
-- most :cap of them (ROWNUM stops the range scan of ASYNC_JOBS_ENDED_OWNER_IX there).
-- Binds: status VARCHAR2(20), owner VARCHAR2(128), cap NUMBER.
SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS
 WHERE STATUS = :status AND (:owner IS NULL OR OWNER = :owner) AND ROWNUM <= :cap);
