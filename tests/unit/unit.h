/*
 * unit: the shared main() tail of the unit tests: run one suite without
 * forking (so ASan sees every test in one process) and exit with its
 * result.
 */
#ifndef PARLEY_TESTS_UNIT_H
#define PARLEY_TESTS_UNIT_H

#include <check.h>
#include <stdlib.h>

static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
