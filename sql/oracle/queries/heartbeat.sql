-- Renews the lease of the jobs :ids (SYS.ODCIVARCHAR2LIST) still running on :instance_id.
-- Binds: ids SYS.ODCIVARCHAR2LIST, instance_id VARCHAR2(64).
UPDATE ASYNC_JOBS SET HEARTBEAT_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP)
 WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'running' AND INSTANCE_ID = :instance_id;
