/*
 * tests/integration/conversations.c: conversation review end to end. The
 * real server against a real PostgreSQL and the fake WhatsApp APIs
 * (tests/fakes/fake_whatsapp.c). Chats, threads, messages and model calls
 * are made with SQL (the review is a read side; how rows arrive is the
 * webhook and reply tests' business), except for the unread counts, which
 * the storing of inbound messages keeps (Twilio's webhook here), then
 * read through the panel and the API as the owner, as a member, and as
 * another organisation's owner.
 *
 * Checked: the list and each filter, search, the keyset cursor over more
 * than a page, unread counts (counted per inbound message, reset by a
 * look, capped for display; migration 0027's backfill), the timeline
 * (order, thread markers, escaping, line breaks, delivery status and
 * errors, the model's work), media, Resend sending exactly once at the
 * provider, 404 for another organisation's ids everywhere. Every wait is
 * bounded.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/messages.h"
#include "chat/review.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/xmalloc.h"

/* This suite's cluster and server (tests/harness). */
#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define api_get(tok, path, want, r) \
	hapi_want(srv.base, tok, "GET", path, NULL, want, r)

#define TW_NUMBER	"+15550001111"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define OWNER_ORG	"My Organization"
#define MEMBER_EMAIL	"member@example.com"
#define MEMBER_PW	"member-password-12345"
#define OTHER_EMAIL	"other-owner@example.com"
#define OTHER_ORG	"Other Org"
#define OTHER_PW	"other-owner-password-1"

static struct hpg	 pg;
static struct hfake	 wa;
static struct hserver	 srv;
static struct secret_key *key;
static struct hvars	 env;
static char		*token, *other_token;
static int64_t		 org_id, other_org_id, tw_id, prod_id, bot_id;
static int64_t		 other_chat;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static int64_t	 make_chat(int64_t, int64_t, const char *, const char *,
		    const char *, const char *);
static int64_t	 add_msg(int64_t, const char *, const char *, const char *,
		    const char *);
static int	 count_of(const char *, const char *);
static Suite	*conversations_suite(void);

/* --- fixture ------------------------------------------------------------ */

static void
suite_setup(void)
{
	struct channel_input	 cin;
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    NULL };
	struct db_pool		*pool;
	struct db		*db;

	hpg_start(&pg);
	hfake_start(&wa, "fake_whatsapp", wa_args);
	hvars_whatsapp(&env, &wa);
	hvars_set(&env, "PARLEY_WORKERS=1");
	hserver_start(&srv, &pg, env.v);
	key = hkey_load(&pg);
	org_id = sqli("SELECT id FROM orgs WHERE name = '" OWNER_ORG "'");
	ck_assert(org_id > 0);

	huser_create(&pg, MEMBER_EMAIL, OWNER_ORG, "member", MEMBER_PW);
	huser_create(&pg, OTHER_EMAIL, OTHER_ORG, "owner", OTHER_PW);
	other_org_id = sqli("SELECT id FROM orgs WHERE name = '" OTHER_ORG
	    "'");
	ck_assert(other_org_id > 0);
	token = htoken_create(&pg, OWNER_EMAIL, "conversations", NULL);
	other_token = htoken_create(&pg, OTHER_EMAIL, "other", NULL);

	bot_id = sqli("INSERT INTO agents (org_id, name, slug) VALUES (%lld, "
	    "'Bot', 'bot') RETURNING id", (long long)org_id);
	ck_assert(bot_id > 0);
	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .environment = "development", .status = "connected",
	    .phone_number = TW_NUMBER, .twilio_account_sid = TW_SID,
	    .twilio_auth_token = TW_TOKEN };
	tw_id = hchannel_create(db, key, org_id, &cin);
	db_release(db);
	db_pool_free(pool);
	prod_id = sqli("INSERT INTO channels (org_id, kind, name, environment,"
	    " phone_number) VALUES (%lld, 'twilio', 'Production line', "
	    "'production', '+15550002222') RETURNING id", (long long)org_id);
	ck_assert(prod_id > 0);

	/* Another organisation's chat with a failed message and media. */
	{
		int64_t	 och = sqli("INSERT INTO channels (org_id, kind, "
			    "name, phone_number) VALUES (%lld, 'twilio', "
			    "'Theirs', '+15550009999') RETURNING id",
			    (long long)other_org_id);

		other_chat = sqli("INSERT INTO chats (org_id, channel_id, "
		    "external_id, display_name) VALUES (%lld, %lld, "
		    "'+15557000000', 'Secret Sam') RETURNING id",
		    (long long)other_org_id, (long long)och);
		ck_assert(other_chat > 0);
		ck_assert(sqli("INSERT INTO messages (org_id, channel_id, "
		    "chat_id, direction, body, status, media) VALUES (%lld, "
		    "%lld, %lld, 'out', 'their secret', 'failed', "
		    "'[{\"url\":\"data:text/plain,hello\"}]') RETURNING id",
		    (long long)other_org_id, (long long)och,
		    (long long)other_chat) > 0);
	}
}

static void
suite_teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	secret_key_free(key);
	hfake_stop(&wa);
	hpg_destroy(&pg);
	hvars_free(&env);
	free(token);
	free(other_token);
}

/* --- helpers ------------------------------------------------------------ */

/* A chat of the owner's org; last_message_at = at (SQL expression). */
static int64_t
make_chat(int64_t channel, int64_t agent, const char *number,
    const char *name, const char *status, const char *at)
{
	int64_t	 id;

	id = sqli("INSERT INTO chats (org_id, channel_id, external_id, "
	    "display_name, agent_id, status, last_message_at, "
	    "last_inbound_at) VALUES (%lld, %lld, '%s', '%s', %s, '%s', %s, "
	    "now() - interval '2 hours') RETURNING id", (long long)org_id,
	    (long long)channel, number, name, agent > 0 ?
	    "(SELECT id FROM agents WHERE name = 'Bot')" : "NULL", status, at);
	ck_assert_msg(id > 0, "chat %s", number);
	return id;
}

/* extra: more columns as ", col = value…" applied by an UPDATE. */
static int64_t
add_msg(int64_t chat, const char *direction, const char *body,
    const char *status, const char *extra)
{
	int64_t	 id;

	id = sqli("INSERT INTO messages (org_id, channel_id, chat_id, "
	    "direction, body, status, sender, sender_name) SELECT org_id, "
	    "channel_id, id, '%s', '%s', '%s', '+15551230000', 'Tess' FROM "
	    "chats WHERE id = %lld RETURNING id", direction, body, status,
	    (long long)chat);
	ck_assert_msg(id > 0, "message %s", body);
	if (extra != NULL)
		ck_assert(sqli("UPDATE messages SET %s WHERE id = %lld "
		    "RETURNING id", extra, (long long)id) == id);
	return id;
}

static int
count_of(const char *hay, const char *needle)
{
	int	 n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

/* --- the list ------------------------------------------------------------ */

START_TEST(t_list_filters_and_search)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[256];
	int64_t		 a, b, d;

	a = make_chat(tw_id, bot_id, "+15551110001", "Alice", "ai",
	    "'2026-03-01 10:00+00'");
	add_msg(a, "in", "I would like a pineapple pizza", "received", NULL);
	b = make_chat(tw_id, 0, "+15551110002", "Bob", "needs_human",
	    "'2026-03-05 10:00+00'");
	add_msg(b, "in", "Please get me a person", "received", NULL);
	d = make_chat(prod_id, bot_id, "+15551110003", "Dora", "closed",
	    "'2026-03-09 10:00+00'");
	add_msg(d, "out", "Goodbye and thanks", "sent", NULL);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/conversations", 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Alice"));
	ck_assert_ptr_nonnull(strstr(r.body, "Bob"));
	ck_assert_ptr_nonnull(strstr(r.body, "Dora"));
	ck_assert_ptr_null(strstr(r.body, "Secret Sam"));
	/* Newest first. */
	ck_assert(strstr(r.body, "Dora") < strstr(r.body, "Bob"));
	ck_assert(strstr(r.body, "Bob") < strstr(r.body, "Alice"));
	hresp_free(&r);

	hget(&c, "/conversations?status=needs_human", 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Bob"));
	ck_assert_ptr_null(strstr(r.body, "Alice"));
	ck_assert_ptr_null(strstr(r.body, "Dora"));
	ck_assert_ptr_nonnull(strstr(r.body, "Inbox"));
	hresp_free(&r);

	snprintf(path, sizeof(path), "/conversations?agent=%lld",
	    (long long)bot_id);
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, "Alice") && strstr(r.body, "Dora") &&
	    !strstr(r.body, "Bob"));
	hresp_free(&r);

	snprintf(path, sizeof(path), "/conversations?channel=%lld",
	    (long long)prod_id);
	hget(&c, path, 200, &r);
	ck_assert(strstr(r.body, "Dora") && !strstr(r.body, "Alice") &&
	    !strstr(r.body, "Bob"));
	hresp_free(&r);

	hget(&c, "/conversations?environment=production", 200, &r);
	ck_assert(strstr(r.body, "Dora") && !strstr(r.body, "Alice"));
	hresp_free(&r);

	hget(&c, "/conversations?from=2026-03-02&to=2026-03-05", 200, &r);
	ck_assert(strstr(r.body, "Bob") && !strstr(r.body, "Alice") &&
	    !strstr(r.body, "Dora"));
	hresp_free(&r);

	/* Search trails a stored message by the indexer's lag (issue 17). */
	ck_assert(hpg_search_caught_up(&pg, 10000));
	hget(&c, "/conversations?q=pineapple+pizza", 200, &r);
	ck_assert(strstr(r.body, "Alice") && !strstr(r.body, "Bob") &&
	    !strstr(r.body, "Dora"));
	hresp_free(&r);
	hget(&c, "/conversations?q=pineapple&status=closed", 200, &r);
	ck_assert(!strstr(r.body, "Alice"));
	hresp_free(&r);

	hget(&c, "/conversations?status=bogus", 400, &r);
	hresp_free(&r);
	hget(&c, "/conversations?after=12_x", 400, &r);
	hresp_free(&r);
	hget(&c, "/conversations?after=-5_3", 400, &r);
	hresp_free(&r);
	hget(&c, "/conversations?from=2026-13-01", 400, &r);
	hresp_free(&r);
	hget(&c, "/conversations?from=2026-02-31", 400, &r);
	hresp_free(&r);

	/* The API: same filters. */
	api_get(token, "/api/v1/conversations?q=person", 200, &r);
	{
		cJSON		*j = cJSON_Parse(r.body);
		const cJSON	*data = cJSON_GetObjectItem(j, "data");

		ck_assert_int_eq(cJSON_GetArraySize(data), 1);
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(data,
		    0), "contactName")->valuestring, "Bob");
		ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "nextCursor")));
		cJSON_Delete(j);
	}
	hresp_free(&r);
	api_get(token, "/api/v1/conversations?after=nope", 400, &r);
	hresp_free(&r);
}
END_TEST

/*
 * A word in many messages takes the other search plan (review.c walks
 * chats in list order once the probe counts SEARCH_BROAD matches, testing
 * each chat's word set, chat_search_terms): the results must be the same
 * as for a rare word, including words that meet only across messages, a
 * chat whose word set overflowed, and transcripts.
 */
START_TEST(t_search_broad_word)
{
	struct client	 c;
	struct hresp	 r;
	int64_t		 e, f, g, h, gm;

	e = make_chat(tw_id, bot_id, "+15551110011", "Erin", "ai",
	    "'2026-04-01 10:00+00'");
	f = make_chat(tw_id, 0, "+15551110012", "Fred", "needs_human",
	    "'2026-04-02 10:00+00'");
	g = make_chat(tw_id, bot_id, "+15551110013", "Gina", "ai",
	    "'2026-04-03 10:00+00'");
	h = make_chat(tw_id, bot_id, "+15551110014", "Hank", "ai",
	    "'2026-04-04 10:00+00'");
	gm = add_msg(g, "in", "Nothing about fruit here", "received", NULL);
	/* 2,400 matching messages: past the thresholds for one word and
	 * for several (SEARCH_BROAD, SEARCH_BROAD_WORDS). */
	ck_assert_int_eq(sqli("WITH ins AS (INSERT INTO messages (org_id,"
	    " channel_id, chat_id, direction, body, status) SELECT org_id,"
	    " channel_id, id, 'in', 'mango smoothie kiwi ' || n, 'received'"
	    " FROM chats, generate_series(1, 2399) n WHERE id = %lld"
	    " RETURNING 1) SELECT count(*) FROM ins", (long long)e), 2399);
	/* 600 in Gina's chat: one word broad, the pair below
	 * SEARCH_BROAD_WORDS (its chats are collected, not walked). */
	ck_assert_int_eq(sqli("WITH ins AS (INSERT INTO messages (org_id,"
	    " channel_id, chat_id, direction, body, status) SELECT org_id,"
	    " channel_id, id, 'in', 'papaya lime ' || n, 'received'"
	    " FROM chats, generate_series(1, 600) n WHERE id = %lld"
	    " RETURNING 1) SELECT count(*) FROM ins", (long long)g), 600);
	add_msg(h, "in", "papaya", "received", NULL);
	add_msg(h, "out", "lime", "sent", NULL);
	add_msg(f, "in", "One mango please", "received", NULL);
	/* Both words, but never in one message. */
	add_msg(h, "in", "mango", "received", NULL);
	add_msg(h, "out", "kiwi", "sent", NULL);
	/* Fred's word set overflowed: his messages are read instead. */
	ck_assert(sqli("INSERT INTO chat_search_terms (chat_id, terms)"
	    " VALUES (%lld, NULL) ON CONFLICT (chat_id) DO UPDATE"
	    " SET terms = NULL RETURNING chat_id", (long long)f) == f);

	ck_assert(hpg_search_caught_up(&pg, 10000));
	/* The indexer counted the word: broad without reading its rows. */
	ck_assert_int_ge(sqli("SELECT messages FROM search_words"
	    " WHERE word_hash = hashtextextended('mango', 0)"), 2401);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	hget(&c, "/conversations?q=papaya+lime", 200, &r);
	ck_assert(strstr(r.body, "Gina") && !strstr(r.body, "Hank") &&
	    !strstr(r.body, "Erin"));
	hresp_free(&r);
	hget(&c, "/conversations?q=papaya+lime&status=ai", 200, &r);
	ck_assert(strstr(r.body, "Gina"));
	hresp_free(&r);
	hget(&c, "/conversations?q=papaya+lime&status=needs_human", 200, &r);
	ck_assert(!strstr(r.body, "Gina"));
	hresp_free(&r);
	hget(&c, "/conversations?q=papaya", 200, &r);
	ck_assert(strstr(r.body, "Gina") && strstr(r.body, "Hank") &&
	    !strstr(r.body, "Erin"));
	/* Newest first. */
	ck_assert(strstr(r.body, "Hank") < strstr(r.body, "Gina"));
	hresp_free(&r);
	hget(&c, "/conversations?q=mango", 200, &r);
	ck_assert(strstr(r.body, "Erin") && strstr(r.body, "Fred") &&
	    !strstr(r.body, "Gina"));
	/* Still newest first. */
	ck_assert(strstr(r.body, "Fred") < strstr(r.body, "Erin"));
	hresp_free(&r);
	hget(&c, "/conversations?q=mango&status=needs_human", 200, &r);
	ck_assert(strstr(r.body, "Fred") && !strstr(r.body, "Erin"));
	hresp_free(&r);
	hget(&c, "/conversations?q=mango+kiwi", 200, &r);
	ck_assert(strstr(r.body, "Erin") && !strstr(r.body, "Hank") &&
	    !strstr(r.body, "Fred") && !strstr(r.body, "Gina"));
	hresp_free(&r);
	/* A transcript counts like a body: stored the way the worker
	 * stores one, its message is indexed again at once. */
	{
		struct db_pool	*p = db_pool_new(pg.conninfo, 1, 5000);
		struct db	*db = p != NULL ? db_acquire(p) : NULL;
		bool		 stored = false;

		ck_assert_ptr_nonnull(db);
		ck_assert(chat_message_set_transcript(db, org_id, gm,
		    "a mango for me", &stored) == DB_OK && stored);
		db_release(db);
		db_pool_free(p);
	}
	hget(&c, "/conversations?q=mango", 200, &r);
	ck_assert(strstr(r.body, "Gina") && strstr(r.body, "Hank"));
	hresp_free(&r);
}
END_TEST

START_TEST(t_pagination)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[512], *older, *p, *amp;
	int64_t		 ch;
	cJSON		*j;
	const char	*cur;

	ch = sqli("INSERT INTO channels (org_id, kind, name, phone_number) "
	    "VALUES (%lld, 'twilio', 'Paging', '+15550003333') RETURNING id",
	    (long long)org_id);
	/* 60 chats; 10 of them share one timestamp (the id breaks ties). */
	ck_assert_int_eq(sqli("WITH i AS (INSERT INTO chats (org_id, "
	    "channel_id, external_id, display_name, last_message_at) SELECT "
	    "%lld, %lld, '+1555200' || lpad(g::text, 4, '0'), 'Pager ' || g, "
	    "CASE WHEN g <= 10 THEN '2026-02-01 00:00+00'::timestamptz ELSE "
	    "'2026-02-01'::timestamptz + g * interval '1 minute' END FROM "
	    "generate_series(1, 60) g RETURNING 1) SELECT count(*) FROM i",
	    (long long)org_id, (long long)ch), 60);

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations?channel=%lld",
	    (long long)ch);
	hget(&c, path, 200, &r);
	ck_assert_int_eq(count_of(r.body, "Pager "), 50);
	ck_assert_ptr_nonnull(strstr(r.body, "Pager 60 "));
	ck_assert_ptr_null(strstr(r.body, "Pager 10 "));
	p = strstr(r.body, "rel=\"next\" href=\"");
	ck_assert_msg(p != NULL, "no Older link");
	p += strlen("rel=\"next\" href=\"");
	older = xasprintf("%.*s", (int)strcspn(p, "\""), p);
	/* Undo the template's &amp; escaping. */
	while ((amp = strstr(older, "&amp;")) != NULL)
		memmove(amp + 1, amp + 5, strlen(amp + 5) + 1);
	hresp_free(&r);
	hget(&c, older, 200, &r);
	ck_assert_int_eq(count_of(r.body, "Pager "), 10);
	ck_assert_ptr_nonnull(strstr(r.body, "Pager 1 "));
	ck_assert_ptr_nonnull(strstr(r.body, "Pager 10 "));
	ck_assert_ptr_null(strstr(r.body, "rel=\"next\""));
	hresp_free(&r);
	free(older);

	/* The API's cursor walks the same 60 exactly once. */
	snprintf(path, sizeof(path), "/api/v1/conversations?channel=%lld",
	    (long long)ch);
	api_get(token, path, 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")),
	    50);
	cur = cJSON_GetStringValue(cJSON_GetObjectItem(j, "nextCursor"));
	ck_assert_ptr_nonnull(cur);
	snprintf(path, sizeof(path), "/api/v1/conversations?channel=%lld&"
	    "after=%s", (long long)ch, cur);
	cJSON_Delete(j);
	hresp_free(&r);
	api_get(token, path, 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")),
	    10);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "nextCursor")));
	cJSON_Delete(j);
	hresp_free(&r);
}
END_TEST

/* The panel list's badge on chat's row ("": none), malloc'd. */
static char *
panel_badge(struct client *c, int64_t chat)
{
	struct hresp	 r;
	char		 href[64], *row, *end, *b, *q, *out;

	snprintf(href, sizeof(href), "href=\"/conversations/%lld\"",
	    (long long)chat);
	hget(c, "/conversations", 200, &r);
	row = strstr(r.body, href);
	ck_assert_msg(row != NULL, "chat %lld not in the list",
	    (long long)chat);
	end = strstr(row, "</tr>");
	ck_assert_ptr_nonnull(end);
	*end = '\0';
	if ((b = strstr(row, "data-unread=\"")) == NULL)
		out = xstrdup("");
	else {
		b += strlen("data-unread=\"");
		q = strchr(b, '"');
		ck_assert_ptr_nonnull(q);
		*q = '\0';
		out = xstrdup(b);
	}
	hresp_free(&r);
	return out;
}

/* The API's unreadCount of chat (on the Twilio channel). */
#define api_unread(chat)	hapi_unread(srv.base, token, tw_id, chat)

#define assert_badge(c, chat, want) do {				\
	char	*b_ = panel_badge(c, chat);				\
	ck_assert_str_eq(b_, want);					\
	free(b_);							\
} while (0)

#define UNREAD_FROM	"+15551110010"

/*
 * What a person sees of a chat's unread messages, as they arrive through
 * Twilio's webhook: counted per inbound message (a replay is not one),
 * cleared by opening the chat in the panel (not by the API), counted
 * again after, shown as 99+ from 100 on while counted on.
 */
START_TEST(t_unread_counts)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128], sid[64];
	int64_t		 ch;

	snprintf(sid, sizeof(sid), "%s", htwilio_in(srv.base, TW_SID,
	    TW_TOKEN, TW_NUMBER, UNREAD_FROM, "one"));
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER, UNREAD_FROM,
	    "two");
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER, UNREAD_FROM,
	    "three");
	/* Twilio delivers the first again: one message, counted once. */
	htwilio_text_ok(srv.base, TW_SID, TW_TOKEN, sid, UNREAD_FROM,
	    TW_NUMBER, "one");
	ch = sqli("SELECT id FROM chats WHERE channel_id = %lld AND "
	    "external_id = '" UNREAD_FROM "'", (long long)tw_id);
	ck_assert(ch > 0);
	{
		char	*in = hpg_sqlf(&pg, "SELECT string_agg(body, ',' ORDER "
			    "BY id) FROM messages WHERE chat_id = %lld AND "
			    "direction = 'in'", (long long)ch);

		ck_assert_str_eq(in, "one,two,three");
		free(in);
	}

	/* A member reads the list; the API says the same. */
	hlogin(&c, srv.base, MEMBER_EMAIL, MEMBER_PW);
	assert_badge(&c, ch, "3");
	ck_assert_int_eq(api_unread(ch), 3);
	/* Reading the chat through the API does not count as a look. */
	snprintf(path, sizeof(path), "/api/v1/conversations/%lld",
	    (long long)ch);
	api_get(token, path, 200, &r);
	hresp_free(&r);
	ck_assert_int_eq(api_unread(ch), 3);

	/* Opening it in the panel does: no badge, 0. */
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)ch);
	hget(&c, path, 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "three"));
	hresp_free(&r);
	assert_badge(&c, ch, "");
	ck_assert_int_eq(api_unread(ch), 0);
	/* An older page of it is not a look at the newest messages. */
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER, UNREAD_FROM,
	    "four");
	assert_badge(&c, ch, "1");
	snprintf(path, sizeof(path), "/conversations/%lld?before=%lld",
	    (long long)ch, (long long)sqli("SELECT max(id) FROM messages "
	    "WHERE chat_id = %lld", (long long)ch));
	hget(&c, path, 200, &r);
	hresp_free(&r);
	assert_badge(&c, ch, "1");
	ck_assert_int_eq(api_unread(ch), 1);

	/* 100 and more: "99+" in the panel, 100 in the API. */
	for (int i = 0; i < 99; i++) {
		char	 text[32];

		snprintf(text, sizeof(text), "again %d", i);
		(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER,
		    UNREAD_FROM, text);
	}
	assert_badge(&c, ch, "99+");
	ck_assert_int_eq(api_unread(ch), 100);
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER, UNREAD_FROM,
	    "one more");
	assert_badge(&c, ch, "99+");
	ck_assert_int_eq(api_unread(ch), 100);
	/* One look clears all 101, not just the 100 shown as a number. */
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)ch);
	hget(&c, path, 200, &r);
	hresp_free(&r);
	assert_badge(&c, ch, "");
	ck_assert_int_eq(api_unread(ch), 0);
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER, UNREAD_FROM,
	    "after the look");
	assert_badge(&c, ch, "1");
	ck_assert_int_eq(api_unread(ch), 1);
}
END_TEST

/*
 * A message that arrives while the panel marks the chat seen, replayed
 * step by step with the functions the page runs: the header says 1
 * unread, a message is stored, then the look is recorded. The new one
 * stays unread (the count errs high, never low).
 */
START_TEST(t_unread_message_during_look)
{
	struct db_pool		*pool;
	struct db		*db;
	struct arena		*a = arena_new();
	struct review_chat	 hdr;
	int64_t			 ch;

	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER,
	    "+15551110015", "first");
	ch = sqli("SELECT id FROM chats WHERE channel_id = %lld AND "
	    "external_id = '+15551110015'", (long long)tw_id);
	ck_assert_int_eq(api_unread(ch), 1);
	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	ck_assert(review_chat_get(db, a, org_id, ch, &hdr) == DB_OK);
	ck_assert_int_eq(hdr.unread, 1);
	(void)htwilio_in(srv.base, TW_SID, TW_TOKEN, TW_NUMBER,
	    "+15551110015", "second, during the look");
	ck_assert(review_mark_seen(db, org_id, ch, hdr.unread) == DB_OK);
	ck_assert_int_eq(api_unread(ch), 1);
	/* Another organisation's id changes nothing. */
	ck_assert(review_mark_seen(db, other_org_id, ch, 1) == DB_OK);
	ck_assert_int_eq(api_unread(ch), 1);
	db_release(db);
	db_pool_free(pool);
	arena_free(a);
}
END_TEST

/*
 * Migration 0027 on a database an older release left: each chat's count
 * is its inbound messages after the last look (all of them when nobody
 * looked), and the list shows it.
 */
START_TEST(t_unread_migration)
{
	struct db_pool	*pool;
	struct db	*db;
	struct db_res	 res = { 0 };
	char		 ci[700], err[512];
	char		*old_dir, *repo, *cmd;
	int		 n = -1;

	free(hpg_sqlf(&pg, "DROP DATABASE IF EXISTS t_unread_mig"));
	free(hpg_sqlf(&pg, "CREATE DATABASE t_unread_mig"));
	ck_assert((size_t)snprintf(ci, sizeof(ci), "%s dbname=t_unread_mig",
	    pg.conninfo) < sizeof(ci));
	pool = db_pool_new(ci, 1, 5000);
	ck_assert_ptr_nonnull(pool);
	db = db_acquire(pool);
	ck_assert_ptr_nonnull(db);
	old_dir = hmigrations_upto(26);
	ck_assert_msg(db_migrate(db, old_dir, &n, err, sizeof(err)), "%s",
	    err);
	ck_assert_int_eq(db_migrations_applied(db), 26);
	/* Three chats: never looked at, looked at between its messages,
	 * looked at after all of them. */
	ck_assert(db_exec(db, "INSERT INTO orgs (name) VALUES ('Old')",
	    DB_END) == DB_OK);
	ck_assert(db_exec(db, "INSERT INTO channels (org_id, kind, name,"
	    " phone_number) SELECT id, 'twilio', 'Old line', '+15550003333'"
	    " FROM orgs", DB_END) == DB_OK);
	ck_assert(db_exec(db,
	    "INSERT INTO chats (org_id, channel_id, external_id, human_seen_at)"
	    " SELECT org_id, id, x.n, x.seen FROM channels, (VALUES"
	    "  ('+1555000', NULL::timestamptz),"
	    "  ('+1555001', now() - interval '2 hours'),"
	    "  ('+1555002', now())) x (n, seen)", DB_END) == DB_OK);
	ck_assert(db_exec(db,
	    "INSERT INTO messages (org_id, channel_id, chat_id, direction,"
	    "  body, status, created_at)"
	    " SELECT c.org_id, c.channel_id, c.id, d.dir, 'm', 'received',"
	    "  now() - d.ago FROM chats c, (VALUES"
	    "  ('in', interval '3 hours'), ('in', interval '1 hour'),"
	    "  ('out', interval '50 minutes'), ('in', interval '40 minutes'))"
	    "  d (dir, ago)", DB_END) == DB_OK);
	repo = xasprintf("%s/migrations", hrepo_root());
	ck_assert_msg(db_migrate(db, repo, &n, err, sizeof(err)), "%s", err);
	ck_assert_int_eq(db_migrations_applied(db), db_migrations_latest(repo));
	free(repo);
	ck_assert(db_query(db, &res, "SELECT string_agg(external_id || '=' ||"
	    " unread, ' ' ORDER BY external_id) FROM chats", DB_END) == DB_OK);
	ck_assert_str_eq(db_res_text(&res, 0, 0),
	    "+1555000=3 +1555001=2 +1555002=0");
	db_res_clear(&res);
	{
		struct arena		*a = arena_new();
		struct review_filter	 f;
		struct review_row	*rows;
		char			*next;
		int			 k;

		ck_assert(db_query(db, &res, "SELECT id FROM orgs", DB_END) ==
		    DB_OK);
		memset(&f, 0, sizeof(f));
		ck_assert(review_list(db, a, db_res_i64(&res, 0, 0), &f, &rows,
		    &k, &next) == DB_OK);
		db_res_clear(&res);
		ck_assert_int_eq(k, 3);
		for (int i = 0; i < k; i++)
			ck_assert_int_eq(rows[i].unread,
			    str_eq(rows[i].external_id, "+1555000") ? 3 :
			    str_eq(rows[i].external_id, "+1555001") ? 2 : 0);
		arena_free(a);
	}
	db_release(db);
	db_pool_free(pool);
	cmd = xasprintf("rm -rf '%s'", old_dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	free(old_dir);
	free(hpg_sqlf(&pg, "DROP DATABASE t_unread_mig"));
}
END_TEST

/* --- the timeline -------------------------------------------------------- */

START_TEST(t_timeline)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128], extra[256];
	int64_t		 ch, t1, t2, call, m_in, m_fail, m_final;
	const char	*p1, *p2, *p3;

	ch = make_chat(tw_id, bot_id, "+15551110020", "Tim", "ai", "now()");
	t1 = sqli("INSERT INTO threads (org_id, chat_id, agent_id, "
	    "closed_at, close_reason) VALUES (%lld, %lld, %lld, now(), "
	    "'reset') RETURNING id", (long long)org_id, (long long)ch,
	    (long long)bot_id);
	t2 = sqli("INSERT INTO threads (org_id, chat_id, agent_id) VALUES "
	    "(%lld, %lld, %lld) RETURNING id", (long long)org_id,
	    (long long)ch, (long long)bot_id);
	call = sqli("INSERT INTO llm_calls (org_id, agent_id, model_name, "
	    "source, tokens_in, tokens_out, latency_ms, rounds, tool_calls) "
	    "VALUES (%lld, %lld, 'fake-model-xyz', 'reply', 321, 54, 987, 2, "
	    "'[{\"name\":\"time.now\",\"arguments\":{\"tz\":\"UTC\"},"
	    "\"result\":\"12:00 <b>\"}]') RETURNING id", (long long)org_id,
	    (long long)bot_id);
	snprintf(extra, sizeof(extra), "thread_id = %lld", (long long)t1);
	add_msg(ch, "in", "First thread hello", "received", extra);
	snprintf(extra, sizeof(extra), "thread_id = %lld", (long long)t2);
	m_in = add_msg(ch, "in", "<script>alert(1)</script>' || E'\\nline two",
	    "received", extra);
	snprintf(extra, sizeof(extra), "thread_id = %lld, llm_call_id = %lld",
	    (long long)t2, (long long)call);
	add_msg(ch, "out", "Agent answer", "delivered", extra);
	snprintf(extra, sizeof(extra), "thread_id = %lld, error_code = "
	    "'63016', error_text = 'Outside the 24-hour window'",
	    (long long)t2);
	m_final = add_msg(ch, "out", "Failed answer", "failed", extra);
	snprintf(extra, sizeof(extra), "thread_id = %lld, error_code = "
	    "'30008', error_text = 'Unknown error'", (long long)t2);
	m_fail = add_msg(ch, "out", "Failed again", "failed", extra);
	add_msg(ch, "in", "with a picture", "received", "media = '[{\"url\":"
	    "\"data:image/png;base64,iVBORw0KGgo=\",\"contentType\":"
	    "\"image/png\"},{\"url\":\"https://api.twilio.com/x/Media/ME1\","
	    "\"contentType\":\"image/jpeg\",\"caption\":\"a cat\"}]'");
	(void)m_in;

	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)ch);
	hget(&c, path, 200, &r);
	p1 = strstr(r.body, "First thread hello");
	p2 = strstr(r.body, "Agent answer");
	p3 = strstr(r.body, "Failed answer");
	ck_assert(p1 != NULL && p2 != NULL && p3 != NULL && p1 < p2 &&
	    p2 < p3);
	ck_assert_ptr_nonnull(strstr(r.body, "previous thread closed: reset"));
	ck_assert_int_eq(count_of(r.body, "class=\"thread-marker"), 2);
	ck_assert_ptr_null(strstr(r.body, "<script>alert"));
	ck_assert_ptr_nonnull(strstr(r.body,
	    "&lt;script&gt;alert(1)&lt;/script&gt;\nline two"));
	ck_assert_ptr_nonnull(strstr(r.body, "data-delivery=\"delivered\""));
	ck_assert_ptr_nonnull(strstr(r.body, "data-delivery=\"failed\""));
	ck_assert_ptr_nonnull(strstr(r.body, "error 63016"));
	ck_assert_ptr_nonnull(strstr(r.body, "Outside the 24-hour window"));
	ck_assert_ptr_nonnull(strstr(r.body, "<details"));
	ck_assert_ptr_nonnull(strstr(r.body, "fake-model-xyz"));
	ck_assert_ptr_nonnull(strstr(r.body, "321 tokens in, 54 out"));
	ck_assert_ptr_nonnull(strstr(r.body, "987 ms"));
	ck_assert_ptr_nonnull(strstr(r.body, "time.now"));
	ck_assert_ptr_nonnull(strstr(r.body, "12:00 &lt;b&gt;"));
	ck_assert_ptr_nonnull(strstr(r.body, "h "));	/* window left */
	snprintf(extra, sizeof(extra), "/conversations/%lld/messages/%lld/"
	    "resend", (long long)ch, (long long)m_fail);
	ck_assert_ptr_nonnull(strstr(r.body, extra));
	/* A window refusal of old (now they are held): Resend is offered,
	 * and a Resend while the window is closed is held, not refused (the
	 * outbox's take holds any text to a closed window). */
	snprintf(extra, sizeof(extra), "/conversations/%lld/messages/%lld/"
	    "resend", (long long)ch, (long long)m_final);
	ck_assert_ptr_nonnull(strstr(r.body, extra));
	ck_assert_ptr_null(strstr(r.body, "No Resend:"));
	ck_assert_ptr_nonnull(strstr(r.body, "a cat"));
	hresp_free(&r);

	/* Media: a data: URL is served; a provider URL off the configured
	 * API base is never fetched (tests/integration/media.c has the
	 * downloads). */
	{
		int64_t	 mid = sqli("SELECT max(id) FROM messages WHERE "
			    "chat_id = %lld", (long long)ch);
		char	 mp[160], *ct;

		snprintf(mp, sizeof(mp), "/conversations/%lld/media/%lld/0",
		    (long long)ch, (long long)mid);
		hget(&c, mp, 200, &r);
		ct = hresp_header(&r, "Content-Type");
		ck_assert_ptr_nonnull(ct);
		ck_assert_ptr_nonnull(strstr(ct, "image/png"));
		ck_assert_uint_eq(r.body_len, 8);
		free(ct);
		hresp_free(&r);
		snprintf(mp, sizeof(mp), "/conversations/%lld/media/%lld/1",
		    (long long)ch, (long long)mid);
		hget(&c, mp, 502, &r);
		ck_assert_ptr_nonnull(strstr(r.body, "not on the Twilio API"));
		hresp_free(&r);
		snprintf(mp, sizeof(mp), "/conversations/%lld/media/%lld/7",
		    (long long)ch, (long long)mid);
		hget(&c, mp, 404, &r);
		hresp_free(&r);
	}

	/* The API's view of the same chat. */
	snprintf(path, sizeof(path), "/api/v1/conversations/%lld",
	    (long long)ch);
	api_get(token, path, 200, &r);
	{
		cJSON		*j = cJSON_Parse(r.body);
		const cJSON	*ms = cJSON_GetObjectItem(j, "messages");

		ck_assert_int_eq(cJSON_GetArraySize(ms), 6);
		ck_assert_str_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(ms, 3),
		    "errorCode")->valuestring, "63016");
		/* Both may be resent (a closed window holds the copy). */
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    ms, 3), "canResend")));
		ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    ms, 4), "canResend")));
		ck_assert(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(
		    ms, 4), "resentAs")));
		ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j,
		    "threads")), 2);
		cJSON_Delete(j);
	}
	hresp_free(&r);
}
END_TEST

START_TEST(t_timeline_caps_at_500)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[128];
	int64_t		 ch;

	ch = make_chat(tw_id, 0, "+15551110030", "Long", "ai", "now()");
	ck_assert_int_eq(sqli("WITH i AS (INSERT INTO messages (org_id, "
	    "channel_id, chat_id, direction, body) SELECT org_id, channel_id, "
	    "id, 'in', 'msg #' || g || '.' FROM chats, generate_series(1, 510) "
	    "g WHERE id = %lld RETURNING 1) SELECT count(*) FROM i",
	    (long long)ch), 510);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)ch);
	hget(&c, path, 200, &r);
	ck_assert_int_eq(count_of(r.body, "msg #"), 500);
	ck_assert_ptr_null(strstr(r.body, "msg #10."));
	ck_assert_ptr_nonnull(strstr(r.body, "msg #11."));
	ck_assert_ptr_nonnull(strstr(r.body, "Earlier messages"));
	hresp_free(&r);
}
END_TEST

/* --- resend -------------------------------------------------------------- */

START_TEST(t_resend_sends_once)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[160], body[256], *csrf, *log;
	int64_t		 ch, mid;

	hfake_reset(&wa);
	ch = make_chat(tw_id, 0, "+15551110040", "Resa", "human", "now()");
	mid = add_msg(ch, "out", "Please try again", "failed",
	    "error_code = '30008', error_text = 'Unknown error'");
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld", (long long)ch);
	hget(&c, path, 200, &r);
	csrf = html_csrf(r.body);
	ck_assert_ptr_nonnull(csrf);
	hresp_free(&r);
	body[0] = '\0';
	form_add(body, sizeof(body), "_csrf", csrf);
	snprintf(path, sizeof(path), "/conversations/%lld/messages/%lld/resend",
	    (long long)ch, (long long)mid);
	client_req(&c, "POST", path, body, NULL, NULL, &r);
	ck_assert_msg(r.status == 303, "resend: %ld %s", r.status, r.body);
	hresp_free(&r);

	log = hfake_get(&wa, "/_fake/requests");
	ck_assert_int_eq(count_of(log, "Please try again"), 1);
	free(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld AND body = 'Please try again' AND status = 'sent' AND "
	    "reply_to_id IS NULL AND provider_message_id IS NOT NULL AND "
	    "author_user_id IS NOT NULL", (long long)ch), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND status = 'failed'", (long long)mid), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'message.resent'"), 1);

	/* The copy is not failed: resending it is refused, nothing sent. */
	mid = sqli("SELECT max(id) FROM messages WHERE chat_id = %lld",
	    (long long)ch);
	snprintf(path, sizeof(path), "/conversations/%lld/messages/%lld/resend",
	    (long long)ch, (long long)mid);
	client_req(&c, "POST", path, body, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 303);
	hresp_free(&r);
	log = hfake_get(&wa, "/_fake/requests");
	ck_assert_int_eq(count_of(log, "Please try again"), 1);
	free(log);
	free(csrf);
}
END_TEST

/* --- another organisation's ids ------------------------------------------ */

START_TEST(t_other_org_404)
{
	struct client	 c;
	struct hresp	 r;
	char		 path[160], body[256], *csrf;
	int64_t		 mid;

	mid = sqli("SELECT id FROM messages WHERE chat_id = %lld",
	    (long long)other_chat);
	hlogin(&c, srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/conversations/%lld",
	    (long long)other_chat);
	hget(&c, path, 404, &r);
	ck_assert_ptr_null(strstr(r.body, "Secret Sam"));
	hresp_free(&r);
	snprintf(path, sizeof(path), "/conversations/%lld/media/%lld/0",
	    (long long)other_chat, (long long)mid);
	hget(&c, path, 404, &r);
	hresp_free(&r);
	hget(&c, "/conversations", 200, &r);
	csrf = html_csrf(r.body);
	hresp_free(&r);
	ck_assert_ptr_nonnull(csrf);
	body[0] = '\0';
	form_add(body, sizeof(body), "_csrf", csrf);
	snprintf(path, sizeof(path), "/conversations/%lld/messages/%lld/resend",
	    (long long)other_chat, (long long)mid);
	client_req(&c, "POST", path, body, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 404);
	hresp_free(&r);
	free(csrf);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "%lld", (long long)other_chat), 1);

	snprintf(path, sizeof(path), "/api/v1/conversations/%lld",
	    (long long)other_chat);
	api_get(token, path, 404, &r);
	hresp_free(&r);
	/* …and it is theirs. */
	api_get(other_token, path, 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "Secret Sam"));
	hresp_free(&r);
	api_get(other_token, "/api/v1/conversations", 200, &r);
	ck_assert_ptr_null(strstr(r.body, "Alice"));
	hresp_free(&r);

	ck_assert_msg(!hserver_log_contains(&srv, "runtime error") &&
	    !hserver_log_contains(&srv, "Sanitizer"), "sanitizer report in %s",
	    srv.log_path);
}
END_TEST

static Suite *
conversations_suite(void)
{
	Suite	*s = suite_create("conversations");
	TCase	*tc = tcase_create("review");

	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_list_filters_and_search);
	tcase_add_test(tc, t_search_broad_word);
	tcase_add_test(tc, t_pagination);
	tcase_add_test(tc, t_unread_counts);
	tcase_add_test(tc, t_unread_message_during_look);
	tcase_add_test(tc, t_unread_migration);
	tcase_add_test(tc, t_timeline);
	tcase_add_test(tc, t_timeline_caps_at_500);
	tcase_add_test(tc, t_resend_sends_once);
	tcase_add_test(tc, t_other_org_404);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(conversations_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
