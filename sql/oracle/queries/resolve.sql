-- Resolves the routine name :name as the session's user would (DBMS_UTILITY.NAME_RESOLVE,
-- context 1: PL/SQL). Out binds: :schema, :part1, :part2, :dblink, :part1_type, :object_number.
BEGIN DBMS_UTILITY.NAME_RESOLVE(:name, 1, :schema, :part1, :part2, :dblink, :part1_type, :object_number); END;
