/*
 * cron: five-field cron expressions (Vixie cron's crontab(5) form) and
 * the next time one fires, on wall-clock fields only.
 *
 *   minute hour day-of-month month day-of-week
 *
 * Each field is a comma-separated list of `*`, `N` or `N-M`, each
 * optionally `/STEP`; months take jan..dec and weekdays sun..sat (any
 * case), weekday 7 is Sunday again. When both day fields are restricted
 * (neither starts with `*`) a day matches when EITHER does, as in Vixie
 * cron; otherwise both must. @yearly (@annually), @monthly, @weekly,
 * @daily (@midnight) and @hourly stand for their usual expansions.
 *
 * Time zones are not this module's: the caller converts "now" into the
 * schedule's zone and the answer back (model/schedule.c does both in
 * PostgreSQL, from the system tz database), so this code never touches
 * TZ or localtime and is thread-safe: pure functions of their arguments.
 *
 * An expression that can never fire ("0 0 31 2 *") is refused at parse
 * time, so cron_next only fails on a time outside the years it handles.
 */
#ifndef PARLEY_UTIL_CRON_H
#define PARLEY_UTIL_CRON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest expression accepted, in bytes. */
#define CRON_EXPR_MAX	200

struct cron {
	uint64_t	 minutes;	/* bit n: minute n (0-59) */
	uint32_t	 hours;		/* bit n: hour n (0-23) */
	uint32_t	 days;		/* bit n: day of month n (1-31) */
	uint16_t	 months;	/* bit n: month n (1-12) */
	uint8_t		 weekdays;	/* bit n: weekday n (0 Sunday-6) */
	bool		 dom_star;	/* the day-of-month field began '*' */
	bool		 dow_star;	/* the day-of-week field began '*' */
};

/* A wall-clock time: no zone, no daylight saving. */
struct cron_time {
	int	 year;		/* 1970-9999 */
	int	 month;		/* 1-12 */
	int	 day;		/* 1-31 */
	int	 hour;		/* 0-23 */
	int	 minute;	/* 0-59 */
	int	 second;	/* 0-59 */
};

/*
 * Parses expr into *out. False with a sentence in err (naming the field
 * and what is wrong) for anything else, including an expression that can
 * never fire.
 */
bool	 cron_parse(const char *expr, struct cron *out, char *err,
	    size_t errlen);
/*
 * The first whole minute strictly after *after that c matches, into
 * *next (seconds 0). False when there is none before year 10000 or
 * *after is not a valid time.
 */
bool	 cron_next(const struct cron *c, const struct cron_time *after,
	    struct cron_time *next);
/* True when t (minute precision) is a time c fires at. */
bool	 cron_matches(const struct cron *c, const struct cron_time *t);
/* Days in month m (1-12) of year y. */
int	 cron_days_in_month(int y, int m);
/* The weekday (0 Sunday-6) of y-m-d. */
int	 cron_weekday(int y, int m, int d);

#endif
