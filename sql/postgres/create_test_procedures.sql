-- PostgreSQL versions of the predecessor's six test procedures (same names and parameter names),
-- plus a few procgate uses to exercise every parameter kind. Idempotent.
--   psql "$DATABASE_URL" -f sql/postgres/create_test_procedures.sql

-- PROC_TEST: p_output := 'Procesado: ' || p_input
CREATE OR REPLACE PROCEDURE proc_test(p_input IN varchar, p_output OUT varchar)
LANGUAGE plpgsql AS $$
BEGIN
    p_output := 'Procesado: ' || p_input;
END
$$;

-- PROC_TEST_DEMORA: sleeps `segundos` seconds (a slow call, to watch progress).
CREATE OR REPLACE PROCEDURE proc_test_demora(segundos IN numeric)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep(segundos);
END
$$;

-- PROC_TEST_PARAMS: several types in, one text out. p_date keeps its time of day (Oracle DATE does).
CREATE OR REPLACE PROCEDURE proc_test_params(p_number IN numeric, p_varchar IN varchar,
                                             p_date IN timestamp, p_result OUT varchar)
LANGUAGE plpgsql AS $$
BEGIN
    p_result := 'Number: ' || p_number || ', Varchar: ' || p_varchar
             || ', Date: ' || to_char(p_date, 'YYYY-MM-DD HH24:MI:SS');
END
$$;

-- PROC_TEST_CURSOR: a cursor over p_limit rows (ID, NOMBRE, FECHA).
CREATE OR REPLACE PROCEDURE proc_test_cursor(p_limit IN numeric, p_cursor OUT refcursor)
LANGUAGE plpgsql AS $$
BEGIN
    OPEN p_cursor FOR
        SELECT g AS id, 'Item ' || g AS nombre,
               (date '2024-12-16' + g * interval '1 day' + interval '15 hours 30 minutes')::timestamp AS fecha
          FROM generate_series(1, p_limit::int) AS g
         ORDER BY g;
END
$$;

-- PROC_TEST_ERROR: fails on purpose when p_should_fail = 1.
CREATE OR REPLACE PROCEDURE proc_test_error(p_should_fail IN numeric)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_should_fail = 1 THEN
        RAISE EXCEPTION 'Error intencional de prueba' USING ERRCODE = 'P0001';
    END IF;
END
$$;

-- PROC_TEST_DML: inserts three rows into the table named by p_table_name (created if missing;
-- the name is quoted with %I, never pasted) and reports how many rows it created.
CREATE OR REPLACE PROCEDURE proc_test_dml(p_table_name IN varchar, p_rows_created OUT numeric)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I (id serial PRIMARY KEY, descripcion varchar(100), '
                   'fecha timestamp DEFAULT now())', p_table_name);
    EXECUTE format('INSERT INTO %I (descripcion) SELECT ''Fila '' || g FROM generate_series(1, 3) g',
                   p_table_name);
    GET DIAGNOSTICS p_rows_created = ROW_COUNT;
END
$$;

-- procgate extras -------------------------------------------------------------------------------

-- Every scalar kind in and straight back out, for exact round trips. (PostgreSQL wants OUT
-- parameters before input parameters that have defaults.)
CREATE OR REPLACE PROCEDURE proc_test_echo(o_number OUT numeric, o_ts OUT timestamptz, o_local OUT timestamp,
                                           o_day OUT date, o_flag OUT boolean, o_doc OUT jsonb,
                                           o_count OUT integer,
                                           p_number IN numeric, p_ts IN timestamptz, p_local IN timestamp,
                                           p_day IN date, p_flag IN boolean, p_doc IN jsonb,
                                           p_count IN integer DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    o_number := p_number; o_ts := p_ts; o_local := p_local; o_day := p_day;
    o_flag := p_flag; o_doc := p_doc; o_count := p_count;
END
$$;

-- INOUT: doubles the value and appends to the text.
CREATE OR REPLACE PROCEDURE proc_test_inout(p_value INOUT numeric, p_text INOUT varchar)
LANGUAGE plpgsql AS $$
BEGIN
    p_value := p_value * 2;
    p_text := p_text || '!';
END
$$;

-- A function: its return value comes back as the request's first OUT parameter.
CREATE OR REPLACE FUNCTION proc_test_func(p_a numeric, p_b numeric DEFAULT 1)
RETURNS numeric LANGUAGE sql AS $$ SELECT p_a + p_b $$;

-- Not on the demo allowlist (PROC_TEST*): calls to it must be refused.
CREATE OR REPLACE PROCEDURE hidden_proc(p_input IN varchar)
LANGUAGE plpgsql AS $$ BEGIN NULL; END $$;

-- Records each execution, so tests can prove a job ran exactly once.
CREATE TABLE IF NOT EXISTS proc_test_calls (tag varchar(100) NOT NULL, called_at timestamptz NOT NULL DEFAULT now());
-- p_seconds makes it a slow job: the row commits only if the call completes.
CREATE OR REPLACE PROCEDURE proc_test_log(p_tag IN varchar, p_seconds IN numeric DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proc_test_calls (tag) VALUES (p_tag);
    PERFORM pg_sleep(p_seconds);
END
$$;

-- Fails with a retryable SQLSTATE (40001, serialization_failure) for the first p_failures calls
-- that draw from the sequence named by p_sequence (sequence draws are not rolled back), then
-- succeeds: a deterministic flaky procedure for retry tests.
CREATE OR REPLACE PROCEDURE proc_test_flaky(p_sequence IN varchar, p_failures IN integer, p_calls OUT integer)
LANGUAGE plpgsql AS $$
BEGIN
    p_calls := nextval(p_sequence::regclass);
    IF p_calls <= p_failures THEN
        RAISE EXCEPTION 'flaky call % of %', p_calls, p_failures USING ERRCODE = '40001';
    END IF;
END
$$;

-- Writes p_lines numbered lines ('<p_tag> 1', '<p_tag> 2', ...) with RAISE NOTICE — the output
-- procgate captures when a request asks for it — pausing p_pause seconds after each; with
-- p_levels, one INFO and one WARNING line follow; with p_fail = 1 it then fails (P0001).
CREATE OR REPLACE PROCEDURE proc_test_notice(p_lines IN integer, p_tag IN varchar DEFAULT 'line',
                                             p_pause IN numeric DEFAULT 0, p_levels IN boolean DEFAULT false,
                                             p_fail IN integer DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_lines LOOP
        RAISE NOTICE '% %', p_tag, i;
        IF p_pause > 0 THEN
            PERFORM pg_sleep(p_pause);
        END IF;
    END LOOP;
    IF p_levels THEN
        RAISE INFO 'an info line';
        RAISE WARNING 'a warning line';
    END IF;
    IF p_fail = 1 THEN
        RAISE EXCEPTION 'failed after % lines', p_lines USING ERRCODE = 'P0001';
    END IF;
END
$$;

-- Returns a json value PostgreSQL cannot store as jsonb (a NUL escape): the job's result cannot
-- be written, and the job must still end honestly.
CREATE OR REPLACE PROCEDURE proc_test_bad_json(o_doc OUT json)
LANGUAGE plpgsql AS $$ BEGIN o_doc := '{"a": "\u0000"}'::json; END $$;

-- PROC_TEST_COMMIT: commits by itself, halfway. Inside a transaction block its COMMIT fails
-- (SQLSTATE 2D000), so procgate runs it on its own: its jobs are at-least-once.
CREATE OR REPLACE PROCEDURE proc_test_commit(p_tag IN varchar)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proc_test_calls (tag) VALUES (p_tag || ':before');
    COMMIT;
    INSERT INTO proc_test_calls (tag) VALUES (p_tag || ':after');
END
$$;

-- PROC_TEST_LOG_THEN_FAIL: records its call, then fails: the record must not survive.
CREATE OR REPLACE PROCEDURE proc_test_log_then_fail(p_tag IN varchar)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO proc_test_calls (tag) VALUES (p_tag);
    RAISE EXCEPTION 'failing after the insert' USING ERRCODE = 'P0001';
END
$$;
-- Unnamed arguments (PostgreSQL allows them): clients name them by position, "$1", "$2", ...
CREATE OR REPLACE PROCEDURE proc_test_unnamed(integer, INOUT text)
LANGUAGE plpgsql AS $$ BEGIN $2 := $2 || ':' || $1::text; END $$;

CREATE OR REPLACE FUNCTION proc_test_add(integer, integer)
RETURNS integer LANGUAGE sql AS $$ SELECT $1 + $2 $$;

-- An unnamed argument before a named, defaulted one: by position, then by name.
CREATE OR REPLACE FUNCTION proc_test_scale(integer, p_factor integer DEFAULT 10)
RETURNS integer LANGUAGE sql AS $$ SELECT $1 * p_factor $$;

-- PROC_TEST_LIMITS: one argument of each narrow type, for the range checks at submission
-- (PostgreSQL keeps no precision on routine arguments, so p_amount is a plain numeric).
CREATE OR REPLACE PROCEDURE proc_test_limits(p_result OUT varchar, p_small IN smallint DEFAULT 0,
                                             p_int IN integer DEFAULT 0, p_big IN bigint DEFAULT 0,
                                             p_amount IN numeric DEFAULT 0, p_day IN date DEFAULT NULL,
                                             p_at IN timestamptz DEFAULT NULL, p_real IN real DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    p_result := concat_ws(',', p_small, p_int, p_big, p_amount, p_day, p_at, p_real);
END
$$;

-- PROC_TEST_MAYBE_LOG: records its call only when p_write is true (a routine that usually
-- writes nothing).
CREATE OR REPLACE PROCEDURE proc_test_maybe_log(p_tag IN varchar, p_write IN boolean)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_write THEN
        INSERT INTO proc_test_calls (tag) VALUES (p_tag);
    END IF;
END
$$;

-- PROC_TEST_PROGRESS: works through p_items items, p_seconds in all (p_seconds / p_items each),
-- reporting each through procgate_progress: (percent, 'item i of n', i, n).
CREATE OR REPLACE PROCEDURE proc_test_progress(p_items IN integer, p_seconds IN numeric DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_items LOOP
        IF p_seconds > 0 THEN
            PERFORM pg_sleep(p_seconds / p_items);
        END IF;
        CALL procgate_progress(i * 100.0 / p_items, format('item %s of %s', i, p_items), i, p_items);
    END LOOP;
END
$$;

-- PROC_TEST_PROGRESS_FLOOD: p_reports reports in a tight loop (the last one 'report <n>', n of n),
-- then p_hold seconds of sleep: a procedure that reports far faster than anyone should write.
CREATE OR REPLACE PROCEDURE proc_test_progress_flood(p_reports IN integer, p_hold IN numeric DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. p_reports LOOP
        CALL procgate_progress(i * 100.0 / p_reports, 'report ' || i, i, p_reports);
    END LOOP;
    PERFORM pg_sleep(p_hold);
END
$$;

-- PROC_TEST_PROGRESS_ODD: bad reports (a percent above 100, one below 0, a NaN one with negative
-- counts and a 1500-character message) between ordinary notices ('before', 'between', 'after'),
-- then p_hold seconds of sleep.
CREATE OR REPLACE PROCEDURE proc_test_progress_odd(p_hold IN numeric DEFAULT 0)
LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'before';
    CALL procgate_progress(150, 'over');
    CALL procgate_progress(-5, 'under');
    RAISE NOTICE 'between';
    CALL procgate_progress('NaN', repeat('m', 1500), -1, -2);
    RAISE NOTICE 'after';
    PERFORM pg_sleep(p_hold);
END
$$;
