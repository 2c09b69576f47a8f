-- Turns DBMS_OUTPUT off and drops what the session's buffer holds. No binds.
BEGIN DBMS_OUTPUT.DISABLE; END;
