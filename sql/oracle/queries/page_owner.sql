-- page.sql for a listing with an owner (every non-admin listing): led by
-- ASYNC_JOBS_LIST_OWNER_IX (OWNER, CREATED_AT, JOB_ID DESC, ...).
-- Filters: :statuses (a comma list of procgate's own status words, or NULL), :procedure (NULL:
-- any; case-insensitive), :owner (NULL: any), created at or after :created_after and before
-- :created_before (UTC; NULL: any time), after the cursor's position (:after_created,
-- :after_id; NULL: from the newest); :row_limit rows from row :row_offset. `CREATED_AT <=
-- :after_created` repeats the cursor's bound as the range the index scan starts from.
-- Binds: statuses VARCHAR2(200), procedure VARCHAR2(200), owner VARCHAR2(128), created_after TIMESTAMP,
--   created_before TIMESTAMP, after_created TIMESTAMP, after_id VARCHAR2(32), row_offset NUMBER,
--   row_limit NUMBER.
SELECT JOB_ID, STATUS, PROCEDURE_NAME, PARAMS, OWNER, PROGRESS, CREATED_AT, START_TIME, END_TIME, DURATION, RESULT, ERROR_CODE, ERROR_MSG, ATTEMPTS, PRIORITY, MAX_ATTEMPTS, ATTEMPT_HISTORY, RUN_AT, INSTANCE_ID, CANCEL_REQUESTED, OUTPUT, REPORT_PERCENT, MESSAGE, REPORT_PROCESSED, REPORT_TOTAL, CALLBACK_URL, CALLBACK_EVENTS, IS_FUNCTION, RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT, RETRY_OF FROM ASYNC_JOBS WHERE (:statuses IS NULL OR INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0)
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND OWNER = :owner
   AND (:created_after IS NULL OR CREATED_AT >= :created_after)
   AND (:created_before IS NULL OR CREATED_AT < :created_before)
   AND (:after_created IS NULL OR CREATED_AT <= :after_created)
   AND (:after_created IS NULL OR CREATED_AT < :after_created OR JOB_ID > :after_id)
 ORDER BY CREATED_AT DESC, JOB_ID OFFSET :row_offset ROWS FETCH NEXT :row_limit ROWS ONLY;
