-- Records a batch of audit entries for instance $1: one row per element of the arrays $2..$11,
-- which all have the entries' length (NULL elements for what an entry lacks). See docs/sql.md.
INSERT INTO async_audit (occurred_at, instance_id, client, action, procedure_name, job_id, outcome,
                         http_status, duration_ms, affected, detail)
SELECT e.occurred_at, $1, e.client, e.action, e.procedure_name, e.job_id, e.outcome, e.http_status,
       e.duration_ms, e.affected, e.detail
  FROM unnest($2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
              $8::int4[], $9::int8[], $10::int8[], $11::text[])
       AS e(occurred_at, client, action, procedure_name, job_id, outcome, http_status, duration_ms,
            affected, detail);
