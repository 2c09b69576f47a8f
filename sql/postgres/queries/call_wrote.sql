-- Sent right after a job's call, in its transaction: did the call write anything? (A
-- transaction id is assigned at the first write.) A call that wrote nothing has no effect to
-- commit with its job's completion: its transaction ends at once, and the completion goes
-- through the batched writer with the others.
SELECT txid_current_if_assigned() IS NOT NULL;
