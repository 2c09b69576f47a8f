-- Resolves the routine name :name as the session's user would (DBMS_UTILITY.NAME_RESOLVE,
-- context 1: PL/SQL). Out binds: :schema, :part1, :part2, :dblink, :part1_type, :object_number.
-- Binds: name VARCHAR2(400), schema VARCHAR2(128) (out), part1 VARCHAR2(128) (out),
--   part2 VARCHAR2(128) (out), dblink VARCHAR2(128) (out), part1_type NUMBER (out),
--   object_number NUMBER (out).
BEGIN DBMS_UTILITY.NAME_RESOLVE(:name, 1, :schema, :part1, :part2, :dblink, :part1_type, :object_number); END;
/
