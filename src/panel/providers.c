/*
 * providers: Settings → LLM providers and Settings → Models.
 *
 * An API key never travels back to the browser: the key field is always
 * rendered empty (also when a form with errors is shown again), and pages
 * show only the masked hint model/provider.c stored. "Test connection"
 * decrypts the key for one call to the provider's GET /models and shows
 * what came back as a sentence on the edit page.
 *
 * Deleting asks first: the delete button posts to …/delete, which answers
 * with a confirmation page unless the form carries confirm=yes.
 *
 * Another organisation's ids answer 404, as unknown ones do: every model
 * call is scoped by r->org_id.
 */
#include "panel/panel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/context.h"
#include "util/log.h"
#include "crypto/redact.h"
#include "crypto/secret.h"
#include "db/db.h"
#include "http/form.h"
#include "http/req.h"
#include "http/resp.h"
#include "llm/client.h"
#include "model/fielderr.h"
#include "model/orgmodel.h"
#include "http/audit.h"
#include "model/provider.h"
#include "util/arena.h"
#include "util/buf.h"
#include "util/str.h"

#define TEST_TIMEOUT_MS		10000
#define TEST_SHOW_MODELS	5

static void	 add_errors(cJSON *, const struct field_errors *);
static cJSON	*provider_json(const struct provider *);
static cJSON	*model_json(const struct org_model *);
static int	 provider_form_page(struct req *, int, const struct provider *,
		    const char *, const char *, const struct field_errors *,
		    cJSON *);
static int	 provider_edit_page(struct req *, int, int64_t, cJSON *);
static void	 provider_input_read(struct req *, struct provider_input *,
		    struct audit_actor *);
static bool	 confirmed(struct req *);
static int	 confirm_page(struct req *, const char *, const char *,
		    const char *, const char *);
static const char *test_result(struct req *, int64_t, cJSON *);
static int	 model_form_page(struct req *, int, const struct org_model *,
		    const struct org_model_input *,
		    const struct field_errors *, cJSON *);
static void	 model_input_read(struct req *, struct org_model_input *);

/* --- shared ------------------------------------------------------------ */

static void
add_errors(cJSON *ctx, const struct field_errors *errs)
{
	for (int i = 0; errs != NULL && i < errs->n; i++)
		panel_field_error(ctx, errs->field[i], errs->message[i]);
}

/* True when a delete form carries the confirmation. */
static bool
confirmed(struct req *r)
{
	return str_eq(form_get(r->form, "confirm"), "yes");
}

/* "Delete X?" with a form that posts confirm=yes to action. */
static int
confirm_page(struct req *r, const char *title, const char *question,
    const char *action, const char *back)
{
	cJSON	*ctx = cJSON_CreateObject();

	cJSON_AddStringToObject(ctx, "title", title);
	cJSON_AddStringToObject(ctx, "question", question);
	cJSON_AddStringToObject(ctx, "action", action);
	cJSON_AddStringToObject(ctx, "back", back);
	return resp_page(r, 200, "settings/providers_confirm", ctx);
}

/* --- providers --------------------------------------------------------- */

static cJSON *
provider_json(const struct provider *p)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)p->id);
	cJSON_AddStringToObject(o, "name", p->name);
	cJSON_AddStringToObject(o, "base_url", p->base_url);
	cJSON_AddStringToObject(o, "api_key_hint", p->api_key_hint);
	cJSON_AddBoolToObject(o, "has_key", p->has_key);
	cJSON_AddNumberToObject(o, "n_models", p->n_models);
	cJSON_AddBoolToObject(o, "one_model", p->n_models == 1);
	return o;
}

int
panel_providers_list(struct req *r)
{
	struct provider	*ps;
	cJSON		*ctx, *arr;
	int		 n;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (provider_list(r->db, r->arena, r->org_id, &ps, &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "LLM providers");
	arr = cJSON_AddArrayToObject(ctx, "providers");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, provider_json(&ps[i]));
	cJSON_AddBoolToObject(ctx, "has_providers", n > 0);
	return resp_page(r, 200, "settings/providers", ctx);
}

/*
 * The new/edit form. p is the stored provider (NULL: new); name and
 * base_url are what to show in the fields (the stored values or what was
 * posted). ctx may carry extra keys (test result, delete refusal).
 */
static int
provider_form_page(struct req *r, int status, const struct provider *p,
    const char *name, const char *base_url, const struct field_errors *errs,
    cJSON *ctx)
{
	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", p != NULL ? p->name :
	    "New LLM provider");
	cJSON_AddStringToObject(ctx, "name", name != NULL ? name : "");
	cJSON_AddStringToObject(ctx, "base_url", base_url != NULL ? base_url :
	    "");
	if (p != NULL)
		cJSON_AddItemToObject(ctx, "provider", provider_json(p));
	cJSON_AddBoolToObject(ctx, "is_new", p == NULL);
	cJSON_AddStringToObject(ctx, "action", p != NULL ?
	    arena_printf(r->arena, "/settings/providers/%lld",
	    (long long)p->id) : "/settings/providers");
	add_errors(ctx, errs);
	/* A key typed into a form that failed must be typed again. */
	if (errs != NULL && errs->n > 0 &&
	    form_str(r->form, "api_key")[0] != '\0')
		cJSON_AddTrueToObject(ctx, "key_retype");
	return resp_page(r, status, "settings/providers_form", ctx);
}

/* The edit page of a stored provider, with ctx's extra keys. */
static int
provider_edit_page(struct req *r, int status, int64_t id, cJSON *ctx)
{
	struct provider	 p;
	enum db_status	 st;

	st = provider_get(r->db, r->arena, r->org_id, id, &p);
	if (st != DB_OK) {
		cJSON_Delete(ctx);
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	}
	return provider_form_page(r, status, &p, p.name, p.base_url, NULL,
	    ctx);
}

/* The posted form; who (the request's principal) audits the change. */
static void
provider_input_read(struct req *r, struct provider_input *in,
    struct audit_actor *who)
{
	memset(in, 0, sizeof(*in));
	in->name = form_str(r->form, "name");
	in->base_url = form_str(r->form, "base_url");
	in->api_key = form_str(r->form, "api_key");
	in->clear_key = form_get_bool(r->form, "remove_key");
	req_audit_actor(r, who);
	in->who = who;
}

int
panel_providers_new(struct req *r)
{
	return provider_form_page(r, 200, NULL, "", "", NULL, NULL);
}

int
panel_providers_create(struct req *r)
{
	struct provider_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	provider_input_read(r, &in, &who);
	in.clear_key = false;
	st = provider_create(r->db, r->app->key, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"provider created\" provider=%lld",
		    (long long)id);
		return resp_see_other(r, arena_printf(r->arena,
		    "/settings/providers/%lld", (long long)id),
		    "Provider added.");
	case DB_INVALID:
		return provider_form_page(r, 422, NULL, in.name, in.base_url,
		    &errs, NULL);
	case DB_CONFLICT:
		return provider_form_page(r, 409, NULL, in.name, in.base_url,
		    &errs, NULL);
	default:
		return resp_unavailable(r);
	}
}

int
panel_providers_edit(struct req *r)
{
	int64_t	 id;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return provider_edit_page(r, 200, id, NULL);
}

int
panel_providers_update(struct req *r)
{
	struct provider_input	 in;
	struct audit_actor	 who;
	struct field_errors	 errs = { 0 };
	struct provider		 p;
	int64_t			 id;
	int			 status;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	provider_input_read(r, &in, &who);
	/* A new base URL without a key is refused here (provider.h). */
	st = provider_update(r->db, r->app->key, r->org_id, id, &in, &errs);
	if (st == DB_OK)
		return resp_see_other(r, arena_printf(r->arena,
		    "/settings/providers/%lld", (long long)id),
		    in.clear_key && in.api_key[0] == '\0' ?
		    "Provider saved; its API key was removed." :
		    "Provider saved.");
	if (st != DB_INVALID && st != DB_CONFLICT)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	status = st == DB_CONFLICT ? 409 : 422;
	st = provider_get(r->db, r->arena, r->org_id, id, &p);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	return provider_form_page(r, status, &p, in.name, in.base_url, &errs,
	    NULL);
}

int
panel_providers_delete(struct req *r)
{
	struct provider	 p;
	cJSON		*ctx;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = provider_get(r->db, r->arena, r->org_id, id, &p);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (p.n_models == 0 && !confirmed(r))
		return confirm_page(r, "Delete provider",
		    arena_printf(r->arena, "Delete the provider \"%s\"? Its "
		    "API key is deleted with it.", p.name),
		    arena_printf(r->arena, "/settings/providers/%lld/delete",
		    (long long)id),
		    arena_printf(r->arena, "/settings/providers/%lld",
		    (long long)id));
	st = p.n_models > 0 ? DB_INVALID : provider_delete(r->db, r->org_id,
	    id);
	switch (st) {
	case DB_OK:
		log_info("panel", "msg=\"provider deleted\" provider=%lld",
		    (long long)id);
		audit(r, "provider.deleted", "provider", id, p.name);
		return resp_see_other(r, "/settings/providers",
		    arena_printf(r->arena, "Provider \"%s\" deleted.", p.name));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "delete_error", "This provider "
		    "cannot be deleted while models use it: delete those "
		    "models or move them to another provider first.");
		return provider_form_page(r, 409, &p, p.name, p.base_url, NULL,
		    ctx);
	default:
		return resp_unavailable(r);
	}
}

/*
 * Calls the provider's GET /models with the stored key and adds
 * test_ok/test_message to ctx; returns the outcome in a word for the
 * audit log. Never shows the key: the provider's own error text comes
 * redacted from llm/client.c, and the model ids it lists are redacted
 * here too (they are the provider's words as well).
 */
static const char *
test_result(struct req *r, int64_t id, cJSON *ctx)
{
	struct llm_endpoint	 ep;
	struct redact		 rd;
	struct buf		 b;
	cJSON			*models = NULL, *m, *mid;
	char			*base_url = NULL, *key = NULL, *shown_text;
	char			 err[512] = "";
	const char		*outcome;
	enum llm_err		 e;
	enum db_status		 st;
	int			 n, shown = 0;

	st = provider_get_endpoint(r->db, r->app->key, r->org_id, id,
	    &base_url, &key);
	if (st == DB_INVALID) {
		cJSON_AddStringToObject(ctx, "test_message", "The stored API "
		    "key cannot be read: it was encrypted with another master "
		    "key or altered in the database. Enter the key again.");
		outcome = "key unreadable";
		goto out;
	}
	if (st != DB_OK) {
		cJSON_AddStringToObject(ctx, "test_message", "The provider "
		    "could not be loaded; try again.");
		outcome = "not loaded";
		goto out;
	}
	memset(&ep, 0, sizeof(ep));
	ep.base_url = base_url;
	ep.api_key = key;
	ep.timeout_ms = TEST_TIMEOUT_MS;
	ep.max_retries = 1;
	e = llm_list_models(&ep, &models, err, sizeof(err));
	if (e != LLM_OK) {
		cJSON_AddStringToObject(ctx, "test_message", arena_printf(
		    r->arena, "The connection failed (%s): %s", llm_err_str(e),
		    err[0] != '\0' ? err : "no details."));
		outcome = llm_err_str(e);
		goto out;
	}
	n = cJSON_GetArraySize(models);
	buf_init(&b, 1024);
	buf_printf(&b, "Connected: %d model%s", n, n == 1 ? "" : "s");
	cJSON_ArrayForEach(m, models) {
		mid = cJSON_GetObjectItemCaseSensitive(m, "id");
		if (!cJSON_IsString(mid))
			continue;
		buf_puts(&b, shown == 0 ? " (" : ", ");
		if (shown == TEST_SHOW_MODELS) {
			buf_puts(&b, "\xe2\x80\xa6");
			break;
		}
		buf_puts(&b, mid->valuestring);
		shown++;
	}
	if (shown > 0)
		buf_putc(&b, ')');
	buf_putc(&b, '.');
	cJSON_AddTrueToObject(ctx, "test_ok");
	redact_init(&rd);
	redact_add(&rd, key);
	shown_text = redact_dup(&rd, b.err ? arena_printf(r->arena,
	    "Connected: %d models.", n) : buf_str(&b));
	cJSON_AddStringToObject(ctx, "test_message", shown_text);
	free(shown_text);
	buf_cleanup(&b);
	outcome = "connected";
out:
	cJSON_Delete(models);
	free(base_url);
	secret_plain_free(key);
	return outcome;
}

int
panel_providers_test(struct req *r)
{
	struct provider	 p;
	cJSON		*ctx;
	int64_t		 id;
	enum db_status	 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = provider_get(r->db, r->arena, r->org_id, id, &p);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddTrueToObject(ctx, "tested");
	/* The stored key went out: who sent it where is worth a line. */
	audit(r, "provider.tested", "provider", id, test_result(r, id, ctx));
	return provider_form_page(r, 200, &p, p.name, p.base_url, NULL, ctx);
}

/* --- models ------------------------------------------------------------ */

static cJSON *
model_json(const struct org_model *m)
{
	cJSON	*o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)m->id);
	cJSON_AddStringToObject(o, "name", m->name);
	cJSON_AddStringToObject(o, "display_name", m->display_name);
	cJSON_AddStringToObject(o, "provider_name", m->provider_name);
	cJSON_AddNumberToObject(o, "provider_id", (double)m->provider_id);
	cJSON_AddBoolToObject(o, "supports_vision", m->supports_vision);
	cJSON_AddBoolToObject(o, "supports_tools", m->supports_tools);
	cJSON_AddBoolToObject(o, "is_default", m->is_default);
	cJSON_AddBoolToObject(o, "is_builtin", m->is_builtin);
	cJSON_AddNumberToObject(o, "n_agents", m->n_agents);
	cJSON_AddBoolToObject(o, "one_agent", m->n_agents == 1);
	return o;
}

int
panel_models_list(struct req *r)
{
	struct org_model	*ms;
	cJSON			*ctx, *arr;
	int			 n;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	if (orgmodel_list(r->db, r->arena, r->org_id, &ms, &n) != DB_OK)
		return resp_unavailable(r);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", "Models");
	arr = cJSON_AddArrayToObject(ctx, "models");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, model_json(&ms[i]));
	return resp_page(r, 200, "settings/models", ctx);
}

/*
 * The new/edit form. m is the stored model (NULL: new); in holds what to
 * show in the fields.
 */
static int
model_form_page(struct req *r, int status, const struct org_model *m,
    const struct org_model_input *in, const struct field_errors *errs,
    cJSON *ctx)
{
	struct provider	*ps;
	cJSON		*arr, *o;
	int		 n;

	if (provider_list(r->db, r->arena, r->org_id, &ps, &n) != DB_OK) {
		cJSON_Delete(ctx);
		return resp_unavailable(r);
	}
	if (ctx == NULL)
		ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "title", m != NULL ? m->display_name :
	    "New model");
	cJSON_AddBoolToObject(ctx, "is_new", m == NULL);
	cJSON_AddBoolToObject(ctx, "is_builtin", m != NULL && m->is_builtin);
	if (m != NULL)
		cJSON_AddItemToObject(ctx, "model", model_json(m));
	cJSON_AddStringToObject(ctx, "action", m != NULL ?
	    arena_printf(r->arena, "/settings/models/%lld", (long long)m->id) :
	    "/settings/models");
	cJSON_AddStringToObject(ctx, "name", in->name != NULL ? in->name : "");
	cJSON_AddStringToObject(ctx, "display_name", in->display_name != NULL ?
	    in->display_name : "");
	cJSON_AddBoolToObject(ctx, "supports_vision", in->supports_vision);
	cJSON_AddBoolToObject(ctx, "supports_tools", in->supports_tools);
	cJSON_AddBoolToObject(ctx, "is_default", in->is_default);
	arr = cJSON_AddArrayToObject(ctx, "providers");
	for (int i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)ps[i].id);
		cJSON_AddStringToObject(o, "name", ps[i].name);
		cJSON_AddBoolToObject(o, "selected",
		    ps[i].id == in->provider_id);
		cJSON_AddItemToArray(arr, o);
	}
	cJSON_AddBoolToObject(ctx, "has_providers", n > 0);
	add_errors(ctx, errs);
	return resp_page(r, status, "settings/models_form", ctx);
}

static void
model_input_read(struct req *r, struct org_model_input *in)
{
	memset(in, 0, sizeof(*in));
	if (!form_get_int64(r->form, "provider_id", &in->provider_id))
		in->provider_id = 0;
	in->name = form_str(r->form, "name");
	in->display_name = form_str(r->form, "display_name");
	in->supports_vision = form_get_bool(r->form, "supports_vision");
	in->supports_tools = form_get_bool(r->form, "supports_tools");
	in->is_default = form_get_bool(r->form, "is_default");
}

int
panel_models_new(struct req *r)
{
	struct org_model_input	 in = { .supports_tools = true };
	const char		*pid = req_query(r, "provider");
	int64_t			 v;

	if (pid != NULL && str_to_i64(pid, &v))
		in.provider_id = v;
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	return model_form_page(r, 200, NULL, &in, NULL, NULL);
}

int
panel_models_create(struct req *r)
{
	struct org_model_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id = 0;
	enum db_status		 st;

	if (req_db(r) == NULL)
		return resp_unavailable(r);
	model_input_read(r, &in);
	st = orgmodel_create(r->db, r->org_id, &in, &errs, &id);
	switch (st) {
	case DB_OK:
		audit(r, "model.created", "model", id,
		    orgmodel_describe(r->arena, &in));
		return resp_see_other(r, "/settings/models", "Model added.");
	case DB_INVALID:
		return model_form_page(r, 422, NULL, &in, &errs, NULL);
	case DB_CONFLICT:
		return model_form_page(r, 409, NULL, &in, &errs, NULL);
	default:
		return resp_unavailable(r);
	}
}

int
panel_models_edit(struct req *r)
{
	struct org_model	 m;
	struct org_model_input	 in;
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &m);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	in = (struct org_model_input){
		.provider_id = m.provider_id,
		.name = m.name,
		.display_name = m.display_name,
		.supports_vision = m.supports_vision,
		.supports_tools = m.supports_tools,
		.is_default = m.is_default,
	};
	return model_form_page(r, 200, &m, &in, NULL, NULL);
}

int
panel_models_update(struct req *r)
{
	struct org_model	 m;
	struct org_model_input	 in;
	struct field_errors	 errs = { 0 };
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &m);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	model_input_read(r, &in);
	if (m.is_builtin) {
		/* Its form has no provider, name or capabilities. */
		in.provider_id = 0;
		in.name = m.name;
		in.supports_vision = m.supports_vision;
		in.supports_tools = m.supports_tools;
	}
	st = orgmodel_update(r->db, r->org_id, id, &in, &errs);
	switch (st) {
	case DB_OK:
		audit(r, "model.updated", "model", id,
		    orgmodel_describe(r->arena, &in));
		return resp_see_other(r, "/settings/models", "Model saved.");
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		return model_form_page(r, 422, &m, &in, &errs, NULL);
	case DB_CONFLICT:
		return model_form_page(r, 409, &m, &in, &errs, NULL);
	default:
		return resp_unavailable(r);
	}
}

int
panel_models_delete(struct req *r)
{
	struct org_model	 m;
	struct org_model_input	 in;
	cJSON			*ctx;
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &m);
	if (st != DB_OK)
		return st == DB_NOT_FOUND ? resp_not_found(r) :
		    resp_unavailable(r);
	if (!m.is_builtin && m.n_agents == 0 && !confirmed(r))
		return confirm_page(r, "Delete model",
		    arena_printf(r->arena, "Delete the model \"%s\"?%s",
		    m.display_name, m.is_default ? " The built-in model "
		    "becomes the default." : ""),
		    arena_printf(r->arena, "/settings/models/%lld/delete",
		    (long long)id),
		    arena_printf(r->arena, "/settings/models/%lld",
		    (long long)id));
	st = m.is_builtin || m.n_agents > 0 ? DB_INVALID :
	    orgmodel_delete(r->db, r->org_id, id);
	switch (st) {
	case DB_OK:
		audit(r, "model.deleted", "model", id, arena_printf(r->arena,
		    "%s (%s)", m.display_name, m.name));
		return resp_see_other(r, "/settings/models",
		    arena_printf(r->arena, "Model \"%s\" deleted.",
		    m.display_name));
	case DB_NOT_FOUND:
		return resp_not_found(r);
	case DB_INVALID:
		ctx = cJSON_CreateObject();
		cJSON_AddStringToObject(ctx, "delete_error", m.is_builtin ?
		    "The built-in model cannot be deleted." :
		    "This model cannot be deleted while agents use it: "
		    "choose another model for those agents first.");
		in = (struct org_model_input){
			.provider_id = m.provider_id,
			.name = m.name,
			.display_name = m.display_name,
			.supports_vision = m.supports_vision,
			.supports_tools = m.supports_tools,
			.is_default = m.is_default,
		};
		return model_form_page(r, 409, &m, &in, NULL, ctx);
	default:
		return resp_unavailable(r);
	}
}

int
panel_models_default(struct req *r)
{
	struct org_model	 m;
	int64_t			 id;
	enum db_status		 st;

	if (!req_param_id(r, "id", &id))
		return resp_not_found(r);
	if (req_db(r) == NULL)
		return resp_unavailable(r);
	st = orgmodel_get(r->db, r->arena, r->org_id, id, &m);
	if (st == DB_OK)
		st = orgmodel_set_default(r->db, r->org_id, id);
	if (st == DB_OK)
		audit(r, "model.default_set", "model", id, arena_printf(
		    r->arena, "%s (%s)", m.display_name, m.name));
	if (st == DB_OK)
		return resp_see_other(r, "/settings/models",
		    arena_printf(r->arena, "\"%s\" is now the default model.",
		    m.display_name));
	return st == DB_NOT_FOUND ? resp_not_found(r) : resp_unavailable(r);
}
