/*
 * time: the time.now tool. The model asks for the current time, optionally
 * in an IANA zone ("Europe/Paris"), and gets {"iso", "unix", "timezone"}.
 *
 * The zone conversion happens in PostgreSQL (now() AT TIME ZONE $1) rather
 * than with TZ and localtime_r: setting TZ is process-wide and not
 * thread-safe, and PostgreSQL's zone database validates the name for us
 * (an unknown zone is SQLSTATE 22023 → DB_INVALID → a tool error). The
 * connection is taken from the pool for the one statement and given back.
 */
#include "plugins/tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/db.h"
#include "util/xmalloc.h"

#define TZ_NAME_MAX	64

static bool	 time_invoke(struct plugin_ctx *, const cJSON *, char **);
static bool	 tz_name_ok(const char *);

const struct plugin plugin_time_now = {
	.id = "time.now",
	.title = "Current date and time",
	.description = "Get the current date and time, in UTC or in a given "
	    "time zone. Use it whenever the answer depends on today's date "
	    "or the time of day.",
	.params_schema =
	    "{\"type\":\"object\","
	    "\"properties\":{"
	    "\"timezone\":{\"type\":\"string\",\"description\":"
	    "\"An IANA time zone name such as Europe/Paris or "
	    "America/Sao_Paulo. Default: UTC.\"}},"
	    "\"additionalProperties\":false}",
	.needs_channel = false,
	.invoke = time_invoke,
};

/* Letters, digits and / _ + - only: what IANA names and POSIX offsets
 * use. Anything else cannot be a zone and never reaches the database. */
static bool
tz_name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > TZ_NAME_MAX)
		return false;
	for (; *s != '\0'; s++) {
		char	 c = *s;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '/' || c == '_' ||
		    c == '+' || c == '-'))
			return false;
	}
	return true;
}

static bool
time_invoke(struct plugin_ctx *ctx, const cJSON *args, char **result)
{
	const cJSON	*tzv = cJSON_GetObjectItemCaseSensitive(args, "timezone");
	const char	*tz = "UTC";
	struct db_res	 res = { 0 };
	struct db	*db = NULL;
	enum db_status	 st;
	cJSON		*out = NULL;
	char		 iso[64];
	long		 off;
	bool		 ok = false;

	if (tzv != NULL && !cJSON_IsNull(tzv)) {
		if (!cJSON_IsString(tzv)) {
			*result = xstrdup("timezone must be a string such as "
			    "\"Europe/Paris\".");
			goto out;
		}
		if (tzv->valuestring[0] != '\0')
			tz = tzv->valuestring;
	}
	if (!tz_name_ok(tz)) {
		*result = xasprintf("Unknown time zone \"%.64s\". Use an IANA "
		    "name such as Europe/Paris.", tz);
		goto out;
	}
	if ((db = db_acquire(ctx->pool)) == NULL) {
		*result = xstrdup("The clock is unavailable right now.");
		goto out;
	}
	st = db_query(db, &res,
	    "SELECT to_char(s.l, 'YYYY-MM-DD\"T\"HH24:MI:SS'),"
	    "       floor(extract(epoch FROM s.n))::bigint,"
	    "       extract(epoch FROM s.l - (s.n AT TIME ZONE 'UTC'))::int"
	    "  FROM (SELECT now() AS n, now() AT TIME ZONE $1::text AS l) s",
	    DB_TEXT(tz), DB_END);
	if (st == DB_INVALID) {
		*result = xasprintf("Unknown time zone \"%s\". Use an IANA "
		    "name such as Europe/Paris.", tz);
		goto out;
	}
	if (st != DB_OK || res.n_rows != 1) {
		*result = xstrdup("The clock is unavailable right now.");
		goto out;
	}
	off = (long)db_res_i64(&res, 0, 2);
	snprintf(iso, sizeof(iso), "%s%c%02ld:%02ld", db_res_text(&res, 0, 0),
	    off < 0 ? '-' : '+', labs(off) / 3600, labs(off) % 3600 / 60);
	out = cJSON_CreateObject();
	cJSON_AddStringToObject(out, "iso", iso);
	cJSON_AddNumberToObject(out, "unix", (double)db_res_i64(&res, 0, 1));
	cJSON_AddStringToObject(out, "timezone", tz);
	*result = cJSON_PrintUnformatted(out);
	if (*result == NULL)
		abort();
	ok = true;
out:
	db_res_clear(&res);
	if (db != NULL)
		db_release(db);
	cJSON_Delete(out);
	return ok;
}
