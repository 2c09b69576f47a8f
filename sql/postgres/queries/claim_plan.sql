-- Sent first in every claim's transaction (claim.sql, or claim_candidates.sql + claim_picked.sql):
-- the claim is planned the same way whatever the table's statistics say. It reads
-- async_jobs_pending_idx in claim order and stops after its LIMIT, and finds the claimed rows by
-- primary key. Left to its estimates, the planner chose otherwise on a table filled seconds ago
-- and not yet analyzed, or analyzed when it held no pending job (a million ended ones): it read
-- and sorted every pending row on each claim (13-20 ms a claim at 20,000 pending jobs against
-- 0.1 ms; docs/design.md, "Plans that do not depend on statistics"). LOCAL: for this
-- transaction only. A generic plan: the same for every claim, so the plain claim's prepared
-- statement is planned once per connection (the planner would otherwise plan most claims anew, as
-- it did finish.sql: see by_id_plan.sql); the limited claim's statements are planned on each use.
-- `jit = off`: a plan left with a disabled node costs over 10^10, past
-- jit_above_cost, and compiling it took 130-530 ms (measured on a by-id UPDATE) for a 1 ms statement.
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
SET LOCAL enable_sort = off;
SET LOCAL jit = off;
SET LOCAL plan_cache_mode = force_generic_plan;
