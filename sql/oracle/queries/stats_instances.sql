-- GET /stats: the instances that beat within the last :within seconds, with how many seconds ago
-- each beat (by the database's clock) and its per-minute counts.
-- Binds: within NUMBER.
SELECT INSTANCE_ID, STARTED_AT, HEARTBEAT_AT,
       (CAST(SYS_EXTRACT_UTC(SYSTIMESTAMP) AS DATE) - CAST(HEARTBEAT_AT AS DATE)) * 86400,
       WORKERS, WORKERS_BUSY, COUNTS
  FROM ASYNC_INSTANCES
 WHERE HEARTBEAT_AT >= SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:within, 'SECOND')
 ORDER BY INSTANCE_ID;
