/*
 * Unit tests for chat/extract: the extraction process and what the
 * server makes of each way it can end. The real one (`parley extract`,
 * this build's binary) reads a PDF, a DOCX and a JSON file written here,
 * and refuses a damaged one with the reader's own reason. Stand-ins
 * (small shell scripts run in its place through cfg.self_exe) hang, crash,
 * run out of CPU time, flood the pipe, fail, or answer nonsense, and each
 * becomes a reason, within the wall-clock limit. Text formats never start
 * a process.
 */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/app.h"
#include "chat/extract.h"
#include "harness/docs.h"
#include "util/time.h"
#include "util/xmalloc.h"

#include "unit/unit.h"

static struct app	 app;
static char		 parley[PATH_MAX + 16];

static void	 setup(void);
static char	*script(const char *);
static void	 run(enum doc_kind, const void *, size_t,
		    struct extract_result *);

/* This build's parley: build/<x>/tests/unit/test_extract → build/<x>. */
static void
setup(void)
{
	char	 exe[PATH_MAX];
	ssize_t	 n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	ck_assert(n > 0);
	exe[n] = '\0';
	for (int i = 0; i < 3; i++)
		*strrchr(exe, '/') = '\0';
	snprintf(parley, sizeof(parley), "%s/parley", exe);
	ck_assert_msg(access(parley, X_OK) == 0, "%s is missing", parley);
	memset(&app, 0, sizeof(app));
	app.cfg.self_exe = parley;
	app.cfg.extract_timeout_s = 20;
	app.cfg.extract_mem_mb = 1024;
}

/* An executable shell script with body, in a temporary file (malloc'd
 * path; the caller unlinks it). */
static char *
script(const char *body)
{
	const char	*tmp = getenv("TMPDIR");
	char		*path;
	FILE		*f;
	int		 fd;

	path = xasprintf("%s/parley-extract-XXXXXX", tmp != NULL &&
	    tmp[0] != '\0' ? tmp : "/tmp");
	ck_assert_int_ge(fd = mkstemp(path), 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0700), 0);
	return path;
}

static void
run(enum doc_kind k, const void *p, size_t n, struct extract_result *r)
{
	extract_result_init(r);
	extract_run(&app, k, p, n, r);
}

START_TEST(the_real_reader)
{
	const char		*pages[] = { "Booking 8812\nTwo nights" };
	const char		*paras[] = { "Hello", "World" };
	struct extract_result	 r;
	unsigned char		*pdf, *docx;
	size_t			 pdf_len, docx_len;

	pdf = hdoc_pdf(pages, 1, &pdf_len);
	run(DOC_PDF, pdf, pdf_len, &r);
	ck_assert_msg(r.ok, "%s", r.why);
	ck_assert_ptr_nonnull(strstr(r.text.data, "Booking 8812"));
	ck_assert_uint_eq(r.chars, strlen(r.text.data));
	extract_result_cleanup(&r);
	run(DOC_PDF, pdf, 300, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.why, "the PDF is damaged or not a PDF Parley can "
	    "read");
	extract_result_cleanup(&r);
	free(pdf);

	docx = hdoc_docx(paras, 2, &docx_len);
	run(DOC_DOCX, docx, docx_len, &r);
	ck_assert(r.ok);
	ck_assert_str_eq(r.text.data, "Hello\nWorld\n");
	extract_result_cleanup(&r);
	free(docx);

	/* Text formats are read here, without any process: a broken
	 * self_exe does not matter to them. */
	app.cfg.self_exe = (char *)(uintptr_t)"/nonexistent/parley";
	run(DOC_JSON, "{\"a\":1}", 7, &r);
	ck_assert(r.ok);
	ck_assert_str_eq(r.text.data, "{\n  \"a\": 1\n}\n");
	extract_result_cleanup(&r);
	run(DOC_PDF, "%PDF-1.4", 8, &r);
	ck_assert(!r.ok);
	ck_assert_str_eq(r.why, "the server could not start its reader");
	extract_result_cleanup(&r);
}
END_TEST

START_TEST(every_end_is_a_reason)
{
	static const struct {
		const char	*body;
		const char	*why;
	} cases[] = {
		{ "exec sleep 30", "reading it took longer than 1 s" },
		{ "kill -SEGV $$", "the reader ran out of memory or crashed on "
		    "it (signal 11)" },
		{ "kill -XCPU $$", "reading it needed more than 1 s of "
		    "processing" },
		{ "exec yes", "the reader gave more text than allowed" },
		{ "exit 3", "the reader failed on it (exit status 3)" },
		{ "echo hello", "the reader gave no usable answer" },
		{ "printf 'OK 1 0 0\\n\\377'", "the reader gave no usable "
		    "answer" },
		{ "printf 'ERR odd\\033reason\\n'", "odd?reason" },
	};
	struct extract_result	 r;
	int64_t			 t0;
	char			*path;

	app.cfg.extract_timeout_s = 1;
	app.cfg.extract_max_chars = 1000;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = script(cases[i].body);
		app.cfg.self_exe = path;
		t0 = time_mono_ms();
		run(DOC_PDF, "%PDF-1.4", 8, &r);
		ck_assert_msg(!r.ok, "case %zu passed", i);
		ck_assert_str_eq(r.why, cases[i].why);
		/* The wall-clock limit holds, whatever the reader does. */
		ck_assert_msg(time_mono_ms() - t0 < 10000, "case %zu took %lld "
		    "ms", i, (long long)(time_mono_ms() - t0));
		extract_result_cleanup(&r);
		unlink(path);
		free(path);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("extract");
	TCase	*tc = tcase_create("extract");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, the_real_reader);
	tcase_add_test(tc, every_end_is_a_reason);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
