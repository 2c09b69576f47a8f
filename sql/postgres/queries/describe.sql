-- Every procedure or function named $1 in schema $2 (or, without a schema, in every schema of
-- the search path, with its position there), with argument names, modes, types and base types.
SELECT n.nspname::text, p.proname::text, p.prokind::text,
       coalesce(p.proargnames, '{}'::text[]),
       coalesce(p.proargmodes::text[], '{}'::text[]),
       p.pronargdefaults::int4,
       ARRAY(SELECT format_type(a.t, NULL) FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]))
             WITH ORDINALITY AS a(t, i) ORDER BY a.i),
       ARRAY(SELECT coalesce(nullif(ty.typbasetype, 0), ty.oid)::int8
               FROM unnest(coalesce(p.proallargtypes, p.proargtypes::oid[])) WITH ORDINALITY AS a(t, i)
               JOIN pg_type ty ON ty.oid = a.t ORDER BY a.i),
       format_type(p.prorettype, NULL),
       coalesce(nullif(rt.typbasetype, 0), rt.oid)::int8,
       coalesce(array_position(current_schemas(true), n.nspname), 0)::int4
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
  JOIN pg_type rt ON rt.oid = p.prorettype
 WHERE p.proname = $1
   AND p.prokind IN ('p', 'f')
   AND (($2::text IS NULL AND n.nspname = ANY (current_schemas(true))) OR n.nspname = $2)
 ORDER BY p.oid;
