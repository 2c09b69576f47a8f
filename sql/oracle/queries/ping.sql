-- Health check: one row when the session works.
-- Binds: none.
SELECT 1 FROM DUAL;
