/*
 * fees: WhatsApp's pricing of outbound messages (see fees.h).
 *
 * Thread-safe: no shared state.
 */
#include "chat/fees.h"

#include <string.h>

#include "chat/rows.h"
#include "util/arena.h"

/* Billable: the flag (or an amount) and not a free type. One spelling,
 * used by the sum below. */
#define BILLABLE_SQL \
	"(COALESCE(billable, amount IS NOT NULL)" \
	" AND COALESCE(type, '') NOT LIKE 'free%')"

static const char *
opt(const char *s)
{
	return s != NULL && s[0] != '\0' ? s : NULL;
}

bool
fee_given(const struct fee *f)
{
	return f->billable >= 0 || opt(f->pricing_model) != NULL ||
	    opt(f->type) != NULL || opt(f->category) != NULL ||
	    opt(f->amount) != NULL;
}

enum db_status
fees_record(struct db *db, int64_t org_id, int64_t channel_id,
    const char *provider_message_id, const struct fee *f)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	if (provider_message_id == NULL || provider_message_id[0] == '\0' ||
	    !fee_given(f))
		return DB_NOT_FOUND;
	st = db_query(db, &res,
	    "INSERT INTO message_fees AS f (message_id, org_id, chat_id,"
	    "       billable, pricing_model, type, category, amount, currency)"
	    " SELECT m.id, $1, m.chat_id,"
	    "        CASE $4::integer WHEN 1 THEN true WHEN 0 THEN false END,"
	    "        $5, $6, $7, abs($8::numeric), $9"
	    "   FROM messages m"
	    "  WHERE m.org_id = $1 AND m.channel_id = $2"
	    "    AND m.provider_message_id = $3 AND m.direction = 'out'"
	    " ON CONFLICT (message_id) DO UPDATE"
	    "    SET billable = COALESCE(EXCLUDED.billable, f.billable),"
	    "        pricing_model = COALESCE(EXCLUDED.pricing_model,"
	    "            f.pricing_model),"
	    "        type = COALESCE(EXCLUDED.type, f.type),"
	    "        category = COALESCE(EXCLUDED.category, f.category),"
	    "        amount = COALESCE(EXCLUDED.amount, f.amount),"
	    "        currency = COALESCE(EXCLUDED.currency, f.currency),"
	    "        updated_at = now()"
	    "  WHERE f.org_id = $1"
	    " RETURNING message_id",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(provider_message_id),
	    DB_I64(f->billable), opt(f->pricing_model) != NULL ?
	    DB_TEXT(f->pricing_model) : DB_NULL, opt(f->type) != NULL ?
	    DB_TEXT(f->type) : DB_NULL, opt(f->category) != NULL ?
	    DB_TEXT(f->category) : DB_NULL, opt(f->amount) != NULL ?
	    DB_TEXT(f->amount) : DB_NULL, opt(f->currency) != NULL ?
	    DB_TEXT(f->currency) : DB_NULL, DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	db_res_clear(&res);
	return st;
}

enum db_status
fees_chat_totals(struct db *db, struct arena *a, int64_t org_id,
    int64_t chat_id, struct fee_totals *out)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	memset(out, 0, sizeof(*out));
	st = db_query(db, &res,
	    "SELECT COALESCE(category, ''),"
	    "       count(*) FILTER (WHERE " BILLABLE_SQL "),"
	    "       count(*) FILTER (WHERE NOT " BILLABLE_SQL ")"
	    "  FROM message_fees"
	    " WHERE org_id = $1 AND chat_id = $2"
	    " GROUP BY 1 ORDER BY 1",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	out->categories = arena_alloc(a, sizeof(*out->categories) *
	    (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		struct fee_category	*c = &out->categories[i];

		c->category = chat_col(a, &res, i, 0);
		c->billable = db_res_i64(&res, i, 1);
		c->free = db_res_i64(&res, i, 2);
		out->billable += c->billable;
		out->free += c->free;
	}
	out->n_categories = res.n_rows;
	out->messages = out->billable + out->free;
	db_res_clear(&res);
	st = db_query(db, &res,
	    "SELECT currency, sum(amount)::text"
	    "  FROM message_fees"
	    " WHERE org_id = $1 AND chat_id = $2 AND amount IS NOT NULL"
	    "   AND currency IS NOT NULL"
	    " GROUP BY currency ORDER BY currency",
	    DB_I64(org_id), DB_I64(chat_id), DB_END);
	if (st != DB_OK)
		goto out;
	out->amounts = arena_alloc(a, sizeof(*out->amounts) *
	    (size_t)(res.n_rows + 1));
	for (int i = 0; i < res.n_rows; i++) {
		out->amounts[i].currency = chat_col(a, &res, i, 0);
		out->amounts[i].amount = chat_col(a, &res, i, 1);
	}
	out->n_amounts = res.n_rows;
out:
	db_res_clear(&res);
	return st;
}

enum db_status
fees_price_wanted(struct db *db, int64_t org_id, int64_t channel_id,
    const char *provider_message_id, int64_t *message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*message_id = 0;
	st = db_query(db, &res,
	    "SELECT m.id FROM messages m"
	    " WHERE m.org_id = $1 AND m.channel_id = $2"
	    "   AND m.provider_message_id = $3 AND m.direction = 'out'"
	    "   AND NOT EXISTS (SELECT 1 FROM message_fees f"
	    "        WHERE f.message_id = m.id AND f.amount IS NOT NULL)",
	    DB_I64(org_id), DB_I64(channel_id), DB_TEXT(provider_message_id),
	    DB_END);
	if (st == DB_OK && res.n_rows == 1)
		*message_id = db_res_i64(&res, 0, 0);
	db_res_clear(&res);
	return st;
}

enum db_status
fees_message(struct db *db, struct arena *a, int64_t org_id,
    int64_t message_id, int64_t *channel_id, char **provider_message_id)
{
	struct db_res	 res = { 0 };
	enum db_status	 st;

	*channel_id = 0;
	*provider_message_id = NULL;
	st = db_query(db, &res,
	    "SELECT channel_id, COALESCE(provider_message_id, '')"
	    "  FROM messages"
	    " WHERE org_id = $1 AND id = $2 AND direction = 'out'",
	    DB_I64(org_id), DB_I64(message_id), DB_END);
	if (st == DB_OK && res.n_rows == 0)
		st = DB_NOT_FOUND;
	if (st == DB_OK) {
		*channel_id = db_res_i64(&res, 0, 0);
		*provider_message_id = chat_col(a, &res, 0, 1);
	}
	db_res_clear(&res);
	return st;
}
