-- Claimers that enforce per-procedure limits take turns (this empty table's lock is held until
-- commit), so two never count the same free slot. No binds.
LOCK TABLE ASYNC_JOBS_LOCK IN EXCLUSIVE MODE
