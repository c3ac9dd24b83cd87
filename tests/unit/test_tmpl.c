/*
 * Unit tests for tmpl/ beyond the Mustache spec: what a user of the panel
 * would notice. Single quotes are escaped, template errors name the template
 * (or file) and line, a page inherits the layout loaded from a directory,
 * missing templates and partials behave, and a runaway template fails
 * instead of hanging or crashing.
 */
#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "tmpl/tmpl.h"
#include "util/xmalloc.h"

#include "unit/unit.h"

struct tmp_file {
	const char	*rel;
	const char	*text;
};

static char	*render_str(const char *, const char *, const char *);
static void	 add_ok(struct tmpl_set *, const char *, const char *);
static void	 add_fails(const char *, const char *, const char *);
static void	 write_tree(char *, size_t, const struct tmp_file *, size_t);
static void	 remove_tree(const char *, const struct tmp_file *, size_t,
		    const char *const *, size_t);
static Suite	*tmpl_suite(void);

/* The layout a page inherits; the body block re-indents the page's form. */
static const struct tmp_file site[] = {
	{ "layout.mustache",
	  "<!doctype html>\n"
	  "<title>{{$title}}Parley{{/title}}</title>\n"
	  "<body>\n"
	  "  {{>partials/nav}}\n"
	  "  <main>\n"
	  "    {{$body}}\n"
	  "    {{/body}}\n"
	  "  </main>\n"
	  "</body>\n" },
	{ "partials/nav.mustache",
	  "<nav>{{#user}}<a href=\"/logout\">Log out {{name}}</a>{{/user}}"
	  "</nav>\n" },
	{ "auth/login.mustache",
	  "{{<layout}}\n"
	  "{{$title}}Sign in · Parley{{/title}}\n"
	  "{{$body}}\n"
	  "{{#flash}}\n"
	  "<p class=\"flash\">{{.}}</p>\n"
	  "{{/flash}}\n"
	  "<form method=\"post\" action=\"/login\">\n"
	  "  <input name=\"csrf\" value=\"{{csrf}}\">\n"
	  "</form>\n"
	  "{{/body}}\n"
	  "{{/layout}}\n" },
	{ ".hidden.mustache", "{{#unclosed}}" },
	{ "README.txt", "{{#not a template}}" },
};
static const char *const site_dirs[] = { "partials", "auth" };

START_TEST(escapes_single_quote)
{
	char	*s = render_str("<a title='{{t}}'>{{t}}</a>|{{{t}}}|{{&t}}",
	    "{\"t\": \"O'Brien & <\\\"co\\\">\"}", NULL);

	ck_assert_str_eq(s, "<a title='O&#39;Brien &amp; &lt;&quot;co&quot;"
	    "&gt;'>O&#39;Brien &amp; &lt;&quot;co&quot;&gt;</a>"
	    "|O'Brien & <\"co\">|O'Brien & <\"co\">");
	free(s);
}
END_TEST

START_TEST(errors_name_template_and_line)
{
	struct tmpl_set	*set = tmpl_set_new();

	add_fails("one\ntwo {{name\n", "bad:2: ", "unclosed tag");
	add_fails("a\n{{#items}}\nx\n", "bad:2: ", "never closed");
	add_fails("{{#a}}\n{{/b}}", "bad:2: ", "does not match");
	add_fails("x\n\n{{/a}}", "bad:3: ", "no open section");
	add_fails("{{=<% =}}", "bad:1: ", "delimiter");
	add_fails("{{$a}}\n{{/a}}\n{{<p}}", "bad:3: ", "parent \"p\"");
	add_fails("ok\n{{ }}", "bad:2: ", "empty tag");

	/* A failed add does not replace the good template of that name. */
	add_ok(set, "page", "good");
	ck_assert(!tmpl_set_add(set, "page", "{{#x}}", 6, NULL, 0));
	ck_assert(tmpl_set_has(set, "page"));
	tmpl_set_free(set);
}
END_TEST

START_TEST(layout_inheritance_from_dir)
{
	struct tmpl_set	*set = tmpl_set_new();
	cJSON		*data;
	char		 dir[64], err[256];
	char		*s;
	size_t		 len;
	bool		 ok;

	write_tree(dir, sizeof(dir), site, sizeof(site) / sizeof(site[0]));
	ok = tmpl_set_load_dir(set, dir, err, sizeof(err));
	ck_assert_msg(ok, "load_dir: %s", err);
	ck_assert(tmpl_set_has(set, "layout"));
	ck_assert(tmpl_set_has(set, "partials/nav"));
	ck_assert(tmpl_set_has(set, "auth/login"));
	ck_assert(!tmpl_set_has(set, ".hidden"));
	ck_assert(!tmpl_set_has(set, "README"));

	data = cJSON_Parse("{\"user\": {\"name\": \"Ann & Bo\"}, "
	    "\"csrf\": \"tok'en\", "
	    "\"flash\": [\"Wrong password.\", \"Try again.\"]}");
	s = tmpl_render(set, "auth/login", data, &len);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s,
	    "<!doctype html>\n"
	    "<title>Sign in · Parley</title>\n"
	    "<body>\n"
	    "  <nav><a href=\"/logout\">Log out Ann &amp; Bo</a></nav>\n"
	    "  <main>\n"
	    "    <p class=\"flash\">Wrong password.</p>\n"
	    "    <p class=\"flash\">Try again.</p>\n"
	    "    <form method=\"post\" action=\"/login\">\n"
	    "      <input name=\"csrf\" value=\"tok&#39;en\">\n"
	    "    </form>\n"
	    "  </main>\n"
	    "</body>\n");
	ck_assert_uint_eq(len, strlen(s));
	free(s);

	/* The layout alone renders its defaults. */
	s = tmpl_render(set, "layout", NULL, NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert(strstr(s, "<title>Parley</title>") != NULL);
	ck_assert(strstr(s, "<nav></nav>") != NULL);
	free(s);

	cJSON_Delete(data);
	tmpl_set_free(set);
	remove_tree(dir, site, sizeof(site) / sizeof(site[0]), site_dirs,
	    sizeof(site_dirs) / sizeof(site_dirs[0]));
}
END_TEST

START_TEST(load_dir_error_names_file)
{
	static const struct tmp_file	 bad[] = {
		{ "a.mustache", "fine\n" },
		{ "broken.mustache", "line one\n{{#rows}}\n" },
	};
	struct tmpl_set			*set = tmpl_set_new();
	char				 dir[64], err[256], *want;

	write_tree(dir, sizeof(dir), bad, 2);
	ck_assert(!tmpl_set_load_dir(set, dir, err, sizeof(err)));
	want = xasprintf("%s/broken.mustache:2: ", dir);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "err: %s", err);
	ck_assert(strstr(err, "\"rows\"") != NULL);
	free(want);

	ck_assert(!tmpl_set_load_dir(set, "/nonexistent/templates", err,
	    sizeof(err)));
	ck_assert(strstr(err, "/nonexistent/templates: ") == err);

	tmpl_set_free(set);
	remove_tree(dir, bad, 2, NULL, 0);
}
END_TEST

START_TEST(missing_template_and_partial)
{
	struct tmpl_set	*set = tmpl_set_new();
	size_t		 len = 99;
	char		*s;

	ck_assert_ptr_null(tmpl_render(set, "nope", NULL, &len));
	ck_assert(!tmpl_set_has(set, "nope"));
	add_ok(set, "page", "a{{>nope}}b{{<nope}}{{$x}}y{{/x}}{{/nope}}c");
	s = tmpl_render(set, "page", NULL, NULL);
	ck_assert_str_eq(s, "abc");
	free(s);
	tmpl_set_free(set);
	tmpl_set_free(NULL);
}
END_TEST

START_TEST(numbers_render_like_json)
{
	char	*s = render_str("{{i}} {{f}} {{n}} {{z}} {{big}} {{t}} {{nul}}",
	    "{\"i\": 85, \"f\": 1.5, \"n\": -3, \"z\": 0, \"big\": 1e20, "
	    "\"t\": true, \"nul\": null}", NULL);

	ck_assert_str_eq(s, "85 1.5 -3 0 1e+20 true ");
	free(s);
}
END_TEST

START_TEST(runaway_recursion_fails)
{
	struct tmpl_set	*set = tmpl_set_new();

	add_ok(set, "loop", "x{{>loop}}");
	add_ok(set, "fork", "{{>fork}}{{>fork}}");
	add_ok(set, "self", "{{<self}}{{$b}}{{$b}}{{/b}}{{/b}}{{/self}}"
	    "{{$b}}z{{/b}}");
	ck_assert_ptr_null(tmpl_render(set, "loop", NULL, NULL));
	ck_assert_ptr_null(tmpl_render(set, "fork", NULL, NULL));
	ck_assert_ptr_null(tmpl_render(set, "self", NULL, NULL));
	tmpl_set_free(set);
}
END_TEST

int
main(void)
{
	return unit_run(tmpl_suite());
}

static Suite *
tmpl_suite(void)
{
	Suite	*s = suite_create("tmpl");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, escapes_single_quote);
	tcase_add_test(tc, errors_name_template_and_line);
	tcase_add_test(tc, layout_inheritance_from_dir);
	tcase_add_test(tc, load_dir_error_names_file);
	tcase_add_test(tc, missing_template_and_partial);
	tcase_add_test(tc, numbers_render_like_json);
	tcase_add_test(tc, runaway_recursion_fails);
	suite_add_tcase(s, tc);
	return s;
}

/* Renders one template (and optionally a partial named "p") with JSON data. */
static char *
render_str(const char *tmpl, const char *json, const char *partial)
{
	struct tmpl_set	*set = tmpl_set_new();
	cJSON		*data = json ? cJSON_Parse(json) : NULL;
	char		*s;

	ck_assert(json == NULL || data != NULL);
	if (partial != NULL)
		add_ok(set, "p", partial);
	add_ok(set, "t", tmpl);
	s = tmpl_render(set, "t", data, NULL);
	ck_assert_ptr_nonnull(s);
	cJSON_Delete(data);
	tmpl_set_free(set);
	return s;
}

static void
add_ok(struct tmpl_set *set, const char *name, const char *src)
{
	char	 err[256];
	bool	 ok = tmpl_set_add(set, name, src, strlen(src), err,
	    sizeof(err));

	ck_assert_msg(ok, "%s", err);
}

/* Compiling src as "bad" fails with err starting `prefix`, holding `has`. */
static void
add_fails(const char *src, const char *prefix, const char *has)
{
	struct tmpl_set	*set = tmpl_set_new();
	char		 err[256];
	bool		 ok = tmpl_set_add(set, "bad", src, strlen(src), err,
	    sizeof(err));
	bool		 has_bad = tmpl_set_has(set, "bad");

	tmpl_set_free(set);
	ck_assert_msg(!ok, "compiled: %s", src);
	ck_assert(!has_bad);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0 &&
	    strstr(err, has) != NULL, "err \"%s\" for \"%s\"", err, src);
}

/* Makes a fresh temporary directory in dir and writes files (with parents). */
static void
write_tree(char *dir, size_t dirlen, const struct tmp_file *files, size_t n)
{
	FILE	*f;
	char	*path, *slash;
	size_t	 i;

	snprintf(dir, dirlen, "/tmp/parley-tmpl-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, files[i].rel);
		slash = strrchr(path, '/');
		*slash = '\0';
		/* Only one level of subdirectory is needed here. */
		if (strcmp(path, dir) != 0 && access(path, F_OK) != 0)
			ck_assert_int_eq(mkdir(path, 0700), 0);
		*slash = '/';
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		fputs(files[i].text, f);
		fclose(f);
		free(path);
	}
}

static void
remove_tree(const char *dir, const struct tmp_file *files, size_t n,
    const char *const *dirs, size_t n_dirs)
{
	char	*path;
	size_t	 i;

	for (i = 0; i < n; i++) {
		path = xasprintf("%s/%s", dir, files[i].rel);
		unlink(path);
		free(path);
	}
	for (i = 0; i < n_dirs; i++) {
		path = xasprintf("%s/%s", dir, dirs[i]);
		rmdir(path);
		free(path);
	}
	rmdir(dir);
}
