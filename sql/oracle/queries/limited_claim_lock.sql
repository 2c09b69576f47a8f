-- Claimers that enforce per-procedure limits take turns (this empty table's lock is held until
-- commit), so two never count the same free slot.
-- Binds: none.
LOCK TABLE ASYNC_JOBS_LOCK IN EXCLUSIVE MODE;
