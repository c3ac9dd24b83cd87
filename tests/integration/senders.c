/*
 * senders: the channel senders (src/channels/{twilio,meta,kapso,sandbox}.c
 * through channel_ops_for) against the fake WhatsApp providers
 * (tests/fakes/fake_whatsapp.c), over real HTTP.
 *
 * For each kind: an accepted text with the provider's id and exactly the
 * documented request on the wire (path, auth, form or JSON); then the
 * outcome classification: 5xx and 429 (with Retry-After) retry, a 4xx with
 * a code fails with that code and a sentence, the 24-hour window has its
 * own sentence, Meta's throughput codes and Kapso's 409 retry, timeouts,
 * dropped and refused connections retry within bounded time. Reactions
 * (add and remove), typing indicators, Meta groups and the sandbox (no
 * network) too, plus the fake's own spec matching, which other suites
 * rely on.
 *
 * One fake for the suite (CK_NOFORK, unchecked fixture); every test resets
 * it first. No database and no parley server: senders are called
 * in-process. The last test stops the fake and checks it exits 0, which
 * under ASan also means no leak in the fake.
 */
#include "harness/harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <cjson/cJSON.h>
#include <sodium.h>

#include "channels/channel.h"
#include "util/buf.h"
#include "util/httpc.h"
#include "util/time.h"

/* Scripts this suite's fake WhatsApp (tests/harness/fake.c). */
#define queue(json)	hfake_queue(&fake, json)

#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"tw-secret-token-42"
#define META_TOKEN	"EAAGm0PX4ZCpsBAtest"
#define KAPSO_KEY	"kapso-key-0123"
#define PNID		"106540352242922"
#define TO		"+15551234567"
#define FROM		"+15550001111"
#define WINDOW		"Outside the 24-hour customer service window: " \
			"only an approved template can be sent now."

static void	 s_setup(void);
static void	 s_teardown(void);
static void	 creds(struct channel_creds *c, const char *kind);
static const cJSON *req_at(const cJSON *log, int i);
static const char *str_at(const cJSON *o, const char *name);
static void	 assert_json(const cJSON *got, const char *want);
static void	 assert_redacted(const char *, const char *);
static enum send_result send_text(const char *kind, const char *text,
		    struct send_outcome *out);
static Suite	*senders_suite(void);

static struct hfake	 fake;
static char		 meta_base[128];
static char		 kapso_base[128];

/* --- fixture and helpers ------------------------------------------------ */

static void
s_setup(void)
{
	static const char	*args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, "--kapso-key",
				    KAPSO_KEY, NULL };

	(void)httpc_global_init();
	if (sodium_init() < 0)
		ck_abort_msg("sodium_init failed");
	hfake_start(&fake, "fake_whatsapp", args);
	snprintf(meta_base, sizeof(meta_base), "%s/v24.0", fake.base);
	snprintf(kapso_base, sizeof(kapso_base), "%s/meta/whatsapp/v24.0",
	    fake.base);
}

static void
s_teardown(void)
{
	if (fake.pid > 0)
		hfake_stop(&fake);
	httpc_global_cleanup();
}

/* Credentials of a channel of `kind` pointed at the fake. */
static void
creds(struct channel_creds *c, const char *kind)
{
	memset(c, 0, sizeof(*c));
	c->kind = kind;
	if (strcmp(kind, "twilio") == 0) {
		c->api_base = fake.base;
		c->api_base2 = fake.base;
		c->phone_number = FROM;
		c->account_sid = TW_SID;
		c->auth_token = TW_TOKEN;
	} else if (strcmp(kind, "meta") == 0) {
		c->api_base = meta_base;
		c->phone_number_id = PNID;
		c->access_token = META_TOKEN;
	} else if (strcmp(kind, "kapso") == 0) {
		c->api_base = kapso_base;
		c->phone_number_id = PNID;
		c->api_key = KAPSO_KEY;
	}
	c->timeout_ms = 5000;
}

static enum send_result
send_text(const char *kind, const char *text, struct send_outcome *out)
{
	const struct channel_ops	*ops = channel_ops_for(kind);
	struct channel_creds		 c;

	ck_assert_ptr_nonnull(ops);
	creds(&c, kind);
	return ops->send_text(&c, TO, false, text, out);
}

static const cJSON *
req_at(const cJSON *log, int i)
{
	const cJSON	*r = cJSON_GetArrayItem(log, i);

	ck_assert_msg(cJSON_IsObject(r), "no request #%d in the log", i);
	return r;
}

static const char *
str_at(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	ck_assert_msg(cJSON_IsString(v), "\"%s\" is not a string", name);
	return v->valuestring;
}

/* got must equal the JSON text want exactly (keys in any order). */
static void
assert_json(const cJSON *got, const char *want)
{
	cJSON	*w = cJSON_Parse(want);
	char	*g = cJSON_PrintUnformatted(got);

	ck_assert_ptr_nonnull(w);
	ck_assert_msg(cJSON_Compare(got, w, true), "got %s, want %s", g,
	    want);
	free(g);
	cJSON_Delete(w);
}

/* --- registry and sandbox ---------------------------------------------- */

START_TEST(t_registry)
{
	const struct channel_ops	*o;

	o = channel_ops_for("twilio");
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(o->kind, "twilio");
	ck_assert_uint_eq(o->text_limit, 1600);
	ck_assert(!o->has_reactions && !o->has_groups);
	ck_assert_ptr_null(o->send_reaction);
	ck_assert_ptr_nonnull(o->send_text);
	ck_assert_ptr_nonnull(o->send_typing);

	o = channel_ops_for("meta");
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->text_limit, 4096);
	ck_assert(o->has_reactions && o->has_groups);
	ck_assert_ptr_nonnull(o->send_reaction);
	ck_assert_ptr_nonnull(o->send_typing);

	o = channel_ops_for("kapso");
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(o->text_limit, 4096);
	ck_assert(o->has_reactions);
	ck_assert_ptr_nonnull(o->send_reaction);

	o = channel_ops_for("sandbox");
	ck_assert_ptr_nonnull(o);
	ck_assert_ptr_nonnull(o->send_text);
	ck_assert_ptr_null(o->send_typing);

	ck_assert_ptr_null(channel_ops_for("telegram"));
	ck_assert_ptr_null(channel_ops_for(""));
	ck_assert_ptr_null(channel_ops_for(NULL));
}
END_TEST

START_TEST(t_sandbox_no_network)
{
	const struct channel_ops	*o = channel_ops_for("sandbox");
	struct channel_creds		 c;
	struct send_outcome		 a, b;
	size_t				 i;

	hfake_reset(&fake);
	memset(&c, 0, sizeof(c));
	c.kind = "sandbox";
	c.api_base = "http://127.0.0.1:1";	/* never used */
	ck_assert_int_eq(o->send_text(&c, TO, false, "hello", &a), SEND_OK);
	ck_assert_int_eq(o->send_text(&c, TO, false, "again", &b), SEND_OK);
	ck_assert_uint_eq(strlen(a.provider_message_id), 4 + 32);
	ck_assert(strncmp(a.provider_message_id, "sbx-", 4) == 0);
	for (i = 4; i < strlen(a.provider_message_id); i++)
		ck_assert(strchr("0123456789abcdef",
		    a.provider_message_id[i]) != NULL);
	ck_assert_str_ne(a.provider_message_id, b.provider_message_id);
	ck_assert_str_eq(a.error_text, "");
	ck_assert_int_eq(o->send_reaction(&c, TO, "sbx-1", "👍", &a), SEND_OK);
	ck_assert(strncmp(a.provider_message_id, "sbx-", 4) == 0);
	ck_assert_int_eq(hfake_log_count(&fake), 0);
}
END_TEST

/* --- Twilio -------------------------------------------------------------- */

START_TEST(t_twilio_text)
{
	const struct channel_ops	*o = channel_ops_for("twilio");
	struct channel_creds		 c;
	struct send_outcome		 out;
	cJSON				*log;
	const cJSON			*r;
	char				 basic[256], b64[128];
	const char			*text = "Héllo & bye = 100% +1? 👋\n"
					    "line two";

	hfake_reset(&fake);
	creds(&c, "twilio");
	c.status_callback = "https://parley.example.com/webhooks/twilio/"
	    "status?c=7";
	ck_assert_int_eq(o->send_text(&c, TO, false, text, &out), SEND_OK);
	ck_assert_int_eq(out.http_status, 201);
	ck_assert_uint_eq(strlen(out.provider_message_id), 34);
	ck_assert(strncmp(out.provider_message_id, "SM", 2) == 0);
	ck_assert_str_eq(out.error_code, "");
	ck_assert_str_eq(out.error_text, "");

	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	r = req_at(log, 0);
	ck_assert_str_eq(str_at(r, "provider"), "twilio");
	ck_assert_str_eq(str_at(r, "op"), "send");
	ck_assert_str_eq(str_at(r, "method"), "POST");
	ck_assert_str_eq(str_at(r, "path"),
	    "/2010-04-01/Accounts/" TW_SID "/Messages.json");
	sodium_bin2base64(b64, sizeof(b64),
	    (const unsigned char *)TW_SID ":" TW_TOKEN,
	    strlen(TW_SID ":" TW_TOKEN), sodium_base64_VARIANT_ORIGINAL);
	snprintf(basic, sizeof(basic), "Basic %s", b64);
	ck_assert_str_eq(str_at(r, "auth"), basic);
	ck_assert_str_eq(str_at(r, "user"), TW_SID);
	ck_assert_str_eq(str_at(r, "password"), TW_TOKEN);
	assert_json(cJSON_GetObjectItemCaseSensitive(r, "form"),
	    "{\"To\":\"whatsapp:" TO "\",\"From\":\"whatsapp:" FROM "\","
	    "\"Body\":\"Héllo & bye = 100% +1? 👋\\nline two\","
	    "\"StatusCallback\":\"https://parley.example.com/webhooks/"
	    "twilio/status?c=7\"}");
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(r,
	    "answered")->valueint, 201);
	ck_assert_str_eq(str_at(r, "id"), out.provider_message_id);
	cJSON_Delete(log);

	/* No status callback: no such field. */
	hfake_reset(&fake);
	c.status_callback = NULL;
	ck_assert_int_eq(o->send_text(&c, "whatsapp:" TO, false, "x", &out),
	    SEND_OK);
	log = hfake_log(&fake);
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 0), "form"),
	    "{\"To\":\"whatsapp:" TO "\",\"From\":\"whatsapp:" FROM "\","
	    "\"Body\":\"x\"}");
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_twilio_typing)
{
	const struct channel_ops	*o = channel_ops_for("twilio");
	struct channel_creds		 c;
	struct send_outcome		 out;
	cJSON				*log;
	const cJSON			*r;

	hfake_reset(&fake);
	creds(&c, "twilio");
	c.api_base = "http://127.0.0.1:1";	/* typing uses api_base2 */
	ck_assert_int_eq(o->send_typing(&c, "SM0123456789abcdef", &out),
	    SEND_OK);
	ck_assert_int_eq(out.http_status, 200);
	ck_assert_str_eq(out.provider_message_id, "");
	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	r = req_at(log, 0);
	ck_assert_str_eq(str_at(r, "path"), "/v2/Indicators/Typing.json");
	ck_assert_str_eq(str_at(r, "op"), "typing");
	ck_assert_str_eq(str_at(r, "user"), TW_SID);
	ck_assert_str_eq(str_at(r, "password"), TW_TOKEN);
	assert_json(cJSON_GetObjectItemCaseSensitive(r, "form"),
	    "{\"channel\":\"whatsapp\",\"messageId\":\"SM0123456789abcdef\"}");
	cJSON_Delete(log);

	queue("{\"provider\":\"twilio\",\"op\":\"typing\",\"status\":503}");
	ck_assert_int_eq(o->send_typing(&c, "SM1", &out), SEND_RETRY);
	ck_assert_int_eq(out.http_status, 503);
}
END_TEST

START_TEST(t_twilio_errors)
{
	const struct channel_ops	*o = channel_ops_for("twilio");
	struct channel_creds		 c;
	struct send_outcome		 out;
	char				*big;

	hfake_reset(&fake);
	queue("{\"provider\":\"twilio\",\"status\":500}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(out.http_status, 500);
	ck_assert_str_eq(out.error_code, "20500");
	ck_assert_str_eq(out.provider_message_id, "");
	ck_assert(out.error_text[0] != '\0');

	queue("{\"provider\":\"twilio\",\"status\":429,"
	    "\"headers\":{\"Retry-After\":\"7\"}}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(out.http_status, 429);
	ck_assert_int_eq(out.retry_after_s, 7);

	queue("{\"provider\":\"twilio\",\"status\":400,\"body\":{\"code\":"
	    "21211,\"message\":\"The 'To' number is not a valid phone "
	    "number.\",\"more_info\":\"https://www.twilio.com/docs/errors/"
	    "21211\",\"status\":400}}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_FAILED);
	ck_assert_int_eq(out.http_status, 400);
	ck_assert_str_eq(out.error_code, "21211");
	ck_assert_str_eq(out.error_text,
	    "The recipient's phone number is not valid.");
	ck_assert_int_eq(out.retry_after_s, 0);

	/* An unknown code: the provider's own message in the sentence. */
	queue("{\"provider\":\"twilio\",\"status\":400,\"code\":21999,"
	    "\"message\":\"Something odd\\nhappened\"}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "21999");
	ck_assert_str_eq(out.error_text,
	    "Twilio answered HTTP 400 (error 21999): Something odd happened");

	queue("{\"provider\":\"twilio\",\"status\":400,\"code\":63016}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "63016");
	ck_assert_str_eq(out.error_text, WINDOW);

	/* 20429 is Twilio's "too many requests", whatever the status. */
	queue("{\"provider\":\"twilio\",\"status\":400,\"code\":20429}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_RETRY);
	ck_assert_str_eq(out.error_code, "20429");

	/* The fake's own check: over 1600 characters is 21617. */
	big = malloc(1602);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 1601);
	big[1601] = '\0';
	ck_assert_int_eq(send_text("twilio", big, &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "21617");
	free(big);

	/* A wrong token: 401 20003, not retried. */
	creds(&c, "twilio");
	c.auth_token = "wrong";
	ck_assert_int_eq(o->send_text(&c, TO, false, "hi", &out),
	    SEND_FAILED);
	ck_assert_int_eq(out.http_status, 401);
	ck_assert_str_eq(out.error_code, "20003");

	/* No groups on Twilio: refused without a request. */
	hfake_reset(&fake);
	creds(&c, "twilio");
	ck_assert_int_eq(o->send_text(&c, "1203630xxxx@g.us", true, "hi",
	    &out), SEND_FAILED);
	ck_assert(out.error_text[0] != '\0');
	c.auth_token = NULL;
	ck_assert_int_eq(o->send_text(&c, TO, false, "hi", &out),
	    SEND_FAILED);
	ck_assert_int_eq(hfake_log_count(&fake), 0);
	ck_assert_int_eq(hfake_queued(&fake), 0);
}
END_TEST

/* --- Meta ----------------------------------------------------------------- */

START_TEST(t_meta_text)
{
	struct send_outcome	 out;
	cJSON			*log;
	const cJSON		*r;

	hfake_reset(&fake);
	ck_assert_int_eq(send_text("meta", "Hello \"you\" 👋", &out), SEND_OK);
	ck_assert_int_eq(out.http_status, 200);
	ck_assert(strncmp(out.provider_message_id, "wamid.", 6) == 0);
	ck_assert_str_eq(out.error_text, "");
	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	r = req_at(log, 0);
	ck_assert_str_eq(str_at(r, "provider"), "meta");
	ck_assert_str_eq(str_at(r, "op"), "send");
	ck_assert_str_eq(str_at(r, "path"), "/v24.0/" PNID "/messages");
	ck_assert_str_eq(str_at(r, "auth"), "Bearer " META_TOKEN);
	assert_json(cJSON_GetObjectItemCaseSensitive(r, "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"text\",\"text\":"
	    "{\"preview_url\":false,\"body\":\"Hello \\\"you\\\" 👋\"}}");
	ck_assert_str_eq(str_at(r, "id"), out.provider_message_id);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_meta_group)
{
	const struct channel_ops	*o = channel_ops_for("meta");
	struct channel_creds		 c;
	struct send_outcome		 out;
	cJSON				*log;

	hfake_reset(&fake);
	creds(&c, "meta");
	ck_assert_int_eq(o->send_text(&c, "Y2FwaV9ncm91cDoxNz", true,
	    "hi all", &out), SEND_OK);
	ck_assert(strncmp(out.provider_message_id, "wamid.", 6) == 0);
	log = hfake_log(&fake);
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 0), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"group\",\"to\":\"Y2FwaV9ncm91cDoxNz\",\"type\":\"text\","
	    "\"text\":{\"preview_url\":false,\"body\":\"hi all\"}}");
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_meta_reactions_and_typing)
{
	const struct channel_ops	*o = channel_ops_for("meta");
	struct channel_creds		 c;
	struct send_outcome		 out;
	cJSON				*log;

	hfake_reset(&fake);
	creds(&c, "meta");
	ck_assert_int_eq(o->send_reaction(&c, TO, "wamid.IN1", "👍", &out),
	    SEND_OK);
	ck_assert(strncmp(out.provider_message_id, "wamid.", 6) == 0);
	ck_assert_int_eq(o->send_reaction(&c, TO, "wamid.IN1", "", &out),
	    SEND_OK);
	ck_assert_int_eq(o->send_typing(&c, "wamid.IN2", &out), SEND_OK);
	ck_assert_str_eq(out.provider_message_id, "");
	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 3);
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 0), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"reaction\","
	    "\"reaction\":{\"message_id\":\"wamid.IN1\",\"emoji\":\"👍\"}}");
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 1), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"reaction\","
	    "\"reaction\":{\"message_id\":\"wamid.IN1\",\"emoji\":\"\"}}");
	ck_assert_str_eq(str_at(req_at(log, 2), "op"), "typing");
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 2), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"status\":\"read\","
	    "\"message_id\":\"wamid.IN2\",\"typing_indicator\":"
	    "{\"type\":\"text\"}}");
	ck_assert_str_eq(str_at(req_at(log, 2), "auth"), "Bearer " META_TOKEN);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_meta_errors)
{
	const struct channel_ops	*o = channel_ops_for("meta");
	struct channel_creds		 c;
	struct send_outcome		 out;
	char				*big;

	hfake_reset(&fake);
	queue("{\"provider\":\"meta\",\"status\":500}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(out.http_status, 500);

	queue("{\"provider\":\"meta\",\"status\":429,"
	    "\"headers\":{\"Retry-After\":\"30\"}}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(out.retry_after_s, 30);

	queue("{\"provider\":\"meta\",\"status\":400,\"body\":{\"error\":{"
	    "\"message\":\"(#131009) Parameter value is not valid\",\"type\":"
	    "\"OAuthException\",\"code\":131009,\"error_data\":{"
	    "\"messaging_product\":\"whatsapp\",\"details\":\"Invalid "
	    "recipient\"},\"fbtrace_id\":\"AbC\"}}}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_FAILED);
	ck_assert_int_eq(out.http_status, 400);
	ck_assert_str_eq(out.error_code, "131009");
	ck_assert_str_eq(out.error_text,
	    "Meta answered HTTP 400 (error 131009): Invalid recipient");

	queue("{\"provider\":\"meta\",\"status\":400,\"code\":131047,"
	    "\"message\":\"Re-engagement message\"}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "131047");
	ck_assert_str_eq(out.error_text, WINDOW);

	/* Throughput codes retry though the status is a 4xx (§2.7). */
	queue("[{\"provider\":\"meta\",\"status\":400,\"code\":130429},"
	    "{\"provider\":\"meta\",\"status\":400,\"code\":131056},"
	    "{\"provider\":\"meta\",\"status\":400,\"code\":80007},"
	    "{\"provider\":\"meta\",\"status\":403,\"code\":4}]");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_str_eq(out.error_code, "130429");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_str_eq(out.error_code, "131056");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_str_eq(out.error_code, "4");

	/* The fake's own checks: 4096 characters and the token. */
	big = malloc(4098);
	ck_assert_ptr_nonnull(big);
	memset(big, 'b', 4097);
	big[4097] = '\0';
	ck_assert_int_eq(send_text("meta", big, &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "131009");
	free(big);
	creds(&c, "meta");
	c.access_token = "";
	ck_assert_int_eq(o->send_text(&c, TO, false, "hi", &out),
	    SEND_FAILED);
	ck_assert_int_eq(out.http_status, 0);	/* refused before sending */
	ck_assert_int_eq(hfake_queued(&fake), 0);
}
END_TEST

START_TEST(t_meta_no_id)
{
	struct send_outcome	 out;

	hfake_reset(&fake);
	queue("{\"provider\":\"meta\",\"status\":200,\"body\":{"
	    "\"messaging_product\":\"whatsapp\",\"messages\":[]}}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_FAILED);
	ck_assert_int_eq(out.http_status, 200);
	ck_assert_str_eq(out.provider_message_id, "");
	ck_assert_msg(strstr(out.error_text, "no message id in the answer") !=
	    NULL, "%s", out.error_text);

	queue("{\"provider\":\"meta\",\"status\":200,\"body\":\"not json\"}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_FAILED);

	/* A scripted id comes back as ours. */
	queue("{\"provider\":\"meta\",\"id\":\"wamid.SCRIPTED\"}");
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_OK);
	ck_assert_str_eq(out.provider_message_id, "wamid.SCRIPTED");
}
END_TEST

/* --- Kapso ---------------------------------------------------------------- */

START_TEST(t_kapso_sends)
{
	const struct channel_ops	*o = channel_ops_for("kapso");
	struct channel_creds		 c;
	struct send_outcome		 out;
	cJSON				*log;
	const cJSON			*r;

	hfake_reset(&fake);
	creds(&c, "kapso");
	ck_assert_int_eq(o->send_text(&c, TO, false, "hola", &out), SEND_OK);
	ck_assert(strncmp(out.provider_message_id, "wamid.", 6) == 0);
	ck_assert_int_eq(o->send_reaction(&c, TO, "wamid.IN", "❤️", &out),
	    SEND_OK);
	ck_assert_int_eq(o->send_reaction(&c, TO, "wamid.IN", "", &out),
	    SEND_OK);
	ck_assert_int_eq(o->send_typing(&c, "wamid.IN", &out), SEND_OK);

	log = hfake_log(&fake);
	ck_assert_int_eq(cJSON_GetArraySize(log), 4);
	r = req_at(log, 0);
	ck_assert_str_eq(str_at(r, "provider"), "kapso");
	ck_assert_str_eq(str_at(r, "path"),
	    "/meta/whatsapp/v24.0/" PNID "/messages");
	ck_assert_str_eq(str_at(r, "auth"), KAPSO_KEY);
	assert_json(cJSON_GetObjectItemCaseSensitive(r, "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"text\",\"text\":"
	    "{\"preview_url\":false,\"body\":\"hola\"}}");
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 1), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"reaction\","
	    "\"reaction\":{\"message_id\":\"wamid.IN\",\"emoji\":\"❤️\"}}");
	assert_json(cJSON_GetObjectItemCaseSensitive(req_at(log, 2), "json"),
	    "{\"messaging_product\":\"whatsapp\",\"recipient_type\":"
	    "\"individual\",\"to\":\"" TO "\",\"type\":\"reaction\","
	    "\"reaction\":{\"message_id\":\"wamid.IN\",\"emoji\":\"\"}}");
	ck_assert_str_eq(str_at(req_at(log, 3), "op"), "typing");
	ck_assert_str_eq(str_at(req_at(log, 3), "auth"), KAPSO_KEY);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_kapso_errors)
{
	struct send_outcome	 out;

	hfake_reset(&fake);
	queue("{\"provider\":\"kapso\",\"status\":409,"
	    "\"headers\":{\"Retry-After\":\"2\"}}");
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(out.http_status, 409);
	ck_assert_int_eq(out.retry_after_s, 2);

	queue("{\"provider\":\"kapso\",\"status\":502}");
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_RETRY);

	queue("{\"provider\":\"kapso\",\"status\":400,\"code\":131047}");
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_FAILED);
	ck_assert_str_eq(out.error_text, WINDOW);

	queue("{\"provider\":\"kapso\",\"status\":422,\"body\":{\"error\":"
	    "\"Phone number not found\"}}");
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_FAILED);
	ck_assert_str_eq(out.error_code, "");
	ck_assert_str_eq(out.error_text,
	    "Kapso answered HTTP 422: Phone number not found");
}
END_TEST

/* --- the network ------------------------------------------------------ */

START_TEST(t_timeouts)
{
	static const char *const	 kinds[] = { "twilio", "meta", "kapso" };
	const struct channel_ops	*o;
	struct channel_creds		 c;
	struct send_outcome		 out;
	char				 spec[128];
	int64_t				 t0, took;
	size_t				 i;

	hfake_reset(&fake);
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		o = channel_ops_for(kinds[i]);
		creds(&c, kinds[i]);
		c.timeout_ms = 400;
		snprintf(spec, sizeof(spec), "{\"provider\":\"%s\","
		    "\"delay_ms\":5000}", kinds[i]);
		queue(spec);
		t0 = time_mono_ms();
		ck_assert_int_eq(o->send_text(&c, TO, false, "slow", &out),
		    SEND_RETRY);
		took = time_mono_ms() - t0;
		ck_assert_msg(took >= 300 && took < 3000, "%s took %lld ms",
		    kinds[i], (long long)took);
		ck_assert_msg(strstr(out.error_text, "did not answer") !=
		    NULL, "%s", out.error_text);
	}
}
END_TEST

START_TEST(t_dropped_connection)
{
	struct send_outcome	 out;
	cJSON			*log;

	hfake_reset(&fake);
	queue("[{\"provider\":\"twilio\",\"drop\":true},"
	    "{\"provider\":\"meta\",\"drop\":true},"
	    "{\"provider\":\"kapso\",\"drop\":true}]");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_RETRY);
	ck_assert_msg(strstr(out.error_text, "could not be reached") != NULL,
	    "%s", out.error_text);
	log = hfake_log(&fake);
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req_at(log,
	    0), "dropped")));
	ck_assert_int_eq(cJSON_GetObjectItemCaseSensitive(req_at(log, 0),
	    "answered")->valueint, 0);
	cJSON_Delete(log);
}
END_TEST

START_TEST(t_connection_refused)
{
	const struct channel_ops	*o = channel_ops_for("meta");
	struct channel_creds		 c;
	struct send_outcome		 out;
	int64_t				 t0;

	creds(&c, "meta");
	c.api_base = "http://127.0.0.1:1/v24.0";
	t0 = time_mono_ms();
	ck_assert_int_eq(o->send_text(&c, TO, false, "hi", &out), SEND_RETRY);
	ck_assert_int_lt(time_mono_ms() - t0, 5000);
	ck_assert_int_eq(out.http_status, 0);
	ck_assert_msg(strstr(out.error_text, "Meta could not be reached") !=
	    NULL, "%s", out.error_text);
}
END_TEST

/* --- the fake's spec matching (other suites rely on it) ----------------- */

START_TEST(t_fake_spec_matching)
{
	const struct channel_ops	*o = channel_ops_for("meta");
	struct channel_creds		 c;
	struct send_outcome		 out;

	hfake_reset(&fake);
	/* A Meta spec is not consumed by Twilio; a send spec not by typing. */
	queue("{\"provider\":\"meta\",\"status\":500}");
	ck_assert_int_eq(send_text("twilio", "hi", &out), SEND_OK);
	ck_assert_int_eq(hfake_queued(&fake), 1);
	creds(&c, "meta");
	ck_assert_int_eq(o->send_typing(&c, "wamid.X", &out), SEND_OK);
	ck_assert_int_eq(hfake_queued(&fake), 1);
	ck_assert_int_eq(send_text("meta", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(hfake_queued(&fake), 0);

	/* "any" provider; op "any" catches typing too. */
	queue("[{\"provider\":\"any\",\"op\":\"any\",\"status\":503},"
	    "{\"status\":503}]");
	ck_assert_int_eq(o->send_typing(&c, "wamid.X", &out), SEND_RETRY);
	ck_assert_int_eq(send_text("kapso", "hi", &out), SEND_RETRY);
	ck_assert_int_eq(hfake_queued(&fake), 0);
	ck_assert_int_eq(hfake_log_count(&fake), 5);
}
END_TEST

/* --- secrets a provider echoes ------------------------------------------ */

#define TW_PAIR_B64	"QUMwMTIzNDU2Nzg5YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjp0dy1zZWNy" \
			"ZXQtdG9rZW4tNDI="
#define APP_SECRET	"meta-app-secret-7f3a9c"
#define VERIFY_TOKEN	"meta-verify-token-51d2"
#define HOOK_SECRET	"kapso-webhook-secret-e8b1"

/* Fails unless text holds a redaction and none of the channel's secrets
 * (nor the Basic pair, nor any four-character piece of the token). */
static void
assert_redacted(const char *what, const char *text)
{
	static const char *const secrets[] = { TW_SID, TW_TOKEN, TW_PAIR_B64,
	    "QUMwMTIz", META_TOKEN, KAPSO_KEY, APP_SECRET, VERIFY_TOKEN,
	    HOOK_SECRET, "tw-s", NULL };

	ck_assert_msg(strstr(text, "[redacted]") != NULL, "%s: nothing was "
	    "redacted (did the fake echo?): %s", what, text);
	for (int i = 0; secrets[i] != NULL; i++)
		ck_assert_msg(strstr(text, secrets[i]) == NULL, "%s: \"%s\" "
		    "leaked: %s", what, secrets[i], text);
}

/*
 * Issue 10, defect 4: a provider that echoes the credentials it was sent
 * (fake_whatsapp --echo-auth quotes the Authorization or X-API-Key value
 * and Twilio's decoded user:password in its error bodies) must not get
 * them into a send's or a download's error text, code or id; nor may an
 * error that quotes the channel's webhook secrets.
 */
START_TEST(t_echoed_credentials_redacted)
{
	static const char *args[] = { "--twilio-token", TW_TOKEN,
	    "--meta-token", META_TOKEN, "--kapso-key", KAPSO_KEY,
	    "--echo-auth", NULL };
	static const char *const kinds[] = { "twilio", "meta", "kapso" };
	struct hfake		 echo;
	struct channel_creds	 c;
	struct send_outcome	 o;
	struct buf		 body;
	char			 ct[64], url[512], mbase[128], kbase[128];
	char			 spec[512];
	enum send_result	 st;

	hfake_start(&echo, "fake_whatsapp", args);
	snprintf(mbase, sizeof(mbase), "%s/v24.0", echo.base);
	snprintf(kbase, sizeof(kbase), "%s/meta/whatsapp/v24.0", echo.base);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		const struct channel_ops *ops = channel_ops_for(kinds[i]);

		creds(&c, kinds[i]);
		c.api_base = strcmp(kinds[i], "meta") == 0 ? mbase :
		    strcmp(kinds[i], "kapso") == 0 ? kbase : echo.base;
		c.api_base2 = echo.base;
		c.app_secret = APP_SECRET;
		c.verify_token = VERIFY_TOKEN;
		c.webhook_secret = HOOK_SECRET;

		/* A send refused with a code Parley has no sentence for:
		 * the provider's own words (and its echo) are shown. */
		snprintf(spec, sizeof(spec), "{\"provider\":\"%s\","
		    "\"status\":400,\"code\":%s}", kinds[i],
		    strcmp(kinds[i], "twilio") == 0 ? "21999" : "131999");
		hfake_queue(&echo, spec);
		st = ops->send_text(&c, TO, false, "hello", &o);
		ck_assert_int_eq(st, SEND_FAILED);
		assert_redacted(kinds[i], o.error_text);

		/* A download of an unknown item: 404/400 with the path and
		 * the echo. */
		buf_init(&body, 0);
		snprintf(url, sizeof(url), "%s/2010-04-01/Accounts/%s/Messages/"
		    "MM00000000000000000000000000000000/Media/"
		    "ME00000000000000000000000000000000", echo.base, TW_SID);
		st = ops->fetch_media(&c, url, "9999999999", 1024 * 1024,
		    &body, ct, sizeof(ct), &o);
		ck_assert_int_eq(st, SEND_FAILED);
		assert_redacted(kinds[i], o.error_text);
		buf_cleanup(&body);
	}
	hfake_stop(&echo);

	hfake_reset(&fake);
	/* Webhook secrets are never sent, but an error quoting one (a
	 * provider's support text, say) loses it too; so does the code. */
	queue("{\"provider\":\"meta\",\"status\":400,\"code\":131999,"
	    "\"message\":\"Check your app secret " APP_SECRET " and verify "
	    "token " VERIFY_TOKEN "\"}");
	creds(&c, "meta");
	c.app_secret = APP_SECRET;
	c.verify_token = VERIFY_TOKEN;
	st = channel_ops_for("meta")->send_text(&c, TO, false, "hi", &o);
	ck_assert_int_eq(st, SEND_FAILED);
	assert_redacted("meta webhook secrets", o.error_text);
	queue("{\"provider\":\"kapso\",\"status\":400,\"body\":{\"error\":{"
	    "\"code\":\"" HOOK_SECRET "\",\"message\":\"no\"}}}");
	creds(&c, "kapso");
	c.webhook_secret = HOOK_SECRET;
	st = channel_ops_for("kapso")->send_text(&c, TO, false, "hi", &o);
	ck_assert_int_eq(st, SEND_FAILED);
	assert_redacted("kapso code", o.error_code);
	ck_assert_msg(strstr(o.error_text, HOOK_SECRET) == NULL, "%s",
	    o.error_text);
}
END_TEST

START_TEST(t_fake_stops_cleanly)
{
	hfake_stop(&fake);
	ck_assert_int_eq(fake.pid, 0);
}
END_TEST

static Suite *
senders_suite(void)
{
	Suite	*s = suite_create("senders");
	TCase	*tc = tcase_create("senders");

	tcase_add_unchecked_fixture(tc, s_setup, s_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_registry);
	tcase_add_test(tc, t_sandbox_no_network);
	tcase_add_test(tc, t_twilio_text);
	tcase_add_test(tc, t_twilio_typing);
	tcase_add_test(tc, t_twilio_errors);
	tcase_add_test(tc, t_meta_text);
	tcase_add_test(tc, t_meta_group);
	tcase_add_test(tc, t_meta_reactions_and_typing);
	tcase_add_test(tc, t_meta_errors);
	tcase_add_test(tc, t_meta_no_id);
	tcase_add_test(tc, t_kapso_sends);
	tcase_add_test(tc, t_kapso_errors);
	tcase_add_test(tc, t_timeouts);
	tcase_add_test(tc, t_dropped_connection);
	tcase_add_test(tc, t_connection_refused);
	tcase_add_test(tc, t_fake_spec_matching);
	tcase_add_test(tc, t_echoed_credentials_redacted);
	tcase_add_test(tc, t_fake_stops_cleanly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(senders_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
