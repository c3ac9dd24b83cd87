/*
 * Unit tests for channels/media_out.c: which item each provider may send
 * (types and sizes as docs/media-out.md §1 lists them, at the boundary
 * byte), WhatsApp's kind of a type, and Meta's send body for an uploaded
 * id (caption, filename and voice only where the API has them).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "channels/channel.h"
#include "channels/sender.h"
#include "unit.h"

#define MB	(1000u * 1000u)

static const char	*refusal(const char *, const char *, size_t,
			    const char *, bool);

static const char *
refusal(const char *kind, const char *ctype, size_t len, const char *caption,
    bool voice)
{
	static char			 buf[320];
	struct channel_media_msg	 m;

	memset(&m, 0, sizeof(m));
	m.content_type = ctype;
	m.kind = channel_media_kind(ctype);
	m.len = len;
	m.caption = caption;
	m.voice = voice;
	return channel_media_refusal(kind, &m, buf, sizeof(buf));
}

START_TEST(t_kinds)
{
	ck_assert_str_eq(channel_media_kind("image/jpeg"), "image");
	ck_assert_str_eq(channel_media_kind("image/png"), "image");
	ck_assert_str_eq(channel_media_kind("audio/ogg"), "audio");
	ck_assert_str_eq(channel_media_kind("video/mp4"), "video");
	ck_assert_str_eq(channel_media_kind("application/pdf"), "document");
	ck_assert_str_eq(channel_media_kind("image/gif"), "document");
}
END_TEST

START_TEST(t_limits)
{
	const char	*why;

	/* Meta (and Kapso): 5 MB images, 16 MB audio/video, 100 MB docs. */
	ck_assert_ptr_null(refusal("meta", "image/png", 5 * MB, NULL, false));
	why = refusal("meta", "image/png", 5 * MB + 1, NULL, false);
	ck_assert_ptr_nonnull(why);
	ck_assert_ptr_nonnull(strstr(why, "at most 5 MB"));
	ck_assert_ptr_null(refusal("kapso", "video/mp4", 16 * MB, NULL,
	    false));
	ck_assert_ptr_nonnull(refusal("kapso", "video/mp4", 16 * MB + 1, NULL,
	    false));
	ck_assert_ptr_null(refusal("meta", "application/pdf", 100 * MB, "Hi",
	    false));
	ck_assert_ptr_nonnull(refusal("meta", "application/pdf", 100 * MB + 1,
	    NULL, false));
	ck_assert_ptr_null(refusal("meta", "audio/ogg", 16 * MB, NULL, true));
	/* Types WhatsApp does not take, through Meta. */
	why = refusal("meta", "image/gif", 10, NULL, false);
	ck_assert_ptr_nonnull(strstr(why, "image/gif"));
	ck_assert_ptr_nonnull(refusal("meta", "image/webp", 10, NULL, false));
	ck_assert_ptr_nonnull(refusal("meta", "text/csv", 10, NULL, false));
	/* No caption on audio; a voice note is OGG. */
	ck_assert_ptr_nonnull(refusal("meta", "audio/mpeg", 10, "Hi", false));
	ck_assert_ptr_nonnull(refusal("meta", "audio/mpeg", 10, NULL, true));
	/* Twilio: 16 MB a message, 5 MB images, WebP allowed, no caption on
	 * a document. */
	ck_assert_ptr_null(refusal("twilio", "image/webp", 5 * MB, NULL,
	    false));
	ck_assert_ptr_nonnull(refusal("twilio", "image/jpeg", 5 * MB + 1, NULL,
	    false));
	ck_assert_ptr_null(refusal("twilio", "application/pdf", 16 * MB, NULL,
	    false));
	ck_assert_ptr_nonnull(refusal("twilio", "application/pdf", 16 * MB + 1,
	    NULL, false));
	ck_assert_ptr_nonnull(refusal("twilio", "application/pdf", 10, "Hi",
	    false));
	ck_assert_ptr_null(refusal("twilio", "image/png", 10, "Hi", false));
	/* A caption of 1024 characters (2 bytes each here), not 1025. */
	{
		char	*cap = malloc(2 * 1025 + 1);

		for (int i = 0; i < 1025; i++)
			memcpy(cap + 2 * i, "\xc3\xa9", 2);	/* é */
		cap[2 * 1025] = '\0';
		ck_assert_ptr_nonnull(refusal("meta", "image/png", 10, cap,
		    false));
		cap[2 * 1024] = '\0';
		ck_assert_ptr_null(refusal("meta", "image/png", 10, cap,
		    false));
		free(cap);
	}
	/* Empty: never. The sandbox takes any type. */
	ck_assert_ptr_nonnull(refusal("meta", "image/png", 0, NULL, false));
	ck_assert_ptr_null(refusal("sandbox", "image/gif", 10, NULL, false));
}
END_TEST

START_TEST(t_meta_body)
{
	struct channel_media_msg	 m;
	cJSON				*b;
	const cJSON			*o;

	memset(&m, 0, sizeof(m));
	m.kind = "document";
	m.content_type = "application/pdf";
	m.filename = "report.pdf";
	m.caption = "Your report";
	b = channel_meta_media_body("+15551230000", false, &m, "1479537139");
	ck_assert_str_eq(cJSON_GetObjectItem(b, "type")->valuestring,
	    "document");
	ck_assert_str_eq(cJSON_GetObjectItem(b, "messaging_product")->
	    valuestring, "whatsapp");
	o = cJSON_GetObjectItem(b, "document");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "id")->valuestring,
	    "1479537139");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "filename")->valuestring,
	    "report.pdf");
	ck_assert_str_eq(cJSON_GetObjectItem(o, "caption")->valuestring,
	    "Your report");
	cJSON_Delete(b);

	memset(&m, 0, sizeof(m));
	m.kind = "audio";
	m.content_type = "audio/ogg";
	m.voice = true;
	m.filename = "note.ogg";
	b = channel_meta_media_body("+15551230000", false, &m, "77");
	o = cJSON_GetObjectItem(b, "audio");
	ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(o, "voice")));
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "filename"));
	ck_assert_ptr_null(cJSON_GetObjectItem(o, "caption"));
	cJSON_Delete(b);
}
END_TEST

static Suite *
media_out_suite(void)
{
	Suite	*s = suite_create("media_out");
	TCase	*tc = tcase_create("media_out");

	tcase_add_test(tc, t_kinds);
	tcase_add_test(tc, t_limits);
	tcase_add_test(tc, t_meta_body);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return unit_run(media_out_suite());
}
