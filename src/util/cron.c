/*
 * cron: parsing five-field expressions and finding the next time one
 * fires (see cron.h). Pure functions; thread-safe.
 *
 * The search (cron_next) walks the calendar from the minute after the
 * given time, skipping a whole month, day or hour as soon as that unit
 * cannot match, so a yearly expression costs a few hundred steps, not
 * half a million minutes. It is bounded by year 9999 and by a step count.
 */
#include "util/cron.h"

#include <stdio.h>
#include <string.h>

#define STEPS_MAX	2000000L
#define NUM_DIGITS_MAX	3

struct field {
	const char		*name;
	int			 lo;
	int			 hi;
	const char *const	*names;	/* names[i] is value lo + i; NULL */
};

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
	"nov", "dec", NULL,
};
/* 0-6, and 7 is Sunday again (folded after parsing). */
static const char *const day_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL,
};

static const struct field fields[5] = {
	{ "minute", 0, 59, NULL },
	{ "hour", 0, 23, NULL },
	{ "day of month", 1, 31, NULL },
	{ "month", 1, 12, month_names },
	{ "day of week", 0, 7, day_names },
};

static const struct {
	const char	*name;
	const char	*expr;
} macros[] = {
	{ "@yearly", "0 0 1 1 *" },
	{ "@annually", "0 0 1 1 *" },
	{ "@monthly", "0 0 1 * *" },
	{ "@weekly", "0 0 * * 0" },
	{ "@daily", "0 0 * * *" },
	{ "@midnight", "0 0 * * *" },
	{ "@hourly", "0 * * * *" },
};

static bool	 parse_value(const struct field *, const char **, int *);
static bool	 parse_field(const struct field *, const char *, size_t,
		    uint64_t *, bool *, char *, size_t);
static bool	 day_matches(const struct cron *, int, int, int);
static bool	 time_valid(const struct cron_time *);
static char	 lower(char);

static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int
cron_days_in_month(int y, int m)
{
	static const int	 dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31,
				    30, 31, 30, 31 };
	bool			 leap;

	if (m < 1 || m > 12)
		return 0;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : dim[m - 1];
}

/* Sakamoto's method: Gregorian weekday, 0 = Sunday. */
int
cron_weekday(int y, int m, int d)
{
	static const int	 t[12] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (m < 3)
		y -= 1;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

/* A number or a name of the field at *p; advances *p. */
static bool
parse_value(const struct field *f, const char **p, int *out)
{
	const char	*s = *p;
	int		 v = 0, n = 0;

	if (*s >= '0' && *s <= '9') {
		while (*s >= '0' && *s <= '9') {
			if (++n > NUM_DIGITS_MAX)
				return false;
			v = v * 10 + (*s - '0');
			s++;
		}
		*p = s;
		*out = v;
		return true;
	}
	if (f->names == NULL)
		return false;
	for (int i = 0; f->names[i] != NULL; i++) {
		if (lower(s[0]) == f->names[i][0] &&
		    lower(s[1]) == f->names[i][1] &&
		    lower(s[2]) == f->names[i][2]) {
			*p = s + 3;
			*out = f->lo + i;
			return true;
		}
	}
	return false;
}

/*
 * One field (len bytes at s) into the bit set *bits; *star when it
 * begins with '*'. False with a sentence in err.
 */
static bool
parse_field(const struct field *f, const char *s, size_t len, uint64_t *bits,
    bool *star, char *err, size_t errlen)
{
	const char	*end = s + len, *p = s;

	*bits = 0;
	*star = len > 0 && s[0] == '*';
	while (p < end) {
		int	 a, b, step = 1;
		bool	 ranged = false;

		if (*p == '*') {
			a = f->lo;
			b = f->hi;
			ranged = true;
			p++;
		} else {
			if (!parse_value(f, &p, &a))
				goto bad;
			b = a;
			if (p < end && *p == '-') {
				p++;
				if (!parse_value(f, &p, &b))
					goto bad;
				ranged = true;
			}
		}
		if (p < end && *p == '/') {
			p++;
			if (!(p < end && *p >= '0' && *p <= '9'))
				goto bad;
			step = 0;
			for (int n = 0; p < end && *p >= '0' && *p <= '9';
			    p++) {
				if (++n > NUM_DIGITS_MAX)
					goto bad;
				step = step * 10 + (*p - '0');
			}
			if (step < 1 || step > f->hi) {
				snprintf(err, errlen, "The step in the %s field "
				    "must be from 1 to %d.", f->name, f->hi);
				return false;
			}
			/* "5/15" means 5-max/15, as in Vixie cron. */
			if (!ranged)
				b = f->hi;
		}
		if (p < end && *p != ',')
			goto bad;
		if (p < end)
			p++;	/* ',' */
		if (p == end && end > s && end[-1] == ',')
			goto bad;
		if (a < f->lo || b > f->hi || a > b) {
			snprintf(err, errlen, "The %s field takes values from "
			    "%d to %d%s.", f->name, f->lo, f->hi, a > b &&
			    a <= f->hi && b >= f->lo ? ", low to high" : "");
			return false;
		}
		for (int v = a; v <= b; v += step)
			*bits |= (uint64_t)1 << v;
	}
	if (*bits != 0)
		return true;
bad:
	snprintf(err, errlen, "The %s field is not valid: use *, a number, a "
	    "range such as 1-5, a list such as 1,15 or a step such as */10.",
	    f->name);
	return false;
}

bool
cron_parse(const char *expr, struct cron *out, char *err, size_t errlen)
{
	const char		*p, *start[5];
	size_t			 lens[5];
	uint64_t		 bits[5];
	bool			 star[5];
	int			 n = 0;
	struct cron_time	 t0 = { 2000, 1, 1, 0, 0, 0 }, t1;

	memset(out, 0, sizeof(*out));
	if (expr == NULL || expr[0] == '\0') {
		snprintf(err, errlen, "Write a cron expression, such as "
		    "\"0 9 * * 1-5\".");
		return false;
	}
	if (strlen(expr) > CRON_EXPR_MAX) {
		snprintf(err, errlen, "The cron expression is longer than %d "
		    "characters.", CRON_EXPR_MAX);
		return false;
	}
	while (*expr == ' ' || *expr == '\t')
		expr++;
	if (expr[0] == '@') {
		size_t	 len = strcspn(expr, " \t");

		for (size_t i = 0; i < sizeof(macros) / sizeof(macros[0]);
		    i++) {
			if (strlen(macros[i].name) == len &&
			    strncmp(expr, macros[i].name, len) == 0 &&
			    strspn(expr + len, " \t") == strlen(expr + len))
				return cron_parse(macros[i].expr, out, err,
				    errlen);
		}
		snprintf(err, errlen, "Unknown cron shortcut: use @hourly, "
		    "@daily, @weekly, @monthly or @yearly.");
		return false;
	}
	for (p = expr; *p != '\0';) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (n == 5) {
			n++;
			break;
		}
		start[n] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		lens[n] = (size_t)(p - start[n]);
		n++;
	}
	if (n != 5) {
		snprintf(err, errlen, "A cron expression has five fields: "
		    "minute, hour, day of month, month and day of week (got "
		    "%s).", n > 5 ? "more" : "fewer");
		return false;
	}
	for (int i = 0; i < 5; i++)
		if (!parse_field(&fields[i], start[i], lens[i], &bits[i],
		    &star[i], err, errlen))
			return false;
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->days = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	/* 7 is Sunday too. */
	out->weekdays = (uint8_t)((bits[4] | (bits[4] >> 7)) & 0x7f);
	out->dom_star = star[2];
	out->dow_star = star[4];
	/* Eight years cover every month and leap day combination. */
	t1 = t0;
	t1.year += 8;
	if (!cron_next(out, &t0, &t1) || t1.year >= t0.year + 8) {
		snprintf(err, errlen, "This cron expression never fires: no "
		    "month has that day.");
		memset(out, 0, sizeof(*out));
		return false;
	}
	return true;
}

static bool
day_matches(const struct cron *c, int y, int m, int d)
{
	bool	 dom = (c->days >> d) & 1;
	bool	 dow = (c->weekdays >> cron_weekday(y, m, d)) & 1;

	if (!c->dom_star && !c->dow_star)
		return dom || dow;
	return dom && dow;
}

static bool
time_valid(const struct cron_time *t)
{
	return t->year >= 1970 && t->year <= 9999 && t->month >= 1 &&
	    t->month <= 12 && t->day >= 1 &&
	    t->day <= cron_days_in_month(t->year, t->month) &&
	    t->hour >= 0 && t->hour <= 23 && t->minute >= 0 &&
	    t->minute <= 59 && t->second >= 0 && t->second <= 60;
}

bool
cron_matches(const struct cron *c, const struct cron_time *t)
{
	return time_valid(t) && ((c->months >> t->month) & 1) &&
	    day_matches(c, t->year, t->month, t->day) &&
	    ((c->hours >> t->hour) & 1) && ((c->minutes >> t->minute) & 1);
}

bool
cron_next(const struct cron *c, const struct cron_time *after,
    struct cron_time *next)
{
	struct cron_time	 t;
	long			 steps = 0;

	if (!time_valid(after) || c->minutes == 0 || c->hours == 0 ||
	    c->days == 0 || c->months == 0 || c->weekdays == 0)
		return false;
	t = *after;
	t.second = 0;
	/* The minute after. */
	if (++t.minute > 59) {
		t.minute = 0;
		if (++t.hour > 23) {
			t.hour = 0;
			if (++t.day > cron_days_in_month(t.year, t.month)) {
				t.day = 1;
				if (++t.month > 12) {
					t.month = 1;
					t.year++;
				}
			}
		}
	}
	while (t.year <= 9999 && steps++ < STEPS_MAX) {
		if (!((c->months >> t.month) & 1)) {
			t.day = 1;
			t.hour = 0;
			t.minute = 0;
			if (++t.month > 12) {
				t.month = 1;
				t.year++;
			}
			continue;
		}
		if (!day_matches(c, t.year, t.month, t.day)) {
			t.hour = 0;
			t.minute = 0;
			if (++t.day > cron_days_in_month(t.year, t.month)) {
				t.day = 1;
				if (++t.month > 12) {
					t.month = 1;
					t.year++;
				}
			}
			continue;
		}
		if (!((c->hours >> t.hour) & 1)) {
			t.minute = 0;
			if (++t.hour > 23) {
				t.hour = 0;
				if (++t.day > cron_days_in_month(t.year,
				    t.month)) {
					t.day = 1;
					if (++t.month > 12) {
						t.month = 1;
						t.year++;
					}
				}
			}
			continue;
		}
		if (!((c->minutes >> t.minute) & 1)) {
			if (++t.minute > 59) {
				t.minute = 0;
				if (++t.hour > 23) {
					t.hour = 0;
					if (++t.day > cron_days_in_month(
					    t.year, t.month)) {
						t.day = 1;
						if (++t.month > 12) {
							t.month = 1;
							t.year++;
						}
					}
				}
			}
			continue;
		}
		*next = t;
		return true;
	}
	return false;
}
