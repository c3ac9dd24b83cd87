/*
 * Unit tests for util/cron.c (five-field cron expressions) and the pure
 * template helpers of model/template.c (rendering {{variables}}, the
 * preview): what schedules and follow-up templates are built on.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "model/template.h"
#include "util/arena.h"
#include "util/cron.h"

#include "unit/unit.h"

/* The next fire time after y-m-d h:m, as "YYYY-MM-DD HH:MM". */
static const char *
next_of(const char *expr, int y, int mo, int d, int h, int mi)
{
	static char		 out[32];
	struct cron		 c;
	struct cron_time	 t = { y, mo, d, h, mi, 30 }, n;
	char			 err[200];

	ck_assert_msg(cron_parse(expr, &c, err, sizeof(err)), "%s: %s", expr,
	    err);
	ck_assert_msg(cron_next(&c, &t, &n), "%s: no next", expr);
	ck_assert(cron_matches(&c, &n));
	snprintf(out, sizeof(out), "%04d-%02d-%02d %02d:%02d", n.year,
	    n.month, n.day, n.hour, n.minute);
	return out;
}

static const char *
refused(const char *expr)
{
	static char	 err[200];
	struct cron	 c;

	err[0] = '\0';
	ck_assert_msg(!cron_parse(expr, &c, err, sizeof(err)), "%s parsed",
	    expr);
	ck_assert(err[0] != '\0');
	return err;
}

START_TEST(cron_next_basics)
{
	ck_assert_str_eq(next_of("* * * * *", 2026, 3, 1, 10, 0),
	    "2026-03-01 10:01");
	ck_assert_str_eq(next_of("0 9 * * *", 2026, 3, 1, 9, 0),
	    "2026-03-02 09:00");
	ck_assert_str_eq(next_of("0 9 * * *", 2026, 3, 1, 8, 59),
	    "2026-03-01 09:00");
	ck_assert_str_eq(next_of("*/15 * * * *", 2026, 12, 31, 23, 50),
	    "2027-01-01 00:00");
	ck_assert_str_eq(next_of("5/20 * * * *", 2026, 1, 1, 0, 6),
	    "2026-01-01 00:25");
	ck_assert_str_eq(next_of("0 0 1 * *", 2026, 1, 31, 12, 0),
	    "2026-02-01 00:00");
	/* Leap day: the next one is in 2028. */
	ck_assert_str_eq(next_of("0 12 29 2 *", 2026, 3, 1, 0, 0),
	    "2028-02-29 12:00");
	/* Weekdays: 2026-03-01 is a Sunday. */
	ck_assert_str_eq(next_of("0 9 * * 1-5", 2026, 3, 1, 10, 0),
	    "2026-03-02 09:00");
	ck_assert_str_eq(next_of("0 9 * * MON-fri", 2026, 3, 6, 10, 0),
	    "2026-03-09 09:00");
	ck_assert_str_eq(next_of("0 0 * * 7", 2026, 3, 2, 0, 0),
	    "2026-03-08 00:00");
	ck_assert_str_eq(next_of("30 8 * jan,JUL *", 2026, 2, 1, 0, 0),
	    "2026-07-01 08:30");
	/* Both day fields restricted: either matches (Vixie cron). */
	ck_assert_str_eq(next_of("0 0 13 * 5", 2026, 3, 1, 0, 0),
	    "2026-03-06 00:00");
	/* A day field beginning with '*' restricts with AND. */
	ck_assert_str_eq(next_of("0 0 */10 * 5", 2026, 3, 1, 0, 0),
	    "2026-05-01 00:00");
	ck_assert_str_eq(next_of("@hourly", 2026, 3, 1, 10, 0),
	    "2026-03-01 11:00");
	ck_assert_str_eq(next_of("  @daily ", 2026, 3, 1, 10, 0),
	    "2026-03-02 00:00");
	ck_assert_str_eq(next_of("@weekly", 2026, 3, 1, 10, 0),
	    "2026-03-08 00:00");
	ck_assert_str_eq(next_of("@yearly", 2026, 3, 1, 10, 0),
	    "2027-01-01 00:00");
	ck_assert_str_eq(next_of("0-10/5,59 23 * * *", 2026, 3, 1, 23, 6),
	    "2026-03-01 23:10");
}
END_TEST

START_TEST(cron_refuses_bad_input)
{
	ck_assert_str_eq(refused("61 * * * *"), "The minute field takes "
	    "values from 0 to 59.");
	ck_assert_str_eq(refused("* 24 * * *"), "The hour field takes values "
	    "from 0 to 23.");
	ck_assert_str_eq(refused("0 0 0 * *"), "The day of month field takes "
	    "values from 1 to 31.");
	ck_assert_str_eq(refused("0 0 30-2 * *"), "The day of month field "
	    "takes values from 1 to 31, low to high.");
	ck_assert_str_eq(refused("0 0 31 2 *"), "This cron expression never "
	    "fires: no month has that day.");
	ck_assert(strstr(refused("* * * *"), "five fields") != NULL);
	ck_assert(strstr(refused("* * * * * *"), "five fields") != NULL);
	ck_assert(strstr(refused(""), "Write a cron expression") != NULL);
	ck_assert(strstr(refused("*/0 * * * *"), "step") != NULL);
	ck_assert(strstr(refused("1,,2 * * * *"), "not valid") != NULL);
	ck_assert(strstr(refused("1, * * * *"), "not valid") != NULL);
	ck_assert(strstr(refused("a * * * *"), "not valid") != NULL);
	ck_assert(strstr(refused("0 0 * foo *"), "not valid") != NULL);
	ck_assert(strstr(refused("0 0 * * 8"), "day of week") != NULL);
	ck_assert(strstr(refused("1000 * * * *"), "not valid") != NULL);
	ck_assert(strstr(refused("@often"), "shortcut") != NULL);
	ck_assert(strstr(refused("1-/2 * * * *"), "not valid") != NULL);
}
END_TEST

START_TEST(cron_calendar)
{
	ck_assert_int_eq(cron_days_in_month(2024, 2), 29);
	ck_assert_int_eq(cron_days_in_month(2100, 2), 28);
	ck_assert_int_eq(cron_days_in_month(2000, 2), 29);
	ck_assert_int_eq(cron_days_in_month(2026, 4), 30);
	ck_assert_int_eq(cron_weekday(2026, 3, 1), 0);
	ck_assert_int_eq(cron_weekday(2000, 1, 1), 6);
	ck_assert_int_eq(cron_weekday(1970, 1, 1), 4);
}
END_TEST

START_TEST(template_render_and_preview)
{
	struct arena	*a = arena_new();
	struct template	 t;
	cJSON		*params, *values;
	char		 missing[80];

	params = cJSON_Parse("[{\"name\":\"1\",\"value\":\"Ada\","
	    "\"part\":\"body\"},{\"name\":\"1\",\"value\":\"A-1\","
	    "\"part\":\"header\"}]");
	ck_assert_str_eq(template_render(a, "Hi {{1}}, {{2}} {{1}}", "body",
	    params), "Hi Ada, {{2}} Ada");
	ck_assert_str_eq(template_render(a, "Order {{1}}", "header", params),
	    "Order A-1");
	ck_assert_str_eq(template_render(a, "{{", "body", params), "{{");
	ck_assert_str_eq(template_render(a, "x {{}} y", "body", params),
	    "x {{}} y");
	cJSON_Delete(params);

	memset(&t, 0, sizeof(t));
	t.name = "order_update";
	t.header = "Order {{order}}";
	t.body = "Dear {{first_name}}.";
	t.footer = "Shop";
	t.variables = "[{\"name\":\"order\",\"example\":\"A-1\",\"part\":"
	    "\"header\"},{\"name\":\"first_name\",\"example\":\"Ada\","
	    "\"part\":\"body\"}]";
	params = template_params(&t, NULL, true, missing, sizeof(missing));
	ck_assert_str_eq(missing, "");
	ck_assert_str_eq(template_preview(a, &t, params), "Order A-1\n\nDear "
	    "Ada.\n\nShop");
	cJSON_Delete(params);
	values = cJSON_Parse("{\"header.order\":\"Z-9\"}");
	params = template_params(&t, values, false, missing, sizeof(missing));
	ck_assert_str_eq(missing, "first_name");
	ck_assert_str_eq(template_preview(a, &t, params), "Order Z-9\n\nDear "
	    ".\n\nShop");
	cJSON_Delete(params);
	cJSON_Delete(values);
	t.header = "IMAGE";
	params = template_params(&t, NULL, true, NULL, 0);
	ck_assert_str_eq(template_preview(a, &t, params), "[IMAGE]\n\nDear "
	    "Ada.\n\nShop");
	cJSON_Delete(params);
	arena_free(a);
}
END_TEST

static Suite *
cron_suite(void)
{
	Suite	*s = suite_create("cron");
	TCase	*tc = tcase_create("cron");

	tcase_add_test(tc, cron_next_basics);
	tcase_add_test(tc, cron_refuses_bad_input);
	tcase_add_test(tc, cron_calendar);
	tcase_add_test(tc, template_render_and_preview);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(cron_suite());
}
