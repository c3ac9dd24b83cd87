/*
 * http.c: the integration tests' HTTP client (see harness.h).
 *
 * One libcurl easy handle per request: tests are not about client speed,
 * and a fresh handle means no connection, cookie or header state leaks from
 * one request to the next. Cookies live in struct client as the exact
 * "Cookie:" value, so a test can copy, drop or plant one (an old session
 * cookie after logout) by editing a string. Redirects are never followed;
 * every transfer has connect and total timeouts and CURLOPT_NOSIGNAL.
 *
 * Every failure that leaves the test unable to go on (server unreachable,
 * a buffer too small) fails the current Check test with a sentence.
 */
#include "harness/harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>
#include <curl/curl.h>

#include "util/xmalloc.h"

#define HTTP_CONNECT_TIMEOUT_S	5L
#define HTTP_TOTAL_TIMEOUT_S	30L
#define HTTP_BODY_MAX		(32u * 1024 * 1024)
#define HTTP_HEADERS_MAX	(256u * 1024)
#define JAR_MAX			32

struct growbuf {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
	int	 overflow;
};

struct jar_entry {
	char	 name[128];
	char	 value[2048];
};

static void	 curl_init_once(void);
static void	 gb_append(struct growbuf *b, const char *s, size_t n);
static size_t	 on_body(char *ptr, size_t size, size_t nmemb, void *ud);
static size_t	 on_header(char *ptr, size_t size, size_t nmemb, void *ud);
static int	 jar_parse(const char *cookies, struct jar_entry *e, int max);
static void	 jar_store(struct client *c, const struct jar_entry *e, int n);
static void	 jar_apply(struct client *c, const char *set_cookie);
static void	 jar_update(struct client *c, const char *headers);
static char	*attr_value(const char *tag, size_t tag_len, const char *attr);
static char	*html_unescape(const char *s, size_t len);

static void
curl_init_once(void)
{
	static int	 done;

	if (!done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
			ck_abort_msg("curl_global_init failed");
		done = 1;
	}
}

static void
gb_append(struct growbuf *b, const char *s, size_t n)
{
	char	*np;
	size_t	 ncap;

	if (b->overflow || b->len + n > b->max) {
		b->overflow = 1;
		return;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 4096;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			abort();
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct growbuf	*b = ud;

	gb_append(b, ptr, size * nmemb);
	return b->overflow ? 0 : size * nmemb;
}

/*
 * Keeps only the last response's header block: a "100 Continue" or any
 * interim response starts with its own status line and is dropped.
 */
static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct growbuf	*b = ud;
	size_t		 n = size * nmemb;

	if (n >= 5 && strncmp(ptr, "HTTP/", 5) == 0)
		b->len = 0;
	gb_append(b, ptr, n);
	return b->overflow ? 0 : n;
}

void
client_init(struct client *c, const char *base)
{
	memset(c, 0, sizeof(*c));
	if (strlen(base) >= sizeof(c->base))
		ck_abort_msg("client_init: base URL too long: %s", base);
	snprintf(c->base, sizeof(c->base), "%s", base);
}

void
client_set_source(struct client *c, const char *addr)
{
	if (strlen(addr) >= sizeof(c->source))
		ck_abort_msg("client_set_source: address too long: %s", addr);
	snprintf(c->source, sizeof(c->source), "%s", addr);
}

void
client_req(struct client *c, const char *method, const char *path,
    const char *body, const char *content_type, const char **headers,
    struct hresp *r)
{
	CURL			*h;
	CURLcode		 rc;
	struct curl_slist	*hl = NULL;
	struct growbuf		 bb = { .max = HTTP_BODY_MAX };
	struct growbuf		 hb = { .max = HTTP_HEADERS_MAX };
	char			 url[2048];
	char			 line[512];
	char			 iface[80];
	char			 errbuf[CURL_ERROR_SIZE] = "";
	long			 status = 0;
	size_t			 i;

	curl_init_once();
	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(url, sizeof(url), "%s%s", c->base, path) >=
	    sizeof(url))
		ck_abort_msg("client_req: URL too long for %s", path);
	if ((h = curl_easy_init()) == NULL)
		ck_abort_msg("curl_easy_init failed");

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, HTTP_TOTAL_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &bb);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &hb);
	/* Requests carry exactly what the test asked for. */
	curl_easy_setopt(h, CURLOPT_USERAGENT, "parley-tests");
	if (c->source[0] != '\0') {
		snprintf(iface, sizeof(iface), "host!%s", c->source);
		curl_easy_setopt(h, CURLOPT_INTERFACE, iface);
	}
	if (c->cookies[0] != '\0')
		curl_easy_setopt(h, CURLOPT_COOKIE, c->cookies);

	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0 || body != NULL)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)strlen(body));
		snprintf(line, sizeof(line), "Content-Type: %s",
		    content_type != NULL ? content_type :
		    "application/x-www-form-urlencoded");
		hl = curl_slist_append(hl, line);
	} else if (strcmp(method, "POST") == 0) {
		/* A POST without a body still says so (Content-Length: 0). */
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
	}
	/* No "Expect: 100-continue": the server sees the body at once. */
	hl = curl_slist_append(hl, "Expect:");
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);

	rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(h);

	if (bb.overflow || hb.overflow) {
		free(bb.p);
		free(hb.p);
		ck_abort_msg("%s %s: response larger than the test client "
		    "accepts", method, path);
	}
	/*
	 * A server may answer (413) and close before taking a large body;
	 * curl then reports a send error although a response arrived. Keep
	 * the response when there is one.
	 */
	if (rc != CURLE_OK && status == 0) {
		free(bb.p);
		free(hb.p);
		ck_abort_msg("%s %s failed: %s (%s)", method, url,
		    curl_easy_strerror(rc), errbuf);
	}
	r->status = status;
	r->body = bb.p != NULL ? bb.p : strdup("");
	r->body_len = bb.len;
	r->headers = hb.p != NULL ? hb.p : strdup("");
	if (r->body == NULL || r->headers == NULL)
		abort();
	jar_update(c, r->headers);
}

void
hresp_free(struct hresp *r)
{
	free(r->body);
	free(r->headers);
	memset(r, 0, sizeof(*r));
}

char *
hresp_header(const struct hresp *r, const char *name)
{
	const char	*p, *eol, *v, *e;
	size_t		 nlen = strlen(name);
	char		*out;

	if (r->headers == NULL)
		return NULL;
	for (p = r->headers; *p != '\0'; p = *eol ? eol + 1 : eol) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			e = eol;
			while (e > v && (e[-1] == '\r' || e[-1] == ' ' ||
			    e[-1] == '\t'))
				e--;
			if ((out = strndup(v, (size_t)(e - v))) == NULL)
				abort();
			return out;
		}
	}
	return NULL;
}

/* --- cookies ------------------------------------------------------------ */

static int
jar_parse(const char *cookies, struct jar_entry *e, int max)
{
	const char	*p = cookies, *semi, *eq;
	int		 n = 0;

	while (*p != '\0' && n < max) {
		while (*p == ' ' || *p == ';')
			p++;
		if (*p == '\0')
			break;
		if ((semi = strchr(p, ';')) == NULL)
			semi = p + strlen(p);
		eq = memchr(p, '=', (size_t)(semi - p));
		if (eq != NULL && (size_t)(eq - p) < sizeof(e[n].name) &&
		    (size_t)(semi - eq - 1) < sizeof(e[n].value)) {
			memcpy(e[n].name, p, (size_t)(eq - p));
			e[n].name[eq - p] = '\0';
			memcpy(e[n].value, eq + 1, (size_t)(semi - eq - 1));
			e[n].value[semi - eq - 1] = '\0';
			n++;
		}
		p = semi;
	}
	return n;
}

static void
jar_store(struct client *c, const struct jar_entry *e, int n)
{
	size_t	 off = 0;
	int	 i, w;

	c->cookies[0] = '\0';
	for (i = 0; i < n; i++) {
		w = snprintf(c->cookies + off, sizeof(c->cookies) - off,
		    "%s%s=%s", off ? "; " : "", e[i].name, e[i].value);
		if (w < 0 || (size_t)w >= sizeof(c->cookies) - off)
			ck_abort_msg("cookie jar full (%zu bytes)",
			    sizeof(c->cookies));
		off += (size_t)w;
	}
}

/*
 * One Set-Cookie value: "name=value; Attr; Attr=v". An empty value, a
 * Max-Age of zero or less or an Expires in the past deletes the cookie,
 * as a browser would. Path and Domain are ignored: every Parley cookie is
 * for this one host.
 */
static void
jar_apply(struct client *c, const char *set_cookie)
{
	struct jar_entry	 e[JAR_MAX];
	struct jar_entry	 nc;
	const char		*semi, *eq, *a;
	bool			 del;
	int			 n, i;
	char			*ex;
	time_t			 t;

	memset(&nc, 0, sizeof(nc));
	if ((semi = strchr(set_cookie, ';')) == NULL)
		semi = set_cookie + strlen(set_cookie);
	if ((eq = memchr(set_cookie, '=', (size_t)(semi - set_cookie))) ==
	    NULL)
		return;
	if ((size_t)(eq - set_cookie) >= sizeof(nc.name) ||
	    (size_t)(semi - eq - 1) >= sizeof(nc.value))
		ck_abort_msg("Set-Cookie too long for the test jar: %.80s",
		    set_cookie);
	memcpy(nc.name, set_cookie, (size_t)(eq - set_cookie));
	memcpy(nc.value, eq + 1, (size_t)(semi - eq - 1));
	del = nc.value[0] == '\0';
	for (a = semi; *a != '\0'; ) {
		while (*a == ';' || *a == ' ')
			a++;
		if (strncasecmp(a, "Max-Age=", 8) == 0 &&
		    strtol(a + 8, NULL, 10) <= 0)
			del = true;
		if (strncasecmp(a, "Expires=", 8) == 0) {
			if ((semi = strchr(a, ';')) == NULL)
				semi = a + strlen(a);
			if ((ex = strndup(a + 8, (size_t)(semi - a - 8))) ==
			    NULL)
				abort();
			t = curl_getdate(ex, NULL);
			free(ex);
			if (t != -1 && t < time(NULL))
				del = true;
		}
		if ((a = strchr(a, ';')) == NULL)
			break;
	}

	n = jar_parse(c->cookies, e, JAR_MAX);
	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, nc.name) == 0)
			break;
	if (i < n) {
		if (del) {
			memmove(&e[i], &e[i + 1], sizeof(e[0]) *
			    (size_t)(n - i - 1));
			n--;
		} else
			e[i] = nc;
	} else if (!del) {
		if (n == JAR_MAX)
			ck_abort_msg("cookie jar full (%d cookies)", JAR_MAX);
		e[n++] = nc;
	}
	jar_store(c, e, n);
}

static void
jar_update(struct client *c, const char *headers)
{
	const char	*p, *eol;
	char		*v;
	size_t		 vlen;

	for (p = headers; *p != '\0'; p = *eol ? eol + 1 : eol) {
		if ((eol = strchr(p, '\n')) == NULL)
			eol = p + strlen(p);
		if (strncasecmp(p, "Set-Cookie:", 11) != 0)
			continue;
		p += 11;
		while (*p == ' ' || *p == '\t')
			p++;
		vlen = (size_t)(eol - p);
		while (vlen > 0 && (p[vlen - 1] == '\r' || p[vlen - 1] == ' '))
			vlen--;
		if ((v = strndup(p, vlen)) == NULL)
			abort();
		jar_apply(c, v);
		free(v);
	}
}

/* --- HTML and forms ----------------------------------------------------- */

/* The few entities a template engine emits in an attribute value. */
static char *
html_unescape(const char *s, size_t len)
{
	static const struct {
		const char	*ent;
		char		 ch;
	} ents[] = {
		{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' },
		{ "&quot;", '"' }, { "&#39;", '\'' }, { "&#x27;", '\'' },
		{ "&#34;", '"' }, { "&#x2F;", '/' }, { "&#x3D;", '=' },
		{ "&#61;", '=' }, { "&#47;", '/' }, { "&#x60;", '`' },
	};
	char	*out, *o;
	size_t	 i, k, el;

	if ((out = malloc(len + 1)) == NULL)
		abort();
	for (i = 0, o = out; i < len; ) {
		if (s[i] == '&') {
			for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
				el = strlen(ents[k].ent);
				if (len - i >= el &&
				    strncasecmp(s + i, ents[k].ent, el) == 0)
					break;
			}
			if (k < sizeof(ents) / sizeof(ents[0])) {
				*o++ = ents[k].ch;
				i += strlen(ents[k].ent);
				continue;
			}
		}
		*o++ = s[i++];
	}
	*o = '\0';
	return out;
}

/*
 * The value of attribute `attr` inside one tag (tag_len bytes from "<"),
 * quoted with " or ' or bare; NULL when the tag has no such attribute.
 */
static char *
attr_value(const char *tag, size_t tag_len, const char *attr)
{
	size_t		 alen = strlen(attr), i = 0, vs, ve;
	char		 q;

	while (i < tag_len) {
		/* At the start of an attribute name? */
		if ((i == 0 || isspace((unsigned char)tag[i - 1])) &&
		    tag_len - i > alen &&
		    strncasecmp(tag + i, attr, alen) == 0 &&
		    (tag[i + alen] == '=' ||
		    isspace((unsigned char)tag[i + alen]))) {
			i += alen;
			while (i < tag_len && isspace((unsigned char)tag[i]))
				i++;
			if (i >= tag_len || tag[i] != '=')
				return NULL;
			i++;
			while (i < tag_len && isspace((unsigned char)tag[i]))
				i++;
			if (i < tag_len && (tag[i] == '"' || tag[i] == '\'')) {
				q = tag[i++];
				vs = i;
				while (i < tag_len && tag[i] != q)
					i++;
				ve = i;
			} else {
				vs = i;
				while (i < tag_len && tag[i] != '>' &&
				    tag[i] != '/' &&
				    !isspace((unsigned char)tag[i]))
					i++;
				ve = i;
			}
			return html_unescape(tag + vs, ve - vs);
		}
		/* Skip quoted values so text inside them never matches. */
		if (tag[i] == '"' || tag[i] == '\'') {
			q = tag[i++];
			while (i < tag_len && tag[i] != q)
				i++;
		}
		i++;
	}
	return NULL;
}

char *
html_input_value(const char *html, const char *name)
{
	const char	*p, *end, *q;
	char		*n, *v;
	size_t		 len;

	if (html == NULL)
		return NULL;
	for (p = html; (p = strchr(p, '<')) != NULL; p++) {
		if (strncasecmp(p, "<input", 6) != 0 ||
		    !(isspace((unsigned char)p[6]) || p[6] == '>' ||
		    p[6] == '/'))
			continue;
		/* The tag ends at the first '>' outside quotes. */
		for (end = p + 6; *end != '\0' && *end != '>'; end++) {
			if (*end == '"' || *end == '\'') {
				if ((q = strchr(end + 1, *end)) == NULL)
					return NULL;
				end = q;
			}
		}
		if (*end == '\0')
			return NULL;
		len = (size_t)(end - p);
		if ((n = attr_value(p + 1, len - 1, "name")) == NULL)
			continue;
		if (strcmp(n, name) == 0) {
			free(n);
			if ((v = attr_value(p + 1, len - 1, "value")) == NULL)
				v = strdup("");
			return v;
		}
		free(n);
	}
	return NULL;
}

char *
html_csrf(const char *html)
{
	return html_input_value(html, "_csrf");
}

char *
hmultipart(const char *csrf, const char *field, const char *text,
    const char *filename, const char *ctype, const char *bytes)
{
	const char	*b = HMULTIPART_BOUNDARY;

	if (csrf[0] != '\0')
		return xasprintf("--%s\r\nContent-Disposition: form-data; "
		    "name=\"_csrf\"\r\n\r\n%s\r\n--%s\r\nContent-Disposition: "
		    "form-data; name=\"%s\"\r\n\r\n%s\r\n--%s\r\n"
		    "Content-Disposition: form-data; name=\"file\"; "
		    "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n%s\r\n--%s--\r\n",
		    b, csrf, b, field, text, b, filename, ctype, bytes, b);
	return xasprintf("--%s\r\nContent-Disposition: form-data; "
	    "name=\"%s\"\r\n\r\n%s\r\n--%s\r\nContent-Disposition: "
	    "form-data; name=\"file\"; filename=\"%s\"\r\nContent-Type: "
	    "%s\r\n\r\n%s\r\n--%s--\r\n", b, field, text, b, filename, ctype,
	    bytes, b);
}

void
form_add(char *dst, size_t dstlen, const char *name, const char *value)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*parts[2] = { name, value };
	size_t			 off = strlen(dst);
	const unsigned char	*s;
	int			 k;

	if (off > 0) {
		if (off + 1 >= dstlen)
			goto full;
		dst[off++] = '&';
	}
	for (k = 0; k < 2; k++) {
		if (k == 1) {
			if (off + 1 >= dstlen)
				goto full;
			dst[off++] = '=';
		}
		for (s = (const unsigned char *)parts[k]; *s != '\0'; s++) {
			if (off + 3 >= dstlen)
				goto full;
			if (isalnum(*s) || *s == '-' || *s == '_' ||
			    *s == '.' || *s == '*')
				dst[off++] = (char)*s;
			else if (*s == ' ')
				dst[off++] = '+';
			else {
				dst[off++] = '%';
				dst[off++] = hex[*s >> 4];
				dst[off++] = hex[*s & 15];
			}
		}
	}
	dst[off] = '\0';
	return;
full:
	dst[dstlen > 0 ? dstlen - 1 : 0] = '\0';
	ck_abort_msg("form_add: %zu-byte form buffer too small for field %s",
	    dstlen, name);
}

bool
client_login(struct client *c, const char *email, const char *pw)
{
	struct hresp	 r;
	char		 form[4096] = "";
	char		*csrf, *next, *loc;
	bool		 ok;

	client_req(c, "GET", "/login", NULL, NULL, NULL, &r);
	if (r.status != 200) {
		fprintf(stderr, "client_login: GET /login answered %ld\n",
		    r.status);
		hresp_free(&r);
		return false;
	}
	csrf = html_csrf(r.body);
	next = html_input_value(r.body, "next");
	hresp_free(&r);
	if (csrf == NULL) {
		free(next);
		fprintf(stderr, "client_login: no _csrf input on /login\n");
		return false;
	}
	form_add(form, sizeof(form), "_csrf", csrf);
	form_add(form, sizeof(form), "email", email);
	form_add(form, sizeof(form), "password", pw);
	form_add(form, sizeof(form), "next", next != NULL ? next : "");
	free(csrf);
	free(next);

	client_req(c, "POST", "/login", form, NULL, NULL, &r);
	loc = hresp_header(&r, "Location");
	ok = r.status == 303 && loc != NULL && loc[0] == '/' &&
	    strncmp(loc, "/login", 6) != 0;
	if (!ok)
		fprintf(stderr, "client_login %s: POST /login answered %ld "
		    "(Location: %s)\n", email, r.status, loc ? loc : "none");
	free(loc);
	hresp_free(&r);
	return ok;
}

cJSON *
hresp_json(const struct hresp *r)
{
	cJSON	*j = cJSON_Parse(r->body);

	ck_assert_msg(j != NULL, "not JSON (%ld): %.2000s", r->status,
	    r->body);
	return j;
}

void
hresp_has(const struct hresp *r, const char *needle, const char *what)
{
	ck_assert_msg(r->body != NULL && strstr(r->body, needle) != NULL,
	    "%s (%ld): no \"%s\" in:\n%.6000s", what != NULL ? what :
	    "response", r->status, needle, r->body);
}

void
hresp_lacks(const struct hresp *r, const char *needle, const char *what)
{
	ck_assert_msg(r->body == NULL || strstr(r->body, needle) == NULL,
	    "%s (%ld): unexpected \"%s\" in:\n%.6000s", what != NULL ? what :
	    "response", r->status, needle, r->body);
}

const char *
hjstr(const cJSON *o, const char *name)
{
	const cJSON	*v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : "";
}
