-- procgate job table for Oracle (12.2 or later). Idempotent: safe to run again, never drops data.
-- SQL*Plus users run it as they ran the predecessor's script:
--   sqlplus user/password@//host:1521/service @sql/oracle/create_async_jobs_table.sql
-- `procgate migrate` (and every `procgate serve` start) runs these same blocks.
--
-- Each step is a PL/SQL block that only creates what is missing, so an existing ASYNC_JOBS (the
-- predecessor's, or an older procgate's) is upgraded in place: the predecessor's columns keep
-- their names and types, procgate's own columns are added after them. Steps tolerate another
-- instance doing the same thing at the same moment (ORA-00955, ORA-01430, ORA-01408, ...).
-- Times are stored in UTC (SYS_EXTRACT_UTC(SYSTIMESTAMP)).

-- 1. The table.
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_JOBS';
    IF n = 0 THEN
        EXECUTE IMMEDIATE q'{
CREATE TABLE ASYNC_JOBS (
    JOB_ID           VARCHAR2(32)   PRIMARY KEY,
    STATUS           VARCHAR2(20)   NOT NULL
                     CONSTRAINT ASYNC_JOBS_STATUS_CK
                     CHECK (STATUS IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    PROCEDURE_NAME   VARCHAR2(200)  NOT NULL,
    PARAMS           CLOB,                      -- JSON: the parameters, directions and types filled in
    START_TIME       TIMESTAMP      NOT NULL,   -- accepted until claimed, then the real start (UTC)
    END_TIME         TIMESTAMP,
    DURATION         VARCHAR2(50),              -- the predecessor's text, e.g. '5.02s'
    RESULT           CLOB,                      -- JSON: the OUT parameters
    ERROR_MSG        CLOB,
    PROGRESS         NUMBER DEFAULT 0 CHECK (PROGRESS BETWEEN 0 AND 100),
    CREATED_AT       TIMESTAMP DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP),
    -- procgate
    OWNER            VARCHAR2(128)  DEFAULT 'default' NOT NULL,  -- the API token name that created it
    IS_FUNCTION      NUMBER(1)      DEFAULT 0 NOT NULL,
    PRIORITY         NUMBER(5)      DEFAULT 0 NOT NULL,          -- higher runs first
    ATTEMPTS         NUMBER(10)     DEFAULT 0 NOT NULL,
    ERROR_CODE       VARCHAR2(64),                               -- ORA-nnnnn, DPI-nnnn or procgate's own
    MESSAGE          CLOB,
    INSTANCE_ID      VARCHAR2(64),                               -- the gateway instance running it
    HEARTBEAT_AT     TIMESTAMP,
    CANCEL_REQUESTED NUMBER(1)      DEFAULT 0 NOT NULL,
    RUN_AT           TIMESTAMP      DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL, -- not claimed before
    MAX_ATTEMPTS     NUMBER(10)     DEFAULT 1 NOT NULL,
    RETRY_POLICY     CLOB,                                       -- JSON
    TIMEOUT_MS       NUMBER(19),                                 -- per-job timeout (NULL: JOB_TIMEOUT)
    ATTEMPT_HISTORY  CLOB           DEFAULT '[]',                -- JSON: one entry per failed attempt
    IDEMPOTENCY_KEY  VARCHAR2(200),                              -- unique per owner
    CAPTURE_OUTPUT   NUMBER(1)      DEFAULT 0 NOT NULL,          -- keep the DBMS_OUTPUT lines of the call
    OUTPUT           CLOB,                                       -- JSON: those lines (latest attempt)
    SESSION_ID       VARCHAR2(64),                               -- 'SID,SERIAL#' of the call while running
    ROUTINE          VARCHAR2(400),                              -- the resolved routine, SCHEMA.[PACKAGE.]NAME:
                                                                 -- what PROCEDURE_CONCURRENCY counts (NULL: PROCEDURE_NAME)
    REPORT_PERCENT   NUMBER(5,2),                                -- the procedure's own latest report (PROCGATE.PROGRESS
    REPORT_PROCESSED NUMBER(19),                                 -- or any longops it sets): percent, items processed
    REPORT_TOTAL     NUMBER(19),                                 -- and total; its message is in MESSAGE
    PROGRESS_EVENTS  NUMBER(5)      DEFAULT 0 NOT NULL           -- progress records so far (events: the first 100)
)}';
    END IF;
EXCEPTION
    WHEN OTHERS THEN
        IF SQLCODE != -955 THEN  -- ORA-00955: created meanwhile by another instance
            RAISE;
        END IF;
END;
/

-- 2. procgate's columns on a table created by the predecessor's script or an older procgate.
DECLARE
    PROCEDURE add_column(p_name VARCHAR2, p_definition VARCHAR2) IS
        n NUMBER;
    BEGIN
        SELECT COUNT(*) INTO n FROM USER_TAB_COLUMNS WHERE TABLE_NAME = 'ASYNC_JOBS' AND COLUMN_NAME = p_name;
        IF n = 0 THEN
            EXECUTE IMMEDIATE 'ALTER TABLE ASYNC_JOBS ADD (' || p_name || ' ' || p_definition || ')';
        END IF;
    EXCEPTION
        WHEN OTHERS THEN
            IF SQLCODE != -1430 THEN  -- ORA-01430: added meanwhile
                RAISE;
            END IF;
    END;
BEGIN
    add_column('OWNER', q'{VARCHAR2(128) DEFAULT 'default' NOT NULL}');
    add_column('IS_FUNCTION', 'NUMBER(1) DEFAULT 0 NOT NULL');
    add_column('PRIORITY', 'NUMBER(5) DEFAULT 0 NOT NULL');
    add_column('ATTEMPTS', 'NUMBER(10) DEFAULT 0 NOT NULL');
    add_column('ERROR_CODE', 'VARCHAR2(64)');
    add_column('MESSAGE', 'CLOB');
    add_column('INSTANCE_ID', 'VARCHAR2(64)');
    add_column('HEARTBEAT_AT', 'TIMESTAMP');
    add_column('CANCEL_REQUESTED', 'NUMBER(1) DEFAULT 0 NOT NULL');
    add_column('RUN_AT', 'TIMESTAMP DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL');
    add_column('MAX_ATTEMPTS', 'NUMBER(10) DEFAULT 1 NOT NULL');
    add_column('RETRY_POLICY', 'CLOB');
    add_column('TIMEOUT_MS', 'NUMBER(19)');
    add_column('ATTEMPT_HISTORY', q'{CLOB DEFAULT '[]'}');
    add_column('IDEMPOTENCY_KEY', 'VARCHAR2(200)');
    add_column('CAPTURE_OUTPUT', 'NUMBER(1) DEFAULT 0 NOT NULL');
    add_column('OUTPUT', 'CLOB');
    add_column('SESSION_ID', 'VARCHAR2(64)');
    add_column('ROUTINE', 'VARCHAR2(400)');
    add_column('REPORT_PERCENT', 'NUMBER(5,2)');
    add_column('REPORT_PROCESSED', 'NUMBER(19)');
    add_column('REPORT_TOTAL', 'NUMBER(19)');
    add_column('PROGRESS_EVENTS', 'NUMBER(5) DEFAULT 0 NOT NULL');
    -- POST /jobs/{id}/retry: the failed or cancelled job a new job retries (not a foreign key:
    -- the old job may be deleted while its retry lives on).
    add_column('RETRY_OF', 'VARCHAR2(32)');
END;
/

-- 3. The status check admits 'cancelled'. The predecessor's check (pending, running, completed,
--    failed) is replaced: a constraint is dropped, never data.
DECLARE
    n NUMBER;
    l_condition VARCHAR2(32767);
    PROCEDURE ddl(p_sql VARCHAR2, p_ignore PLS_INTEGER) IS
    BEGIN
        EXECUTE IMMEDIATE p_sql;
    EXCEPTION
        WHEN OTHERS THEN
            IF SQLCODE != p_ignore THEN
                RAISE;
            END IF;
    END;
BEGIN
    FOR c IN (SELECT CONSTRAINT_NAME, SEARCH_CONDITION FROM USER_CONSTRAINTS
               WHERE TABLE_NAME = 'ASYNC_JOBS' AND CONSTRAINT_TYPE = 'C') LOOP
        l_condition := c.SEARCH_CONDITION;
        IF INSTR(UPPER(l_condition), 'STATUS') > 0 AND INSTR(l_condition, 'pending') > 0
           AND INSTR(l_condition, 'cancelled') = 0 THEN
            -- ORA-02443: dropped meanwhile
            ddl('ALTER TABLE ASYNC_JOBS DROP CONSTRAINT "' || c.CONSTRAINT_NAME || '"', -2443);
        END IF;
    END LOOP;
    SELECT COUNT(*) INTO n FROM USER_CONSTRAINTS
     WHERE TABLE_NAME = 'ASYNC_JOBS' AND CONSTRAINT_NAME = 'ASYNC_JOBS_STATUS_CK';
    IF n = 0 THEN
        -- ORA-02264: added meanwhile
        ddl(q'{ALTER TABLE ASYNC_JOBS ADD CONSTRAINT ASYNC_JOBS_STATUS_CK
               CHECK (STATUS IN ('pending', 'running', 'completed', 'failed', 'cancelled'))}', -2264);
    END IF;
END;
/

-- 4. Indexes. Oracle has no partial indexes; rows whose indexed columns are all NULL are not
--    indexed, which makes ASYNC_JOBS_ENDED_IX hold ended jobs only and ASYNC_JOBS_IDEMPOTENCY_UX
--    jobs with a key only.
DECLARE
    PROCEDURE create_index(p_name VARCHAR2, p_sql VARCHAR2) IS
        n NUMBER;
    BEGIN
        SELECT COUNT(*) INTO n FROM USER_INDEXES WHERE INDEX_NAME = p_name;
        IF n = 0 THEN
            EXECUTE IMMEDIATE p_sql;
        END IF;
    EXCEPTION
        WHEN OTHERS THEN
            -- ORA-00955: created meanwhile; ORA-01408: these columns are indexed already
            IF SQLCODE NOT IN (-955, -1408) THEN
                RAISE;
            END IF;
    END;
BEGIN
    -- The claim: highest priority, then oldest pending first.
    create_index('ASYNC_JOBS_PENDING_IX', 'CREATE INDEX ASYNC_JOBS_PENDING_IX ON ASYNC_JOBS (STATUS, PRIORITY DESC, CREATED_AT)');
    -- Listings (GET /jobs), newest first: each index is in the listing order (CREATED_AT, JOB_ID DESC,
    -- read backwards; ascending, so new jobs go in at its right edge), so a page, a keyset page and
    -- a capped count read only the entries they return or count. One per filter a listing leads
    -- with (page.sql, page_owner.sql, page_status.sql, page_procedure.sql); the other filtered
    -- columns follow (after the unique JOB_ID they change no order), so the other filters and the
    -- count are applied to index entries, and only a page's rows are read from the table. Each
    -- costs an entry per job and state change. They replace ASYNC_JOBS_CREATED_IX (CREATED_AT).
    create_index('ASYNC_JOBS_LIST_IX',
        'CREATE INDEX ASYNC_JOBS_LIST_IX ON ASYNC_JOBS (CREATED_AT, JOB_ID DESC, STATUS, OWNER, PROCEDURE_NAME)');
    create_index('ASYNC_JOBS_LIST_OWNER_IX',
        'CREATE INDEX ASYNC_JOBS_LIST_OWNER_IX ON ASYNC_JOBS (OWNER, CREATED_AT, JOB_ID DESC, STATUS, PROCEDURE_NAME)');
    create_index('ASYNC_JOBS_LIST_STATUS_IX',
        'CREATE INDEX ASYNC_JOBS_LIST_STATUS_IX ON ASYNC_JOBS (STATUS, CREATED_AT, JOB_ID DESC, OWNER, PROCEDURE_NAME)');
    create_index('ASYNC_JOBS_LIST_PROCEDURE_IX', q'{CREATE INDEX ASYNC_JOBS_LIST_PROCEDURE_IX ON ASYNC_JOBS
        (UPPER(PROCEDURE_NAME), CREATED_AT, JOB_ID DESC, PROCEDURE_NAME, STATUS, OWNER)}');
    -- The rescuer: running jobs by heartbeat.
    create_index('ASYNC_JOBS_RUNNING_IX', 'CREATE INDEX ASYNC_JOBS_RUNNING_IX ON ASYNC_JOBS (STATUS, HEARTBEAT_AT)');
    -- Retention and bulk delete: ended jobs by end time.
    create_index('ASYNC_JOBS_ENDED_IX', 'CREATE INDEX ASYNC_JOBS_ENDED_IX ON ASYNC_JOBS (END_TIME)');
    -- Idempotency-Key: one job per owner and key.
    create_index('ASYNC_JOBS_IDEMPOTENCY_UX', 'CREATE UNIQUE INDEX ASYNC_JOBS_IDEMPOTENCY_UX ON ASYNC_JOBS '
        || '(CASE WHEN IDEMPOTENCY_KEY IS NOT NULL THEN OWNER END, IDEMPOTENCY_KEY)');
END;
/

-- 5. An empty table whose lock serialises claimers that enforce PROCEDURE_CONCURRENCY limits
--    (LOCK TABLE ... IN EXCLUSIVE MODE, held until commit; no DBMS_LOCK grant needed).
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_JOBS_LOCK';
    IF n = 0 THEN
        EXECUTE IMMEDIATE 'CREATE TABLE ASYNC_JOBS_LOCK (ID NUMBER)';
    END IF;
EXCEPTION
    WHEN OTHERS THEN
        IF SQLCODE != -955 THEN
            RAISE;
        END IF;
END;
/

-- 6. The predecessor's cleanup procedure, fixed: deletes completed, failed and cancelled jobs whose
--    END_TIME is more than p_days_old days ago (pending and running jobs are never touched), and
--    commits. Replaced only when it is not this version (so `serve` does not recompile it at every
--    start).
--      DECLARE v_deleted NUMBER;
--      BEGIN CLEANUP_OLD_ASYNC_JOBS(p_days_old => 7, p_deleted_count => v_deleted); END;
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_SOURCE
     WHERE NAME = 'CLEANUP_OLD_ASYNC_JOBS' AND TYPE = 'PROCEDURE' AND TEXT LIKE '%procgate:cleanup:1%';
    IF n = 0 THEN
        EXECUTE IMMEDIATE q'{
CREATE OR REPLACE PROCEDURE CLEANUP_OLD_ASYNC_JOBS(p_days_old IN NUMBER DEFAULT 7, p_deleted_count OUT NUMBER) AS
    -- procgate:cleanup:1
BEGIN
    DELETE FROM ASYNC_JOBS
     WHERE STATUS IN ('completed', 'failed', 'cancelled')
       AND END_TIME < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(NVL(p_days_old, 7), 'DAY');
    p_deleted_count := SQL%ROWCOUNT;
    COMMIT;
END;}';
    END IF;
END;
/

-- 7. The progress API for procedure authors: PROCGATE.PROGRESS records a report with
--    DBMS_APPLICATION_INFO.SET_SESSION_LONGOPS (OPNAME 'procgate'), which the gateway reads from
--    V$SESSION_LONGOPS while the call runs (docs/oracle.md, Grants: the grant it needs):
--      PROCGATE.PROGRESS(42, 'step 2 of 5');
--      PROCGATE.PROGRESS(NULL, 'loading', p_processed => 1200, p_total => 5000);
--    With p_processed and p_total, SOFAR/TOTALWORK are those (the percent shown is their ratio);
--    otherwise SOFAR is the percent (clamped to 0..100) of TOTALWORK 100, UNITS '%'. The message is
--    TARGET_DESC: its first 32 bytes. A report never fails the call. Replaced only when it is not
--    this version.
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_SOURCE
     WHERE NAME = 'PROCGATE' AND TYPE = 'PACKAGE BODY' AND TEXT LIKE '%procgate:progress:1%';
    IF n = 0 THEN
        EXECUTE IMMEDIATE q'{
CREATE OR REPLACE PACKAGE PROCGATE AS
    -- procgate:progress:1
    PROCEDURE PROGRESS(p_percent IN NUMBER, p_message IN VARCHAR2 DEFAULT NULL,
                       p_processed IN NUMBER DEFAULT NULL, p_total IN NUMBER DEFAULT NULL);
END PROCGATE;}';
        EXECUTE IMMEDIATE q'{
CREATE OR REPLACE PACKAGE BODY PROCGATE AS
    -- procgate:progress:1
    -- This session's longops row and what it shows (a message alone keeps the figures).
    g_rindex BINARY_INTEGER := DBMS_APPLICATION_INFO.SET_SESSION_LONGOPS_NOHINT;
    g_slno   BINARY_INTEGER;
    g_sofar  NUMBER := 0;
    g_total  NUMBER := 0;
    g_units  VARCHAR2(32) := '%';

    PROCEDURE PROGRESS(p_percent IN NUMBER, p_message IN VARCHAR2 DEFAULT NULL,
                       p_processed IN NUMBER DEFAULT NULL, p_total IN NUMBER DEFAULT NULL) IS
    BEGIN
        IF p_processed >= 0 AND p_total > 0 THEN
            g_sofar := p_processed;
            g_total := p_total;
            g_units := 'items';
        ELSIF p_percent IS NOT NULL THEN
            g_sofar := LEAST(GREATEST(p_percent, 0), 100);
            g_total := 100;
            g_units := '%';
        END IF;
        DBMS_APPLICATION_INFO.SET_SESSION_LONGOPS(rindex => g_rindex, slno => g_slno, op_name => 'procgate',
                                                  sofar => g_sofar, totalwork => g_total,
                                                  target_desc => SUBSTRB(p_message, 1, 32), units => g_units);
    EXCEPTION
        WHEN VALUE_ERROR THEN
            NULL;  -- a figure too large for longops: this report is dropped, the call goes on
    END PROGRESS;
END PROCGATE;}';
    END IF;
END;
/

-- 8. Each job's lifecycle events, in order: what `GET /jobs/{id}/events` replays and streams.
--    Rows are written by the trigger below, in the same statement (and so the same transaction)
--    as the state change they describe; EVENT_ID orders them (within a job it grows with each
--    change). The history goes with its job, which leaves one 'deleted' row in its place; the
--    cleaner removes that row a day later. Progress events are bounded: at most 100 per job.
--      SELECT EVENT_ID, EVENT_TYPE, EVENT_AT, STATUS, PROGRESS, MESSAGE
--        FROM ASYNC_JOB_EVENTS WHERE JOB_ID = '...' ORDER BY EVENT_ID;
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_JOB_EVENTS';
    IF n = 0 THEN
        EXECUTE IMMEDIATE q'{
CREATE TABLE ASYNC_JOB_EVENTS (
    EVENT_ID         NUMBER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    JOB_ID           VARCHAR2(32)   NOT NULL,
    EVENT_TYPE       VARCHAR2(20)   NOT NULL
                     CONSTRAINT ASYNC_JOB_EVENTS_TYPE_CK
                     CHECK (EVENT_TYPE IN ('accepted', 'started', 'progress', 'retried', 'completed',
                                           'failed', 'cancelled', 'deleted')),
    EVENT_AT         TIMESTAMP      DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
    OWNER            VARCHAR2(128)  NOT NULL,
    PROCEDURE_NAME   VARCHAR2(200)  NOT NULL,
    STATUS           VARCHAR2(20)   NOT NULL,   -- the job's status after the event ('deleted': before)
    PROGRESS         NUMBER         NOT NULL,
    ATTEMPT          NUMBER(10)     NOT NULL,   -- the job's attempts so far
    ERROR_CODE       VARCHAR2(64),              -- retried, failed, cancelled
    ERROR_MSG        CLOB,
    MESSAGE          CLOB,                      -- the procedure's latest progress message
    REPORT_PERCENT   NUMBER,                    -- the procedure's own figures (progress events)
    REPORT_PROCESSED NUMBER(19),
    REPORT_TOTAL     NUMBER(19),
    RUN_AT           TIMESTAMP                  -- retried: when the next attempt is due
)}';
        EXECUTE IMMEDIATE 'CREATE INDEX ASYNC_JOB_EVENTS_JOB_IX ON ASYNC_JOB_EVENTS (JOB_ID, EVENT_ID)';
        -- The cleaner: 'deleted' rows by age (the other rows are not in this index).
        EXECUTE IMMEDIATE q'{CREATE INDEX ASYNC_JOB_EVENTS_DELETED_IX ON ASYNC_JOB_EVENTS
                               (CASE WHEN EVENT_TYPE = 'deleted' THEN EVENT_AT END)}';
    END IF;
EXCEPTION
    WHEN OTHERS THEN
        IF SQLCODE NOT IN (-955, -1408) THEN  -- created meanwhile by another instance
            RAISE;
        END IF;
END;
/

-- 8b. Webhooks. A job's callback (CALLBACK_URL, and CALLBACK_EVENTS: the event types it asks for,
--     a comma list) says where to POST which of its events; each such event gets one row of
--     ASYNC_JOB_DELIVERIES, the outbox, written by the trigger of step 9 in the same statement
--     (and so the same transaction) as the event itself: a restart or a crash loses none. Each
--     instance's deliverer claims due rows (FOR UPDATE SKIP LOCKED, leased by LEASE_UNTIL so a dead
--     instance's claims are taken again), POSTs them and records every attempt in ATTEMPT_LOG.
--     Deliveries go with their job (the trigger deletes them).
--       SELECT EVENT_ID, EVENT_TYPE, STATUS, ATTEMPTS, NEXT_ATTEMPT_AT, ATTEMPT_LOG
--         FROM ASYNC_JOB_DELIVERIES WHERE JOB_ID = '...' ORDER BY EVENT_ID;
DECLARE
    n NUMBER;
    PROCEDURE ddl(p_sql VARCHAR2) IS
    BEGIN
        EXECUTE IMMEDIATE p_sql;
    EXCEPTION
        WHEN OTHERS THEN
            -- ORA-00955, ORA-01408, ORA-01430: created or added meanwhile by another instance
            IF SQLCODE NOT IN (-955, -1408, -1430) THEN
                RAISE;
            END IF;
    END;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_TAB_COLUMNS WHERE TABLE_NAME = 'ASYNC_JOBS' AND COLUMN_NAME = 'CALLBACK_URL';
    IF n = 0 THEN
        ddl('ALTER TABLE ASYNC_JOBS ADD (CALLBACK_URL VARCHAR2(2000), CALLBACK_EVENTS VARCHAR2(200))');
    END IF;
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_JOB_DELIVERIES';
    IF n = 0 THEN
        ddl(q'{
CREATE TABLE ASYNC_JOB_DELIVERIES (
    EVENT_ID         NUMBER         PRIMARY KEY,                   -- the event delivered (one delivery each)
    JOB_ID           VARCHAR2(32)   NOT NULL,
    EVENT_TYPE       VARCHAR2(20)   NOT NULL,
    URL              VARCHAR2(2000) NOT NULL,                      -- the job's callback URL at the event
    OWNER            VARCHAR2(128)  NOT NULL,                      -- whose WEBHOOK_SECRETS entry signs it
    STATUS           VARCHAR2(20)   DEFAULT 'pending' NOT NULL
                     CONSTRAINT ASYNC_JOB_DELIVERIES_STATUS_CK CHECK (STATUS IN ('pending', 'delivered', 'failed')),
    ATTEMPTS         NUMBER(10)     DEFAULT 0 NOT NULL,
    CREATED_AT       TIMESTAMP      DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL,
    NEXT_ATTEMPT_AT  TIMESTAMP      DEFAULT SYS_EXTRACT_UTC(SYSTIMESTAMP) NOT NULL, -- pending: not sent before
    INSTANCE_ID      VARCHAR2(64),                                 -- the deliverer holding it
    LEASE_UNTIL      TIMESTAMP,                                    -- while sending: taken back after
    DELIVERED_AT     TIMESTAMP,
    BODY             CLOB,                                         -- the payload, fixed at the first attempt
    ATTEMPT_LOG      CLOB           DEFAULT '[]'                   -- JSON: one entry per attempt
)}');
        ddl('CREATE INDEX ASYNC_JOB_DELIVERIES_JOB_IX ON ASYNC_JOB_DELIVERIES (JOB_ID, EVENT_ID)');
        -- The deliverers' claim: pending rows by due time (the others are not in this index).
        ddl(q'{CREATE INDEX ASYNC_JOB_DELIVERIES_DUE_IX ON ASYNC_JOB_DELIVERIES
                 (CASE WHEN STATUS = 'pending' THEN NEXT_ATTEMPT_AT END)}');
    END IF;
END;
/

-- 9. The event trigger: one row per state change, whichever statement makes it. An UPDATE that
--    only records progress writes a 'progress' event for the job's first 100 progress records
--    (counted on the job by progress.sql, so the trigger reads no other row); anything else (a
--    heartbeat, a session id) writes nothing. An event its job's callback asks for also gets its
--    delivery row (step 8b). Replaced only when it is not this version.
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_SOURCE
     WHERE NAME = 'ASYNC_JOBS_EVENTS_TRG' AND TYPE = 'TRIGGER' AND TEXT LIKE '%procgate:events:4%';
    IF n = 0 THEN
        EXECUTE IMMEDIATE q'{
CREATE OR REPLACE TRIGGER ASYNC_JOBS_EVENTS_TRG
AFTER INSERT OR UPDATE OR DELETE ON ASYNC_JOBS
FOR EACH ROW
DECLARE
    -- procgate:events:4
    l_type VARCHAR2(20);
    l_event_id NUMBER;
BEGIN
    IF DELETING THEN
        -- A deleted job's history goes with it; one 'deleted' row takes its place (the cleaner
        -- removes it a day later), so every instance's readers learn that the job is gone.
        DELETE FROM ASYNC_JOB_EVENTS WHERE JOB_ID = :OLD.JOB_ID;
        DELETE FROM ASYNC_JOB_DELIVERIES WHERE JOB_ID = :OLD.JOB_ID;
        INSERT INTO ASYNC_JOB_EVENTS (JOB_ID, EVENT_TYPE, OWNER, PROCEDURE_NAME, STATUS, PROGRESS, ATTEMPT)
        VALUES (:OLD.JOB_ID, 'deleted', :OLD.OWNER, :OLD.PROCEDURE_NAME, :OLD.STATUS, NVL(:OLD.PROGRESS, 0),
                :OLD.ATTEMPTS);
    ELSE
        IF INSERTING THEN
            l_type := 'accepted';
        ELSIF :NEW.STATUS <> :OLD.STATUS THEN
            l_type := CASE :NEW.STATUS WHEN 'running' THEN 'started' WHEN 'pending' THEN 'retried'
                      ELSE :NEW.STATUS END;
        ELSIF :NEW.STATUS = 'running' AND :NEW.PROGRESS_EVENTS > :OLD.PROGRESS_EVENTS
              AND :NEW.PROGRESS_EVENTS <= 100 THEN
            -- A progress record (progress.sql counts them on the job): the first 100.
            l_type := 'progress';
        END IF;
        IF l_type IS NOT NULL THEN
            INSERT INTO ASYNC_JOB_EVENTS (JOB_ID, EVENT_TYPE, OWNER, PROCEDURE_NAME, STATUS, PROGRESS, ATTEMPT,
                                          ERROR_CODE, ERROR_MSG, MESSAGE, REPORT_PERCENT, REPORT_PROCESSED,
                                          REPORT_TOTAL, RUN_AT)
            VALUES (:NEW.JOB_ID, l_type, :NEW.OWNER, :NEW.PROCEDURE_NAME, :NEW.STATUS, NVL(:NEW.PROGRESS, 0),
                    :NEW.ATTEMPTS,
                    CASE WHEN l_type IN ('retried', 'failed', 'cancelled') THEN :NEW.ERROR_CODE END,
                    CASE WHEN l_type IN ('retried', 'failed', 'cancelled') THEN :NEW.ERROR_MSG END,
                    :NEW.MESSAGE, :NEW.REPORT_PERCENT, :NEW.REPORT_PROCESSED, :NEW.REPORT_TOTAL,
                    CASE WHEN l_type = 'retried' THEN :NEW.RUN_AT END)
            RETURNING EVENT_ID INTO l_event_id;
            -- Webhooks: the delivery, in the same transaction as its event.
            IF :NEW.CALLBACK_URL IS NOT NULL
               AND INSTR(',' || :NEW.CALLBACK_EVENTS || ',', ',' || l_type || ',') > 0 THEN
                INSERT INTO ASYNC_JOB_DELIVERIES (EVENT_ID, JOB_ID, EVENT_TYPE, URL, OWNER)
                VALUES (l_event_id, :NEW.JOB_ID, l_type, :NEW.CALLBACK_URL, :NEW.OWNER);
            END IF;
        END IF;
    END IF;
END;}';
    END IF;
END;
/

-- 10. Queue statistics (GET /stats, /metrics). ASYNC_JOBS_ENDED_OWNER_IX counts ended jobs by
--     status (and owner), reading no more than the exact cap (ROWNUM <= 10001); Oracle answers
--     exact-capped counts only. ASYNC_INSTANCES holds one row per gateway instance, merged with
--     each of its heartbeats: its workers (busy and total) and its own counts per minute of the
--     last 15 minutes, by owner and procedure, of the attempts it started, completed and failed
--     (COUNTS, a JSON array of {"minute","owner","procedure","started","completed","failed"}).
--     GET /stats sums the rows that beat in the last 15 minutes; a row is deleted an hour after
--     its last beat. The same (STATUS, OWNER) index serves the pending count of
--     MAX_PENDING_PER_OWNER and of a client's max_pending (ROWNUM <= max_pending).
--       SELECT INSTANCE_ID, HEARTBEAT_AT, WORKERS_BUSY, WORKERS FROM ASYNC_INSTANCES ORDER BY 1;
DECLARE
    n NUMBER;
    PROCEDURE ddl(p_sql VARCHAR2) IS
    BEGIN
        EXECUTE IMMEDIATE p_sql;
    EXCEPTION
        WHEN OTHERS THEN
            -- ORA-00955, ORA-01408: created meanwhile by another instance
            IF SQLCODE NOT IN (-955, -1408) THEN
                RAISE;
            END IF;
    END;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_INDEXES WHERE INDEX_NAME = 'ASYNC_JOBS_ENDED_OWNER_IX';
    IF n = 0 THEN
        ddl('CREATE INDEX ASYNC_JOBS_ENDED_OWNER_IX ON ASYNC_JOBS (STATUS, OWNER)');
    END IF;
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_INSTANCES';
    IF n = 0 THEN
        ddl(q'{
CREATE TABLE ASYNC_INSTANCES (
    INSTANCE_ID      VARCHAR2(64)   PRIMARY KEY,
    STARTED_AT       TIMESTAMP      NOT NULL,
    HEARTBEAT_AT     TIMESTAMP      NOT NULL,
    WORKERS          NUMBER(10)     NOT NULL,
    WORKERS_BUSY     NUMBER(10)     NOT NULL,
    COUNTS           CLOB           DEFAULT '[]'                   -- JSON: the per-minute counts
)}');
    END IF;
END;
/

-- 11. The audit trail: one row per audited request of an authenticated client — synchronous
--     calls, async submits, cancels, deletes (one and bulk), retries — refused ones included,
--     written in batches (array DML) by each instance's audit writer. Never a token, never a
--     parameter's value (DETAIL holds at most parameter names, a bulk action's filters, a retry's
--     new job). Times are UTC. The cleaner deletes rows older than AUDIT_RETENTION_DAYS (0: kept
--     forever). See docs/sql.md for queries, e.g. who called what in the last hour:
--       SELECT OCCURRED_AT, CLIENT, ACTION, PROCEDURE_NAME, JOB_ID, OUTCOME, HTTP_STATUS
--         FROM ASYNC_AUDIT
--        WHERE OCCURRED_AT > SYS_EXTRACT_UTC(SYSTIMESTAMP) - INTERVAL '1' HOUR ORDER BY OCCURRED_AT;
DECLARE
    n NUMBER;
    PROCEDURE ddl(p_sql VARCHAR2) IS
    BEGIN
        EXECUTE IMMEDIATE p_sql;
    EXCEPTION
        WHEN OTHERS THEN
            -- ORA-00955, ORA-01408: created meanwhile by another instance
            IF SQLCODE NOT IN (-955, -1408) THEN
                RAISE;
            END IF;
    END;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_TABLES WHERE TABLE_NAME = 'ASYNC_AUDIT';
    IF n = 0 THEN
        ddl(q'{
CREATE TABLE ASYNC_AUDIT (
    AUDIT_ID         NUMBER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    OCCURRED_AT      TIMESTAMP      NOT NULL,                      -- when the request arrived (UTC)
    INSTANCE_ID      VARCHAR2(64)   NOT NULL,                      -- the instance that answered it
    CLIENT           VARCHAR2(128)  NOT NULL,                      -- the token's (client's) name
    ACTION           VARCHAR2(20)   NOT NULL
                     CHECK (ACTION IN ('call', 'submit', 'cancel', 'cancel_bulk', 'delete',
                                       'delete_bulk', 'retry')),
    PROCEDURE_NAME   VARCHAR2(512),                                -- as requested
    JOB_ID           VARCHAR2(32),                                 -- the job acted on or created
    OUTCOME          VARCHAR2(64)   NOT NULL,                      -- 'ok' or the error code
    HTTP_STATUS      NUMBER(3)      NOT NULL,
    DURATION_MS      NUMBER(19),
    AFFECTED         NUMBER(19),                                   -- bulk actions: jobs changed
    DETAIL           VARCHAR2(1000)
)}');
    END IF;
    SELECT COUNT(*) INTO n FROM USER_INDEXES WHERE INDEX_NAME = 'ASYNC_AUDIT_TIME_IX';
    IF n = 0 THEN
        ddl('CREATE INDEX ASYNC_AUDIT_TIME_IX ON ASYNC_AUDIT (OCCURRED_AT)');
    END IF;
    SELECT COUNT(*) INTO n FROM USER_INDEXES WHERE INDEX_NAME = 'ASYNC_AUDIT_CLIENT_IX';
    IF n = 0 THEN
        ddl('CREATE INDEX ASYNC_AUDIT_CLIENT_IX ON ASYNC_AUDIT (CLIENT, OCCURRED_AT)');
    END IF;
END;
/

-- 12. Listings: ASYNC_JOBS_LIST_IX (section 4) replaces the ASYNC_JOBS_CREATED_IX (CREATED_AT) of
--     earlier versions, which could not order the jobs of one instant; dropped once.
DECLARE
    n NUMBER;
BEGIN
    SELECT COUNT(*) INTO n FROM USER_INDEXES WHERE INDEX_NAME = 'ASYNC_JOBS_CREATED_IX';
    IF n = 1 THEN
        EXECUTE IMMEDIATE 'DROP INDEX ASYNC_JOBS_CREATED_IX';
    END IF;
EXCEPTION
    WHEN OTHERS THEN
        IF SQLCODE != -1418 THEN  -- ORA-01418: dropped meanwhile by another instance
            RAISE;
        END IF;
END;
/
