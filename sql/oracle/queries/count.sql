-- How many jobs match the list filter: :statuses (a comma list of procgate's own status words,
-- or NULL), :procedure (NULL: any; case-insensitive), :owner (NULL: any).
-- Binds: statuses VARCHAR2(200), procedure VARCHAR2(200), owner VARCHAR2(128).
SELECT COUNT(*) FROM ASYNC_JOBS WHERE (:statuses IS NULL OR INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0)
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND (:owner IS NULL OR OWNER = :owner);
