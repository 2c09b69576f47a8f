-- Deletes at most $2 audit rows recorded more than $1 days ago (AUDIT_RETENTION_DAYS), oldest
-- first, walking async_audit_time_idx.
DELETE FROM async_audit
 WHERE audit_id IN (SELECT audit_id FROM async_audit
                     WHERE occurred_at < now() - make_interval(days => $1)
                     ORDER BY occurred_at
                     LIMIT $2);
