-- Serialises the job-table script between instances starting together (held until commit).
SELECT pg_advisory_xact_lock(7305825160237150001);
