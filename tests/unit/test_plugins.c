/*
 * Unit tests for plugins/registry.c: every plugin's wire name is a valid
 * OpenAI function name and distinct, lookups work, every plugin is
 * available (the WhatsApp tools refuse outside a chat), and every schema
 * is a JSON object schema with descriptions. Nothing here touches a database.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "plugins/plugin.h"

#include "unit/unit.h"

static bool	 wire_ok(const char *);

/* [a-zA-Z0-9_-]{1,64}: PROTOCOLS.md §5.1. */
static bool
wire_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n < 1 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	return true;
}

START_TEST(wire_names_valid_and_distinct)
{
	const struct plugin *const *all;
	char	 names[64][PLUGIN_WIRE_MAX + 1];
	int	 n;

	all = plugin_all(&n);
	ck_assert_int_ge(n, 6);
	ck_assert_int_le(n, 64);
	for (int i = 0; i < n; i++) {
		plugin_wire_name(all[i]->id, names[i]);
		ck_assert_msg(wire_ok(names[i]), "%s → %s", all[i]->id,
		    names[i]);
		for (int j = 0; j < i; j++)
			ck_assert_str_ne(names[i], names[j]);
	}
}
END_TEST

START_TEST(wire_name_mapping)
{
	char	 w[PLUGIN_WIRE_MAX + 1];
	char	 longid[200];

	plugin_wire_name("time.now", w);
	ck_assert_str_eq(w, "time_now");
	plugin_wire_name("whatsapp.getConversation", w);
	ck_assert_str_eq(w, "whatsapp_getConversation");
	plugin_wire_name("mcp.x/y z", w);
	ck_assert_str_eq(w, "mcp_x_y_z");
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	plugin_wire_name(longid, w);
	ck_assert_uint_eq(strlen(w), PLUGIN_WIRE_MAX);
	ck_assert(wire_ok(w));
}
END_TEST

START_TEST(registry_lookup)
{
	const struct plugin *const *all;
	int	 n;

	all = plugin_all(&n);
	for (int i = 0; i < n; i++)
		ck_assert_ptr_eq(plugin_find(all[i]->id), all[i]);
	ck_assert_ptr_null(plugin_find("time_now"));	/* wire, not id */
	ck_assert_ptr_null(plugin_find("nope.nothing"));
	ck_assert_ptr_null(plugin_find(""));
	ck_assert_ptr_null(plugin_find(NULL));

	ck_assert_ptr_nonnull(plugin_find("time.now"));
	ck_assert_ptr_nonnull(plugin_find("knowledge.search"));
	ck_assert_ptr_nonnull(plugin_find("handoff.request"));
	ck_assert(plugin_available(plugin_find("time.now")));
	ck_assert(plugin_available(plugin_find("knowledge.search")));
	ck_assert(plugin_available(plugin_find("handoff.request")));
	ck_assert(!plugin_available(NULL));
	for (int i = 0; i < n; i++)
		ck_assert(plugin_available(all[i]));
}
END_TEST

START_TEST(whatsapp_tools_need_a_chat)
{
	static const char *const ids[] = {
		"whatsapp.send", "whatsapp.getConversation",
		"whatsapp.getStatus", "whatsapp.sendMedia",
	};

	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const struct plugin	*p = plugin_find(ids[i]);
		struct plugin_ctx	 ctx = { 0 };
		cJSON			*args = cJSON_CreateObject();
		char			*result = NULL;

		ck_assert_ptr_nonnull(p);
		ck_assert(p->needs_channel);
		ck_assert(plugin_available(p));
		/* Outside a WhatsApp conversation: a tool error, and nothing
		 * else happens (no pool is even touched). */
		ck_assert(!p->invoke(&ctx, args, &result));
		ck_assert_str_eq(result, "This tool works only while answering "
		    "a WhatsApp conversation.");
		ck_assert(!ctx.handoff_requested);
		free(result);
		cJSON_Delete(args);
	}
}
END_TEST

START_TEST(schemas_are_object_schemas)
{
	const struct plugin *const *all;
	int	 n;

	all = plugin_all(&n);
	for (int i = 0; i < n; i++) {
		const struct plugin	*p = all[i];
		cJSON			*s = cJSON_Parse(p->params_schema);
		const cJSON		*type, *props, *prop, *req, *r;

		ck_assert_msg(cJSON_IsObject(s), "%s: schema is not a JSON "
		    "object", p->id);
		type = cJSON_GetObjectItemCaseSensitive(s, "type");
		ck_assert(cJSON_IsString(type));
		ck_assert_str_eq(type->valuestring, "object");
		props = cJSON_GetObjectItemCaseSensitive(s, "properties");
		ck_assert_msg(cJSON_IsObject(props), "%s: no properties",
		    p->id);
		cJSON_ArrayForEach(prop, props) {
			const cJSON	*d, *t;

			d = cJSON_GetObjectItemCaseSensitive(prop,
			    "description");
			t = cJSON_GetObjectItemCaseSensitive(prop, "type");
			ck_assert_msg(cJSON_IsString(d) &&
			    d->valuestring[0] != '\0', "%s.%s: no description",
			    p->id, prop->string);
			ck_assert_msg(cJSON_IsString(t), "%s.%s: no type",
			    p->id, prop->string);
		}
		req = cJSON_GetObjectItemCaseSensitive(s, "required");
		if (req != NULL) {
			ck_assert(cJSON_IsArray(req));
			cJSON_ArrayForEach(r, req) {
				ck_assert(cJSON_IsString(r));
				ck_assert_msg(cJSON_GetObjectItemCaseSensitive(
				    props, r->valuestring) != NULL,
				    "%s: required %s is not a property",
				    p->id, r->valuestring);
			}
		}
		ck_assert(p->description != NULL && *p->description != '\0');
		ck_assert(p->title != NULL && *p->title != '\0');
		ck_assert_ptr_nonnull(p->invoke);
		cJSON_Delete(s);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("plugins");
	TCase	*tc = tcase_create("registry");

	tcase_add_test(tc, wire_names_valid_and_distinct);
	tcase_add_test(tc, wire_name_mapping);
	tcase_add_test(tc, registry_lookup);
	tcase_add_test(tc, whatsapp_tools_need_a_chat);
	tcase_add_test(tc, schemas_are_object_schemas);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
