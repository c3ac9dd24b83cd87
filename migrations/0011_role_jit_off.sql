-- JIT off for the role Parley connects as, in this database only.
--
-- Parley's statements are short OLTP ones, but a plan whose cost estimate
-- is large (a search walk with a subplan) would otherwise spend ~180 ms
-- compiling to save microseconds (found by bench/conversations.sh). This
-- used to travel as the startup parameter options='-c jit=off', which
-- stock PgBouncer refuses ("unsupported startup parameter: options"), and
-- a session SET would follow a server connection to other clients behind
-- a transaction pooler. A per-role, per-database default is applied by
-- PostgreSQL itself when any session of this role starts in this
-- database, whoever opens it (Parley, PgBouncer), so it survives pooling.
-- Any role may set its own defaults; where a hosted service forbids it,
-- Parley works the same with JIT on (only slower on big searches), so the
-- refusal is a warning, not a failed migration.
DO $$
BEGIN
	EXECUTE format('ALTER ROLE %I IN DATABASE %I SET jit = off',
	    current_user, current_database());
EXCEPTION WHEN insufficient_privilege THEN
	RAISE WARNING 'parley: could not turn JIT off for role % (%); set '
	    'jit = off for it, or for the database, by hand', current_user,
	    SQLERRM;
END
$$;
