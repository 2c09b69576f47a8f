-- Inserts one job, 'pending' (:run_at NULL: due now); procgate sends it as array DML, one row
-- per job of a batch, with batch errors (one round trip for the batch). The CLOB binds :params,
-- :retry_policy come last (Oracle wants LOB and LONG binds after all others). A taken idempotency
-- key fails that row with ORA-00001 (unique index ASYNC_JOBS_IDEMPOTENCY_UX), not the others; the
-- job holding it is then looked up with existing_key.sql.
-- Binds: job_id VARCHAR2(32), procedure_name VARCHAR2(200), owner VARCHAR2(128),
--   is_function NUMBER, priority NUMBER, run_at TIMESTAMP, max_attempts NUMBER, timeout_ms NUMBER,
--   idempotency_key VARCHAR2(200), capture_output NUMBER, routine VARCHAR2(400),
--   callback_url VARCHAR2(2000), callback_events VARCHAR2(200), retry_of VARCHAR2(32), params CLOB,
--   retry_policy CLOB.
INSERT INTO ASYNC_JOBS (JOB_ID, STATUS, PROCEDURE_NAME, START_TIME, CREATED_AT, PROGRESS, OWNER, IS_FUNCTION,
                        PRIORITY, RUN_AT, MAX_ATTEMPTS, TIMEOUT_MS, IDEMPOTENCY_KEY, CAPTURE_OUTPUT, ATTEMPTS,
                        CANCEL_REQUESTED, ROUTINE, CALLBACK_URL, CALLBACK_EVENTS, RETRY_OF, ATTEMPT_HISTORY,
                        PARAMS, RETRY_POLICY)
VALUES (:job_id, 'pending', :procedure_name, SYS_EXTRACT_UTC(SYSTIMESTAMP), SYS_EXTRACT_UTC(SYSTIMESTAMP), 0, :owner, :is_function, :priority, NVL(:run_at, SYS_EXTRACT_UTC(SYSTIMESTAMP)), :max_attempts, :timeout_ms, :idempotency_key, :capture_output, 0, 0, :routine, :callback_url, :callback_events, :retry_of, '[]', :params, :retry_policy);
