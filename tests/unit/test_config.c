/*
 * tests/unit/test_config.c: the database settings of util/config.c
 * (PARLEY_DB_POOLER, PARLEY_DATABASE_DIRECT_URL and what they decide:
 * whether the reply pool may LISTEN, and its poll interval). Reads the
 * process environment, which each test sets.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "util/config.h"

#include "unit/unit.h"

static const char *const vars[] = {
	"PARLEY_DATABASE_URL", "PARLEY_DATABASE_DIRECT_URL",
	"PARLEY_DB_POOLER", "PARLEY_JOB_POLL_MS",
};

static void
env_clear(void)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

START_TEST(test_direct_by_default)
{
	struct config	 cfg;
	char		 err[256] = "";

	env_clear();
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(cfg.db_pooler, CONFIG_POOLER_NONE);
	ck_assert(cfg.db_can_listen);
	ck_assert_int_eq(cfg.job_poll_ms, 1000);
	ck_assert_ptr_null(cfg.database_direct_url);
	config_free(&cfg);

	setenv("PARLEY_DATABASE_URL", "host=db dbname=parley", 1);
	setenv("PARLEY_DB_POOLER", "none", 1);
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(cfg.db_pooler, CONFIG_POOLER_NONE);
	ck_assert(cfg.db_can_listen);
	config_free(&cfg);
}
END_TEST

START_TEST(test_transaction_pooler_polls)
{
	struct config	 cfg;
	char		 err[256] = "";

	env_clear();
	setenv("PARLEY_DATABASE_URL", "host=pgbouncer port=6432", 1);
	setenv("PARLEY_DB_POOLER", "transaction", 1);
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(cfg.db_pooler, CONFIG_POOLER_TRANSACTION);
	ck_assert(!cfg.db_can_listen);
	ck_assert_int_eq(cfg.job_poll_ms, 250);
	config_free(&cfg);

	/* An explicit interval wins. */
	setenv("PARLEY_JOB_POLL_MS", "500", 1);
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(cfg.job_poll_ms, 500);
	config_free(&cfg);
	unsetenv("PARLEY_JOB_POLL_MS");

	/* With a direct URL, LISTEN goes there. */
	setenv("PARLEY_DATABASE_DIRECT_URL", "host=db port=5432", 1);
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert(cfg.db_can_listen);
	ck_assert_str_eq(cfg.database_direct_url, "host=db port=5432");
	ck_assert_int_eq(cfg.job_poll_ms, 1000);
	config_free(&cfg);
}
END_TEST

START_TEST(test_session_pooler_listens)
{
	struct config	 cfg;
	char		 err[256] = "";

	env_clear();
	setenv("PARLEY_DATABASE_URL", "host=pgbouncer port=6432", 1);
	setenv("PARLEY_DB_POOLER", "session", 1);
	ck_assert_msg(config_load(&cfg, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(cfg.db_pooler, CONFIG_POOLER_SESSION);
	ck_assert(cfg.db_can_listen);
	config_free(&cfg);
}
END_TEST

START_TEST(test_bad_settings)
{
	struct config	 cfg;
	char		 err[256] = "";

	env_clear();
	setenv("PARLEY_DATABASE_URL", "host=pgbouncer port=6432", 1);
	setenv("PARLEY_DB_POOLER", "statement", 1);
	ck_assert(!config_load(&cfg, err, sizeof(err)));
	ck_assert_msg(strstr(err, "PARLEY_DB_POOLER must be none, session or "
	    "transaction") != NULL, "%s", err);
	config_free(&cfg);

	/* Both only mean something next to PARLEY_DATABASE_URL. */
	env_clear();
	setenv("PARLEY_DB_POOLER", "transaction", 1);
	ck_assert(!config_load(&cfg, err, sizeof(err)));
	ck_assert_msg(strstr(err, "PARLEY_DB_POOLER needs "
	    "PARLEY_DATABASE_URL") != NULL, "%s", err);
	config_free(&cfg);
	env_clear();
	setenv("PARLEY_DATABASE_DIRECT_URL", "host=db", 1);
	ck_assert(!config_load(&cfg, err, sizeof(err)));
	ck_assert_msg(strstr(err, "PARLEY_DATABASE_DIRECT_URL needs "
	    "PARLEY_DATABASE_URL") != NULL, "%s", err);
	config_free(&cfg);
	env_clear();
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("config_unit");
	TCase	*tc = tcase_create("database");

	tcase_add_test(tc, test_direct_by_default);
	tcase_add_test(tc, test_transaction_pooler_polls);
	tcase_add_test(tc, test_session_pooler_listens);
	tcase_add_test(tc, test_bad_settings);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
