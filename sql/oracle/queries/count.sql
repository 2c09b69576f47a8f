-- How many jobs match the list filter, counting at most :cap of them (ROWNUM stops the scan
-- there; above the cap Oracle's total is that lower bound, flagged as not exact): :statuses (a
-- comma list of procgate's own status words, or NULL), :procedure (NULL: any; case-insensitive),
-- :owner (NULL: any), created at or after :created_after and before :created_before (UTC; NULL:
-- any time).
-- Binds: statuses VARCHAR2(200), procedure VARCHAR2(200), owner VARCHAR2(128), created_after TIMESTAMP,
--   created_before TIMESTAMP, cap NUMBER.
SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS WHERE (:statuses IS NULL OR INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0)
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND (:owner IS NULL OR OWNER = :owner)
   AND (:created_after IS NULL OR CREATED_AT >= :created_after)
   AND (:created_before IS NULL OR CREATED_AT < :created_before)
   AND ROWNUM <= :cap);
