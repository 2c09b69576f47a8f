-- Claimers that enforce per-procedure limits take turns, so two never count the same free slot
-- (held until the claim's transaction ends).
SELECT pg_advisory_xact_lock(7305825160237150002);
