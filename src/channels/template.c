/*
 * template: what the providers' template code shares (sender.h): the
 * normalised entry every list_templates returns (channel.h), reading
 * {{variables}} out of a template's text, Meta's template objects and
 * send body (Kapso proxies Meta's, docs/templates.md §1.2, §2.1), and
 * Meta's paged list (§1.1).
 *
 * Paging follows the provider's cursor, never a URL it sends: the next
 * page is asked for at our own API root with `after=<cursor>`, so the
 * bearer or key only ever goes where the operator's configuration says.
 *
 * Thread-safety: no shared state.
 */
#include "channels/channel.h"
#include "channels/sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/json.h"
#include "util/str.h"
#include "util/url.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define LIST_PAGE_SIZE		100
#define LIST_BODY_MAX		(4u * 1024 * 1024)
#define VAR_NAME_MAX		64
#define TEXT_MAX		4096

static void	 add_str(cJSON *o, const char *name, const char *v);
static const char *example_for(const char *name, int pos,
		    const cJSON *positional, const cJSON *named);
static void	 upper(char *s);
static int	 number_pos(const char *name, int dflt);

/* "3" → 2 (positional variables count from 1); dflt for other names. */
static int
number_pos(const char *name, int dflt)
{
	int64_t	 v;

	if (strspn(name, "0123456789") != strlen(name) ||
	    !str_to_i64(name, &v) || v < 1 || v > 1000)
		return dflt;
	return (int)v - 1;
}
static char	*xstrndup_cut(const char *s, size_t max);

/* At most max bytes of s, whole UTF-8 characters only (malloc'd). */
static char *
xstrndup_cut(const char *s, size_t max)
{
	return xstrndup(s, utf8_cut(s, max));
}

static void
add_str(cJSON *o, const char *name, const char *v)
{
	cJSON_AddStringToObject(o, name, v != NULL ? v : "");
}

static void
upper(char *s)
{
	for (; *s != '\0'; s++)
		if (*s >= 'a' && *s <= 'z')
			*s = (char)(*s - 'a' + 'A');
}

cJSON *
channel_template_new(void)
{
	cJSON	*e = cJSON_CreateObject();

	add_str(e, "id", "");
	add_str(e, "name", "");
	add_str(e, "language", "");
	add_str(e, "status", "");
	add_str(e, "category", "");
	add_str(e, "format", "POSITIONAL");
	add_str(e, "content_type", "");
	add_str(e, "header", "");
	add_str(e, "body", "");
	add_str(e, "footer", "");
	cJSON_AddArrayToObject(e, "variables");
	cJSON_AddArrayToObject(e, "buttons");
	return e;
}

void
channel_template_set(cJSON *e, const char *key, const char *value,
    size_t max, bool to_upper)
{
	char	*v;
	size_t	 n;

	if (value == NULL)
		value = "";
	n = strlen(value);
	if (n > max)
		n = max;
	v = xstrndup_cut(value, n);
	if (to_upper)
		upper(v);
	cJSON_ReplaceItemInObjectCaseSensitive(e, key, cJSON_CreateString(v));
	free(v);
}

/* positional: ["ex1", …] (index pos, 0-based); named: [{param_name,
 * example}] or {"name": "ex"} (Twilio's variables). */
static const char *
example_for(const char *name, int pos, const cJSON *positional,
    const cJSON *named)
{
	const cJSON	*v;

	if (cJSON_IsArray(positional)) {
		v = cJSON_GetArrayItem(positional, pos);
		if (cJSON_IsString(v))
			return v->valuestring;
	}
	if (cJSON_IsArray(named)) {
		cJSON_ArrayForEach(v, named) {
			if (str_eq(json_str_or(v, "param_name", ""), name))
				return json_str_or(v, "example", "");
		}
	} else if (cJSON_IsObject(named)) {
		v = cJSON_GetObjectItemCaseSensitive(named, name);
		if (cJSON_IsString(v))
			return v->valuestring;
	}
	return "";
}

int
channel_template_scan(cJSON *vars, const char *text, const char *part,
    const cJSON *positional, const cJSON *named)
{
	const char	*p = text, *open, *close;
	int		 n = 0;

	while (p != NULL && (open = strstr(p, "{{")) != NULL) {
		char		 name[VAR_NAME_MAX + 1];
		size_t		 len;
		const cJSON	*v;
		cJSON		*nv;
		bool		 seen = false;

		if ((close = strstr(open + 2, "}}")) == NULL)
			break;
		len = (size_t)(close - open - 2);
		p = close + 2;
		if (len == 0 || len > VAR_NAME_MAX)
			continue;
		memcpy(name, open + 2, len);
		name[len] = '\0';
		if (strspn(name, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != len)
			continue;
		cJSON_ArrayForEach(v, vars) {
			if (str_eq(json_str_or(v, "name", ""), name) &&
			    str_eq(json_str_or(v, "part", ""), part))
				seen = true;
		}
		if (seen)
			continue;
		nv = cJSON_CreateObject();
		cJSON_AddStringToObject(nv, "name", name);
		cJSON_AddStringToObject(nv, "example", example_for(name,
		    number_pos(name, n),
		    positional, named));
		cJSON_AddStringToObject(nv, "part", part);
		cJSON_AddItemToArray(vars, nv);
		n++;
	}
	return n;
}

/* --- Meta (and Kapso) --------------------------------------------------- */

cJSON *
channel_meta_template_entry(const cJSON *t)
{
	cJSON		*e = channel_template_new();
	cJSON		*vars = cJSON_GetObjectItemCaseSensitive(e, "variables");
	cJSON		*buttons = cJSON_GetObjectItemCaseSensitive(e, "buttons");
	const cJSON	*comp, *b, *ex;
	const char	*fmt = json_str_or(t, "parameter_format", "");

	channel_template_set(e, "id", json_str_or(t, "id", ""), 128, false);
	channel_template_set(e, "name", json_str_or(t, "name", ""), 512,
	    false);
	channel_template_set(e, "language", json_str_or(t, "language", ""),
	    32, false);
	channel_template_set(e, "status", json_str_or(t, "status", ""), 40,
	    true);
	channel_template_set(e, "category", json_str_or(t, "category", ""),
	    40, true);
	channel_template_set(e, "format", str_eq(fmt, "NAMED") ||
	    str_eq(fmt, "named") ? "NAMED" : "POSITIONAL", 16, false);
	cJSON_ArrayForEach(comp, cJSON_GetObjectItemCaseSensitive(t,
	    "components")) {
		const char	*type = json_str_or(comp, "type", "");
		const char	*text = json_str_or(comp, "text", "");

		ex = cJSON_GetObjectItemCaseSensitive(comp, "example");
		if (str_eq(type, "HEADER") || str_eq(type, "header")) {
			const char *hf = json_str_or(comp, "format", "TEXT");

			if (!str_eq(hf, "TEXT") && !str_eq(hf, "text")) {
				channel_template_set(e, "header", hf, 16,
				    true);
				continue;
			}
			channel_template_set(e, "header", text, 60 * 4, false);
			(void)channel_template_scan(vars, text, "header",
			    cJSON_GetObjectItemCaseSensitive(ex,
			    "header_text"),
			    cJSON_GetObjectItemCaseSensitive(ex,
			    "header_text_named_params"));
		} else if (str_eq(type, "BODY") || str_eq(type, "body")) {
			channel_template_set(e, "body", text, TEXT_MAX, false);
			(void)channel_template_scan(vars, text, "body",
			    cJSON_GetArrayItem(
			    cJSON_GetObjectItemCaseSensitive(ex, "body_text"),
			    0),
			    cJSON_GetObjectItemCaseSensitive(ex,
			    "body_text_named_params"));
		} else if (str_eq(type, "FOOTER") || str_eq(type, "footer")) {
			channel_template_set(e, "footer", text, 60 * 4, false);
		} else if (str_eq(type, "BUTTONS") ||
		    str_eq(type, "buttons")) {
			cJSON_ArrayForEach(b,
			    cJSON_GetObjectItemCaseSensitive(comp, "buttons")) {
				cJSON	*o = cJSON_CreateObject();
				char	*bt;

				bt = xstrndup_cut(json_str_or(b, "type", ""),
				    32);
				upper(bt);
				cJSON_AddStringToObject(o, "type", bt);
				free(bt);
				cJSON_AddStringToObject(o, "text",
				    json_str_or(b, "text", ""));
				cJSON_AddStringToObject(o, "id", "");
				cJSON_AddItemToArray(buttons, o);
			}
		}
	}
	return e;
}

cJSON *
channel_meta_template_body(const char *to, bool is_group,
    const struct channel_template_msg *t)
{
	cJSON		*root = cJSON_CreateObject(), *tpl, *lang, *comps;
	cJSON		*header = NULL, *body = NULL, *c, *params, *p;
	const cJSON	*v;

	cJSON_AddStringToObject(root, "messaging_product", "whatsapp");
	cJSON_AddStringToObject(root, "recipient_type",
	    is_group ? "group" : "individual");
	cJSON_AddStringToObject(root, "to", to);
	cJSON_AddStringToObject(root, "type", "template");
	tpl = cJSON_AddObjectToObject(root, "template");
	cJSON_AddStringToObject(tpl, "name", t->name);
	lang = cJSON_AddObjectToObject(tpl, "language");
	cJSON_AddStringToObject(lang, "code", t->language);
	comps = cJSON_CreateArray();
	cJSON_ArrayForEach(v, t->params) {
		bool	 is_header = str_eq(json_str_or(v, "part", ""),
			    "header");
		cJSON	**into = is_header ? &header : &body;

		if (*into == NULL) {
			*into = cJSON_CreateObject();
			cJSON_AddStringToObject(*into, "type", is_header ?
			    "header" : "body");
			cJSON_AddArrayToObject(*into, "parameters");
		}
		params = cJSON_GetObjectItemCaseSensitive(*into, "parameters");
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "type", "text");
		if (t->named)
			cJSON_AddStringToObject(p, "parameter_name",
			    json_str_or(v, "name", ""));
		cJSON_AddStringToObject(p, "text", json_str_or(v, "value",
		    ""));
		cJSON_AddItemToArray(params, p);
	}
	/* Header and body values in separate components (§2.1). */
	if (header != NULL)
		cJSON_AddItemToArray(comps, header);
	if (body != NULL)
		cJSON_AddItemToArray(comps, body);
	cJSON_ArrayForEach(v, t->quick_replies) {
		const cJSON	*ix = cJSON_GetObjectItemCaseSensitive(v,
				    "index");
		char		 index[16];

		if (!cJSON_IsNumber(ix))
			continue;
		/* The button's position, as a string (§2.1). */
		snprintf(index, sizeof(index), "%d", ix->valueint);
		c = cJSON_CreateObject();
		cJSON_AddStringToObject(c, "type", "button");
		cJSON_AddStringToObject(c, "sub_type", "quick_reply");
		cJSON_AddStringToObject(c, "index", index);
		params = cJSON_AddArrayToObject(c, "parameters");
		p = cJSON_CreateObject();
		cJSON_AddStringToObject(p, "type", "payload");
		cJSON_AddStringToObject(p, "payload", json_str_or(v,
		    "payload", ""));
		cJSON_AddItemToArray(params, p);
		cJSON_AddItemToArray(comps, c);
	}
	if (cJSON_GetArraySize(comps) > 0)
		cJSON_AddItemToObject(tpl, "components", comps);
	else
		cJSON_Delete(comps);
	return root;
}

enum send_result
channel_meta_list(const struct channel_dialect *d,
    const struct channel_creds *c, const char *base, const char *dflt_base,
    const char *auth_header, cJSON **list, struct send_outcome *out)
{
	const char		*headers[] = { auth_header,
				    "Accept: application/json", NULL };
	struct channel_fetch	 f;
	struct buf		 url, body;
	enum send_result	 st = SEND_OK;
	char			 ctype[128], *after = NULL;
	cJSON			*root = NULL, *all;
	const cJSON		*t, *paging;

	*list = NULL;
	if (!channel_field_ok(c->waba_id) ||
	    strspn(c->waba_id, "0123456789") != strlen(c->waba_id))
		return channel_refuse(out, "Enter the channel's WhatsApp "
		    "Business Account ID to list its templates.");
	if (base != NULL && base[0] != '\0' && !channel_field_ok(base))
		return channel_refuse(out, "The %s API base URL is not "
		    "valid.", d->name);
	all = cJSON_CreateArray();
	buf_init(&url, 0);
	buf_init(&body, 0);
	for (int page = 0; page < CHANNEL_TEMPLATE_PAGES_MAX; page++) {
		buf_reset(&url);
		channel_url_base(&url, base, dflt_base);
		buf_putc(&url, '/');
		url_encode(&url, c->waba_id);
		buf_printf(&url, "/message_templates?limit=%d",
		    LIST_PAGE_SIZE);
		if (after != NULL) {
			buf_puts(&url, "&after=");
			url_encode(&url, after);
		}
		memset(&f, 0, sizeof(f));
		f.url = buf_str(&url);
		f.headers = headers;
		f.max_bytes = LIST_BODY_MAX;
		st = channel_http_get(d, c, &f, &body, ctype, sizeof(ctype),
		    out);
		if (st != SEND_OK)
			break;
		cJSON_Delete(root);
		if ((root = json_parse(body.data, body.len, NULL)) == NULL ||
		    !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(root,
		    "data"))) {
			st = channel_refuse(out, "%s answered the template "
			    "list with something that is not a list.",
			    d->name);
			break;
		}
		cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(root,
		    "data"))
			if (cJSON_IsObject(t) && json_str_or(t, "name",
			    "")[0] != '\0')
				cJSON_AddItemToArray(all,
				    channel_meta_template_entry(t));
		/* More pages while Meta gives a next link and a cursor. */
		paging = cJSON_GetObjectItemCaseSensitive(root, "paging");
		free(after);
		after = NULL;
		if (json_str_or(paging, "next", "")[0] == '\0')
			break;
		after = xstrndup_cut(json_str_or(
		    cJSON_GetObjectItemCaseSensitive(paging, "cursors"),
		    "after", ""), 1024);
		if (after[0] == '\0')
			break;
	}
	free(after);
	cJSON_Delete(root);
	buf_cleanup(&body);
	buf_cleanup(&url);
	if (st != SEND_OK) {
		cJSON_Delete(all);
		return st;
	}
	*list = all;
	return SEND_OK;
}
