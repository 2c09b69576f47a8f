-- A copy of ../shared/peers/pgbench/lifecycle.sql, used by scripts/bench.sh when ../shared is absent.
-- Minimal lifecycle of one job, each step its own committed statement, as a durable queue needs:
-- accept (INSERT), claim (SKIP LOCKED), run the procedure, complete. A claim that finds every
-- pending row locked by another claimer leaves id at 0, and the completion is then a no-op.
\set uid random(1, 1000000000)
\set id 0
INSERT INTO peer_bench.jobs (id, procedure, params)
VALUES (md5(:uid::text || clock_timestamp()::text), 'PROC_TEST', '{"p_input":"x"}');
UPDATE peer_bench.jobs SET status = 'running', start_time = now(), progress = 10
 WHERE id = (SELECT id FROM peer_bench.jobs WHERE status = 'pending'
             ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id \aset
CALL peer_bench.proc_test('x', NULL);
UPDATE peer_bench.jobs SET status = 'completed', progress = 100, end_time = now(),
       result = '{"p_output":"Procesado: x"}' WHERE id = :id AND status = 'running';
