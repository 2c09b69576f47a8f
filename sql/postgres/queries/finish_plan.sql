-- Sent first in the outcome writer's transaction (finish.sql, its only statement): each batch is
-- planned for the table as it is now. The only good way to the jobs a batch names is the primary
-- key (the status fence has no index: see finish.sql's header), but a plan made while the table
-- was small finds another: reading a listing index whole, whose second column is job_id (the
-- cheapest path through a few pages). PostgreSQL keeps a generic plan once it is made, and with
-- its default setting it used one made early in a fresh table for the rest of the run, growing
-- table or not: 370-930 buffers and 3.7-4.8 ms a batch in an end-to-end run of 20,000 jobs. A
-- custom plan costs ~0.2 ms of planning a batch; a plan that reads the whole index costs more
-- with every job. LOCAL: for this transaction only.
SET LOCAL plan_cache_mode = force_custom_plan;
