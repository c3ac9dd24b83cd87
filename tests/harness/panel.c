/*
 * panel.c: checked requests to the panel and the REST API (see panel.h).
 */
#include "harness/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

static hreq_check_fn	 check;
static const char *const *forbidden;

void
hreq_set_check(hreq_check_fn fn)
{
	check = fn;
}

void
hreq_forbid(const char *const *needles)
{
	forbidden = needles;
}

void
hassert_none(const char *what, const char *where, const char *text,
    const char *const *needles)
{
	for (int i = 0; text != NULL && needles[i] != NULL; i++)
		ck_assert_msg(strstr(text, needles[i]) == NULL, "%s %s leaks "
		    "\"%s\":\n%.3000s", what, where, needles[i], text);
}

void
hreq_check_request_id(const char *method, const char *path,
    const struct hresp *r)
{
	char	*rid = hresp_header(r, "X-Request-Id");

	ck_assert_msg(rid != NULL && rid[0] != '\0',
	    "%s %s (%ld): no X-Request-Id header", method, path, r->status);
	free(rid);
}

void
hreq(struct client *c, const char *method, const char *path,
    const char *body, const char *ctype, const char **headers,
    struct hresp *r)
{
	client_req(c, method, path, body, ctype, headers, r);
	ck_assert_msg(r->status != 500, "%s %s answered 500:\n%.2000s",
	    method, path, r->body);
	if (forbidden != NULL) {
		hassert_none(method, path, r->body, forbidden);
		hassert_none(method, path, r->headers, forbidden);
	}
	if (check != NULL)
		check(method, path, r);
}

void
hget(struct client *c, const char *path, long want, struct hresp *r)
{
	hreq(c, "GET", path, NULL, NULL, NULL, r);
	ck_assert_msg(r->status == want, "GET %s: want %ld, got %ld:\n%.2000s",
	    path, want, r->status, r->body);
}

char *
hpage_csrf(struct client *c, const char *path)
{
	struct hresp	 r;
	char		*csrf;

	hget(c, path, 200, &r);
	csrf = html_csrf(r.body);
	ck_assert_msg(csrf != NULL && csrf[0] != '\0',
	    "GET %s: no hidden _csrf input in:\n%.2000s", path, r.body);
	hresp_free(&r);
	return csrf;
}

void
hpost_form(struct client *c, const char *page, const char *action,
    const char *fields, struct hresp *r)
{
	char	*csrf = hpage_csrf(c, page);
	size_t	 len = 3 * strlen(csrf) + 16;
	char	*all;

	if (fields != NULL)
		len += strlen(fields);
	all = xcalloc(1, len);
	form_add(all, len, "_csrf", csrf);
	free(csrf);
	if (fields != NULL && fields[0] != '\0') {
		strncat(all, "&", len - strlen(all) - 1);
		strncat(all, fields, len - strlen(all) - 1);
	}
	hreq(c, "POST", action, all, NULL, NULL, r);
	free(all);
}

int64_t
hlocation_id(const struct hresp *r, const char *prefix)
{
	char	*loc = hresp_header(r, "Location");
	int64_t	 id;

	ck_assert_msg(r->status == 303 && loc != NULL &&
	    strncmp(loc, prefix, strlen(prefix)) == 0, "want 303 to %s…, got "
	    "%ld (Location: %s):\n%.3000s", prefix, r->status,
	    loc != NULL ? loc : "none", r->body);
	id = strtoll(loc + strlen(prefix), NULL, 10);
	free(loc);
	ck_assert_msg(id > 0, "want 303 to %sN, N > 0", prefix);
	return id;
}

void
hapi(const char *base, const char *tok, const char *method,
    const char *path, const char *json, struct hresp *r)
{
	hapi_header(base, tok, method, path, json, NULL, r);
}

void
hapi_header(const char *base, const char *tok, const char *method,
    const char *path, const char *json, const char *header,
    struct hresp *r)
{
	struct client	 c;
	char		*auth = NULL;
	const char	*headers[3] = { NULL, NULL, NULL };
	int		 n = 0;

	client_init(&c, base);
	if (tok != NULL) {
		auth = xasprintf("Authorization: Bearer %s", tok);
		headers[n++] = auth;
	}
	if (header != NULL)
		headers[n++] = header;
	hreq(&c, method, path, json, json != NULL ? "application/json" :
	    NULL, headers, r);
	free(auth);
}

void
hapi_want(const char *base, const char *tok, const char *method,
    const char *path, const char *json, long want, struct hresp *r)
{
	hapi(base, tok, method, path, json, r);
	ck_assert_msg(r->status == want, "%s %s: want %ld, got %ld:\n%.2000s",
	    method, path, want, r->status, r->body);
}

cJSON *
hapi_json(const char *base, const char *tok, const char *method,
    const char *path, const char *json, long want)
{
	struct hresp	 r;
	cJSON		*v;

	hapi(base, tok, method, path, json, &r);
	ck_assert_msg(r.status == want, "%s %s %.200s: want %ld, got "
	    "%ld:\n%.2000s", method, path, json != NULL ? json : "", want,
	    r.status, r.body);
	v = cJSON_Parse(r.body);
	hresp_free(&r);
	return v;
}

int64_t
hapi_unread(const char *base, const char *tok, int64_t channel,
    int64_t chat)
{
	char	 path[96];
	cJSON	*j, *e;
	int64_t	 n = -1;

	snprintf(path, sizeof(path), "/api/v1/conversations?channel=%lld",
	    (long long)channel);
	j = hapi_json(base, tok, "GET", path, NULL, 200);
	ck_assert_ptr_nonnull(j);
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "data"))
		if ((int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(e,
		    "id")) == chat)
			n = (int64_t)cJSON_GetNumberValue(
			    cJSON_GetObjectItem(e, "unreadCount"));
	cJSON_Delete(j);
	ck_assert_msg(n >= 0, "chat %lld is not on the first page of %s",
	    (long long)chat, path);
	return n;
}

void
hlogin(struct client *c, const char *base, const char *email,
    const char *pw)
{
	client_init(c, base);
	ck_assert_msg(client_login(c, email, pw), "cannot log in as %s",
	    email);
}
