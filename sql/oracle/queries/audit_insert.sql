-- Records one audit entry; procgate sends it as array DML (one round trip and one commit for a
-- whole batch of entries). OCCURRED_AT is UTC, as every procgate time. See docs/sql.md.
-- Binds: occurred_at TIMESTAMP, instance_id VARCHAR2(64), client VARCHAR2(128), action VARCHAR2(20),
--   procedure_name VARCHAR2(512), job_id VARCHAR2(32), outcome VARCHAR2(64), http_status NUMBER,
--   duration_ms NUMBER, affected NUMBER, detail VARCHAR2(1000).
INSERT INTO ASYNC_AUDIT (OCCURRED_AT, INSTANCE_ID, CLIENT, ACTION, PROCEDURE_NAME, JOB_ID, OUTCOME, HTTP_STATUS,
                         DURATION_MS, AFFECTED, DETAIL)
VALUES (:occurred_at, :instance_id, :client, :action, :procedure_name, :job_id, :outcome, :http_status,
        :duration_ms, :affected, :detail);
