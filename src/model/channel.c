/*
 * channel: an organisation's WhatsApp senders and their webhook health
 * (owns tables `channels` and `webhook_events`; see channel.h).
 *
 * Secrets. Each credential column is sealed for its own row (AD
 * "channels.<column>#ID"), so a new row's id comes from the sequence with
 * nextval() before the INSERT, as model/provider.c does. The columns are
 * described once in `secret_cols` below, which maps each to its field name
 * (the key of its masked hint in credential_hints, and the name forms and
 * field errors use), its place in struct channel_input and struct
 * channel_secrets, and the kind that uses it; validation, sealing,
 * decryption and key rotation all walk that table. Plaintext exists here
 * only between the caller's input and secret_seal(), and in
 * channel_get_secrets()'s result; it is never logged. Hints are computed
 * from the plaintext at write time, so reading a channel never opens one.
 *
 * Numbers. A sender belongs to one channel across all organisations (the
 * partial unique indexes of migration 0004): a webhook finds its
 * organisation that way, and a clash is DB_CONFLICT naming the field.
 *
 * Audit. channel_create() and channel_update() record what changed when
 * the input names who changed it (channel.h). channel_update() reads the
 * row as it was in the statement that writes it (a CTE that locks it), so
 * the "old → new" details are those of the very row written.
 *
 * Thread-safety: stateless; each call uses the caller's connection.
 */
#include "model/channel.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <sodium.h>

#include "util/log.h"
#include "crypto/hmac.h"
#include "crypto/secret.h"
#include "model/audit.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/utf8.h"
#include "util/str.h"
#include "util/xmalloc.h"

#define CHANNEL_TABLE		"channels"
#define CHANNEL_NAME_MAX	100
#define CHANNEL_SECRET_MAX	4096
#define CHANNEL_NUMBER_ID_MAX	64
#define REJECTIONS_KEPT		50
#define REJECTION_TEXT_MAX	300
#define N_SECRETS		7
#define COL_META_VERIFY		4	/* index in secret_cols */

/* The columns every channel query reads, in row_read()'s order. */
#define CHANNEL_COLUMNS \
	"SELECT c.id, c.org_id, c.kind, c.name, c.environment, c.status," \
	"       c.phone_number, coalesce(c.phone_number_id, '')," \
	"       coalesce(c.default_agent_id, 0), coalesce(a.name, '')," \
	"       c.credential_hints::text," \
	"       to_char(c.last_verified_at AT TIME ZONE 'UTC'," \
	"           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')," \
	"       to_char(c.created_at AT TIME ZONE 'UTC'," \
	"           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')" \
	"  FROM channels c" \
	"  LEFT JOIN agents a" \
	"    ON a.org_id = c.org_id AND a.id = c.default_agent_id"

struct secret_col {
	const char	*column;	/* channels.<column> */
	const char	*field;		/* form field and hint key */
	const char	*kind;		/* the kind that uses it */
	const char	*label;		/* for field errors */
	size_t		 in_off;	/* in struct channel_input */
	size_t		 out_off;	/* in struct channel_secrets */
};

#define SECRET_COL(col, f, k, l) { col, #f, k, l,			\
	offsetof(struct channel_input, f),				\
	offsetof(struct channel_secrets, f) }

/* Also the order of the sealed parameters in channel_update(). */
static const struct secret_col secret_cols[N_SECRETS] = {
	SECRET_COL("twilio_account_sid_enc", twilio_account_sid, "twilio",
	    "the Account SID"),
	SECRET_COL("twilio_auth_token_enc", twilio_auth_token, "twilio",
	    "the Auth Token"),
	SECRET_COL("meta_access_token_enc", meta_access_token, "meta",
	    "the access token"),
	SECRET_COL("meta_app_secret_enc", meta_app_secret, "meta",
	    "the app secret"),
	SECRET_COL("meta_verify_token_enc", meta_verify_token, "meta",
	    "the verify token"),
	SECRET_COL("kapso_api_key_enc", kapso_api_key, "kapso",
	    "the API key"),
	SECRET_COL("kapso_webhook_secret_enc", kapso_webhook_secret, "kapso",
	    "the webhook secret"),
};

const char *
channel_input_secret_names(struct arena *a, const struct channel_input *in)
{
	const char	*out = NULL, *v;

	for (size_t i = 0; i < N_SECRETS; i++) {
		v = *(const char *const *)((const char *)in +
		    secret_cols[i].in_off);
		if (v != NULL && v[0] != '\0')
			out = out == NULL ? secret_cols[i].field :
			    arena_printf(a, "%s, %s", out,
			    secret_cols[i].field);
	}
	return out;
}

/* Trimmed, validated copies of a channel_input. */
struct clean_input {
	const char	*kind;		/* static */
	char		*name;
	const char	*environment;	/* static */
	const char	*status;	/* static; NULL: unchanged/pending */
	char		*phone_number;	/* "+E164" or "" */
	char		*phone_number_id;	/* NULL for twilio/sandbox */
	int64_t		 default_agent_id;
	char		*secret[N_SECRETS];	/* NULL: not given */
	char		*hints;		/* JSON object of the given ones */
};

static const char *pick(const char *, const char *const *);
static bool	 normalise_e164(const char *, char **);
static void	 validate(const struct channel_input *, const char *, bool,
		    struct clean_input *, struct field_errors *);
static void	 clean_free(struct clean_input *);
static void	 conflict_error(const char *, struct field_errors *);
static void	 row_read(struct arena *, const struct db_res *, int,
		    struct channel *);
static char	*text_clip(const char *);
static void	 audit_credentials(struct db *, const struct channel_input *,
		    int64_t, const struct clean_input *);
static void	 change(struct buf *, const char *, const char *,
		    const char *);
static void	 audit_update(struct db *, const struct channel_input *,
		    int64_t, const struct db_res *, const struct clean_input *);

static const char *const kinds[] = { "twilio", "meta", "kapso", "sandbox",
	NULL };
static const char *const environments[] = { "development", "production",
	NULL };
static const char *const statuses[] = { "pending", "connected", "disabled",
	NULL };

/* The static member of set equal to s, or NULL. */
static const char *
pick(const char *s, const char *const *set)
{
	if (s == NULL)
		return NULL;
	for (; *set != NULL; set++)
		if (strcmp(s, *set) == 0)
			return *set;
	return NULL;
}

/*
 * "+" and 8 to 15 digits into *out (malloc'd). Accepts Twilio's
 * "whatsapp:+…" address form and the spaces, dashes, dots and brackets
 * people type. False (with *out NULL) when it is not a number.
 */
static bool
normalise_e164(const char *in, char **out)
{
	char	 buf[32];
	size_t	 n = 0, digits = 0;

	*out = NULL;
	while (*in == ' ' || *in == '\t')
		in++;
	if (strncasecmp(in, "whatsapp:", 9) == 0)
		in += 9;
	for (; *in != '\0'; in++) {
		if (*in == ' ' || *in == '-' || *in == '.' || *in == '(' ||
		    *in == ')' || *in == '\t')
			continue;
		if (n == 0 && *in == '+') {
			buf[n++] = '+';
			continue;
		}
		if (n == 0 || *in < '0' || *in > '9' || n >= 16)
			return false;
		buf[n++] = *in;
		digits++;
	}
	if (digits < 8 || digits > 15 || buf[1] == '0')
		return false;
	buf[n] = '\0';
	*out = xstrdup(buf);
	return true;
}

/*
 * Fills c (always, so clean_free can run) and errs. kind is the stored
 * kind on update, else in->kind; is_create makes each of the kind's
 * secrets required.
 */
static void
validate(const struct channel_input *in, const char *kind, bool is_create,
    struct clean_input *c, struct field_errors *errs)
{
	cJSON		*hints;
	char		 mask[64];
	const char	*p;
	size_t		 n;
	bool		 is_twilio, is_meta, is_kapso;

	memset(c, 0, sizeof(*c));
	c->kind = pick(kind, kinds);
	c->name = str_trim_dup(in->name);
	c->default_agent_id = in->default_agent_id;
	if (c->kind == NULL) {
		field_error_add(errs, "kind", "Choose Twilio, Meta, Kapso or "
		    "Sandbox.");
		c->kind = "sandbox";	/* so the rest can be checked */
	}
	is_twilio = strcmp(c->kind, "twilio") == 0;
	is_meta = strcmp(c->kind, "meta") == 0;
	is_kapso = strcmp(c->kind, "kapso") == 0;

	n = strlen(c->name);
	if (n == 0)
		field_error_add(errs, "name", "Enter a name.");
	else if (!utf8_valid(c->name, n) || str_has_ctl(c->name))
		field_error_add(errs, "name", "Use printable characters only.");
	else if (utf8_count(c->name, n) > CHANNEL_NAME_MAX)
		field_error_add(errs, "name", "Use at most 100 characters.");

	if (in->environment == NULL || in->environment[0] == '\0')
		c->environment = "development";
	else if ((c->environment = pick(in->environment, environments)) ==
	    NULL) {
		field_error_add(errs, "environment", "Choose development or "
		    "production.");
		c->environment = "development";
	}
	if (in->status != NULL && in->status[0] != '\0' &&
	    (c->status = pick(in->status, statuses)) == NULL)
		field_error_add(errs, "status", "Choose pending, connected or "
		    "disabled.");
	if (c->default_agent_id < 0)
		field_error_add(errs, "default_agent_id", "Choose one of your "
		    "agents.");

	/* The sender. */
	p = in->phone_number != NULL ? in->phone_number : "";
	while (*p == ' ' || *p == '\t')
		p++;
	if (is_twilio && *p == '\0')
		field_error_add(errs, "phone_number", "Enter the WhatsApp "
		    "sender's number, for example +14155238886.");
	else if ((is_twilio || is_meta || is_kapso) && *p != '\0' &&
	    !normalise_e164(p, &c->phone_number))
		field_error_add(errs, "phone_number", "Use the international "
		    "format: + and 8 to 15 digits, for example +14155238886.");
	if (c->phone_number == NULL)
		c->phone_number = xstrdup("");
	if (is_meta || is_kapso) {
		c->phone_number_id = str_trim_dup(in->phone_number_id);
		n = strlen(c->phone_number_id);
		if (n == 0)
			field_error_add(errs, "phone_number_id", "Enter the "
			    "phone number ID.");
		else if (n > CHANNEL_NUMBER_ID_MAX ||
		    strspn(c->phone_number_id, "0123456789") != n)
			field_error_add(errs, "phone_number_id", "A phone "
			    "number ID is digits only (at most 64).");
	}

	/* The kind's secrets; other kinds' fields are ignored. */
	hints = cJSON_CreateObject();
	for (int i = 0; i < N_SECRETS; i++) {
		const struct secret_col	*sc = &secret_cols[i];
		const char		*v;

		if (strcmp(sc->kind, c->kind) != 0)
			continue;
		v = *(const char *const *)((const char *)in + sc->in_off);
		if (v != NULL && v[0] != '\0')
			c->secret[i] = str_trim_dup(v);
		if (c->secret[i] != NULL && c->secret[i][0] == '\0') {
			free(c->secret[i]);
			c->secret[i] = NULL;
		}
		if (c->secret[i] == NULL) {
			/* Twilio's pair is checked below. */
			if (is_create && !is_twilio)
				field_error_addf(errs, sc->field, "Enter %s.",
				    sc->label);
			continue;
		}
		n = strlen(c->secret[i]);
		if (n > CHANNEL_SECRET_MAX)
			field_error_add(errs, sc->field, "At most 4096 "
			    "characters.");
		else if (!utf8_valid(c->secret[i], n) ||
		    str_has_ctl(c->secret[i]) || strchr(c->secret[i], ' '))
			field_error_add(errs, sc->field, "No spaces, control "
			    "characters or line breaks.");
		cJSON_AddStringToObject(hints, sc->field,
		    secret_mask(c->secret[i], mask, sizeof(mask)));
	}
	if (is_twilio) {
		char	*sid = c->secret[0], *token = c->secret[1];

		if (sid != NULL && (strlen(sid) != 34 ||
		    strncmp(sid, "AC", 2) != 0 ||
		    strspn(sid + 2, "0123456789abcdefABCDEF") != 32))
			field_error_add(errs, "twilio_account_sid", "An "
			    "Account SID is AC followed by 32 hexadecimal "
			    "characters.");
		if (token != NULL && strlen(token) != 32)
			field_error_add(errs, "twilio_auth_token", "An Auth "
			    "Token is 32 characters.");
		if (sid == NULL && (is_create || token != NULL))
			field_error_add(errs, "twilio_account_sid", is_create ?
			    "Enter the Account SID." : "Enter the Account SID "
			    "with the new Auth Token (they change together).");
		if (token == NULL && (is_create || sid != NULL))
			field_error_add(errs, "twilio_auth_token", is_create ?
			    "Enter the Auth Token." : "Enter the Auth Token "
			    "with the new Account SID (they change together).");
	}
	if ((c->hints = cJSON_PrintUnformatted(hints)) == NULL)
		abort();
	cJSON_Delete(hints);
}

/* Wipes the secret copies: they are plaintext. */
static void
clean_free(struct clean_input *c)
{
	free(c->name);
	free(c->phone_number);
	free(c->phone_number_id);
	free(c->hints);
	for (int i = 0; i < N_SECRETS; i++) {
		if (c->secret[i] == NULL)
			continue;
		sodium_memzero(c->secret[i], strlen(c->secret[i]));
		free(c->secret[i]);
	}
	memset(c, 0, sizeof(*c));
}

/* The field a unique-index clash names, per kind. */
static void
conflict_error(const char *kind, struct field_errors *errs)
{
	if (strcmp(kind, "twilio") == 0)
		field_error_add(errs, "phone_number", "This number is already "
		    "connected to another channel.");
	else if (strcmp(kind, "sandbox") == 0)
		field_error_add(errs, "kind", "This organisation already has "
		    "a sandbox channel.");
	else
		field_error_add(errs, "phone_number_id", "This phone number ID "
		    "is already connected to another channel.");
}

/* Columns: see CHANNEL_COLUMNS. */
static void
row_read(struct arena *a, const struct db_res *res, int i, struct channel *c)
{
	c->id = db_res_i64(res, i, 0);
	c->org_id = db_res_i64(res, i, 1);
	c->kind = arena_strdup(a, db_res_text(res, i, 2));
	c->name = arena_strdup(a, db_res_text(res, i, 3));
	c->environment = arena_strdup(a, db_res_text(res, i, 4));
	c->status = arena_strdup(a, db_res_text(res, i, 5));
	c->phone_number = arena_strdup(a, db_res_text(res, i, 6));
	c->phone_number_id = arena_strdup(a, db_res_text(res, i, 7));
	c->default_agent_id = db_res_i64(res, i, 8);
	c->default_agent_name = arena_strdup(a, db_res_text(res, i, 9));
	c->credential_hints = arena_strdup(a, db_res_text(res, i, 10));
	c->last_verified_at = db_res_isnull(res, i, 11) ? NULL :
	    arena_strdup(a, db_res_text(res, i, 11));
	c->created_at = arena_strdup(a, db_res_text(res, i, 12));
}

enum db_status
channel_list(struct db *db, struct arena *a, int64_t org_id,
    struct channel **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    CHANNEL_COLUMNS
	    " WHERE c.org_id = $1"
	    " ORDER BY c.kind = 'sandbox', lower(c.name), c.id",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++)
			row_read(a, &res, i, &(*out)[i]);
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
channel_get(struct db *db, struct arena *a, int64_t org_id, int64_t id,
    struct channel *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    CHANNEL_COLUMNS
	    " WHERE c.org_id = $1 AND c.id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
channel_create(struct db *db, const struct secret_key *k, int64_t org_id,
    const struct channel_input *in, struct field_errors *errs, int64_t *id)
{
	struct clean_input	 c;
	struct db_res		 res = { 0 };
	unsigned char		*sealed[N_SECRETS] = { 0 };
	size_t			 sealed_len[N_SECRETS] = { 0 };
	struct db_param		 p[N_SECRETS];
	int64_t			 new_id;
	enum db_status		 st;

	validate(in, in->kind, true, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('channels', 'id'))",
	    DB_END);
	if (st != DB_OK)
		goto out;
	new_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	for (int i = 0; i < N_SECRETS; i++) {
		p[i] = DB_NULL;
		if (c.secret[i] == NULL)
			continue;
		sealed[i] = secret_seal(k, CHANNEL_TABLE,
		    secret_cols[i].column, new_id, c.secret[i],
		    strlen(c.secret[i]), &sealed_len[i]);
		p[i] = DB_BYTES(sealed[i], sealed_len[i]);
	}
	st = db_exec(db,
	    "INSERT INTO channels"
	    "       (org_id, id, kind, name, environment, status,"
	    "        phone_number, phone_number_id, default_agent_id,"
	    "        credential_hints,"
	    "        twilio_account_sid_enc, twilio_auth_token_enc,"
	    "        meta_access_token_enc, meta_app_secret_enc,"
	    "        meta_verify_token_enc, kapso_api_key_enc,"
	    "        kapso_webhook_secret_enc)"
	    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb,"
	    "         $11::bytea, $12::bytea, $13::bytea, $14::bytea,"
	    "         $15::bytea, $16::bytea, $17::bytea)",
	    DB_I64(org_id), DB_I64(new_id), DB_TEXT(c.kind), DB_TEXT(c.name),
	    DB_TEXT(c.environment),
	    DB_TEXT(c.status != NULL ? c.status :
	    strcmp(c.kind, "sandbox") == 0 ? "connected" : "pending"),
	    DB_TEXT(c.phone_number), DB_TEXT(c.phone_number_id),
	    c.default_agent_id > 0 ? DB_I64(c.default_agent_id) : DB_NULL,
	    DB_TEXT(c.hints), p[0], p[1], p[2], p[3], p[4], p[5], p[6],
	    DB_END);
	if (st == DB_CONFLICT)
		conflict_error(c.kind, errs);
	else if (st == DB_INVALID)
		/* Every CHECK was validated above: it is the agent's FK. */
		field_error_add(errs, "default_agent_id", "Choose one of your "
		    "agents.");
	if (st == DB_OK) {
		*id = new_id;
		if (in->who != NULL) {
			char	 d[400];

			snprintf(d, sizeof(d), "%s (%s, %s, %s)", c.name,
			    c.kind, c.environment, c.status != NULL ?
			    c.status : strcmp(c.kind, "sandbox") == 0 ?
			    "connected" : "pending");
			audit_record(db, in->who, "channel.created", "channel",
			    new_id, d);
			audit_credentials(db, in, new_id, &c);
		}
	}
out:
	for (int i = 0; i < N_SECRETS; i++)
		free(sealed[i]);
	db_res_clear(&res);
	clean_free(&c);
	return st;
}

enum db_status
channel_update(struct db *db, const struct secret_key *k, int64_t org_id,
    int64_t id, const struct channel_input *in, struct field_errors *errs)
{
	struct clean_input	 c = { 0 };
	struct db_res		 res = { 0 };
	unsigned char		*sealed[N_SECRETS] = { 0 };
	size_t			 sealed_len[N_SECRETS] = { 0 };
	struct db_param		 p[N_SECRETS];
	char			*kind = NULL;
	enum db_status		 st;

	/* The kind never changes: validate against the stored one. */
	st = db_query(db, &res,
	    "SELECT kind FROM channels WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	kind = xstrdup(db_res_text(&res, 0, 0));
	db_res_clear(&res);
	validate(in, kind, false, &c, errs);
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	for (int i = 0; i < N_SECRETS; i++) {
		p[i] = DB_NULL;
		if (c.secret[i] == NULL)
			continue;
		sealed[i] = secret_seal(k, CHANNEL_TABLE,
		    secret_cols[i].column, id, c.secret[i],
		    strlen(c.secret[i]), &sealed_len[i]);
		p[i] = DB_BYTES(sealed[i], sealed_len[i]);
	}
	/*
	 * A NULL sealed parameter keeps the stored secret. old is the row
	 * as it was (locked first: the UPDATE joins it), for the audit.
	 */
	st = db_query(db, &res,
	    "WITH old AS ("
	    "    SELECT c.name AS o_name, c.environment AS o_env,"
	    "           c.status AS o_status, c.phone_number AS o_number,"
	    "           coalesce(c.phone_number_id, '') AS o_number_id,"
	    "           coalesce(c.default_agent_id, 0) AS o_agent,"
	    "           coalesce(a.name, '') AS o_agent_name"
	    "      FROM channels c"
	    "      LEFT JOIN agents a"
	    "        ON a.org_id = c.org_id AND a.id = c.default_agent_id"
	    "     WHERE c.org_id = $1 AND c.id = $2"
	    "       FOR UPDATE OF c),"
	    " upd AS ("
	    "    UPDATE channels"
	    "       SET name = $3, environment = $4,"
	    "           status = coalesce($5, status),"
	    "           phone_number = $6, phone_number_id = $7,"
	    "           default_agent_id = $8,"
	    "           credential_hints = credential_hints || $9::jsonb,"
	    "           twilio_account_sid_enc ="
	    "               coalesce($10::bytea, twilio_account_sid_enc),"
	    "           twilio_auth_token_enc ="
	    "               coalesce($11::bytea, twilio_auth_token_enc),"
	    "           meta_access_token_enc ="
	    "               coalesce($12::bytea, meta_access_token_enc),"
	    "           meta_app_secret_enc ="
	    "               coalesce($13::bytea, meta_app_secret_enc),"
	    "           meta_verify_token_enc ="
	    "               coalesce($14::bytea, meta_verify_token_enc),"
	    "           kapso_api_key_enc ="
	    "               coalesce($15::bytea, kapso_api_key_enc),"
	    "           kapso_webhook_secret_enc ="
	    "               coalesce($16::bytea, kapso_webhook_secret_enc),"
	    "           updated_at = now()"
	    "      FROM old"
	    "     WHERE org_id = $1 AND id = $2"
	    "    RETURNING status, coalesce(phone_number_id, '') AS number_id)"
	    " SELECT o_name, o_env, o_status, o_number, o_number_id, o_agent,"
	    "        o_agent_name, upd.status, upd.number_id,"
	    "        coalesce((SELECT name FROM agents"
	    "                   WHERE org_id = $1 AND id = $8), '')"
	    "   FROM old, upd",
	    DB_I64(org_id), DB_I64(id), DB_TEXT(c.name),
	    DB_TEXT(c.environment),
	    c.status != NULL ? DB_TEXT(c.status) : DB_NULL,
	    DB_TEXT(c.phone_number), DB_TEXT(c.phone_number_id),
	    c.default_agent_id > 0 ? DB_I64(c.default_agent_id) : DB_NULL,
	    DB_TEXT(c.hints), p[0], p[1], p[2], p[3], p[4], p[5], p[6],
	    DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	else if (st == DB_OK && in->who != NULL) {
		audit_update(db, in, id, &res, &c);
		audit_credentials(db, in, id, &c);
	}
	if (st == DB_CONFLICT)
		conflict_error(kind, errs);
	else if (st == DB_INVALID)
		field_error_add(errs, "default_agent_id", "Choose one of your "
		    "agents.");
out:
	for (int i = 0; i < N_SECRETS; i++)
		free(sealed[i]);
	free(kind);
	db_res_clear(&res);
	clean_free(&c);
	return st;
}

/* channel.credentials_changed with the names of the credentials given
 * (never their values), when there are any. */
static void
audit_credentials(struct db *db, const struct channel_input *in, int64_t id,
    const struct clean_input *c)
{
	struct buf	 b;

	buf_init(&b, 0);
	for (int i = 0; i < N_SECRETS; i++)
		if (c->secret[i] != NULL)
			buf_printf(&b, "%s%s", b.len > 0 ? ", " : "",
			    secret_cols[i].field);
	if (b.len > 0)
		audit_record(db, in->who, "channel.credentials_changed",
		    "channel", id, buf_str(&b));
	buf_cleanup(&b);
}

/* Appends "what old → new" to b when they differ. */
static void
change(struct buf *b, const char *what, const char *old, const char *now)
{
	if (strcmp(old, now) == 0)
		return;
	buf_printf(b, "%s%s %s \xe2\x86\x92 %s", b->len > 0 ? "; " : "",
	    what, old[0] != '\0' ? old : "none", now[0] != '\0' ? now :
	    "none");
}

/*
 * channel.updated: res holds the row as it was (name, environment,
 * status, number, number id, agent id and name) and as written (status,
 * number id, agent name); c what was written.
 */
static void
audit_update(struct db *db, const struct channel_input *in, int64_t id,
    const struct db_res *res, const struct clean_input *c)
{
	struct buf	 b;
	char		 old_agent[160], new_agent[160];
	int64_t		 o_agent = db_res_i64(res, 0, 5);

	buf_init(&b, 0);
	change(&b, "name", db_res_text(res, 0, 0), c->name);
	change(&b, "status", db_res_text(res, 0, 2), db_res_text(res, 0, 7));
	change(&b, "environment", db_res_text(res, 0, 1), c->environment);
	change(&b, "number", db_res_text(res, 0, 3), c->phone_number);
	change(&b, "phone number id", db_res_text(res, 0, 4),
	    db_res_text(res, 0, 8));
	if (o_agent != c->default_agent_id) {
		old_agent[0] = new_agent[0] = '\0';
		if (o_agent > 0)
			snprintf(old_agent, sizeof(old_agent), "%s (#%lld)",
			    db_res_text(res, 0, 6), (long long)o_agent);
		if (c->default_agent_id > 0)
			snprintf(new_agent, sizeof(new_agent), "%s (#%lld)",
			    db_res_text(res, 0, 9),
			    (long long)c->default_agent_id);
		change(&b, "default agent", old_agent, new_agent);
	}
	for (int i = 0; b.len == 0 && i < N_SECRETS; i++)
		if (c->secret[i] != NULL)
			goto out;	/* channel.credentials_changed says it */
	audit_record(db, in->who, "channel.updated", "channel", id,
	    b.len > 0 ? buf_str(&b) : "no changes");
out:
	buf_cleanup(&b);
}

enum db_status
channel_delete(struct db *db, int64_t org_id, int64_t id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	st = db_query(db, &res,
	    "WITH target AS ("
	    "    SELECT kind FROM channels WHERE org_id = $1 AND id = $2),"
	    " gone AS ("
	    "    DELETE FROM channels"
	    "     WHERE org_id = $1 AND id = $2 AND kind <> 'sandbox'"
	    "    RETURNING id)"
	    " SELECT (SELECT kind FROM target), (SELECT count(*) FROM gone)",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK) {
		if (db_res_isnull(&res, 0, 0))
			st = DB_NOT_FOUND;
		else if (db_res_i64(&res, 0, 1) == 0)
			st = DB_INVALID;	/* the sandbox */
	}
	db_res_clear(&res);
	return st;
}

enum db_status
channel_ensure_sandbox(struct db *db, int64_t org_id, int64_t *id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	/* The outer SELECT cannot see the CTE's insert: hence the UNION. */
	st = db_query(db, &res,
	    "WITH ins AS ("
	    "    INSERT INTO channels (org_id, kind, name, status)"
	    "    VALUES ($1, 'sandbox', 'Sandbox', 'connected')"
	    "    ON CONFLICT (org_id) WHERE kind = 'sandbox' DO NOTHING"
	    "    RETURNING id)"
	    " SELECT id FROM ins"
	    " UNION ALL"
	    " SELECT id FROM channels WHERE org_id = $1 AND kind = 'sandbox'"
	    " LIMIT 1",
	    DB_I64(org_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK && id != NULL)
		*id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
channel_get_secrets(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t id, struct channel_secrets *out)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed;
	size_t		 sealed_len;
	char		*plain;
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT twilio_account_sid_enc, twilio_auth_token_enc,"
	    "       meta_access_token_enc, meta_app_secret_enc,"
	    "       meta_verify_token_enc, kapso_api_key_enc,"
	    "       kapso_webhook_secret_enc"
	    "  FROM channels"
	    " WHERE org_id = $1 AND id = $2",
	    DB_I64(org_id), DB_I64(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	for (int i = 0; st == DB_OK && i < N_SECRETS; i++) {
		if (db_res_isnull(&res, 0, i))
			continue;
		sealed = db_res_bytes(&res, 0, i, &sealed_len);
		plain = secret_open(k, CHANNEL_TABLE, secret_cols[i].column,
		    id, sealed, sealed_len);
		free(sealed);
		if (plain == NULL) {
			/* Wrong master key, or the row was tampered with. */
			log_warn("channel", "msg=\"stored credential does not "
			    "decrypt\" org=%lld channel=%lld column=%s",
			    (long long)org_id, (long long)id,
			    secret_cols[i].column);
			st = DB_INVALID;
			break;
		}
		*(char **)((char *)out + secret_cols[i].out_off) = plain;
	}
	if (st != DB_OK)
		channel_secrets_free(out);
	db_res_clear(&res);
	return st;
}

void
channel_secrets_free(struct channel_secrets *s)
{
	if (s == NULL)
		return;
	for (int i = 0; i < N_SECRETS; i++) {
		char	**p = (char **)((char *)s + secret_cols[i].out_off);

		secret_plain_free(*p);
		*p = NULL;
	}
}

enum db_status
channel_find_twilio_any_org(struct db *db, struct arena *a,
    const char *phone_e164, struct channel *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (phone_e164 == NULL)
		return DB_NOT_FOUND;
	if (strncasecmp(phone_e164, "whatsapp:", 9) == 0)
		phone_e164 += 9;
	/* Routing across organisations: the number is unique (0004). */
	st = db_query(db, &res,
	    CHANNEL_COLUMNS
	    " WHERE c.kind = 'twilio' AND c.phone_number = $1",
	    DB_TEXT(phone_e164), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
channel_find_by_number_id_any_org(struct db *db, struct arena *a,
    const char *kind, const char *phone_number_id, struct channel *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (kind == NULL || phone_number_id == NULL ||
	    phone_number_id[0] == '\0')
		return DB_NOT_FOUND;
	/* Routing across organisations: unique per kind (0004). */
	st = db_query(db, &res,
	    CHANNEL_COLUMNS
	    " WHERE c.kind = $1 AND c.phone_number_id = $2",
	    DB_TEXT(kind), DB_TEXT(phone_number_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK)
		row_read(a, &res, 0, out);
	db_res_clear(&res);
	return st;
}

enum db_status
channel_meta_verify_token_any_org(struct db *db, const struct secret_key *k,
    const char *token)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed;
	size_t		 sealed_len, token_len;
	char		*plain;
	int64_t		 id;
	bool		 match = false;
	enum db_status	 st;

	if (token == NULL || token[0] == '\0')
		return DB_NOT_FOUND;
	token_len = strlen(token);
	/* Across organisations by design: the GET names no channel. */
	st = db_query(db, &res,
	    "SELECT id, meta_verify_token_enc"
	    "  FROM channels"
	    " WHERE kind = 'meta' AND meta_verify_token_enc IS NOT NULL"
	    "   AND status <> 'disabled'"
	    " ORDER BY id",
	    DB_END);
	/* Every row is opened, match or not: the time says nothing. */
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		id = db_res_i64(&res, i, 0);
		sealed = db_res_bytes(&res, i, 1, &sealed_len);
		plain = secret_open(k, CHANNEL_TABLE,
		    secret_cols[COL_META_VERIFY].column, id, sealed,
		    sealed_len);
		free(sealed);
		if (plain == NULL) {
			log_warn("channel", "msg=\"stored credential does not "
			    "decrypt\" channel=%lld column=%s", (long long)id,
			    secret_cols[COL_META_VERIFY].column);
			continue;
		}
		if (strlen(plain) == token_len &&
		    sodium_memcmp(plain, token, token_len) == 0)
			match = true;
		secret_plain_free(plain);
	}
	db_res_clear(&res);
	if (st == DB_OK && !match)
		st = DB_NOT_FOUND;
	return st;
}

enum db_status
channel_mark_verified(struct db *db, int64_t org_id, int64_t channel_id)
{
	/* At most one write a minute per channel: webhooks are frequent. */
	return db_exec(db,
	    "UPDATE channels SET last_verified_at = now()"
	    " WHERE org_id = $1 AND id = $2"
	    "   AND (last_verified_at IS NULL"
	    "        OR last_verified_at < now() - interval '1 minute')",
	    DB_I64(org_id), DB_I64(channel_id), DB_END);
}

/*
 * A malloc'd copy of client-influenced text fit for the table: at most
 * REJECTION_TEXT_MAX bytes, cut on a character boundary, with control
 * bytes and invalid UTF-8 replaced by '?'.
 */
static char *
text_clip(const char *s)
{
	char	*out;
	size_t	 n, i, len;

	if (s == NULL)
		s = "";
	n = strlen(s);
	out = xmalloc(REJECTION_TEXT_MAX + 1);
	for (i = 0, len = 0; i < n && len < REJECTION_TEXT_MAX; ) {
		unsigned char	 b = (unsigned char)s[i];
		size_t		 clen = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 :
				    (b & 0xf0) == 0xe0 ? 3 :
				    (b & 0xf8) == 0xf0 ? 4 : 0;

		if (clen > 1 && i + clen <= n && utf8_valid(s + i, clen)) {
			if (len + clen > REJECTION_TEXT_MAX)
				break;
			memcpy(out + len, s + i, clen);
			len += clen;
			i += clen;
			continue;
		}
		out[len++] = (clen == 1 && b >= 0x20 && b != 0x7f) ?
		    (char)b : '?';
		i++;
	}
	out[len] = '\0';
	return out;
}

enum db_status
channel_record_rejection(struct db *db, int64_t org_id, int64_t channel_id,
    const char *provider, const char *reason, const char *detail,
    const char *remote_addr)
{
	char		*p, *r, *d, *ra;
	enum db_status	 st;

	p = text_clip(provider);
	r = text_clip(reason);
	d = text_clip(detail);
	ra = text_clip(remote_addr);
	/*
	 * One statement: the insert, and the rows beyond the newest
	 * REJECTIONS_KEPT of the same channel (requests naming no known
	 * channel share one such window). The DELETE's snapshot does not
	 * see the new row, hence OFFSET kept - 1.
	 */
	st = db_exec(db,
	    "WITH ins AS ("
	    "    INSERT INTO webhook_events"
	    "           (org_id, channel_id, provider, reason, detail,"
	    "            remote_addr)"
	    "    VALUES ($1, $2, $3, $4, $5, $6)"
	    "    RETURNING id)"
	    " DELETE FROM webhook_events"
	    "  WHERE id IN ("
	    "    SELECT id FROM webhook_events"
	    "     WHERE ($2::bigint IS NULL AND channel_id IS NULL)"
	    "        OR channel_id = $2"
	    "     ORDER BY id DESC"
	    "     OFFSET $7)",
	    org_id > 0 ? DB_I64(org_id) : DB_NULL,
	    channel_id > 0 ? DB_I64(channel_id) : DB_NULL,
	    DB_TEXT(p), DB_TEXT(r), DB_TEXT(d), DB_TEXT(ra),
	    DB_I64(REJECTIONS_KEPT - 1), DB_END);
	free(p);
	free(r);
	free(d);
	free(ra);
	return st;
}

enum db_status
channel_rejections(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, int limit, struct webhook_event **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	if (limit <= 0 || limit > REJECTIONS_KEPT)
		limit = REJECTIONS_KEPT;
	st = db_query(db, &res,
	    "SELECT provider, reason, detail, remote_addr,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM webhook_events"
	    " WHERE org_id = $1 AND channel_id = $2"
	    " ORDER BY id DESC"
	    " LIMIT $3",
	    DB_I64(org_id), DB_I64(channel_id), DB_I64(limit), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++) {
			struct webhook_event	*e = &(*out)[i];

			e->provider = arena_strdup(a, db_res_text(&res, i, 0));
			e->reason = arena_strdup(a, db_res_text(&res, i, 1));
			e->detail = arena_strdup(a, db_res_text(&res, i, 2));
			e->remote_addr = arena_strdup(a,
			    db_res_text(&res, i, 3));
			e->created_at = arena_strdup(a,
			    db_res_text(&res, i, 4));
		}
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
channel_rotate_keys_any_org(struct db *db, const struct secret_key *old_key,
    const struct secret_key *new_key, int *n)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL;
	unsigned char	*resealed[N_SECRETS] = { 0 };
	size_t		 sealed_len, resealed_len[N_SECRETS];
	struct db_param	 p[N_SECRETS];
	char		*plain = NULL;
	int64_t		 id;
	enum db_status	 st;

	*n = 0;
	/*
	 * Writers wait until the caller commits: a credential saved
	 * meanwhile under the old master key would otherwise be missed.
	 */
	st = db_exec(db, "LOCK TABLE channels IN EXCLUSIVE MODE", DB_END);
	if (st == DB_OK)
		st = db_query(db, &res,
		    "SELECT id, twilio_account_sid_enc, twilio_auth_token_enc,"
		    "       meta_access_token_enc, meta_app_secret_enc,"
		    "       meta_verify_token_enc, kapso_api_key_enc,"
		    "       kapso_webhook_secret_enc"
		    "  FROM channels"
		    " WHERE kind <> 'sandbox'"
		    " ORDER BY id",
		    DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		id = db_res_i64(&res, i, 0);
		for (int c = 0; c < N_SECRETS; c++) {
			p[c] = DB_NULL;
			if (db_res_isnull(&res, i, c + 1))
				continue;
			sealed = db_res_bytes(&res, i, c + 1, &sealed_len);
			plain = secret_open(old_key, CHANNEL_TABLE,
			    secret_cols[c].column, id, sealed, sealed_len);
			free(sealed);
			sealed = NULL;
			if (plain == NULL) {
				/* The caller says so: it may be probing. */
				st = DB_INVALID;
				goto out;
			}
			resealed[c] = secret_seal(new_key, CHANNEL_TABLE,
			    secret_cols[c].column, id, plain, strlen(plain),
			    &resealed_len[c]);
			secret_plain_free(plain);
			plain = NULL;
			p[c] = DB_BYTES(resealed[c], resealed_len[c]);
			(*n)++;
		}
		/* A NULL parameter leaves its (NULL) column as it is. */
		st = db_exec(db,
		    "UPDATE channels"
		    "   SET twilio_account_sid_enc ="
		    "           coalesce($2::bytea, twilio_account_sid_enc),"
		    "       twilio_auth_token_enc ="
		    "           coalesce($3::bytea, twilio_auth_token_enc),"
		    "       meta_access_token_enc ="
		    "           coalesce($4::bytea, meta_access_token_enc),"
		    "       meta_app_secret_enc ="
		    "           coalesce($5::bytea, meta_app_secret_enc),"
		    "       meta_verify_token_enc ="
		    "           coalesce($6::bytea, meta_verify_token_enc),"
		    "       kapso_api_key_enc ="
		    "           coalesce($7::bytea, kapso_api_key_enc),"
		    "       kapso_webhook_secret_enc ="
		    "           coalesce($8::bytea, kapso_webhook_secret_enc)"
		    " WHERE id = $1",
		    DB_I64(id), p[0], p[1], p[2], p[3], p[4], p[5], p[6],
		    DB_END);
		for (int c = 0; c < N_SECRETS; c++) {
			free(resealed[c]);
			resealed[c] = NULL;
		}
	}
out:
	secret_plain_free(plain);
	free(sealed);
	for (int c = 0; c < N_SECRETS; c++)
		free(resealed[c]);
	db_res_clear(&res);
	return st;
}

/* ---- Added for the webhooks (issue 4, webhooks engineer). --------------
 * Kept apart from the rest of this file, which the channels engineer owns.
 */

enum db_status
channel_set_status_any_org(struct db *db, const char *kind,
    const char *phone_number_id, const char *status)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (kind == NULL || phone_number_id == NULL ||
	    phone_number_id[0] == '\0' || status == NULL)
		return DB_NOT_FOUND;
	/* Across organisations by design: the provider names no org; the
	 * number id is unique per kind (0004). */
	st = db_query(db, &res,
	    "UPDATE channels SET status = $3, updated_at = now()"
	    " WHERE kind = $1 AND phone_number_id = $2"
	    " RETURNING id",
	    DB_TEXT(kind), DB_TEXT(phone_number_id), DB_TEXT(status), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

/* ---- Twilio Webhook Shared Keys (see channel.h). ----------------------
 * Table channel_shared_keys (migration 0016); sealed like the channel
 * columns, with AD "channel_shared_keys.secret_enc#<row id>".
 */

#define KEY_TABLE	"channel_shared_keys"
#define KEY_COLUMN	"secret_enc"
#define KEY_ID_MAX	128
#define KEY_HINT_MIN	16	/* shorter secrets show nothing */

static bool	 key_id_ok(const char *);
static bool	 key_secret_ok(const char *);
static char	*key_hint(const char *);

/*
 * Letters, digits and "_.:-": safe in the comma-separated settings header
 * and as a URL path segment (the API's DELETE names it).
 */
static bool
key_id_ok(const char *s)
{
	size_t	 n = strlen(s);

	return n > 0 && n <= KEY_ID_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

static bool
key_secret_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > CHANNEL_SECRET_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return false;
	return true;
}

/*
 * The masked form (malloc'd): "…" and the last 4 characters of a secret
 * of KEY_HINT_MIN or more (ASCII, checked), so never more than a quarter
 * of it; "••••••••" for a shorter one.
 */
static char *
key_hint(const char *secret)
{
	size_t	 n = strlen(secret);

	if (n < KEY_HINT_MIN)
		return xstrdup("\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2"
		    "\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2\xe2\x80\xa2");
	return xasprintf("\xe2\x80\xa6%s", secret + n - 4);
}

enum db_status
channel_shared_keys(struct db *db, struct arena *a, int64_t org_id,
    int64_t channel_id, struct channel_shared_key **out, int *n)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT key_id, hint,"
	    "       to_char(created_at AT TIME ZONE 'UTC',"
	    "           'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
	    "  FROM channel_shared_keys"
	    " WHERE org_id = $1 AND channel_id = $2"
	    " ORDER BY id",
	    DB_I64(org_id), DB_I64(channel_id), DB_END);
	if (st == DB_OK && res.n_rows > 0) {
		*out = arena_alloc(a, sizeof(**out) * (size_t)res.n_rows);
		for (int i = 0; i < res.n_rows; i++) {
			(*out)[i].key_id = arena_strdup(a,
			    db_res_text(&res, i, 0));
			(*out)[i].hint = arena_strdup(a,
			    db_res_text(&res, i, 1));
			(*out)[i].created_at = arena_strdup(a,
			    db_res_text(&res, i, 2));
		}
		*n = res.n_rows;
	}
	db_res_clear(&res);
	return st;
}

enum db_status
channel_shared_key_add(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t channel_id, const char *key_id,
    const char *secret, struct field_errors *errs)
{
	struct db_res	 res = { 0 };
	char		*id = str_trim_dup(key_id);
	char		*sec = str_trim_dup(secret);
	char		*hint = NULL;
	unsigned char	*sealed = NULL;
	size_t		 sealed_len = 0;
	int64_t		 row_id;
	enum db_status	 st;

	/* The channel first: its kind, its keys, a clash. */
	st = db_query(db, &res,
	    "SELECT c.kind,"
	    "       (SELECT count(*) FROM channel_shared_keys k"
	    "         WHERE k.org_id = c.org_id AND k.channel_id = c.id),"
	    "       (SELECT count(*) FROM channel_shared_keys k"
	    "         WHERE k.org_id = c.org_id AND k.channel_id = c.id"
	    "           AND k.key_id = $3)"
	    "  FROM channels c"
	    " WHERE c.org_id = $1 AND c.id = $2",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st != DB_OK)
		goto out;
	if (strcmp(db_res_text(&res, 0, 0), "twilio") != 0)
		field_error_add(errs, "kind", "Only Twilio channels have "
		    "webhook shared keys.");
	if (*id == '\0')
		field_error_add(errs, "twilio_shared_key_id", "Enter the "
		    "shared key's ID, as Twilio shows it.");
	else if (!key_id_ok(id))
		field_error_add(errs, "twilio_shared_key_id", "A key ID is at "
		    "most 128 letters, digits and the characters _ . : -");
	if (*sec == '\0')
		field_error_add(errs, "twilio_shared_key_secret", "Enter the "
		    "shared key's secret (Twilio shows it once, when the key "
		    "is created).");
	else if (!key_secret_ok(sec))
		field_error_add(errs, "twilio_shared_key_secret", "A secret is "
		    "at most 4096 characters: letters, digits and symbols, "
		    "no spaces or line breaks.");
	if (errs->n == 0 && db_res_i64(&res, 0, 2) > 0) {
		field_error_add(errs, "twilio_shared_key_id", "This channel "
		    "already has a key with this ID: remove it first to "
		    "store another secret under it.");
		st = DB_CONFLICT;
		goto out;
	}
	if (errs->n == 0 && db_res_i64(&res, 0, 1) >= CHANNEL_SHARED_KEYS_MAX)
		field_error_add(errs, "twilio_shared_key_id", "A channel holds "
		    "at most 5 shared keys: remove one you no longer use.");
	if (errs->n > 0) {
		st = DB_INVALID;
		goto out;
	}
	db_res_clear(&res);

	st = db_query(db, &res,
	    "SELECT nextval(pg_get_serial_sequence('channel_shared_keys',"
	    " 'id'))", DB_END);
	if (st != DB_OK)
		goto out;
	row_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	sealed = secret_seal(k, KEY_TABLE, KEY_COLUMN, row_id, sec,
	    strlen(sec), &sealed_len);
	hint = key_hint(sec);
	st = db_exec(db,
	    "INSERT INTO channel_shared_keys"
	    "       (id, org_id, channel_id, key_id, secret_enc, hint)"
	    " VALUES ($1, $2, $3, $4, $5, $6)",
	    DB_I64(row_id), DB_I64(org_id), DB_I64(channel_id), DB_TEXT(id),
	    DB_BYTES(sealed, sealed_len), DB_TEXT(hint), DB_END);
	if (st == DB_CONFLICT)	/* the same id added meanwhile */
		field_error_add(errs, "twilio_shared_key_id", "This channel "
		    "already has a key with this ID: remove it first to "
		    "store another secret under it.");
	else if (st == DB_INVALID)	/* the channel was deleted meanwhile */
		st = DB_NOT_FOUND;
out:
	db_res_clear(&res);
	free(sealed);
	free(hint);
	free(id);
	sodium_memzero(sec, strlen(sec));
	free(sec);
	return st;
}

enum db_status
channel_shared_key_remove(struct db *db, int64_t org_id, int64_t channel_id,
    const char *key_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (key_id == NULL)
		return DB_NOT_FOUND;
	st = db_query(db, &res,
	    "DELETE FROM channel_shared_keys"
	    " WHERE org_id = $1 AND channel_id = $2 AND key_id = $3"
	    " RETURNING id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(key_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
channel_key_secrets(struct db *db, const struct secret_key *k,
    int64_t org_id, int64_t channel_id, struct channel_key_secret **out,
    int *n)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed;
	size_t		 sealed_len;
	char		*plain;
	int64_t		 row_id;
	enum db_status	 st;

	*out = NULL;
	*n = 0;
	st = db_query(db, &res,
	    "SELECT id, key_id, secret_enc"
	    "  FROM channel_shared_keys"
	    " WHERE org_id = $1 AND channel_id = $2"
	    " ORDER BY id",
	    DB_I64(org_id), DB_I64(channel_id), DB_END);
	if (st != DB_OK || res.n_rows == 0)
		goto out;
	*out = xcalloc((size_t)res.n_rows, sizeof(**out));
	for (int i = 0; i < res.n_rows; i++) {
		row_id = db_res_i64(&res, i, 0);
		sealed = db_res_bytes(&res, i, 2, &sealed_len);
		plain = secret_open(k, KEY_TABLE, KEY_COLUMN, row_id, sealed,
		    sealed_len);
		free(sealed);
		if (plain == NULL) {
			log_warn("channel", "msg=\"stored shared key does not "
			    "decrypt\" org=%lld channel=%lld key_row=%lld",
			    (long long)org_id, (long long)channel_id,
			    (long long)row_id);
			st = DB_INVALID;
			break;
		}
		(*out)[i].key_id = xstrdup(db_res_text(&res, i, 1));
		(*out)[i].secret = plain;
		(*n)++;
	}
	if (st != DB_OK) {
		channel_key_secrets_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
out:
	db_res_clear(&res);
	return st;
}

void
channel_key_secrets_free(struct channel_key_secret *s, int n)
{
	if (s == NULL)
		return;
	for (int i = 0; i < n; i++) {
		free(s[i].key_id);
		secret_plain_free(s[i].secret);
	}
	free(s);
}

enum db_status
channel_shared_keys_rotate_any_org(struct db *db,
    const struct secret_key *old_key, const struct secret_key *new_key,
    int *n)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed = NULL, *resealed = NULL;
	size_t		 sealed_len, resealed_len;
	char		*plain = NULL;
	int64_t		 row_id;
	enum db_status	 st;

	*n = 0;
	/* As channel_rotate_keys_any_org: writers wait for the commit. */
	st = db_exec(db, "LOCK TABLE channel_shared_keys IN EXCLUSIVE MODE",
	    DB_END);
	if (st == DB_OK)
		st = db_query(db, &res,
		    "SELECT id, secret_enc FROM channel_shared_keys"
		    " ORDER BY id", DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		row_id = db_res_i64(&res, i, 0);
		sealed = db_res_bytes(&res, i, 1, &sealed_len);
		plain = secret_open(old_key, KEY_TABLE, KEY_COLUMN, row_id,
		    sealed, sealed_len);
		free(sealed);
		sealed = NULL;
		if (plain == NULL) {
			st = DB_INVALID;
			break;
		}
		resealed = secret_seal(new_key, KEY_TABLE, KEY_COLUMN, row_id,
		    plain, strlen(plain), &resealed_len);
		secret_plain_free(plain);
		plain = NULL;
		st = db_exec(db,
		    "UPDATE channel_shared_keys SET secret_enc = $2"
		    " WHERE id = $1",
		    DB_I64(row_id), DB_BYTES(resealed, resealed_len), DB_END);
		free(resealed);
		resealed = NULL;
		if (st == DB_OK)
			(*n)++;
	}
	db_res_clear(&res);
	return st;
}

/* ---- Meta deliveries naming no number (see channel.h). ---------------- */

enum db_status
channel_meta_signature_any_org(struct db *db, const struct secret_key *k,
    const void *body, size_t len, const char *header)
{
	struct db_res	 res = { 0 };
	unsigned char	*sealed;
	size_t		 sealed_len;
	char		*plain;
	int64_t		 id;
	bool		 match = false;
	enum db_status	 st;

	if (header == NULL || strncmp(header, "sha256=", 7) != 0)
		return DB_NOT_FOUND;
	/* Across organisations by design: the delivery names no number. */
	st = db_query(db, &res,
	    "SELECT id, meta_app_secret_enc"
	    "  FROM channels"
	    " WHERE kind = 'meta' AND meta_app_secret_enc IS NOT NULL"
	    "   AND status <> 'disabled'"
	    " ORDER BY id",
	    DB_END);
	for (int i = 0; st == DB_OK && i < res.n_rows; i++) {
		id = db_res_i64(&res, i, 0);
		sealed = db_res_bytes(&res, i, 1, &sealed_len);
		plain = secret_open(k, CHANNEL_TABLE, "meta_app_secret_enc", id,
		    sealed, sealed_len);
		free(sealed);
		if (plain == NULL) {
			log_warn("channel", "msg=\"stored credential does not "
			    "decrypt\" channel=%lld column=meta_app_secret_enc",
			    (long long)id);
			continue;
		}
		if (hmac_meta_verify(plain, body, len, header))
			match = true;
		secret_plain_free(plain);
	}
	db_res_clear(&res);
	if (st == DB_OK && !match)
		st = DB_NOT_FOUND;
	return st;
}
