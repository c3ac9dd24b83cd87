/*
 * The Mustache spec runner: every case of every *.json file in the spec
 * directory is one Check test (one loop iteration), rendered through tmpl.h
 * with its partials and compared byte for byte with the expected output.
 *
 * The directory is argv[1], else $PARLEY_MUSTACHE_SPEC_DIR, else the copy
 * vendored in tests/spec/mustache-spec (so a fresh clone needs nothing
 * else). Finding no case at all is a failure: a wrong path must not pass.
 *
 * Test code, single-threaded: the loaded cases live in file-level statics
 * because Check's loop tests only hand each iteration its index.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "tmpl/tmpl.h"
#include "util/buf.h"
#include "util/xmalloc.h"

#define SPEC_DEFAULT_DIR	"tests/spec/mustache-spec"
#define SPEC_MAIN		"(spec template)"
#define SPEC_FILE_MAX		(4L * 1024 * 1024)

struct spec_case {
	const char	*file;		/* "sections.json" */
	const cJSON	*test;		/* {name, desc, data, template, ...} */
};

static bool	 load_dir(const char *);
static bool	 load_file(const char *, const char *);
static char	*read_all(const char *, size_t *);
static void	 quote(struct buf *, const char *);
static int	 str_cmp(const void *, const void *);
static Suite	*spec_suite(void);

static struct spec_case	*cases;
static size_t		 n_cases;
static cJSON		**docs;
static size_t		 n_docs;
static char		**file_names;
static char		 message[16384];

START_TEST(spec_case)
{
	const struct spec_case	*c = &cases[_i];
	const cJSON		*name, *tmpl, *data, *partials, *expected;
	const cJSON		*p;
	struct tmpl_set		*set = tmpl_set_new();
	struct buf		 msg;
	char			 err[256];
	char			*out = NULL;
	bool			 ok = true;

	buf_init(&msg, sizeof(message) - 1);
	name = cJSON_GetObjectItemCaseSensitive(c->test, "name");
	tmpl = cJSON_GetObjectItemCaseSensitive(c->test, "template");
	data = cJSON_GetObjectItemCaseSensitive(c->test, "data");
	partials = cJSON_GetObjectItemCaseSensitive(c->test, "partials");
	expected = cJSON_GetObjectItemCaseSensitive(c->test, "expected");
	buf_printf(&msg, "%s: \"%s\": ", c->file, cJSON_IsString(name) ?
	    name->valuestring : "(unnamed)");
	if (!cJSON_IsString(tmpl) || !cJSON_IsString(expected)) {
		buf_puts(&msg, "case has no template or expected string");
		ok = false;
		goto out;
	}
	cJSON_ArrayForEach(p, partials) {
		if (!cJSON_IsString(p) || !tmpl_set_add(set, p->string,
		    p->valuestring, strlen(p->valuestring), err, sizeof(err))) {
			buf_printf(&msg, "partial \"%s\" does not compile: %s",
			    p->string, cJSON_IsString(p) ? err : "not a string");
			ok = false;
			goto out;
		}
	}
	if (!tmpl_set_add(set, SPEC_MAIN, tmpl->valuestring,
	    strlen(tmpl->valuestring), err, sizeof(err))) {
		buf_printf(&msg, "template does not compile: %s", err);
		ok = false;
		goto out;
	}
	out = tmpl_render(set, SPEC_MAIN, data, NULL);
	if (out == NULL || strcmp(out, expected->valuestring) != 0) {
		buf_puts(&msg, "\n  template: ");
		quote(&msg, tmpl->valuestring);
		buf_puts(&msg, "\n  expected: ");
		quote(&msg, expected->valuestring);
		buf_puts(&msg, "\n  actual:   ");
		if (out != NULL)
			quote(&msg, out);
		else
			buf_puts(&msg, "NULL (render failed)");
		ok = false;
	}
out:
	/* Copy out and free first: a failed assertion leaves by longjmp. */
	snprintf(message, sizeof(message), "%s", buf_str(&msg));
	buf_cleanup(&msg);
	free(out);
	tmpl_set_free(set);
	ck_assert_msg(ok, "%s", message);
}
END_TEST

int
main(int argc, char **argv)
{
	const char	*dir;
	SRunner		*sr;
	int		 failed;
	size_t		 i;

	if (argc > 1)
		dir = argv[1];
	else if ((dir = getenv("PARLEY_MUSTACHE_SPEC_DIR")) == NULL ||
	    dir[0] == '\0')
		dir = SPEC_DEFAULT_DIR;
	if (!load_dir(dir))
		return EXIT_FAILURE;
	if (n_cases == 0) {
		fprintf(stderr, "spec_runner: no spec cases found in %s\n",
		    dir);
		return EXIT_FAILURE;
	}
	printf("spec_runner: %zu cases from %zu files in %s\n", n_cases,
	    n_docs, dir);

	sr = srunner_create(spec_suite());
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);

	for (i = 0; i < n_docs; i++) {
		cJSON_Delete(docs[i]);
		free(file_names[i]);
	}
	free(docs);
	free(file_names);
	free(cases);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static Suite *
spec_suite(void)
{
	Suite	*s = suite_create("mustache-spec");
	TCase	*tc = tcase_create("spec");

	tcase_add_loop_test(tc, spec_case, 0, (int)n_cases);
	suite_add_tcase(s, tc);
	return s;
}

/* Every *.json in dir, in name order so failures read the same each run. */
static bool
load_dir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL;
	size_t		 n = 0, cap = 0, len, i;
	bool		 ok = true;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "spec_runner: %s: cannot open directory\n", dir);
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len <= 5 ||
		    strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), str_cmp);
	for (i = 0; i < n; i++) {
		if (ok && !load_file(dir, names[i]))
			ok = false;
		free(names[i]);
	}
	free(names);
	return ok;
}

static bool
load_file(const char *dir, const char *name)
{
	const cJSON	*tests, *t;
	cJSON		*doc;
	char		*path, *text;
	size_t		 len;

	path = xasprintf("%s/%s", dir, name);
	text = read_all(path, &len);
	if (text == NULL) {
		fprintf(stderr, "spec_runner: %s: cannot read\n", path);
		free(path);
		return false;
	}
	doc = cJSON_ParseWithLength(text, len);
	free(text);
	tests = cJSON_GetObjectItemCaseSensitive(doc, "tests");
	if (doc == NULL || !cJSON_IsArray(tests)) {
		fprintf(stderr, "spec_runner: %s: not a spec file (no "
		    "\"tests\" array)\n", path);
		cJSON_Delete(doc);
		free(path);
		return false;
	}
	free(path);

	docs = xrealloc(docs, (n_docs + 1) * sizeof(*docs));
	file_names = xrealloc(file_names, (n_docs + 1) * sizeof(*file_names));
	docs[n_docs] = doc;
	file_names[n_docs] = xstrdup(name);
	cJSON_ArrayForEach(t, tests) {
		cases = xrealloc(cases, (n_cases + 1) * sizeof(*cases));
		cases[n_cases].file = file_names[n_docs];
		cases[n_cases].test = t;
		n_cases++;
	}
	n_docs++;
	return true;
}

static char *
read_all(const char *path, size_t *len)
{
	FILE	*f;
	char	*s;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
	    n > SPEC_FILE_MAX || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	s = xmalloc((size_t)n + 1);
	*len = fread(s, 1, (size_t)n, f);
	s[*len] = '\0';
	fclose(f);
	return s;
}

/* A C-style quoted string, so white space differences show. */
static void
quote(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '\n':
			buf_puts(b, "\\n");
			break;
		case '\r':
			buf_puts(b, "\\r");
			break;
		case '\t':
			buf_puts(b, "\\t");
			break;
		case '"':
			buf_puts(b, "\\\"");
			break;
		case '\\':
			buf_puts(b, "\\\\");
			break;
		default:
			buf_putc(b, *s);
		}
	}
	buf_putc(b, '"');
}

static int
str_cmp(const void *a, const void *b)
{
	const char *const	*x = a;
	const char *const	*y = b;

	return strcmp(*x, *y);
}
