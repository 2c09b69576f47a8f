-- GET /stats: the planner's estimate of the jobs in status $1, for counts above the exact cap: the
-- table's rows as the planner scales them (reltuples per page × the pages the table has now) ×
-- the status's frequency among the column's most common values (pg_stats). No row, or NULL, when
-- the table was never analysed or the status is not among those values.
SELECT (c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::int8)
        * s.most_common_freqs[array_position(s.most_common_vals::text::text[], $1::text)])::int8
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = 'status'
 WHERE c.oid = 'async_jobs'::regclass AND c.relpages > 0 AND c.reltuples >= 0;
