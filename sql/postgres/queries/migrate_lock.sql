-- Before the job-table script, in its transaction: quiet the script's "already exists, skipping"
-- notices, and serialise the script between instances starting together (held until commit).
SET LOCAL client_min_messages = warning;
SELECT pg_advisory_xact_lock(7305825160237150001);
