-- Records one attempt of delivery :event_id held by instance :instance_id: its new :status
-- ('pending' to try again in :retry_in seconds, 'delivered', 'failed'), the :attempt (JSON)
-- appended to its log, and the LOB bind :body (kept from the first attempt: retries send the same
-- bytes), assigned after the other SET binds. Only while this instance holds it: a late write
-- after its lease was taken over changes nothing.
-- Binds: status VARCHAR2(20), retry_in NUMBER, attempt VARCHAR2(4000), body CLOB, event_id NUMBER,
--   instance_id VARCHAR2(64).
UPDATE ASYNC_JOB_DELIVERIES
   SET STATUS = :status, ATTEMPTS = ATTEMPTS + 1,
       NEXT_ATTEMPT_AT = CASE WHEN :status = 'pending' THEN SYS_EXTRACT_UTC(SYSTIMESTAMP) + NUMTODSINTERVAL(:retry_in, 'SECOND') ELSE NEXT_ATTEMPT_AT END,
       DELIVERED_AT = CASE WHEN :status = 'delivered' THEN SYS_EXTRACT_UTC(SYSTIMESTAMP) END,
       ATTEMPT_LOG = CASE WHEN DBMS_LOB.GETLENGTH(ATTEMPT_LOG) > 2 THEN SUBSTR(ATTEMPT_LOG, 1, DBMS_LOB.GETLENGTH(ATTEMPT_LOG) - 1) || ',' || :attempt || ']' ELSE TO_CLOB('[' || :attempt || ']') END,
       INSTANCE_ID = NULL, LEASE_UNTIL = NULL,
       BODY = NVL(BODY, :body)
 WHERE EVENT_ID = :event_id AND INSTANCE_ID = :instance_id AND STATUS = 'pending';
