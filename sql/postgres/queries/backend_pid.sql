-- The server process of this connection: what a running job records as its session.
SELECT pg_backend_pid();
