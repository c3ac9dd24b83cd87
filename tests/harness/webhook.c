/*
 * webhook.c: signed provider webhooks (see webhook.h).
 */
#include "harness/webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/hmac.h"
#include "util/xmalloc.h"

#define HWEBHOOK_PARAMS_MAX	32

/* The provider ids htwilio_in and hmeta_in make (test thread only). */
static int	 id_seq;

static void	 expect_200(const char *path, struct hresp *r);

void
hpost(const char *base, const char *path, const char *body,
    const char *ctype, const char **headers, struct hresp *r)
{
	struct client	 c;

	client_init(&c, base);
	client_req(&c, "POST", path, body, ctype, headers, r);
	ck_assert_msg(r->status != 500, "POST %s answered 500:\n%.2000s",
	    path, r->body);
}

char *
hform(const char *const (*params)[2], int n)
{
	size_t	 len = 1;
	char	*body;

	for (int i = 0; i < n; i++)
		len += 3 * (strlen(params[i][0]) + strlen(params[i][1])) + 2;
	body = xcalloc(1, len);
	for (int i = 0; i < n; i++)
		form_add(body, len, params[i][0], params[i][1]);
	return body;
}

void
htwilio_sig_header(char *hdr, size_t len, const char *token,
    const char *url, const char *const (*params)[2], int n)
{
	struct twilio_param	 p[HWEBHOOK_PARAMS_MAX];
	char			 sig[29];

	ck_assert_msg(n <= HWEBHOOK_PARAMS_MAX, "htwilio_sig_header: %d "
	    "parameters", n);
	for (int i = 0; i < n; i++) {
		p[i].name = params[i][0];
		p[i].value = params[i][1];
	}
	hmac_twilio_sign(token, url, p, (size_t)n, sig);
	ck_assert((size_t)snprintf(hdr, len, "X-Twilio-Signature: %s", sig) <
	    len);
}

void
htwilio_post(const char *base, const char *path, const char *token,
    const char *const (*params)[2], int n, struct hresp *r)
{
	char		 h[64];
	char		*url = xasprintf("%s%s", base, path);
	char		*body = hform(params, n);
	const char	*headers[2] = { NULL, NULL };

	if (token != NULL) {
		htwilio_sig_header(h, sizeof(h), token, url, params, n);
		headers[0] = h;
	}
	hpost(base, path, body, "application/x-www-form-urlencoded", headers,
	    r);
	free(body);
	free(url);
}

void
htwilio_post_ok(const char *base, const char *path, const char *token,
    const char *const (*params)[2], int n)
{
	struct hresp	 r;

	htwilio_post(base, path, token, params, n, &r);
	expect_200(path, &r);
}

void
htwilio_text_ok(const char *base, const char *account, const char *token,
    const char *sid, const char *from, const char *to, const char *text)
{
	char		*f = xasprintf("whatsapp:%s", from);
	char		*t = xasprintf("whatsapp:%s", to);
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "SmsMessageSid", sid },
		{ "AccountSid", account }, { "From", f }, { "To", t },
		{ "Body", text }, { "NumMedia", "0" },
		{ "ProfileName", "Tess" }, { "WaId", from + (from[0] == '+') },
		{ "ApiVersion", "2010-04-01" },
	};

	htwilio_post_ok(base, HTWILIO_INBOUND, token, params,
	    (int)(sizeof(params) / sizeof(params[0])));
	free(f);
	free(t);
}

const char *
htwilio_in(const char *base, const char *account, const char *token,
    const char *to, const char *from, const char *text)
{
	static char	 sid[40];

	snprintf(sid, sizeof(sid), "SMf%031d", ++id_seq);
	htwilio_text_ok(base, account, token, sid, from, to, text);
	return sid;
}

void
hmeta_post(const char *base, const char *body, const char *secret,
    struct hresp *r)
{
	char		 hex[65], h[128];
	const char	*headers[2] = { NULL, NULL };

	if (secret != NULL) {
		hmac_sha256_hex(secret, body, strlen(body), hex);
		snprintf(h, sizeof(h), "X-Hub-Signature-256: sha256=%s", hex);
		headers[0] = h;
	}
	hpost(base, HMETA_INBOUND, body, "application/json", headers, r);
}

void
hmeta_post_ok(const char *base, const char *body, const char *secret)
{
	struct hresp	 r;

	hmeta_post(base, body, secret, &r);
	expect_200(HMETA_INBOUND, &r);
}

char *
hmeta_text_body(const struct hmeta_text *m)
{
	char	*group = m->group != NULL ?
		    xasprintf("\"group_id\":\"%s\",", m->group) : xstrdup("");
	char	*body;

	body = xasprintf(
	    "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"id\":"
	    "\"WABA1\",\"changes\":[{\"field\":\"messages\",\"value\":{"
	    "\"messaging_product\":\"whatsapp\",\"metadata\":{"
	    "\"display_phone_number\":\"15550783881\",\"phone_number_id\":"
	    "\"%s\"},\"contacts\":[{\"profile\":{\"name\":\"%s\"},"
	    "\"wa_id\":\"%s\"}],\"messages\":[{\"from\":\"%s\",%s"
	    "\"id\":\"%s\",\"timestamp\":\"%lld\",\"type\":\"text\",\"text\":"
	    "{\"body\":\"%s\"}}]}}]}]}", m->pnid, m->name, m->from, m->from,
	    group, m->wamid, (long long)(m->ts != 0 ? m->ts :
	    (int64_t)time(NULL)), m->text);
	free(group);
	return body;
}

char *
hmeta_item_body(const char *pnid, const char *from, const char *wamid,
    const char *fields)
{
	return xasprintf("{\"object\":\"whatsapp_business_account\","
	    "\"entry\":[{\"id\":\"102290129340398\",\"changes\":[{"
	    "\"field\":\"messages\",\"value\":{\"messaging_product\":"
	    "\"whatsapp\",\"metadata\":{\"display_phone_number\":"
	    "\"15550783881\",\"phone_number_id\":\"%s\"},"
	    "\"contacts\":[{\"profile\":{\"name\":\"Kim\"},\"wa_id\":"
	    "\"%s\"}],\"messages\":[{\"from\":\"%s\",\"id\":\"%s\","
	    "\"timestamp\":\"%lld\",%s}]}}]}]}", pnid, from, from, wamid,
	    (long long)time(NULL), fields);
}

void
hmeta_item_ok(const char *base, const char *secret, const char *pnid,
    const char *from, const char *wamid, const char *fields)
{
	char	*body = hmeta_item_body(pnid, from, wamid, fields);

	hmeta_post_ok(base, body, secret);
	free(body);
}

const char *
hmeta_in(const char *base, const char *secret, const char *pnid,
    const char *from, const char *text)
{
	static char	 wamid[40];
	char		*body;

	snprintf(wamid, sizeof(wamid), "wamid.harness%06d", ++id_seq);
	body = hmeta_text_body(&(struct hmeta_text){ .pnid = pnid,
	    .from = from, .name = "Kim", .wamid = wamid, .text = text });
	hmeta_post_ok(base, body, secret);
	free(body);
	return wamid;
}

void
hkapso_post(const char *base, const char *path, const char *event,
    const char *body, const char *secret, struct hresp *r)
{
	char		 hex[65], h_sig[128], h_ev[128];
	const char	*headers[4] = { NULL, NULL, NULL, NULL };
	int		 nh = 0;

	if (secret != NULL) {
		hmac_sha256_hex(secret, body, strlen(body), hex);
		snprintf(h_sig, sizeof(h_sig), "X-Webhook-Signature: %s", hex);
		headers[nh++] = h_sig;
	}
	if (event != NULL) {
		ck_assert((size_t)snprintf(h_ev, sizeof(h_ev),
		    "X-Webhook-Event: %s", event) < sizeof(h_ev));
		headers[nh++] = h_ev;
		headers[nh++] = "X-Webhook-Payload-Version: v2";
	}
	hpost(base, path, body, "application/json", headers, r);
}

void
hkapso_post_ok(const char *base, const char *path, const char *event,
    const char *body, const char *secret)
{
	struct hresp	 r;

	hkapso_post(base, path, event, body, secret, &r);
	expect_200(path, &r);
}

static void
expect_200(const char *path, struct hresp *r)
{
	ck_assert_msg(r->status == 200, "POST %s: want 200, got %ld:\n%.2000s",
	    path, r->status, r->body);
	hresp_free(r);
}

const char *
hin_text(const struct hin *w, const char *p, const char *from,
    const char *text)
{
	static char	 id[64];
	char		*body;

	if (strcmp(p, "twilio") == 0)
		return htwilio_in(w->base, w->tw_sid, w->tw_token,
		    w->tw_number, from, text);
	if (strcmp(p, "meta") == 0) {
		snprintf(id, sizeof(id), "wamid.hin%06d", ++id_seq);
		body = hmeta_text_body(&(struct hmeta_text){ .pnid =
		    w->meta_pnid, .from = from, .name = w->name, .wamid = id,
		    .text = text });
		hmeta_post_ok(w->base, body, w->meta_secret);
		free(body);
		return id;
	}
	snprintf(id, sizeof(id), "wamid.hinkapso%06d", ++id_seq);
	body = xasprintf("{\"message\":{\"id\":\"%s\",\"timestamp\":\"%lld\","
	    "\"type\":\"text\",\"text\":{\"body\":\"%s\"},\"kapso\":{"
	    "\"direction\":\"inbound\",\"status\":\"received\"}},"
	    "\"conversation\":{\"id\":\"conv_1\",\"phone_number\":"
	    "\"%s\",\"phone_number_id\":\"%s\"},\"phone_number_id\":\"%s\"}",
	    id, (long long)time(NULL), text, from, w->kapso_pnid,
	    w->kapso_pnid);
	hkapso_post_ok(w->base, HKAPSO_INBOUND, "whatsapp.message.received",
	    body, w->kapso_secret);
	free(body);
	return id;
}
