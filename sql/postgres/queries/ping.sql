-- Health check: one row when the connection works.
SELECT 1;
