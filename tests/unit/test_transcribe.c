/*
 * Unit tests for llm/transcribe's pure pieces (the upload's filename and
 * type, the judgement of an answer, the refusals made before any
 * request) and chat/threads' chat_user_text (what the model reads for a
 * voice note), and llm/upstream's parsing shared with llm/client.c. The
 * upload itself is exercised end to end against
 * tests/fakes/fake_llm.c by tests/integration/transcribe.c.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "chat/messages.h"
#include "llm/transcribe.h"
#include "crypto/redact.h"
#include "llm/upstream.h"
#include "util/arena.h"

#include "unit/unit.h"

static void	 file_is(const char *, const char *, const char *);
static enum transcribe_err judge(long, const char *,
		    struct transcribe_result *, bool *);

static void
file_is(const char *ct, const char *want_name, const char *want_mime)
{
	const char	*name, *mime;

	transcribe_file_for(ct, &name, &mime);
	ck_assert_msg(strcmp(name, want_name) == 0 &&
	    strcmp(mime, want_mime) == 0, "%s → %s %s, want %s %s",
	    ct != NULL ? ct : "(null)", name, mime, want_name, want_mime);
}

START_TEST(file_types)
{
	file_is("audio/ogg; codecs=opus", "voice.ogg", "audio/ogg");
	file_is("audio/ogg", "voice.ogg", "audio/ogg");
	file_is("AUDIO/OGG;codecs=opus", "voice.ogg", "audio/ogg");
	file_is("audio/opus", "voice.ogg", "audio/ogg");
	file_is("audio/mpeg", "voice.mp3", "audio/mpeg");
	file_is("audio/mp4", "voice.m4a", "audio/mp4");
	file_is("audio/x-wav", "voice.wav", "audio/wav");
	file_is("audio/webm", "voice.webm", "audio/webm");
	file_is("audio/amr", "voice.amr", "audio/amr");
	/* Unknown, empty or hostile: sent as a WhatsApp voice note is. */
	file_is("", "voice.ogg", "audio/ogg");
	file_is(NULL, "voice.ogg", "audio/ogg");
	file_is("text/html", "voice.ogg", "audio/ogg");
	file_is("audio/ogg\r\nX-Evil: 1", "voice.ogg", "audio/ogg");
}
END_TEST

static enum transcribe_err
judge(long status, const char *body, struct transcribe_result *r,
    bool *retry)
{
	return transcribe_judge(status, body, body != NULL ? strlen(body) : 0,
	    NULL, r, retry);
}

START_TEST(answers)
{
	struct transcribe_result	 r;
	bool				 retry;

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(judge(200, "{\"text\":\"  Hello there.\\n\"}", &r,
	    &retry), TRANSCRIBE_OK);
	ck_assert_str_eq(r.text, "Hello there.");
	ck_assert(!retry);

	/* Control characters dropped, line breaks kept. */
	ck_assert_int_eq(judge(200, "{\"text\":\"a\\u0001b\\nc\\u001bd\"}",
	    &r, &retry), TRANSCRIBE_OK);
	ck_assert_str_eq(r.text, "ab\ncd");

	ck_assert_int_eq(judge(200, "{\"text\":\"\"}", &r, &retry),
	    TRANSCRIBE_OK);
	ck_assert_str_eq(r.text, "");

	ck_assert_int_eq(judge(200, "{\"words\":[]}", &r, &retry),
	    TRANSCRIBE_BAD_RESPONSE);
	ck_assert_ptr_null(r.text);
	ck_assert(strstr(r.error, "no \"text\"") != NULL);
	ck_assert_int_eq(judge(200, "Hello", &r, &retry),
	    TRANSCRIBE_BAD_RESPONSE);
	ck_assert_int_eq(judge(200, "", &r, &retry), TRANSCRIBE_BAD_RESPONSE);
	ck_assert_int_eq(judge(200, "{\"text\":12}", &r, &retry),
	    TRANSCRIBE_BAD_RESPONSE);
	ck_assert(!retry);
	transcribe_result_cleanup(&r);
}
END_TEST

START_TEST(errors)
{
	struct transcribe_result	 r;
	bool				 retry;

	memset(&r, 0, sizeof(r));
	/* The OpenAI error shape: its message becomes the sentence. */
	ck_assert_int_eq(judge(400, "{\"error\":{\"message\":\"Invalid file "
	    "format.\",\"type\":\"invalid_request_error\",\"param\":null,"
	    "\"code\":null}}", &r, &retry), TRANSCRIBE_REFUSED);
	ck_assert(!retry);
	ck_assert_str_eq(r.error, "The transcription server refused the "
	    "voice note (HTTP 400): Invalid file format.");
	ck_assert_ptr_null(r.text);

	ck_assert_int_eq(judge(401, "{\"error\":{\"message\":\"Incorrect "
	    "API key provided.\",\"type\":\"invalid_request_error\","
	    "\"param\":null,\"code\":\"invalid_api_key\"}}", &r, &retry),
	    TRANSCRIBE_REFUSED);
	ck_assert(!retry);
	ck_assert(strstr(r.error, "API key") != NULL);

	ck_assert_int_eq(judge(404, "<html>nope</html>", &r, &retry),
	    TRANSCRIBE_REFUSED);
	ck_assert_str_eq(r.error, "The transcription server refused the "
	    "voice note (HTTP 404).");

	ck_assert_int_eq(judge(500, "{\"error\":{\"message\":\"boom\\nline\","
	    "\"type\":\"server_error\",\"param\":null,\"code\":null}}", &r,
	    &retry), TRANSCRIBE_RETRY);
	ck_assert(retry);
	ck_assert_str_eq(r.error, "The transcription server could not "
	    "transcribe the voice note now (HTTP 500): boom line");
	ck_assert_int_eq(judge(429, NULL, &r, &retry), TRANSCRIBE_RETRY);
	ck_assert(retry);
	ck_assert_int_eq(judge(408, "", &r, &retry), TRANSCRIBE_RETRY);
	ck_assert(retry);
	transcribe_result_cleanup(&r);
}
END_TEST

/* Refusals made before any request, and a server that is not there. */
START_TEST(before_sending)
{
	struct transcribe_req		 q;
	struct transcribe_result	 r;
	unsigned char			 audio[] = "OggS....";

	memset(&q, 0, sizeof(q));
	q.base_url = "http://127.0.0.1:1/v1";
	q.model = "whisper-1";
	q.data = audio;
	q.len = 0;
	ck_assert_int_eq(transcribe_audio(&q, &r), TRANSCRIBE_REFUSED);
	ck_assert_int_eq(r.attempts, 0);
	transcribe_result_cleanup(&r);

	q.len = TRANSCRIBE_UPLOAD_MAX + 1;
	ck_assert_int_eq(transcribe_audio(&q, &r), TRANSCRIBE_REFUSED);
	ck_assert(strstr(r.error, "25 MiB") != NULL);
	transcribe_result_cleanup(&r);

	q.len = sizeof(audio) - 1;
	q.model = "";
	ck_assert_int_eq(transcribe_audio(&q, &r), TRANSCRIBE_REFUSED);
	transcribe_result_cleanup(&r);

	q.model = "whisper-1";
	q.api_key = "sk-bad\r\nX-Injected: 1";
	ck_assert_int_eq(transcribe_audio(&q, &r), TRANSCRIBE_REFUSED);
	ck_assert(strstr(r.error, "sk-bad") == NULL);
	transcribe_result_cleanup(&r);

	/* Port 1 refuses: one attempt (a refusal is not retried at once),
	 * retryable later, and the sentence names no key. */
	q.api_key = "sk-secret-0123456789";
	q.max_retries = 3;
	q.timeout_ms = 2000;
	ck_assert_int_eq(transcribe_audio(&q, &r), TRANSCRIBE_RETRY);
	ck_assert_int_eq(r.attempts, 1);
	ck_assert(strstr(r.error, "sk-secret") == NULL);
	transcribe_result_cleanup(&r);
}
END_TEST

START_TEST(user_text)
{
	struct arena	*a = arena_new();

	ck_assert_str_eq(chat_user_text(a, "Hi", "", false), "Hi");
	ck_assert_str_eq(chat_user_text(a, "", "Call me back", false),
	    "Call me back");
	ck_assert_str_eq(chat_user_text(a, "Call me back", "Call me back",
	    false), "Call me back");
	ck_assert_str_eq(chat_user_text(a, "Listen:", "Call me back", true),
	    "Listen:\n[voice note] Call me back");
	ck_assert_str_eq(chat_user_text(a, "", "", true),
	    "[voice note \xe2\x80\x94 could not be transcribed]");
	ck_assert_str_eq(chat_user_text(a, "Listen:", NULL, true),
	    "Listen:\n[voice note \xe2\x80\x94 could not be transcribed]");
	ck_assert_str_eq(chat_user_text(a, NULL, NULL, false), "");
	arena_free(a);
}
END_TEST

/* llm/upstream: Retry-After, error bodies, cleaning, backoff bounds. */
START_TEST(upstream)
{
	char	 out[16];

	ck_assert_int_eq(upstream_retry_after_ms("2", false, 10000), 2000);
	ck_assert_int_eq(upstream_retry_after_ms(" 3 \r\n", false, 10000),
	    3000);
	ck_assert_int_eq(upstream_retry_after_ms("99", false, 10000), 10000);
	ck_assert_int_eq(upstream_retry_after_ms("0", false, 10000), 1);
	ck_assert_int_eq(upstream_retry_after_ms("250.5", true, 10000), 250);
	ck_assert_int_eq(upstream_retry_after_ms("-1", false, 10000), 0);
	ck_assert_int_eq(upstream_retry_after_ms("Wed, 21 Oct 2015", false,
	    10000), 0);
	ck_assert_int_eq(upstream_retry_after_ms(NULL, true, 10000), 0);

	{
		const char *b = "{\"error\":{\"message\":\"Bad\\nkey\"}}";

		upstream_message(b, strlen(b), NULL, out, sizeof(out));
	}
	ck_assert_str_eq(out, "Bad key");
	upstream_message("{\"error\":\"nope\"}", 16, NULL, out,
	    sizeof(out));
	ck_assert_int_eq((int)strlen("{\"error\":\"nope\"}"), 16);
	ck_assert_str_eq(out, "nope");
	/* Not NUL-terminated: only len bytes are read. */
	upstream_message("overloadedXXXX", 10, NULL, out, sizeof(out));
	ck_assert_str_eq(out, "overloaded");
	upstream_message("<html>502</html>", 16, NULL, out,
	    sizeof(out));
	ck_assert_str_eq(out, "");
	/* A cut never leaves half of "é" (2 bytes) at the end. */
	upstream_clean_copy(out, sizeof(out), "abcdefghijklmn\xc3\xa9");
	ck_assert_str_eq(out, "abcdefghijklmn");
	for (int n = 1; n < 8; n++) {
		int	 d = upstream_backoff_ms(n, 500, 4000);

		ck_assert_int_ge(d, 250);
		ck_assert_int_le(d, 4000);
	}
}
END_TEST

/*
 * A key echoed in an error body is redacted before the message is cut to
 * its buffer, so not even its beginning survives the cut; the judged
 * sentence carries no trace of it either.
 */
START_TEST(echoed_key)
{
	static const char	 key[] = "sk-transcribe-echo-0123456789";
	const char		*b = "{\"error\":{\"message\":\"Bad key "
				    "sk-transcribe-echo-0123456789\"}}";
	struct transcribe_result r;
	struct redact		 rd;
	char			 out[16];
	bool			 retry;

	redact_init(&rd);
	redact_add(&rd, key);
	upstream_message(b, strlen(b), &rd, out, sizeof(out));
	ck_assert_str_eq(out, "Bad key [redact");
	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(transcribe_judge(401, b, strlen(b), &rd, &r,
	    &retry), TRANSCRIBE_REFUSED);
	ck_assert_msg(strstr(r.error, "sk-tr") == NULL &&
	    strstr(r.error, "Bad key [redacted]") != NULL, "%s", r.error);
	free(r.text);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("transcribe");
	TCase	*tc = tcase_create("transcribe");
	int	 rc;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, file_types);
	tcase_add_test(tc, answers);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, before_sending);
	tcase_add_test(tc, user_text);
	tcase_add_test(tc, upstream);
	tcase_add_test(tc, echoed_key);
	suite_add_tcase(s, tc);
	rc = unit_run(s);
	curl_global_cleanup();
	return rc;
}
