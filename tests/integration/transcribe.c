/*
 * tests/integration/transcribe.c: voice-note transcripts end to end (issue
 * 6). The real server with its reply pool against a real PostgreSQL, the
 * fake LLM (tests/fakes/fake_llm.c: chat completions and
 * /v1/audio/transcriptions, bearer required) and the fake WhatsApp APIs
 * (tests/fakes/fake_whatsapp.c, which also serves the voice notes'
 * bytes); messages arrive through the real, signed webhooks.
 *
 * Checked: a Kapso transcript is stored at ingest, found by the
 * conversation search and read by the model, with no transcription call;
 * a Twilio voice note is downloaded, uploaded as multipart with the
 * agent's transcription_model and the provider's key, stored, and read
 * by the model as the user's text (the name prefix kept in groups is the
 * reply suite's business); an agent without a transcription model makes
 * no transcription call; a failing transcription still gets an answer,
 * with the "could not be transcribed" note for the model and a note in
 * the timeline; a chat a person has keeps its media and transcript but
 * gets no model call and nothing sent; a re-run of the job never
 * transcribes twice; the built-in model cannot transcribe and the
 * timeline says so; the agent setting through the API and the panel.
 * Every wait is bounded.
 */
#include "harness/model.h"
#include "harness/panel.h"
#include "harness/webhook.h"
#include "harness/world.h"

/* This suite's cluster, server and fake WhatsApp (tests/harness/world.h). */
#define sqli(...)		hpg_sqlf_int(&fx.pg, __VA_ARGS__)
#define sqls(...)		hpg_sqlf(&fx.pg, __VA_ARGS__)
#define wait_sql(n, ms, ...)	hpg_wait_int(&fx.pg, n, ms, __VA_ARGS__)
#define api(...)		hapi_want(fx.srv.base, __VA_ARGS__)
#define wa_sends()		hwa_sends(&fx.wa, false, NULL)

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <cjson/cJSON.h>

#include "chat/messages.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "model/agent.h"
#include "model/channel.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "util/arena.h"
#include "util/xmalloc.h"

#define TW_NUMBER	"+15550002222"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define META_PNID	"106540352242933"
#define META_TOKEN	"meta-access-token-0123456789"
#define META_SECRET	"meta-app-secret-0123456789"
#define KAPSO_PNID	"647015955153740"
#define KAPSO_KEY	"kapso-api-key-0123456789"
#define KAPSO_SECRET	"kapso-webhook-secret-0123456789"
#define LLM_KEY		"sk-test-transcribe-0123456789"
#define OWNER_EMAIL	"owner@example.com"
#define OWNER_PW	"correct-horse-battery-staple"
#define TRANSCRIBE_PATH	"/v1/audio/transcriptions"
#define CHAT_PATH	"/v1/chat/completions"
#define UNREADABLE	"[voice note \xe2\x80\x94 could not be transcribed]"
#define BODY_MAX	16384
#define WAIT_MS		20000
#define QUIET_MS	1500

static struct hworld	 fx;
static char		*token;
static int64_t		 voice_id, plain_id, offline_id;
static int64_t		 tw_id, meta_id, kapso_id, model_id;

static void	 suite_setup(void);
static void	 suite_teardown(void);
static void	 test_setup(void);
static int64_t	 make_agent(struct db *, const char *, const char *,
		    int64_t, const char *);
static void	 twilio_voice(const char *, const char *, const char *,
		    const char *);
static void	 meta_voice(const char *, const char *, const char *);
static void	 kapso_voice(const char *, const char *, const char *);
static char	*media_url(const char *);
static void	 wa_media(const char *, const char *, const char *);
static cJSON	*llm_log(const char *);
static int	 llm_count(const char *);
static const char *last_user_text(const cJSON *);
static Suite	*transcribe_suite(void);
static bool	 turn_over(int64_t);

/* --- Kapso sends the transcript ------------------------------------------ */

START_TEST(t_kapso_transcript_stored_and_searchable)
{
	struct hresp	 r;
	cJSON		*log, *j;
	const cJSON	*data;
	char		*s;

	kapso_voice("wamid.KV0001", "+15557650001", "Please send the invoice "
	    "for the zebra project");
	s = sqls("SELECT transcript FROM messages WHERE provider_message_id "
	    "= 'wamid.KV0001'");
	ck_assert_str_eq(s, "Please send the invoice for the zebra project");
	free(s);
	/* Kapso's text rendering does not become the body as well. */
	s = sqls("SELECT body FROM messages WHERE provider_message_id = "
	    "'wamid.KV0001'");
	ck_assert_str_eq(s, "");
	free(s);

	/* The model reads the transcript; nothing is transcribed again. */
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m "
	    "JOIN messages i ON i.id = m.reply_to_id WHERE "
	    "i.provider_message_id = 'wamid.KV0001' AND m.status = 'sent'"),
	    "the voice note was not answered");
	log = llm_log(CHAT_PATH);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	ck_assert_str_eq(last_user_text(cJSON_GetArrayItem(log, 0)),
	    "Please send the invoice for the zebra project");
	cJSON_Delete(log);
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 0);

	/* The conversation search covers transcripts. */
	api(token, "GET", "/api/v1/conversations?q=zebra", NULL, 200, &r);
	j = cJSON_Parse(r.body);
	data = cJSON_GetObjectItem(j, "data");
	ck_assert_int_eq(cJSON_GetArraySize(data), 1);
	ck_assert_int_eq((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(data, 0), "id")), sqli("SELECT chat_id FROM "
	    "messages WHERE provider_message_id = 'wamid.KV0001'"));
	cJSON_Delete(j);
	hresp_free(&r);
	api(token, "GET", "/api/v1/conversations?q=zebra+invoice", NULL, 200,
	    &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"contactNumber\""));
	hresp_free(&r);
	api(token, "GET", "/api/v1/conversations?q=okapi", NULL, 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "data")),
	    0);
	cJSON_Delete(j);
	hresp_free(&r);
}
END_TEST

/*
 * A spoken command is a command (issue 12: routing reads what was meant):
 * "Slash reset." in a Kapso transcript and in Parley's own transcription
 * of a Twilio voice note resets the thread, and the model is not asked.
 */
START_TEST(t_spoken_reset)
{
	int64_t	 in_id;

	kapso_voice("wamid.KV0900", "+15557650900", "Slash reset.");
	in_id = hinbound_id(&fx.pg, "wamid.KV0900");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the spoken reset (Kapso) was not answered");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE reply_to_id "
	    "= %lld AND body = 'Session reset! Starting fresh with Plain.'",
	    (long long)in_id), 1);

	wa_media("MEvoice0900", "audio/ogg", "a spoken command");
	hfake_post(&fx.llm, "/_fake/transcriptions",
	    "[{\"text\":\"Slash reset.\"}]");
	twilio_voice("SM10000000000000000000000000000900", "+15557650901",
	    "MEvoice0900", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000900");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the spoken reset (Twilio) was not answered");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE reply_to_id "
	    "= %lld AND body = 'Session reset! Starting fresh with Voice.'",
	    (long long)in_id), 1);
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 1);
	ck_assert_int_eq(llm_count(CHAT_PATH), 0);
	hassert_none_left_behind(&fx.pg, WAIT_MS);
}
END_TEST

/* --- Parley transcribes --------------------------------------------------- */

START_TEST(t_twilio_voice_note_transcribed)
{
	cJSON		*log;
	const cJSON	*e, *b;
	int64_t		 in_id;
	char		*s;

	wa_media("MEvoice0001", "audio/ogg", "hello from the pelican");
	twilio_voice("SM10000000000000000000000000000001", "+15557650002",
	    "MEvoice0001", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000001");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the voice note was not answered");

	/* One upload, the real wire format. */
	log = llm_log(TRANSCRIBE_PATH);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	e = cJSON_GetArrayItem(log, 0);
	ck_assert_str_eq(hjstr(e, "method"), "POST");
	ck_assert_str_eq(hjstr(e, "authorization"), "Bearer " LLM_KEY);
	b = cJSON_GetObjectItem(e, "body");
	ck_assert_str_eq(hjstr(b, "model"), "whisper-1");
	ck_assert_str_eq(hjstr(b, "filename"), "voice.ogg");
	ck_assert_str_eq(hjstr(b, "content_type"), "audio/ogg");
	ck_assert_str_eq(hjstr(b, "response_format"), "json");
	ck_assert_int_eq((int)cJSON_GetNumberValue(cJSON_GetObjectItem(b,
	    "size")), (int)strlen("hello from the pelican"));
	cJSON_Delete(log);

	/* Stored, searched, and what the model read as the user's text. */
	s = sqls("SELECT transcript FROM messages WHERE id = %lld",
	    (long long)in_id);
	ck_assert_str_eq(s, "transcript: hello from the pelican");
	free(s);
	ck_assert_int_eq(sqli("SELECT count(*) FROM message_search WHERE "
	    "message_id = %lld AND tsv @@ to_tsquery('simple', 'pelican')",
	    (long long)in_id), 1);
	log = llm_log(CHAT_PATH);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	ck_assert_str_eq(last_user_text(cJSON_GetArrayItem(log, 0)),
	    "transcript: hello from the pelican");
	cJSON_Delete(log);
	/* The media is kept; the call is on record. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored'", (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE org_id = "
	    "%lld AND model_name = 'whisper-1' AND error IS NULL AND "
	    "agent_id = %lld", (long long)fx.org_id, (long long)voice_id), 1);
	ck_assert_int_eq(wa_sends(), 1);
}
END_TEST

/*
 * The transcript is stored before the model is asked: a job whose model
 * call was refused, run again, asks the model again but never the
 * transcriber.
 */
START_TEST(t_rerun_does_not_transcribe_twice)
{
	cJSON		*log;
	int64_t		 in_id, chat;
	struct db	*db;

	wa_media("MEvoice0002", "audio/ogg", "book a table for two");
	hfake_queue(&fx.llm, "{\"status\":400,\"error\":{"
	    "\"message\":\"Refused for the test.\"}}");
	twilio_voice("SM10000000000000000000000000000002", "+15557650003",
	    "MEvoice0002", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000002");
	ck_assert_msg(turn_over(in_id), "the turn did not end");
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 1);
	ck_assert_int_eq(llm_count(CHAT_PATH), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND transcript = 'transcript: book a table for two'",
	    (long long)in_id), 1);
	chat = sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)in_id);

	/* Answered again (what the Jobs page's Retry does): the model is
	 * asked again, the transcriber not. */
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	ck_assert_int_eq(chat_turn_retry(db, fx.org_id, chat, NULL), DB_OK);
	db_release(db);
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the re-run did not answer");
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 1);
	log = llm_log(CHAT_PATH);
	ck_assert_int_eq(cJSON_GetArraySize(log), 2);
	ck_assert_str_eq(last_user_text(cJSON_GetArrayItem(log, 1)),
	    "transcript: book a table for two");
	cJSON_Delete(log);

	/* And a third run, with the answer already sent: nothing at all. */
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	ck_assert(chat_turn_retry(db, fx.org_id, chat, NULL) != DB_UNAVAILABLE);
	db_release(db);
	usleep(QUIET_MS * 1000);
	ck_assert(hpg_turns_idle(&fx.pg, WAIT_MS));
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 1);
	ck_assert_int_eq(llm_count(CHAT_PATH), 2);
	ck_assert_int_eq(wa_sends(), 1);
}
END_TEST

/* An agent without a transcription model: no upload at all. */
START_TEST(t_no_transcription_model)
{
	int64_t	 in_id;

	meta_voice("wamid.MV0001", "16505550011", "MVMEDIA0001");
	in_id = hinbound_id(&fx.pg, "wamid.MV0001");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the voice note was not answered");
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 0);
	ck_assert_int_eq(llm_count(CHAT_PATH), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND transcript = ''", (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE chat_id = "
	    "(SELECT chat_id FROM messages WHERE id = %lld) AND sender = "
	    "'system'", (long long)in_id), 0);
}
END_TEST

/* The provider fails (twice: one retry): the message is still answered. */
START_TEST(t_transcription_fails_reply_still_happens)
{
	cJSON	*log;
	int64_t	 in_id;
	char	*s;

	wa_media("MEvoice0003", "audio/ogg", "this will not be heard");
	hfake_post(&fx.llm, "/_fake/transcriptions", "[{\"status\":500,"
	    "\"error\":{\"message\":\"The server had an error.\"}},"
	    "{\"status\":500,\"error\":{\"message\":\"The server had an "
	    "error.\"}}]");
	twilio_voice("SM10000000000000000000000000000003", "+15557650004",
	    "MEvoice0003", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000003");
	ck_assert_msg(wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages "
	    "WHERE reply_to_id = %lld AND status = 'sent'", (long long)in_id),
	    "the voice note was not answered");
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 2);
	log = llm_log(CHAT_PATH);
	ck_assert_int_eq(cJSON_GetArraySize(log), 1);
	ck_assert_str_eq(last_user_text(cJSON_GetArrayItem(log, 0)),
	    UNREADABLE);
	cJSON_Delete(log);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND transcript = ''", (long long)in_id), 1);
	/* The timeline says why; the log says it too, without the key. */
	s = sqls("SELECT body FROM messages WHERE chat_id = (SELECT chat_id "
	    "FROM messages WHERE id = %lld) AND sender = 'system' AND body "
	    "LIKE 'Voice note%%'", (long long)in_id);
	ck_assert_msg(strncmp(s, "Voice note could not be transcribed: ",
	    37) == 0 && strstr(s, "HTTP 500") != NULL, "note: %s", s);
	free(s);
	ck_assert(hserver_log_contains(&fx.srv, "voice note not transcribed"));
	ck_assert(!hserver_log_contains(&fx.srv, LLM_KEY));
	ck_assert(!hserver_log_contains(&fx.srv, "this will not be heard"));
	ck_assert_int_eq(sqli("SELECT count(*) FROM llm_calls WHERE "
	    "model_name = 'whisper-1' AND error LIKE '%%HTTP 500%%'"), 1);
	ck_assert_int_eq(wa_sends(), 1);
}
END_TEST

/* A person has the chat: media and transcript kept, nothing answered. */
START_TEST(t_needs_human_keeps_media_and_transcript)
{
	int64_t	 chat_id, in_id;

	chat_id = sqli("INSERT INTO chats (org_id, channel_id, external_id, "
	    "status) VALUES (%lld, %lld, '+15557650005', 'needs_human') "
	    "RETURNING id", (long long)fx.org_id, (long long)tw_id);
	wa_media("MEvoice0004", "audio/ogg", "is anybody there");
	twilio_voice("SM10000000000000000000000000000004", "+15557650005",
	    "MEvoice0004", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000004");
	ck_assert_int_eq(sqli("SELECT chat_id FROM messages WHERE id = %lld",
	    (long long)in_id), chat_id);
	ck_assert_msg(turn_over(in_id), "the turn did not end");
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND transcript = 'transcript: is anybody there'",
	    (long long)in_id), 1);
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored'", (long long)in_id), 1);
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 1);
	ck_assert_int_eq(llm_count(CHAT_PATH), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE "
	    "reply_to_id = %lld", (long long)in_id), 0);
	ck_assert_int_eq(wa_sends(), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM chats WHERE id = %lld AND "
	    "status = 'needs_human'", (long long)chat_id), 1);
}
END_TEST

/* The built-in offline model cannot transcribe: the timeline says why. */
START_TEST(t_builtin_model_cannot_transcribe)
{
	int64_t	 in_id;
	char	*s;

	free(sqls("INSERT INTO chats (org_id, channel_id, external_id, "
	    "agent_id) VALUES (%lld, %lld, '+15557650006', %lld)",
	    (long long)fx.org_id, (long long)tw_id, (long long)offline_id));
	wa_media("MEvoice0005", "audio/ogg", "what are your hours");
	twilio_voice("SM10000000000000000000000000000005", "+15557650006",
	    "MEvoice0005", "audio/ogg");
	in_id = hinbound_id(&fx.pg, "SM10000000000000000000000000000005");
	ck_assert_msg(turn_over(in_id), "the turn did not end");
	ck_assert_int_eq(llm_count(TRANSCRIBE_PATH), 0);
	ck_assert_int_eq(llm_count(CHAT_PATH), 0);
	ck_assert_int_eq(sqli("SELECT count(*) FROM messages WHERE id = %lld "
	    "AND transcript = ''", (long long)in_id), 1);
	s = sqls("SELECT body FROM messages WHERE chat_id = (SELECT chat_id "
	    "FROM messages WHERE id = %lld) AND sender = 'system' AND body "
	    "LIKE 'Voice note%%'", (long long)in_id);
	ck_assert_msg(strstr(s, "parley/faq") != NULL &&
	    strstr(s, "cannot transcribe") != NULL, "note: %s", s);
	free(s);
	/* The media is still kept for the review. */
	ck_assert_int_eq(sqli("SELECT count(*) FROM media_files WHERE "
	    "message_id = %lld AND status = 'stored'", (long long)in_id), 1);
}
END_TEST

/* --- the agent setting ---------------------------------------------------- */

START_TEST(t_agent_setting_api_and_panel)
{
	struct hresp	 r;
	struct client	 c;
	cJSON		*j;
	char		 path[64], body[2048], *csrf, *v;
	char		 long_name[128];

	snprintf(path, sizeof(path), "/api/v1/agents/%lld",
	    (long long)plain_id);
	api(token, "GET", path, NULL, 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "transcriptionModel")));
	cJSON_Delete(j);
	hresp_free(&r);

	api(token, "PATCH", path, "{\"transcriptionModel\":"
	    "\"gpt-4o-mini-transcribe\"}", 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert_str_eq(hjstr(j, "transcriptionModel"),
	    "gpt-4o-mini-transcribe");
	cJSON_Delete(j);
	hresp_free(&r);
	/* Other edits keep it. */
	api(token, "PATCH", path, "{\"temperature\":0.5}", 200, &r);
	ck_assert_ptr_nonnull(strstr(r.body, "\"transcriptionModel\":"
	    "\"gpt-4o-mini-transcribe\""));
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM audit_log WHERE action = "
	    "'agent.updated' AND target_id = %lld", (long long)plain_id), 2);

	api(token, "PATCH", path, "{\"transcriptionModel\":42}", 400, &r);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"transcriptionModel\":\"whisper\\u0001"
	    "\"}", 422, &r);
	j = cJSON_Parse(r.body);
	ck_assert_ptr_nonnull(cJSON_GetObjectItem(cJSON_GetObjectItem(
	    cJSON_GetObjectItem(j, "error"), "fields"), "transcriptionModel"));
	cJSON_Delete(j);
	hresp_free(&r);
	memset(long_name, 'w', 101);
	long_name[101] = '\0';
	snprintf(body, sizeof(body), "{\"transcriptionModel\":\"%s\"}",
	    long_name);
	api(token, "PATCH", path, body, 422, &r);
	hresp_free(&r);
	api(token, "PATCH", path, "{\"transcriptionModel\":null}", 200, &r);
	j = cJSON_Parse(r.body);
	ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "transcriptionModel")));
	cJSON_Delete(j);
	hresp_free(&r);

	/* The panel form shows it, saves it, and explains a bad value. */
	hlogin(&c, fx.srv.base, OWNER_EMAIL, OWNER_PW);
	snprintf(path, sizeof(path), "/agents/%lld", (long long)voice_id);
	client_req(&c, "GET", path, NULL, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 200);
	v = html_input_value(r.body, "transcription_model");
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, "whisper-1");
	free(v);
	csrf = html_csrf(r.body);
	ck_assert_ptr_nonnull(csrf);
	hresp_free(&r);

	body[0] = '\0';
	form_add(body, sizeof(body), "_csrf", csrf);
	form_add(body, sizeof(body), "name", "Voice");
	form_add(body, sizeof(body), "mode", "chat");
	form_add(body, sizeof(body), "history_length", "20");
	form_add(body, sizeof(body), "model_id", "0");
	form_add(body, sizeof(body), "transcription_model", long_name);
	client_req(&c, "POST", path, body, NULL, NULL, &r);
	ck_assert_int_eq(r.status, 422);
	ck_assert_ptr_nonnull(strstr(r.body, "err-transcription"));
	hresp_free(&r);
	ck_assert_int_eq(sqli("SELECT count(*) FROM agents WHERE id = %lld AND "
	    "transcription_model = 'whisper-1'", (long long)voice_id), 1);
	free(csrf);
}
END_TEST

/* --- fixture ------------------------------------------------------------------ */

static int64_t
make_agent(struct db *db, const char *name, const char *mode, int64_t mid,
    const char *transcription_model)
{
	struct agent_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	agent_input_defaults(&in);
	in.name = name;
	in.system_prompt = "You are {{agentName}}.";
	in.model_id = mid;
	in.mode = mode;
	in.transcription_model = transcription_model;
	st = agent_create(db, fx.org_id, &in, &errs, &id);
	ck_assert_msg(st == DB_OK, "agent_create %s: %s (%s)", name,
	    db_status_str(st), errs.n > 0 ? errs.message[0] : "");
	return id;
}

static void
suite_setup(void)
{
	struct channel_input	 cin;
	struct org_model	 faq;
	struct arena		*a;
	const char		*llm_args[] = { "--api-key", LLM_KEY, NULL };
	const char		*wa_args[] = { "--twilio-token", TW_TOKEN,
				    "--meta-token", META_TOKEN, "--kapso-key",
				    KAPSO_KEY, NULL };
	struct db		*db;

	hworld_start(&fx, llm_args, wa_args);
	token = htoken_create(&fx.pg, OWNER_EMAIL, "transcribe", NULL);
	model_id = hworld_model(&fx, LLM_KEY, false);
	db = db_acquire(fx.pool);
	ck_assert_ptr_nonnull(db);
	a = arena_new();
	ck_assert_int_eq(orgmodel_get_by_name(db, a, fx.org_id,
	    ORGMODEL_BUILTIN_FAQ, &faq), DB_OK);
	voice_id = make_agent(db, "Voice", "chat", model_id, "whisper-1");
	plain_id = make_agent(db, "Plain", "task", model_id, NULL);
	offline_id = make_agent(db, "Offline", "chat", faq.id, "whisper-1");
	arena_free(a);

	cin = (struct channel_input){ .kind = "twilio", .name = "Twilio",
	    .status = "connected", .phone_number = TW_NUMBER,
	    .twilio_account_sid = TW_SID, .twilio_auth_token = TW_TOKEN,
	    .default_agent_id = voice_id };
	tw_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "meta", .name = "Meta",
	    .status = "connected", .phone_number = "+15550783882",
	    .phone_number_id = META_PNID, .meta_access_token = META_TOKEN,
	    .meta_app_secret = META_SECRET,
	    .meta_verify_token = "verify-0123456789",
	    .default_agent_id = plain_id };
	meta_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	cin = (struct channel_input){ .kind = "kapso", .name = "Kapso",
	    .status = "connected", .phone_number = "+15550783883",
	    .phone_number_id = KAPSO_PNID, .kapso_api_key = KAPSO_KEY,
	    .kapso_webhook_secret = KAPSO_SECRET,
	    .default_agent_id = plain_id };
	kapso_id = hchannel_create(db, fx.key, fx.org_id, &cin);
	db_release(db);
}

static void
suite_teardown(void)
{
	if (fx.srv.pid > 0)
		hserver_stop_clean(&fx.srv);
	hworld_stop(&fx);
	free(token);
}

static void
test_setup(void)
{
	hworld_reset(&fx);
}

/* --- helpers ------------------------------------------------------------------ */

/* The turn of inbound message id ended: the message is answered or
 * settled, and its chat has no turn due or running. */
static bool
turn_over(int64_t id)
{
	return wait_sql(1, WAIT_MS, "SELECT count(*) FROM messages m JOIN "
	    "chats c ON c.id = m.chat_id WHERE m.id = %lld AND (m.answered_by"
	    " IS NOT NULL OR m.unanswered_reason IS NOT NULL) AND "
	    "c.turn_due_at IS NULL AND NOT EXISTS (SELECT 1 FROM jobs j WHERE "
	    "j.id = c.turn_job AND j.status IN ('queued', 'running'))",
	    (long long)id);
}

/* The URL Twilio gives for media item sid of a message (§1.2). */
static char *
media_url(const char *sid)
{
	return xasprintf("%s/2010-04-01/Accounts/" TW_SID "/Messages/"
	    "MM0123456789abcdef0123456789abcdef/Media/%s", fx.wa.base, sid);
}

/* Has the fake WhatsApp serve bytes as media item id (every provider). */
static void
wa_media(const char *id, const char *content_type, const char *bytes)
{
	cJSON	*o = cJSON_CreateObject();
	char	*s;

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "content_type", content_type);
	cJSON_AddStringToObject(o, "body", bytes);
	s = cJSON_PrintUnformatted(o);
	hfake_post(&fx.wa, "/_fake/media", s);
	free(s);
	cJSON_Delete(o);
}

/* A signed Twilio voice note (no body) with one media item. */
static void
twilio_voice(const char *sid, const char *from, const char *media_sid,
    const char *content_type)
{
	char		 f[64], to[64], *murl = media_url(media_sid);
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "SmsMessageSid", sid },
		{ "AccountSid", TW_SID }, { "From", f }, { "To", to },
		{ "Body", "" }, { "NumMedia", "1" }, { "MediaUrl0", murl },
		{ "MediaContentType0", content_type },
		{ "ProfileName", "Tess" }, { "ApiVersion", "2010-04-01" },
	};

	snprintf(f, sizeof(f), "whatsapp:%s", from);
	snprintf(to, sizeof(to), "whatsapp:%s", TW_NUMBER);
	htwilio_post_ok(fx.srv.base, HTWILIO_INBOUND, TW_TOKEN, params,
	    (int)(sizeof(params) / sizeof(params[0])));
	free(murl);
}

/* A signed Meta voice note (audio, voice:true) with media id mid. */
static void
meta_voice(const char *wamid, const char *from, const char *mid)
{
	char	 body[BODY_MAX];

	snprintf(body, sizeof(body),
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"WABA1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783882\",\"phone_number_id\":"
	    "\"" META_PNID "\"},\"contacts\":[{\"profile\":{\"name\":"
	    "\"Sheena\"},\"wa_id\":\"%s\"}],\"messages\":[{\"from\":\"%s\","
	    "\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":\"audio\","
	    "\"audio\":{\"id\":\"%s\",\"mime_type\":\"audio/ogg; "
	    "codecs=opus\",\"sha256\":\"abc\",\"voice\":true}}]}}]}]}",
	    from, from, wamid, (long long)time(NULL), mid);
	hmeta_post_ok(fx.srv.base, body, META_SECRET);
}

/* A signed Kapso whatsapp.message.received for a transcribed voice note. */
static void
kapso_voice(const char *wamid, const char *from, const char *transcript)
{
	char	 body[BODY_MAX];

	snprintf(body, sizeof(body),
	    "{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":"
	    "\"audio\",\"audio\":{\"id\":\"KMEDIA%s\",\"mime_type\":"
	    "\"audio/ogg; codecs=opus\",\"voice\":true},\"kapso\":{"
	    "\"direction\":\"inbound\",\"status\":\"received\","
	    "\"has_media\":true,\"content\":\"Audio message\","
	    "\"transcript\":{\"text\":\"%s\"}}},\"conversation\":{\"id\":"
	    "\"conv_v1\",\"phone_number\":\"%s\",\"phone_number_id\":\""
	    KAPSO_PNID "\",\"kapso\":{\"contact_name\":\"Kai\"}},"
	    "\"is_new_conversation\":true,\"phone_number_id\":\"" KAPSO_PNID
	    "\"}", wamid, (long long)time(NULL), wamid + 6, transcript, from);
	hkapso_post_ok(fx.srv.base, HKAPSO_INBOUND, "whatsapp.message.received",
	    body, KAPSO_SECRET);
}

/* The fake LLM's requests to path (the caller deletes the array). */
static cJSON *
llm_log(const char *path)
{
	cJSON	*all = hfake_log(&fx.llm), *out = cJSON_CreateArray(), *e;

	cJSON_ArrayForEach(e, all)
		if (strcmp(hjstr(e, "path"), path) == 0)
			cJSON_AddItemToArray(out, cJSON_Duplicate(e, true));
	cJSON_Delete(all);
	return out;
}

static int
llm_count(const char *path)
{
	cJSON	*log = llm_log(path);
	int	 n = cJSON_GetArraySize(log);

	cJSON_Delete(log);
	return n;
}

/* The last user message's content of a logged chat request. */
static const char *
last_user_text(const cJSON *entry)
{
	const cJSON	*msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(entry,
			    "body"), "messages");
	const cJSON	*m;
	const char	*text = NULL;

	cJSON_ArrayForEach(m, msgs)
		if (strcmp(hjstr(m, "role"), "user") == 0)
			text = hjstr(m, "content");
	ck_assert_msg(text != NULL, "no user message in the chat request");
	return text;
}

static Suite *
transcribe_suite(void)
{
	Suite	*s = suite_create("transcribe");
	TCase	*tc = tcase_create("transcribe");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_add_checked_fixture(tc, test_setup, NULL);
	tcase_add_test(tc, t_kapso_transcript_stored_and_searchable);
	tcase_add_test(tc, t_twilio_voice_note_transcribed);
	tcase_add_test(tc, t_spoken_reset);
	tcase_add_test(tc, t_rerun_does_not_transcribe_twice);
	tcase_add_test(tc, t_no_transcription_model);
	tcase_add_test(tc, t_transcription_fails_reply_still_happens);
	tcase_add_test(tc, t_needs_human_keeps_media_and_transcript);
	tcase_add_test(tc, t_builtin_model_cannot_transcribe);
	tcase_add_test(tc, t_agent_setting_api_and_panel);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return hrun_suites(transcribe_suite(), NULL) == 0 ?
	    EXIT_SUCCESS : EXIT_FAILURE;
}
