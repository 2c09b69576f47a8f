-- The session a call runs on, as SID,SERIAL#, without any grant (V$SESSION needs one).
-- Binds: none.
SELECT DBMS_DEBUG_JDWP.CURRENT_SESSION_ID || ',' || DBMS_DEBUG_JDWP.CURRENT_SESSION_SERIAL FROM DUAL;
