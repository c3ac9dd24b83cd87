/*
 * audit: the audit log (see audit.h); owns table `audit_log`.
 *
 * Append-only from the application's side: this file issues INSERT and
 * SELECT, never UPDATE or DELETE. A write failure is logged and swallowed:
 * the action it records has already happened, and refusing to report it
 * would be worse than a missing line.
 *
 * The detail is cleaned before it is stored: at most AUDIT_DETAIL_MAX
 * characters (code points), control characters and bytes that are not
 * UTF-8 replaced, so a log line renders on one row and PostgreSQL never
 * refuses it. Callers still never pass secrets (masked hints at most).
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/audit.h"

#include <stdbool.h>
#include <string.h>

#include "util/log.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/utf8.h"

#define AUDIT_DETAIL_MAX	500	/* characters */
#define AUDIT_FIELD_MAX		64	/* actor, target type: characters */
#define AUDIT_IP_MAX		64

static bool	has(const char *const *set, int n, const char *s);
static size_t	clean(const char *in, size_t max_chars, char *out,
		    size_t out_size);
static void	insert(struct db *db, int64_t org_id, int64_t user_id,
		    const char *actor, const char *action,
		    const char *target_type, int64_t target_id,
		    const char *detail, const char *ip);

/*
 * Copies in to out: at most max_chars code points, each control character
 * (C0, DEL) and each byte that does not start a valid UTF-8 sequence
 * replaced by a space or '?'. out_size must be at least 4 * max_chars + 1.
 * Returns the length written.
 */
static size_t
clean(const char *in, size_t max_chars, char *out, size_t out_size)
{
	size_t	 o = 0, chars = 0, len;

	if (in == NULL) {
		out[0] = '\0';
		return 0;
	}
	len = strlen(in);
	for (size_t i = 0; i < len && chars < max_chars; chars++) {
		unsigned char	 c = (unsigned char)in[i];
		size_t		 n;

		if (c < 0x80) {
			out[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
			i++;
			continue;
		}
		n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
		if (n == 1 || i + n > len || !utf8_valid(in + i, n)) {
			out[o++] = '?';
			i++;
			continue;
		}
		/* C1 controls (U+0080–U+009F) too. */
		if (n == 2 && c == 0xc2 && (unsigned char)in[i + 1] < 0xa0) {
			out[o++] = ' ';
			i += n;
			continue;
		}
		if (o + n >= out_size)
			break;
		memcpy(out + o, in + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	return o;
}

static void
insert(struct db *db, int64_t org_id, int64_t user_id, const char *actor,
    const char *action, const char *target_type, int64_t target_id,
    const char *detail, const char *ip)
{
	char		 d[AUDIT_DETAIL_MAX * 4 + 1];
	char		 a[AUDIT_FIELD_MAX * 4 + 1];
	char		 t[AUDIT_FIELD_MAX * 4 + 1];
	char		 addr[AUDIT_IP_MAX * 4 + 1];
	enum db_status	 st;

	if (db == NULL || org_id <= 0 || action == NULL) {
		log_err("audit", "msg=\"audit write without %s\" action=%s",
		    db == NULL ? "a connection" : "an organisation",
		    action ? action : "-");
		return;
	}
	clean(detail, AUDIT_DETAIL_MAX, d, sizeof(d));
	clean(actor, AUDIT_FIELD_MAX, a, sizeof(a));
	clean(target_type, AUDIT_FIELD_MAX, t, sizeof(t));
	clean(ip, AUDIT_IP_MAX, addr, sizeof(addr));
	st = db_exec(db,
	    "INSERT INTO audit_log (org_id, user_id, actor, action,"
	    "    target_type, target_id, detail, ip)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	    DB_I64(org_id), user_id > 0 ? DB_I64(user_id) : DB_NULL,
	    DB_TEXT(a), DB_TEXT(action), DB_TEXT(t),
	    target_id > 0 ? DB_I64(target_id) : DB_NULL, DB_TEXT(d),
	    DB_TEXT(addr), DB_END);
	if (st != DB_OK)
		log_err("audit", "msg=\"audit write failed\" action=%s "
		    "org=%lld status=%d", action, (long long)org_id, (int)st);
}

void
audit_record(struct db *db, const struct audit_actor *actor,
    const char *action, const char *target_type, int64_t target_id,
    const char *detail)
{
	insert(db, actor->org_id, actor->user_id,
	    actor->label ? actor->label : "system", action, target_type,
	    target_id, detail, actor->ip ? actor->ip : "");
}

void
audit_db(struct db *db, int64_t org_id, int64_t user_id, const char *actor,
    const char *action, const char *target_type, int64_t target_id,
    const char *detail)
{
	insert(db, org_id, user_id, actor ? actor : "system", action,
	    target_type, target_id, detail, "");
}

static bool
has(const char *const *set, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (str_eq(set[i], s))
			return true;
	return false;
}

const char *
audit_toggles(struct arena *a, char *const *before, int n_before,
    const char *const *after, int n_after)
{
	const char	*out = NULL;

	for (int i = 0; i < n_after; i++)
		if (!has((const char *const *)before, n_before, after[i]) &&
		    !has(after, i, after[i]))
			out = out == NULL ? arena_printf(a, "%s on", after[i]) :
			    arena_printf(a, "%s, %s on", out, after[i]);
	for (int i = 0; i < n_before; i++)
		if (!has(after, n_after, before[i]))
			out = out == NULL ? arena_printf(a, "%s off",
			    before[i]) : arena_printf(a, "%s, %s off", out,
			    before[i]);
	return out;
}

enum db_status
audit_list(struct db *db, struct arena *a, int64_t org_id, int64_t before_id,
    int limit, struct audit_entry **out, int *n)
{
	struct db_res		 res = { 0 };
	struct audit_entry	*e;
	enum db_status		 st;

	*out = NULL;
	*n = 0;
	if (limit <= 0 || limit > 1000)
		limit = 100;
	st = db_query(db, &res,
	    "SELECT id, actor, action, target_type, coalesce(target_id, 0),"
	    "       detail, ip,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM audit_log"
	    " WHERE org_id = $1 AND ($2 = 0 OR id < $2)"
	    " ORDER BY id DESC"
	    " LIMIT $3",
	    DB_I64(org_id), DB_I64(before_id), DB_I64(limit), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	e = arena_alloc(a, sizeof(*e) * (size_t)res.n_rows);
	for (int i = 0; i < res.n_rows; i++) {
		e[i].id = db_res_i64(&res, i, 0);
		e[i].actor = arena_strdup(a, db_res_text(&res, i, 1));
		e[i].action = arena_strdup(a, db_res_text(&res, i, 2));
		e[i].target_type = arena_strdup(a, db_res_text(&res, i, 3));
		e[i].target_id = db_res_i64(&res, i, 4);
		e[i].detail = arena_strdup(a, db_res_text(&res, i, 5));
		e[i].ip = arena_strdup(a, db_res_text(&res, i, 6));
		e[i].created_at = arena_strdup(a, db_res_text(&res, i, 7));
	}
	*out = e;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
audit_last(struct db *db, struct arena *a, int64_t org_id, int64_t user_id,
    const char *action, char **at)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*at = NULL;
	st = db_query(db, &res,
	    "SELECT to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
	    "  FROM audit_log"
	    " WHERE org_id = $1 AND user_id = $2 AND action = $3"
	    " ORDER BY id DESC"
	    " LIMIT 1",
	    DB_I64(org_id), DB_I64(user_id), DB_TEXT(action), DB_END);
	if (st == DB_OK && res.n_rows > 0)
		*at = arena_strdup(a, db_res_text(&res, 0, 0));
	db_res_clear(&res);
	return st;
}
