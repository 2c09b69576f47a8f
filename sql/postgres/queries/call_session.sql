-- Run once on every connection procgate runs procedure calls on.
-- TCP keepalives find a gateway that vanished without closing its connection; then, while a
-- call runs, the server checks every 2 s that the gateway is still connected and stops the
-- call if it is not (PostgreSQL 14+; older servers refuse this last setting).
SET tcp_keepalives_idle = 30;
SET tcp_keepalives_interval = 10;
SET tcp_keepalives_count = 3;
SET client_connection_check_interval = '2s';
