/*
 * fuzz_cron: cron expressions (util/cron.c), which schedules take from
 * the panel and the API. Input: the expression up to the first NUL, then
 * six bytes of a start time. Whatever parses must find a next time after
 * any valid start (the parser refuses expressions that never fire), and
 * that time must match the expression and lie after the start.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz/fuzz.h"
#include "util/cron.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
cmp(const struct cron_time *a, const struct cron_time *b)
{
	const int	 x[] = { a->year, a->month, a->day, a->hour, a->minute };
	const int	 y[] = { b->year, b->month, b->day, b->hour, b->minute };

	for (int i = 0; i < 5; i++)
		if (x[i] != y[i])
			return x[i] < y[i] ? -1 : 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cron		 c;
	struct cron_time	 t, n;
	const uint8_t		*rest;
	size_t			 len;
	char			*expr, err[256];

	fuzz_split(data, size, &expr, &rest, &len);
	if (cron_parse(expr, &c, err, sizeof(err))) {
		memset(&t, 0, sizeof(t));
		t.year = 1970 + (len > 0 ? rest[0] % 200 : 56);
		t.month = 1 + (len > 1 ? rest[1] % 12 : 0);
		t.day = 1 + (len > 2 ? rest[2] % cron_days_in_month(t.year,
		    t.month) : 0);
		t.hour = len > 3 ? rest[3] % 24 : 0;
		t.minute = len > 4 ? rest[4] % 60 : 0;
		t.second = len > 5 ? rest[5] % 60 : 0;
		if (!cron_next(&c, &t, &n) || !cron_matches(&c, &n) ||
		    cmp(&n, &t) <= 0 || n.second != 0)
			abort();
	} else if (err[0] == '\0')
		abort();	/* a refusal always says why */
	free(expr);
	return 0;
}
