-- Running jobs per procedure, counted by what per-procedure limits count a job by: its
-- resolved routine, or for a row written before ROUTINE existed, its name as written
-- (NVL(ROUTINE, UPPER(PROCEDURE_NAME)); see RoomPerProcedure).
-- Binds: none.
SELECT NVL(ROUTINE, UPPER(PROCEDURE_NAME)), COUNT(*) FROM ASYNC_JOBS WHERE STATUS = 'running' GROUP BY NVL(ROUTINE, UPPER(PROCEDURE_NAME));
