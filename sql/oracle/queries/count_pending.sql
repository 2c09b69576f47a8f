-- A caller's (:owner) pending jobs, at most :cap of them counted (ROWNUM stops the scan there).
SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS
 WHERE OWNER = :owner AND STATUS = 'pending' AND ROWNUM <= :cap)
