-- Turns DBMS_OUTPUT off and drops what the session's buffer holds.
-- Binds: none.
BEGIN DBMS_OUTPUT.DISABLE; END;
/
