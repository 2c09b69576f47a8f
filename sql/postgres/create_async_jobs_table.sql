-- procgate job table for PostgreSQL. Idempotent: safe to run again, never drops data.
-- psql users run it as SQL*Plus users ran the predecessor's script:
--   psql "$DATABASE_URL" -f sql/postgres/create_async_jobs_table.sql
-- The predecessor's columns keep their names (unquoted, so ASYNC_JOBS / JOB_ID work from psql too);
-- procgate's own columns come after them.

CREATE TABLE IF NOT EXISTS async_jobs (
    job_id           varchar(32)  PRIMARY KEY,
    status           varchar(20)  NOT NULL
                     CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    procedure_name   varchar(200) NOT NULL,
    params           jsonb,
    start_time       timestamptz  NOT NULL DEFAULT now(),  -- accepted until claimed, then the real start
    end_time         timestamptz,
    duration         varchar(50),                           -- the predecessor's text, e.g. '5.02s'
    result           jsonb,                                 -- the OUT parameters
    error_msg        text,
    progress         smallint     NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    created_at       timestamptz  NOT NULL DEFAULT now(),
    -- procgate
    owner            varchar(128) NOT NULL DEFAULT 'default',  -- the API token name that created it
    is_function      boolean      NOT NULL DEFAULT false,
    priority         smallint     NOT NULL DEFAULT 0,          -- higher runs first
    attempts         integer      NOT NULL DEFAULT 0,
    error_code       varchar(64),                              -- SQLSTATE, ORA-nnnnn or procgate's own
    message          text,
    instance_id      varchar(64),                              -- the gateway instance running it
    heartbeat_at     timestamptz,
    cancel_requested boolean      NOT NULL DEFAULT false,
    run_at           timestamptz  NOT NULL DEFAULT now(),      -- not claimed before (delays, retries)
    max_attempts     integer      NOT NULL DEFAULT 1,
    retry_policy     jsonb,                                     -- {"max_attempts","backoff","initial_delay_ms",...}
    timeout_ms       bigint,                                    -- per-job timeout (NULL: JOB_TIMEOUT)
    attempt_history  jsonb        NOT NULL DEFAULT '[]',        -- one entry per failed attempt
    idempotency_key  varchar(200),                              -- unique per owner
    capture_output   boolean      NOT NULL DEFAULT false,       -- keep the lines the call writes
    output           jsonb,                                     -- those lines (RAISE NOTICE ...), latest attempt
    session_id       varchar(64),                               -- the call's server process (pid) while running
    routine          varchar(400),                              -- the resolved routine, schema.name: what
                                                                -- PROCEDURE_CONCURRENCY counts (NULL: procedure_name)
    report_percent   numeric(5,2),                              -- the procedure's own latest report (procgate_progress):
    report_processed bigint,                                    -- percent, items processed and total; its
    report_total     bigint,                                    -- message is in `message`
    progress_events  smallint     NOT NULL DEFAULT 0            -- progress records so far (events: the first 100)
);

-- Upgrades a table created by an earlier procgate (or by the predecessor's script) in place.
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS owner            varchar(128) NOT NULL DEFAULT 'default';
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS is_function      boolean      NOT NULL DEFAULT false;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS priority         smallint     NOT NULL DEFAULT 0;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS attempts         integer      NOT NULL DEFAULT 0;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS error_code       varchar(64);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS message          text;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS instance_id      varchar(64);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS heartbeat_at     timestamptz;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS cancel_requested boolean      NOT NULL DEFAULT false;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS run_at           timestamptz  NOT NULL DEFAULT now();
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS max_attempts     integer      NOT NULL DEFAULT 1;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS retry_policy     jsonb;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS timeout_ms       bigint;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS attempt_history  jsonb        NOT NULL DEFAULT '[]';
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS idempotency_key  varchar(200);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS capture_output   boolean      NOT NULL DEFAULT false;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS output           jsonb;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS session_id       varchar(64);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS routine          varchar(400);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS report_percent   numeric(5,2);
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS report_processed bigint;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS report_total     bigint;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS progress_events  smallint     NOT NULL DEFAULT 0;

-- The claim query: highest priority, then oldest pending first (due ones: run_at <= now()).
CREATE INDEX IF NOT EXISTS async_jobs_pending_idx ON async_jobs (priority DESC, created_at)
    WHERE status = 'pending';
-- The rescuer: running jobs by heartbeat.
CREATE INDEX IF NOT EXISTS async_jobs_running_idx ON async_jobs (heartbeat_at)
    WHERE status = 'running';
-- Idempotency-Key: one job per owner and key.
CREATE UNIQUE INDEX IF NOT EXISTS async_jobs_idempotency_idx ON async_jobs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- Retention and bulk delete: terminal jobs by end time.
CREATE INDEX IF NOT EXISTS async_jobs_ended_idx ON async_jobs (end_time)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- A job table churns: rows are inserted, updated three times and deleted. Keep its statistics and
-- dead tuples in check sooner than the defaults would, so the claim keeps its index-ordered plan.
ALTER TABLE async_jobs SET (autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 500,
                            autovacuum_vacuum_scale_factor = 0.05, autovacuum_vacuum_threshold = 500);

-- The predecessor's cleanup procedure: deletes terminal jobs that ended more than p_days_old days ago.
--   CALL cleanup_old_async_jobs(7, NULL);
CREATE OR REPLACE PROCEDURE cleanup_old_async_jobs(p_days_old numeric DEFAULT 7,
                                                   INOUT p_deleted_count numeric DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM async_jobs
     WHERE status IN ('completed', 'failed', 'cancelled')
       AND end_time < now() - p_days_old * interval '1 day';
    GET DIAGNOSTICS p_deleted_count = ROW_COUNT;
END
$$;

-- Progress reported from inside a procedure while it runs, shown on its job (`report`, `message`;
-- the overall `progress` maps percent into 50..80). Call it from PL/pgSQL, as often as you like:
--   CALL procgate_progress(42, 'step 2 of 5');
--   CALL procgate_progress(NULL, 'loading', processed => 1200, total => 5000);
-- It writes nothing: it raises an INFO message (sent to the client whatever client_min_messages
-- says, and outside the call's transaction) with the reserved SQLSTATE PGPRG and a JSON body,
-- which the gateway routes to the job (never into its captured output). Outside procgate (psql)
-- it just prints that line. The message is cut to 1000 characters; procgate clamps the percent
-- to 0..100 and ignores a NaN percent and negative counts.
CREATE OR REPLACE PROCEDURE procgate_progress(percent numeric, message text DEFAULT NULL,
                                              processed bigint DEFAULT NULL, total bigint DEFAULT NULL)
LANGUAGE plpgsql AS $$
BEGIN
    RAISE INFO USING ERRCODE = 'PGPRG',
        MESSAGE = json_build_object('percent', percent, 'message', left(message, 1000),
                                    'processed', processed, 'total', total)::text;
END
$$;

-- Each job's lifecycle events, in order: what `GET /jobs/{id}/events` replays and streams.
-- Rows are written by the triggers below, in the same statement (and so the same transaction) as
-- the state change they describe, whichever statement makes it; `event_id` orders them (within a
-- job it grows with each change; across jobs it is allocated in insert order). The history goes
-- with its job (the delete trigger), which leaves one `deleted` row in its place; the cleaner
-- removes that row a day later. Progress events are bounded: at most 100 per job.
--   SELECT event_id, event_type, event_at, status, progress, message
--     FROM async_job_events WHERE job_id = '...' ORDER BY event_id;
CREATE TABLE IF NOT EXISTS async_job_events (
    event_id         bigint       GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           varchar(32)  NOT NULL,
    event_type       varchar(20)  NOT NULL
                     CHECK (event_type IN ('accepted', 'started', 'progress', 'retried', 'completed',
                                           'failed', 'cancelled', 'deleted')),
    event_at         timestamptz  NOT NULL DEFAULT now(),
    owner            varchar(128) NOT NULL,
    procedure_name   varchar(200) NOT NULL,
    status           varchar(20)  NOT NULL,    -- the job's status after the event ('deleted': before)
    progress         smallint     NOT NULL,
    attempt          integer      NOT NULL,    -- the job's attempts so far
    error_code       varchar(64),              -- retried, failed, cancelled
    error_msg        text,
    message          text,                     -- the procedure's latest progress message
    report_percent   numeric(5,2),             -- the procedure's own figures (progress events)
    report_processed bigint,
    report_total     bigint,
    run_at           timestamptz               -- retried: when the next attempt is due
);
CREATE INDEX IF NOT EXISTS async_job_events_job_idx ON async_job_events (job_id, event_id);
-- The cleaner: `deleted` rows by age.
CREATE INDEX IF NOT EXISTS async_job_events_deleted_idx ON async_job_events (event_at)
    WHERE event_type = 'deleted';

-- The event triggers. Statement-level, with transition tables: one INSERT ... SELECT per
-- statement, however many jobs the statement changed (a claim of 100 jobs writes 100 `started`
-- rows in one go). An UPDATE that changes the status writes its event; one that only records
-- progress writes a `progress` event for the job's first 100 progress records (counted on the job
-- by record_progress.sql, so the trigger reads no other row); anything else (a heartbeat, a
-- session id) writes nothing.
CREATE OR REPLACE FUNCTION procgate_jobs_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH events AS (
        INSERT INTO async_job_events (job_id, event_type, owner, procedure_name, status, progress, attempt, run_at)
        SELECT n.job_id, 'accepted', n.owner, n.procedure_name, n.status, n.progress, n.attempts, n.run_at
          FROM new_jobs n
        RETURNING event_id, job_id, event_type)
    INSERT INTO async_job_deliveries (event_id, job_id, event_type, url, owner)
    SELECT e.event_id, e.job_id, e.event_type, n.callback->>'url', n.owner
      FROM events e JOIN new_jobs n ON n.job_id = e.job_id
     WHERE n.callback IS NOT NULL AND n.callback->'events' ? e.event_type;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION procgate_jobs_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT n.*,
               CASE WHEN n.status = o.status THEN 'progress'
                    WHEN n.status = 'running' THEN 'started'
                    WHEN n.status = 'pending' THEN 'retried'
                    ELSE n.status END AS event_type
          FROM new_jobs n JOIN old_jobs o ON o.job_id = n.job_id
         WHERE n.status <> o.status
            -- A progress record (record_progress.sql counts them on the job): the first 100.
            OR n.status = 'running' AND n.progress_events > o.progress_events AND n.progress_events <= 100),
    events AS (
        INSERT INTO async_job_events (job_id, event_type, owner, procedure_name, status, progress, attempt,
                                      error_code, error_msg, message, report_percent, report_processed,
                                      report_total, run_at)
        SELECT c.job_id, c.event_type, c.owner, c.procedure_name, c.status, c.progress, c.attempts,
               CASE WHEN c.event_type IN ('retried', 'failed', 'cancelled') THEN c.error_code END,
               CASE WHEN c.event_type IN ('retried', 'failed', 'cancelled') THEN c.error_msg END,
               c.message, c.report_percent, c.report_processed, c.report_total,
               CASE WHEN c.event_type = 'retried' THEN c.run_at END
          FROM changed c
        RETURNING event_id, job_id, event_type)
    -- Webhooks: the delivery of each event its job's callback asks for, in the same statement.
    INSERT INTO async_job_deliveries (event_id, job_id, event_type, url, owner)
    SELECT e.event_id, e.job_id, e.event_type, c.callback->>'url', c.owner
      FROM events e JOIN changed c ON c.job_id = e.job_id
     WHERE c.callback IS NOT NULL AND c.callback->'events' ? e.event_type;
    RETURN NULL;
END
$$;

-- A deleted job's history goes with it; one `deleted` row takes its place (the cleaner removes
-- it a day later), so every instance's readers learn that the job is gone.
CREATE OR REPLACE FUNCTION procgate_jobs_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM async_job_events e USING old_jobs o WHERE e.job_id = o.job_id;
    INSERT INTO async_job_events (job_id, event_type, owner, procedure_name, status, progress, attempt)
    SELECT o.job_id, 'deleted', o.owner, o.procedure_name, o.status, o.progress, o.attempts FROM old_jobs o;
    RETURN NULL;
END
$$;

-- Created once (CREATE TRIGGER locks the table; the functions above are replaced in place).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'async_jobs'::regclass AND tgname = 'async_jobs_inserted') THEN
        CREATE TRIGGER async_jobs_inserted AFTER INSERT ON async_jobs
            REFERENCING NEW TABLE AS new_jobs FOR EACH STATEMENT EXECUTE FUNCTION procgate_jobs_inserted();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'async_jobs'::regclass AND tgname = 'async_jobs_updated') THEN
        CREATE TRIGGER async_jobs_updated AFTER UPDATE ON async_jobs
            REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
            FOR EACH STATEMENT EXECUTE FUNCTION procgate_jobs_updated();
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'async_jobs'::regclass AND tgname = 'async_jobs_deleted') THEN
        CREATE TRIGGER async_jobs_deleted AFTER DELETE ON async_jobs
            REFERENCING OLD TABLE AS old_jobs FOR EACH STATEMENT EXECUTE FUNCTION procgate_jobs_deleted();
    END IF;
END
$$;

-- Webhooks. A job's `callback` ({"url": ..., "events": [...]}, NULL: none) says where to POST
-- which of its events; each such event gets one row of `async_job_deliveries`, the outbox,
-- written by the trigger below in the same statement (and so the same transaction) as the event
-- itself: a restart or a crash loses none. Each instance's deliverer claims due rows (FOR UPDATE
-- SKIP LOCKED, leased by `lease_until` so a dead instance's claims are taken again), POSTs them
-- and records every attempt in `attempt_log`. Deliveries go with their job (ON DELETE CASCADE).
--   SELECT event_id, event_type, status, attempts, next_attempt_at, attempt_log
--     FROM async_job_deliveries WHERE job_id = '...' ORDER BY event_id;
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS callback jsonb;

CREATE TABLE IF NOT EXISTS async_job_deliveries (
    event_id         bigint       PRIMARY KEY,                 -- the event delivered (one delivery each)
    job_id           varchar(32)  NOT NULL REFERENCES async_jobs (job_id) ON DELETE CASCADE,
    event_type       varchar(20)  NOT NULL,
    url              text         NOT NULL,                    -- the job's callback URL at the event
    owner            varchar(128) NOT NULL,                    -- whose WEBHOOK_SECRETS entry signs it
    status           varchar(20)  NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer      NOT NULL DEFAULT 0,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz  NOT NULL DEFAULT now(),      -- pending: not sent before
    instance_id      varchar(64),                              -- the deliverer holding it
    lease_until      timestamptz,                              -- while sending: taken back after
    delivered_at     timestamptz,
    body             text,                                     -- the payload, fixed at the first attempt
    attempt_log      jsonb        NOT NULL DEFAULT '[]'        -- {"attempt","at","status_code","error","duration_ms"}
);
CREATE INDEX IF NOT EXISTS async_job_deliveries_job_idx ON async_job_deliveries (job_id, event_id);
-- The deliverers' claim: pending rows by due time.
CREATE INDEX IF NOT EXISTS async_job_deliveries_due_idx ON async_job_deliveries (next_attempt_at)
    WHERE status = 'pending';

-- The deliveries are written by the job triggers above, with their events (one statement, no
-- second trigger). A table upgraded from the first webhook version loses that version's trigger on
-- the event table here (once: afterwards there is nothing to drop, and no lock is taken).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'async_job_events'::regclass
                                          AND tgname = 'async_job_events_inserted') THEN
        DROP TRIGGER async_job_events_inserted ON async_job_events;
        DROP FUNCTION IF EXISTS procgate_events_inserted();
    END IF;
END
$$;

-- Retries: `POST /jobs/{id}/retry` accepts a new job with a failed or cancelled job's procedure,
-- parameters and options; `retry_of` names that job (which itself never changes). Not a foreign
-- key: the old job may be deleted (retention) while its retry lives on.
ALTER TABLE async_jobs ADD COLUMN IF NOT EXISTS retry_of varchar(32);
-- Queue statistics (GET /stats, /metrics). Ended jobs are counted through this index by status
-- (and owner), reading no more than the exact cap (10,001 entries) however many the table keeps;
-- above the cap GET /stats answers the planner's estimate.
CREATE INDEX IF NOT EXISTS async_jobs_ended_owner_idx ON async_jobs (status, owner)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- Pending jobs by owner: MAX_PENDING_PER_OWNER and a client's max_pending (API_CLIENTS_FILE)
-- count them with LIMIT max_pending, reading at most that many entries of this index.
CREATE INDEX IF NOT EXISTS async_jobs_pending_owner_idx ON async_jobs (owner) WHERE status = 'pending';

-- One row per gateway instance, upserted with each of its heartbeats: its workers (busy and
-- total) and its own counts per minute of the last 15 minutes, by owner and procedure, of the
-- attempts it started, completed and failed (a JSON array of
-- {"minute","owner","procedure","started","completed","failed"}). GET /stats sums the rows that
-- beat in the last 15 minutes (so a stopped instance's counts still count that long); a row is
-- deleted an hour after its last beat.
--   SELECT instance_id, heartbeat_at, workers_busy, workers FROM async_instances ORDER BY 1;
--   SELECT c->>'procedure', sum((c->>'completed')::int), sum((c->>'failed')::int)
--     FROM async_instances, jsonb_array_elements(counts) c
--    WHERE (c->>'minute')::timestamptz > now() - interval '5 minutes' GROUP BY 1;
CREATE TABLE IF NOT EXISTS async_instances (
    instance_id      varchar(64)  PRIMARY KEY,
    started_at       timestamptz  NOT NULL,
    heartbeat_at     timestamptz  NOT NULL,
    workers          integer      NOT NULL,
    workers_busy     integer      NOT NULL,
    counts           jsonb        NOT NULL DEFAULT '[]'
);

-- The audit trail: one row per audited request of an authenticated client — synchronous calls,
-- async submits, cancels, deletes (one and bulk), retries — refused ones included, written in
-- batches by each instance's audit writer. Never a token, never a parameter's value (`detail`
-- holds at most parameter names, a bulk action's filters, a retry's new job). The cleaner deletes
-- rows older than AUDIT_RETENTION_DAYS (0: kept forever). See docs/sql.md for queries.
--   SELECT occurred_at, client, action, procedure_name, job_id, outcome, http_status
--     FROM async_audit WHERE occurred_at > now() - interval '1 hour' ORDER BY occurred_at;
CREATE TABLE IF NOT EXISTS async_audit (
    audit_id         bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at      timestamptz   NOT NULL,                   -- when the request arrived
    instance_id      varchar(64)   NOT NULL,                   -- the instance that answered it
    client           varchar(128)  NOT NULL,                   -- the token's (client's) name
    action           varchar(20)   NOT NULL
                     CHECK (action IN ('call', 'submit', 'cancel', 'cancel_bulk', 'delete',
                                       'delete_bulk', 'retry')),
    procedure_name   varchar(512),                             -- as requested (call, submit, cancel)
    job_id           varchar(32),                              -- the job acted on or created
    outcome          varchar(64)   NOT NULL,                   -- 'ok' or the error code
    http_status      integer       NOT NULL,
    duration_ms      bigint,
    affected         bigint,                                   -- bulk actions: jobs changed
    detail           varchar(1000)
);
CREATE INDEX IF NOT EXISTS async_audit_time_idx ON async_audit (occurred_at);
CREATE INDEX IF NOT EXISTS async_audit_client_idx ON async_audit (client, occurred_at);

-- Listings (GET /jobs), newest first: each index is in the listing order (created_at DESC,
-- job_id), so a page, a keyset page (`cursor`) and a capped total read only the entries they
-- return or count, however many jobs the table keeps. One per filter a listing leads with; the
-- planner picks the narrowest (list_jobs.sql is planned with its values). No filter (admins):
-- async_jobs_list_idx; an owner (every non-admin listing): _owner_; a status: _status_; a
-- procedure (compared upper-cased): _procedure_. Each of the last three INCLUDEs the other
-- filtered columns, so the other filters, an offset and the capped count are applied to index
-- entries (index-only scans) rather than to table rows: a rare combination (one status of one
-- procedure) costs a scan of index entries, not a row read per entry. Each index costs an entry
-- per inserted job and per state change; async_jobs_list_idx replaces the earlier
-- async_jobs_created_idx (created_at DESC), which could not order the jobs of one instant.
-- On a big live table, build them first with CREATE INDEX CONCURRENTLY (docs/sql.md): here they
-- are built under the startup lock, blocking writes while they build.
CREATE INDEX IF NOT EXISTS async_jobs_list_idx ON async_jobs (created_at, job_id DESC);
CREATE INDEX IF NOT EXISTS async_jobs_list_owner_idx ON async_jobs (owner, created_at, job_id DESC)
    INCLUDE (status, procedure_name);
CREATE INDEX IF NOT EXISTS async_jobs_list_status_idx ON async_jobs (status, created_at, job_id DESC)
    INCLUDE (owner, procedure_name);
CREATE INDEX IF NOT EXISTS async_jobs_list_procedure_idx
    ON async_jobs (upper(procedure_name), created_at, job_id DESC) INCLUDE (procedure_name, status, owner);
DROP INDEX IF EXISTS async_jobs_created_idx;
