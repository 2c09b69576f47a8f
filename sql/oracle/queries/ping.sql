-- Health check: one row when the session works. No binds.
SELECT 1 FROM DUAL
