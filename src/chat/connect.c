/*
 * connect: connect codes (see connect.h). Owns tables `connect_codes` and
 * `connect_attempts`; every statement names org_id = $1.
 *
 * DESIGN. A code is consumed by ONE conditional UPDATE (unused, unexpired,
 * this org and channel), so two chats redeeming the same code at once
 * cannot both win. The guessing limit lives in connect_attempts, not in
 * memory, so it holds across worker threads and processes: a redemption
 * first takes transaction-scoped advisory locks on the chat and on the
 * sender (always in that order: no lock cycle), then counts the failures
 * of the last CONNECT_WINDOW_S, then tries the code and records a failure
 * in the same transaction. Concurrent guesses from one chat or sender are
 * thereby serialised and the limit is exact. Badly formatted codes are
 * refused before any of this and are not counted: they guess nothing.
 *
 * The organisation's prefix (orgs.connect_prefix, owned by model/org.c) is
 * read by the code INSERT itself, in a sub-select, and the agent is
 * checked by a join in it: read-only uses of other modules' tables, kept
 * here so that the check, the prefix and the insert are one statement.
 *
 * Thread-safe: no shared state (libsodium's generator is).
 */
#include "chat/connect.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "chat/chats.h"
#include "model/agent.h"
#include "model/channel.h"
#include "util/arena.h"

#define CODE_SUFFIX_LEN		4
#define CODE_MAX		16	/* "ABCDEF-XXXX" is 11 */
#define CREATE_TRIES		8

static void	 random_suffix(char *);
static bool	 format_ok(const char *);
static char	*deep_link(struct arena *, const char *, const char *);
static void	 read_code(struct arena *, const struct db_res *, int,
		    struct connect_code *);
static bool	 is_space(char);

static void
random_suffix(char *out)
{
	static const char	 alphabet[] = CONNECT_ALPHABET;

	for (int i = 0; i < CODE_SUFFIX_LEN; i++)
		out[i] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
	out[CODE_SUFFIX_LEN] = '\0';
}

/* ^[A-Z]{2,6}-[A-Z0-9]{4}$, the table's CHECK. */
static bool
format_ok(const char *s)
{
	size_t	 n = 0;

	while (s[n] >= 'A' && s[n] <= 'Z')
		n++;
	if (n < 2 || n > 6 || s[n] != '-')
		return false;
	s += n + 1;
	for (n = 0; n < CODE_SUFFIX_LEN; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9')))
			return false;
	return s[n] == '\0';
}

/*
 * https://wa.me/<digits>?text=connect%20<CODE> (PROTOCOLS.md §4: the
 * number as digits only). The code needs no encoding: [A-Z0-9-]. "" when
 * the channel has no number (the sandbox).
 */
static char *
deep_link(struct arena *a, const char *number, const char *code)
{
	char	 digits[32];
	size_t	 n = 0;

	for (const char *p = number; *p != '\0' && n < sizeof(digits) - 1;
	    p++)
		if (*p >= '0' && *p <= '9')
			digits[n++] = *p;
	digits[n] = '\0';
	if (n == 0)
		return arena_strdup(a, "");
	return arena_printf(a, "https://wa.me/%s?text=connect%%20%s", digits,
	    code);
}

/*
 * Columns: id, agent_id, channel_id, code, phone number, seconds left,
 * used, created_at, expires_at.
 */
static void
read_code(struct arena *a, const struct db_res *res, int row,
    struct connect_code *c)
{
	c->id = db_res_i64(res, row, 0);
	c->agent_id = db_res_i64(res, row, 1);
	c->channel_id = db_res_i64(res, row, 2);
	c->code = arena_strdup(a, db_res_text(res, row, 3));
	c->channel_number = arena_strdup(a, db_res_text(res, row, 4));
	c->deep_link = deep_link(a, c->channel_number, c->code);
	c->seconds_left = (int)db_res_i64(res, row, 5);
	c->used = db_res_bool(res, row, 6);
	c->created_at = arena_strdup(a, db_res_text(res, row, 7));
	c->expires_at = arena_strdup(a, db_res_text(res, row, 8));
	if (c->used)
		c->seconds_left = 0;
}

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	    c == '\f' || c == '\v';
}

enum db_status
connect_code_create(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, int64_t channel_id, int64_t user_id,
    struct connect_code *out)
{
	struct db_res	 res = { 0 };
	struct channel	 ch;
	struct agent	 g;
	enum db_status	 st;
	char		 suffix[CODE_SUFFIX_LEN + 1];

	memset(out, 0, sizeof(*out));
	st = channel_get(db, a, org_id, channel_id, &ch);
	if (st != DB_OK)
		return st;
	/*
	 * The agent is checked by the join (0 rows: not the org's). A clash
	 * with an earlier code of the channel also gives 0 rows (ON CONFLICT
	 * DO NOTHING keeps a caller's transaction usable); the agent check
	 * after the loop tells the two apart.
	 */
	for (int i = 0; i < CREATE_TRIES; i++) {
		random_suffix(suffix);
		st = db_query(db, &res,
		    "INSERT INTO connect_codes (org_id, agent_id, channel_id,"
		    "       code, created_by, expires_at)"
		    " SELECT $1, a.id, $3,"
		    "        (SELECT connect_prefix FROM orgs WHERE id = $1)"
		    "            || '-' || $4,"
		    "        NULLIF($5::bigint, 0),"
		    "        now() + make_interval(secs => $6)"
		    "   FROM agents a WHERE a.org_id = $1 AND a.id = $2"
		    " ON CONFLICT (channel_id, code) DO NOTHING"
		    " RETURNING id, agent_id, channel_id, code, '', $6::integer,"
		    "       false, created_at, expires_at",
		    DB_I64(org_id), DB_I64(agent_id), DB_I64(channel_id),
		    DB_TEXT(suffix), DB_I64(user_id), DB_I64(CONNECT_TTL_S),
		    DB_END);
		if (st != DB_OK)
			goto out;
		if (res.n_rows == 1) {
			read_code(a, &res, 0, out);
			out->channel_number = ch.phone_number;
			out->deep_link = deep_link(a, ch.phone_number,
			    out->code);
			goto out;
		}
		db_res_clear(&res);
	}
	st = agent_get(db, a, org_id, agent_id, &g);
	if (st == DB_OK)
		st = DB_CONFLICT;	/* CREATE_TRIES clashes: not by chance */
out:
	db_res_clear(&res);
	return st;
}

enum db_status
connect_codes_active(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct connect_code **out, int *n)
{
	struct db_res		 res = { 0 };
	struct connect_code	*c;
	enum db_status		 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT k.id, k.agent_id, k.channel_id, k.code, ch.phone_number,"
	    "       GREATEST(0, ceil(extract(epoch FROM"
	    "           k.expires_at - now())))::integer,"
	    "       k.used_at IS NOT NULL, k.created_at, k.expires_at"
	    "  FROM connect_codes k"
	    "  JOIN channels ch ON ch.org_id = k.org_id AND ch.id = k.channel_id"
	    " WHERE k.org_id = $1 AND k.agent_id = $2"
	    "   AND k.used_at IS NULL AND k.expires_at > now()"
	    " ORDER BY k.id DESC",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st != DB_OK)
		goto out;
	c = arena_alloc(a, sizeof(*c) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++)
		read_code(a, &res, i, &c[i]);
	*out = c;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

bool
connect_parse(struct arena *a, const char *text, const char **code)
{
	const char	*p, *end, *tok;
	char		*s;
	size_t		 n, letters = 0, tail = 0;

	*code = NULL;
	if (text == NULL)
		return false;
	p = text;
	while (is_space(*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_space(end[-1]))
		end--;
	if ((size_t)(end - p) < 7 || strncasecmp(p, "connect", 7) != 0)
		return false;
	p += 7;
	if (p == end || !is_space(*p))
		return false;	/* "connect", "connecting", "connect:" */
	while (p < end && is_space(*p))
		p++;
	/* One token: letters, a dash, then letters or digits. */
	tok = p;
	while (p < end && isalpha((unsigned char)*p) && letters < 10) {
		p++;
		letters++;
	}
	if (letters == 0 || p == end || *p != '-')
		return false;
	for (p++; p < end && isalnum((unsigned char)*p) && tail < 10; p++)
		tail++;
	if (tail == 0 || p != end)
		return false;
	n = (size_t)(end - tok);
	s = arena_strndup(a, tok, n);
	for (size_t i = 0; i < n; i++)
		s[i] = (char)toupper((unsigned char)s[i]);
	*code = s;
	return true;
}

enum db_status
connect_redeem(struct db *db, int64_t org_id, int64_t channel_id,
    int64_t chat_id, const char *sender, const char *code,
    enum connect_outcome *outcome, int64_t *agent_id, int64_t *old_agent_id,
    int *minutes_left)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;
	char		 norm[CODE_MAX + 1];
	int64_t		 code_id;
	bool		 own = false;
	size_t		 n;

	*outcome = CONNECT_BAD_FORMAT;
	*agent_id = 0;
	*old_agent_id = 0;
	*minutes_left = 0;
	if (sender == NULL)
		sender = "";
	n = code != NULL ? strlen(code) : 0;
	if (n == 0 || n > CODE_MAX)
		return DB_OK;
	for (size_t i = 0; i <= n; i++)
		norm[i] = (char)toupper((unsigned char)code[i]);
	if (!format_ok(norm))
		return DB_OK;

	st = db_tx_join(db, &own);
	if (st != DB_OK)
		return st;
	/* Chat first, then sender: every redemption locks in this order. */
	st = db_exec(db,
	    "SELECT pg_advisory_xact_lock(hashtextextended("
	    "           'parley.connect.chat:' || $1 || ':' || $2, 0)),"
	    "       pg_advisory_xact_lock(hashtextextended("
	    "           'parley.connect.sender:' || $1 || ':' || $3 || ':'"
	    "           || $4, 0))",
	    DB_I64(org_id), DB_I64(chat_id), DB_I64(channel_id),
	    DB_TEXT(sender), DB_END);
	if (st != DB_OK)
		goto out;
	/*
	 * The lock ends when the failure that brings the count below the
	 * limit leaves the window: the CONNECT_MAX_FAILURES-th newest.
	 */
	st = db_query(db, &res,
	    "WITH w AS ("
	    "  SELECT at FROM connect_attempts"
	    "   WHERE org_id = $1 AND channel_id = $2"
	    "     AND (chat_id = $3 OR ($4 <> '' AND sender = $4))"
	    "     AND at > now() - make_interval(secs => $5)"
	    ")"
	    " SELECT (SELECT count(*) FROM w),"
	    "        COALESCE(ceil(extract(epoch FROM"
	    "            (SELECT at FROM w ORDER BY at DESC"
	    "              OFFSET $6 - 1 LIMIT 1)"
	    "            + make_interval(secs => $5) - now()) / 60), 0)::integer",
	    DB_I64(org_id), DB_I64(channel_id), DB_I64(chat_id),
	    DB_TEXT(sender), DB_I64(CONNECT_WINDOW_S),
	    DB_I64(CONNECT_MAX_FAILURES), DB_END);
	if (st != DB_OK)
		goto out;
	if (db_res_i64(&res, 0, 0) >= CONNECT_MAX_FAILURES) {
		*outcome = CONNECT_LOCKED;
		*minutes_left = (int)db_res_i64(&res, 0, 1);
		if (*minutes_left < 1)
			*minutes_left = 1;
		goto out;
	}
	db_res_clear(&res);

	st = db_query(db, &res,
	    "UPDATE connect_codes"
	    "   SET used_at = now(), used_by_chat_id = $4"
	    " WHERE org_id = $1 AND channel_id = $2 AND code = $3"
	    "   AND used_at IS NULL AND expires_at > now()"
	    " RETURNING agent_id, id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(norm),
	    DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	if (res.n_rows == 0) {
		*outcome = CONNECT_INVALID;
		st = db_exec(db,
		    "INSERT INTO connect_attempts (org_id, channel_id, chat_id,"
		    "       sender)"
		    " VALUES ($1, $2, $3, $4)",
		    DB_I64(org_id), DB_I64(channel_id), DB_I64(chat_id),
		    DB_TEXT(sender), DB_END);
		goto out;
	}
	*agent_id = db_res_i64(&res, 0, 0);
	code_id = db_res_i64(&res, 0, 1);
	st = chat_set_link(db, org_id, chat_id, *agent_id, code_id,
	    old_agent_id);
	if (st == DB_OK)
		*outcome = CONNECT_LINKED;
out:
	db_res_clear(&res);
	st = db_tx_leave(db, own, st);
	if (st != DB_OK) {
		*outcome = CONNECT_INVALID;
		*agent_id = 0;
		*old_agent_id = 0;
	}
	return st;
}

enum db_status
connect_linked_chats(struct db *db, struct arena *a, int64_t org_id,
    int64_t agent_id, struct linked_chat **out, int *n)
{
	struct db_res		 res = { 0 };
	struct linked_chat	*c;
	enum db_status		 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT c.id, c.kind, c.external_id, c.display_name, ch.name,"
	    "       COALESCE(c.linked_at::text, ''), COALESCE(k.code, ''),"
	    "       c.channel_id"
	    "  FROM chats c"
	    "  JOIN channels ch ON ch.org_id = c.org_id AND ch.id = c.channel_id"
	    "  LEFT JOIN connect_codes k"
	    "         ON k.org_id = c.org_id AND k.id = c.linked_code_id"
	    " WHERE c.org_id = $1 AND c.agent_id = $2"
	    " ORDER BY c.linked_at DESC NULLS LAST, c.id DESC",
	    DB_I64(org_id), DB_I64(agent_id), DB_END);
	if (st != DB_OK)
		goto out;
	c = arena_alloc(a, sizeof(*c) * (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		c[i].chat_id = db_res_i64(&res, i, 0);
		c[i].kind = arena_strdup(a, db_res_text(&res, i, 1));
		c[i].external_id = arena_strdup(a, db_res_text(&res, i, 2));
		c[i].display_name = arena_strdup(a, db_res_text(&res, i, 3));
		c[i].channel_name = arena_strdup(a, db_res_text(&res, i, 4));
		c[i].linked_at = arena_strdup(a, db_res_text(&res, i, 5));
		c[i].code = arena_strdup(a, db_res_text(&res, i, 6));
		c[i].channel_id = db_res_i64(&res, i, 7);
	}
	*out = c;
	*n = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
connect_unlink(struct db *db, int64_t org_id, int64_t chat_id)
{
	enum db_status	 st;
	bool		 own = false;

	st = db_tx_join(db, &own);
	if (st != DB_OK)
		return st;
	st = chat_set_link(db, org_id, chat_id, 0, 0, NULL);
	return db_tx_leave(db, own, st);
}
