-- A caller's (:owner) pending jobs, at most :cap of them counted (ROWNUM stops the scan there).
-- Binds: owner VARCHAR2(128), cap NUMBER.
SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS
 WHERE OWNER = :owner AND STATUS = 'pending' AND ROWNUM <= :cap);
