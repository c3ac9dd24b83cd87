/*
 * tests/unit/test_db.c: the pure parts of db/: the SQLSTATE mapping, the
 * status names, migration file names, and the connection settings the
 * pool adds (and does not add) to a caller's string. No database needed.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "db/db.h"
#include "db/db_internal.h"

#include "unit/unit.h"

START_TEST(test_sqlstate_mapping)
{
	static const struct {
		const char	*state;
		enum db_status	 st;
	} cases[] = {
		{ "23505", DB_CONFLICT },	/* unique_violation */
		{ "23P01", DB_CONFLICT },	/* exclusion_violation */
		{ "40001", DB_CONFLICT },	/* serialization_failure */
		{ "40P01", DB_CONFLICT },	/* deadlock_detected */
		{ "23503", DB_INVALID },	/* foreign_key_violation */
		{ "23514", DB_INVALID },	/* check_violation */
		{ "23502", DB_INVALID },	/* not_null_violation */
		{ "23001", DB_INVALID },	/* restrict_violation */
		{ "22P02", DB_INVALID },	/* invalid_text_representation */
		{ "22001", DB_INVALID },	/* string_data_right_truncation */
		{ "22012", DB_INVALID },	/* division_by_zero */
		{ "08006", DB_UNAVAILABLE },	/* connection_failure */
		{ "57P01", DB_UNAVAILABLE },	/* admin_shutdown */
		{ "53300", DB_UNAVAILABLE },	/* too_many_connections */
		{ "42601", DB_UNAVAILABLE },	/* syntax_error: our bug */
		{ "42P01", DB_UNAVAILABLE },	/* undefined_table */
		{ "2350", DB_UNAVAILABLE },	/* malformed */
		{ "", DB_UNAVAILABLE },
		{ NULL, DB_UNAVAILABLE },	/* no SQLSTATE: libpq failure */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(db_status_from_sqlstate(cases[i].state) ==
		    cases[i].st, "SQLSTATE %s", cases[i].state != NULL ?
		    cases[i].state : "(null)");
}
END_TEST

START_TEST(test_status_names)
{
	ck_assert_str_eq(db_status_str(DB_OK), "ok");
	ck_assert_str_eq(db_status_str(DB_NOT_FOUND), "not_found");
	ck_assert_str_eq(db_status_str(DB_CONFLICT), "conflict");
	ck_assert_str_eq(db_status_str(DB_INVALID), "invalid");
	ck_assert_str_eq(db_status_str(DB_UNAVAILABLE), "unavailable");
	ck_assert_str_eq(db_status_str((enum db_status)42), "unknown");
}
END_TEST

START_TEST(test_migration_names)
{
	char	 name[32];
	int	 v = -1;

	ck_assert(db_migration_parse_name("0001_foundation.sql", &v, name,
	    sizeof(name)));
	ck_assert_int_eq(v, 1);
	ck_assert_str_eq(name, "foundation");
	ck_assert(db_migration_parse_name("20240131_add_x2_y.sql", &v, name,
	    sizeof(name)));
	ck_assert_int_eq(v, 20240131);
	ck_assert_str_eq(name, "add_x2_y");

	ck_assert(!db_migration_parse_name("001_short.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001-dash.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_Upper.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_1digit_first.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_name.sql.bak", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_name.SQL", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_has space.sql", &v, name,
	    sizeof(name)));
	ck_assert(!db_migration_parse_name("99999999999_too_big.sql", &v,
	    name, sizeof(name)));
	ck_assert(!db_migration_parse_name("0001_a_name_longer_than_the_"
	    "buffer.sql", &v, name, 8));
}
END_TEST

/* The value connparams give libpq for key, or NULL. */
static const char *
param(const struct db_connparams *cp, const char *key)
{
	for (int i = 0; cp->keys[i] != NULL; i++)
		if (strcmp(cp->keys[i], key) == 0)
			return cp->vals[i];
	return NULL;
}

START_TEST(test_connection_settings)
{
	struct db_connparams	 cp;
	char			 err[256];

	/* Ours are added, the caller's kept, and nothing that would live in
	 * the server session (a startup `options`) is invented. */
	ck_assert(db_connparams_init(&cp, "host=a,b port=5432,5433 "
	    "dbname=parley target_session_attrs=read-write "
	    "connect_timeout=9"));
	ck_assert_str_eq(param(&cp, "connect_timeout"), "9");
	ck_assert_str_eq(param(&cp, "application_name"), "parley");
	ck_assert_str_eq(param(&cp, "target_session_attrs"), "read-write");
	ck_assert_str_eq(param(&cp, "host"), "a,b");
	ck_assert_str_eq(param(&cp, "tcp_user_timeout"), "10000");
	ck_assert_str_eq(param(&cp, "keepalives_idle"), "10");
	ck_assert_ptr_null(param(&cp, "options"));
	db_connparams_cleanup(&cp);

	/* A caller's own options pass through untouched. */
	ck_assert(db_connparams_init(&cp, "postgresql://u@h/db?options="
	    "-c%20statement_timeout%3D5s&application_name=mine"));
	ck_assert_str_eq(param(&cp, "options"), "-c statement_timeout=5s");
	ck_assert_str_eq(param(&cp, "application_name"), "mine");
	db_connparams_cleanup(&cp);

	ck_assert(!db_connparams_init(&cp, "host='unterminated"));
	ck_assert(!db_conninfo_check("host='unterminated", err, sizeof(err)));
	ck_assert(strchr(err, '\n') == NULL && err[0] != '\0');
	ck_assert(!db_conninfo_check("", err, sizeof(err)));
	ck_assert(db_conninfo_check("host=db port=6432", err, sizeof(err)));
}
END_TEST

START_TEST(test_pooler_statement_names)
{
	struct db_pool	*pool = db_pool_new("host=127.0.0.1 port=1", 2, 100);

	ck_assert_ptr_nonnull(pool);
	ck_assert(db_pool_prepares(pool));
	db_pool_set_pooler(pool, DB_POOLER_SESSION);
	ck_assert(db_pool_prepares(pool));
	db_pool_set_pooler(pool, DB_POOLER_TRANSACTION);
	ck_assert(!db_pool_prepares(pool));
	db_pool_free(pool);
	ck_assert_ptr_null(db_pool_new("host='unterminated", 2, 100));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("db_unit");
	TCase	*tc = tcase_create("pure");

	tcase_add_test(tc, test_sqlstate_mapping);
	tcase_add_test(tc, test_status_names);
	tcase_add_test(tc, test_migration_names);
	tcase_add_test(tc, test_connection_settings);
	tcase_add_test(tc, test_pooler_statement_names);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
