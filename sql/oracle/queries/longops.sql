-- The latest progress report of the call running on session :sid, :serial (its SID, SERIAL#) from
-- V$SESSION_LONGOPS (needs SELECT on V_$SESSION_LONGOPS), among rows updated since :since: the
-- database's SYSDATE when the gateway last looked (NULL the first time: no row), so rows an
-- earlier call left on the same pooled session are not taken for this call's. procgate's own
-- row (OPNAME 'procgate', from PROCGATE.PROGRESS) first, else the latest updated. Always one row:
-- SYSDATE, then OPNAME, TARGET_DESC, SOFAR, TOTALWORK, UNITS, MESSAGE (all NULL when none).
-- Binds: sid NUMBER, serial NUMBER, since DATE.
SELECT SYSDATE, l.OPNAME, l.TARGET_DESC, l.SOFAR, l.TOTALWORK, l.UNITS, l.MESSAGE
  FROM DUAL LEFT OUTER JOIN (
       SELECT OPNAME, TARGET_DESC, SOFAR, TOTALWORK, UNITS, MESSAGE FROM V$SESSION_LONGOPS
        WHERE SID = :sid AND SERIAL# = :serial AND LAST_UPDATE_TIME >= :since
        ORDER BY CASE WHEN OPNAME = 'procgate' THEN 0 ELSE 1 END, LAST_UPDATE_TIME DESC
        FETCH FIRST 1 ROW ONLY) l ON 1 = 1;
