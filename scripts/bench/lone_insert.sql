-- A copy of ../shared/peers/pgbench/lone_insert.sql, used by scripts/bench.sh when ../shared is absent.
-- Accept limit: one committed job row per transaction.
INSERT INTO peer_bench.jobs (id, procedure, params)
VALUES (md5(random()::text || clock_timestamp()::text), 'PROC_TEST', '{"p_input":"x"}');
