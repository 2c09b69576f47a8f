-- Claims up to :claim_limit due webhook deliveries for instance :instance_id, leased for
-- :lease_seconds: pending ones whose next attempt is due and that no live lease holds (a dead
-- instance's lease runs out), oldest due first, skipping rows another deliverer holds (a FOR UPDATE
-- SKIP LOCKED cursor fetched at most :claim_limit rows, as claim.sql does); returns them through
-- the :claimed cursor.
-- Binds: claim_limit NUMBER, instance_id VARCHAR2(64), lease_seconds NUMBER, claimed REFCURSOR (out).
DECLARE
    CURSOR c IS
        SELECT EVENT_ID FROM ASYNC_JOB_DELIVERIES
         WHERE STATUS = 'pending' AND NEXT_ATTEMPT_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
           AND (LEASE_UNTIL IS NULL OR LEASE_UNTIL < SYS_EXTRACT_UTC(SYSTIMESTAMP))
         ORDER BY NEXT_ATTEMPT_AT
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCINUMBERLIST := SYS.ODCINUMBERLIST();
    l_claimed SYS.ODCINUMBERLIST := SYS.ODCINUMBERLIST();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids LIMIT :claim_limit;
    CLOSE c;
    FORALL i IN 1 .. l_ids.COUNT
    UPDATE ASYNC_JOB_DELIVERIES
       SET INSTANCE_ID = :instance_id,
           LEASE_UNTIL = SYS_EXTRACT_UTC(SYSTIMESTAMP) + NUMTODSINTERVAL(:lease_seconds, 'SECOND')
     WHERE EVENT_ID = l_ids(i) AND STATUS = 'pending'
    RETURNING EVENT_ID BULK COLLECT INTO l_claimed;
    OPEN :claimed FOR
        SELECT EVENT_ID, JOB_ID, EVENT_TYPE, URL, OWNER, ATTEMPTS, BODY FROM ASYNC_JOB_DELIVERIES
         WHERE EVENT_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_claimed))
         ORDER BY NEXT_ATTEMPT_AT;
END;
/
