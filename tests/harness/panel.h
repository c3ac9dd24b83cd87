/*
 * tests/harness/panel.h: requests to the panel and the REST API as the
 * integration tests make them, on top of http.c's client.
 *
 * Every request made here goes through hreq, which fails the test when the
 * server answers 500 (no input a test sends may produce one), then makes
 * sure that no string the suite forbade with hreq_forbid appears in the
 * answer (its credentials), then runs the suite's own check, if it set
 * one with hreq_set_check (that every answer carries an X-Request-Id,
 * say). Requests a test makes with client_req directly are not checked.
 *
 * Not thread-safe (the check is process-wide): call from the test's
 * thread.
 */
#ifndef PARLEY_TESTS_PANEL_H
#define PARLEY_TESTS_PANEL_H

#include "harness/harness.h"

/* A suite's check of every answer; it fails the test with ck_assert. */
typedef void	(*hreq_check_fn)(const char *method, const char *path,
		    const struct hresp *r);

/* Sets the check hreq runs on every answer (NULL: none, the default). */
void	 hreq_set_check(hreq_check_fn fn);
/*
 * Forbids the needles (a NULL-terminated list, kept by reference; NULL:
 * none) in every answer's body and headers from now on: the credentials
 * of a suite, say, which the server must never send back.
 */
void	 hreq_forbid(const char *const *needles);
/* Fails the test when text (may be NULL) contains one of the needles;
 * what and where name the text in the message. */
void	 hassert_none(const char *what, const char *where, const char *text,
	    const char *const *needles);
/* A check for hreq_set_check: every answer carries an X-Request-Id. */
void	 hreq_check_request_id(const char *method, const char *path,
	    const struct hresp *r);
/* client_req, then: never a 500, and the suite's check. */
void	 hreq(struct client *c, const char *method, const char *path,
	    const char *body, const char *ctype, const char **headers,
	    struct hresp *r);
/* hreq GET that must answer `want` (the body is shown otherwise). */
void	 hget(struct client *c, const char *path, long want,
	    struct hresp *r);
/* GETs path (200) and returns its _csrf value, malloc'd; fails the test
 * when the page has none or an empty one. */
char	*hpage_csrf(struct client *c, const char *path);
/*
 * POSTs `fields` (already form-encoded; may be NULL or "") plus a fresh
 * _csrf taken from `page` to `action`, form-encoded, through hreq. The
 * caller frees r.
 */
void	 hpost_form(struct client *c, const char *page, const char *action,
	    const char *fields, struct hresp *r);
/* Asserts a 303 whose Location starts with prefix and returns the number
 * after it, which must be positive. */
int64_t	 hlocation_id(const struct hresp *r, const char *prefix);
/*
 * One API request from a fresh client to the server at base, through
 * hreq: "Authorization: Bearer tok" (tok NULL: none), json as the body
 * with Content-Type application/json (NULL: no body).
 */
void	 hapi(const char *base, const char *tok, const char *method,
	    const char *path, const char *json, struct hresp *r);
/* hapi with one more header line ("Name: value"; NULL: none). */
void	 hapi_header(const char *base, const char *tok, const char *method,
	    const char *path, const char *json, const char *header,
	    struct hresp *r);
/* hapi that must answer `want` (the body is shown otherwise). */
void	 hapi_want(const char *base, const char *tok, const char *method,
	    const char *path, const char *json, long want, struct hresp *r);
/* hapi that must answer `want`; returns the body parsed as JSON (NULL
 * when it is not JSON), which the caller deletes. */
cJSON	*hapi_json(const char *base, const char *tok, const char *method,
	    const char *path, const char *json, long want);
/*
 * The unreadCount the API gives chat on the first page of
 * GET /api/v1/conversations?channel=channel, read with tok; fails the
 * test when the chat is not on it.
 */
int64_t	 hapi_unread(const char *base, const char *tok, int64_t channel,
	    int64_t chat);
/* client_init on base, then a login that must succeed. */
void	 hlogin(struct client *c, const char *base, const char *email,
	    const char *pw);

#endif
