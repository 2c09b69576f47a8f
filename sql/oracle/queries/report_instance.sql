-- Instance :instance_id's row of ASYNC_INSTANCES, merged with each of its heartbeats: started
-- :uptime seconds ago, :workers workers of which :workers_busy busy, and its own per-minute counts
-- of the last 15 minutes (:counts, a JSON array). The rows of instances that stopped beating an
-- hour ago go in the same round trip.
-- Binds: instance_id VARCHAR2(64), uptime NUMBER, workers NUMBER, workers_busy NUMBER, counts CLOB.
BEGIN
    MERGE INTO ASYNC_INSTANCES i
    USING (SELECT :instance_id AS INSTANCE_ID FROM DUAL) s ON (i.INSTANCE_ID = s.INSTANCE_ID)
    WHEN MATCHED THEN UPDATE
        SET STARTED_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:uptime, 'SECOND'),
            HEARTBEAT_AT = SYS_EXTRACT_UTC(SYSTIMESTAMP), WORKERS = :workers, WORKERS_BUSY = :workers_busy,
            COUNTS = :counts
    WHEN NOT MATCHED THEN
        INSERT (INSTANCE_ID, STARTED_AT, HEARTBEAT_AT, WORKERS, WORKERS_BUSY, COUNTS)
        VALUES (s.INSTANCE_ID, SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:uptime, 'SECOND'),
                SYS_EXTRACT_UTC(SYSTIMESTAMP), :workers, :workers_busy, :counts);
    DELETE FROM ASYNC_INSTANCES
     WHERE HEARTBEAT_AT < SYS_EXTRACT_UTC(SYSTIMESTAMP) - INTERVAL '1' HOUR AND INSTANCE_ID <> :instance_id;
END;
/
