-- Reads the session's DBMS_OUTPUT buffer. :numlines goes in as the most lines wanted and
-- comes back as the number returned; :lines (out) is a SYS.DBMSOUTPUT_LINESARRAY.
-- Binds: lines SYS.DBMSOUTPUT_LINESARRAY (out), numlines NUMBER (in out).
BEGIN DBMS_OUTPUT.GET_LINES(:lines, :numlines); END;
/
