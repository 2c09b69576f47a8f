-- Every overload of the resolved routine (:owner, :package or NULL, :name) with its top-level
-- arguments, in declaration order. A standalone routine is OBJECT_NAME with no PROCEDURE_NAME; a
-- packaged one is the package's OBJECT_NAME and its own PROCEDURE_NAME. Overloads differ by
-- SUBPROGRAM_ID. A function's return value is its POSITION = 0 argument.
-- Binds: owner VARCHAR2(128), package VARCHAR2(128), name VARCHAR2(128).

SELECT p.SUBPROGRAM_ID, p.OBJECT_TYPE, a.ARGUMENT_NAME, a.POSITION, a.DATA_TYPE, a.IN_OUT, a.DEFAULTED,
       a.PLS_TYPE
  FROM ALL_PROCEDURES p
  LEFT JOIN ALL_ARGUMENTS a
         ON a.OBJECT_ID = p.OBJECT_ID
        AND a.SUBPROGRAM_ID = p.SUBPROGRAM_ID
        AND a.DATA_LEVEL = 0
 WHERE p.OWNER = :owner
   AND ((:package IS NULL AND p.OBJECT_NAME = :name AND p.PROCEDURE_NAME IS NULL
         AND p.OBJECT_TYPE IN ('PROCEDURE', 'FUNCTION'))
     OR (p.OBJECT_TYPE = 'PACKAGE' AND p.OBJECT_NAME = :package AND p.PROCEDURE_NAME = :name))
 ORDER BY p.SUBPROGRAM_ID, a.SEQUENCE;
