-- Tells every listening instance that instance $1 has written events: they read the new rows.
SELECT pg_notify('procgate_events', $1);
