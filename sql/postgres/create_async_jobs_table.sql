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
    report_total     bigint                                     -- message is in `message`
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

-- The claim query: highest priority, then oldest pending first (due ones: run_at <= now()).
CREATE INDEX IF NOT EXISTS async_jobs_pending_idx ON async_jobs (priority DESC, created_at)
    WHERE status = 'pending';
-- Listings, newest first.
CREATE INDEX IF NOT EXISTS async_jobs_created_idx ON async_jobs (created_at DESC);
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
