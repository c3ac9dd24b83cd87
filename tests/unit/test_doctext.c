/*
 * Unit tests for util/doctext, on documents written here by real writers
 * (tests/harness/docs.h: cairo for PDF, libzip for DOCX and XLSX): what a
 * media item is; text, Markdown, CSV and JSON (UTF-8 checked, control
 * characters dropped, JSON re-indented, the character cap); PDF pages
 * (the page cap, a damaged file); DOCX paragraphs; XLSX sheets with
 * shared strings, gaps, quoting, inline strings and booleans; and the
 * zip defences: too many entries, a decompression bomb refused from its
 * header, a header that lies about its size refused while reading, XML
 * entities never expanded.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "harness/docs.h"
#include "util/doctext.h"

#include "unit/unit.h"

static struct doc_limits	 lim;

static bool	 run(enum doc_kind, const void *, size_t, struct doc_text *);

static void
setup(void)
{
	doc_limits_default(&lim);
}

/* Extracts into t (initialised here; the caller cleans it up). */
static bool
run(enum doc_kind k, const void *p, size_t n, struct doc_text *t)
{
	doc_text_init(t);
	return doc_extract(k, p, n, &lim, t);
}

START_TEST(kinds)
{
	ck_assert_int_eq(doc_kind_of("application/pdf", NULL, NULL, 0),
	    DOC_PDF);
	ck_assert_int_eq(doc_kind_of("application/vnd.openxmlformats-"
	    "officedocument.wordprocessingml.document", "a.docx", NULL, 0),
	    DOC_DOCX);
	ck_assert_int_eq(doc_kind_of("application/octet-stream", "Q3.XLSX",
	    NULL, 0), DOC_XLSX);
	ck_assert_int_eq(doc_kind_of("text/plain", "data.csv", NULL, 0),
	    DOC_CSV);
	ck_assert_int_eq(doc_kind_of("text/csv", NULL, NULL, 0), DOC_CSV);
	ck_assert_int_eq(doc_kind_of("text/markdown", NULL, NULL, 0),
	    DOC_MARKDOWN);
	ck_assert_int_eq(doc_kind_of("", "notes.md", NULL, 0), DOC_MARKDOWN);
	ck_assert_int_eq(doc_kind_of("application/json", NULL, NULL, 0),
	    DOC_JSON);
	ck_assert_int_eq(doc_kind_of("text/html", NULL, NULL, 0), DOC_TEXT);
	ck_assert_int_eq(doc_kind_of("application/octet-stream", NULL,
	    (const unsigned char *)"%PDF-1.7", 8), DOC_PDF);
	ck_assert_int_eq(doc_kind_of("application/msword", "a.doc", NULL, 0),
	    DOC_UNSUPPORTED);
	ck_assert_int_eq(doc_kind_of("image/jpeg", "a.pdf", NULL, 0),
	    DOC_NONE);
	ck_assert_int_eq(doc_kind_of("audio/ogg", NULL, NULL, 0), DOC_NONE);
	ck_assert_int_eq(doc_kind_of("", NULL, NULL, 0), DOC_NONE);
	for (int k = DOC_TEXT; k <= DOC_XLSX; k++)
		ck_assert_int_eq(doc_kind_parse(doc_kind_name(k)), k);
	ck_assert(doc_kind_isolated(DOC_PDF) && doc_kind_isolated(DOC_XLSX) &&
	    !doc_kind_isolated(DOC_CSV) && !doc_kind_isolated(DOC_JSON));
}
END_TEST

START_TEST(text_formats)
{
	struct doc_text	 t;
	const char	*csv = "\xef\xbb\xbfname,price\r\nCaf\xc3\xa9,3\r\n";

	ck_assert(run(DOC_CSV, csv, strlen(csv), &t));
	ck_assert_str_eq(t.text.data, "name,price\nCaf\xc3\xa9,3\n");
	ck_assert_uint_eq(t.chars, 18);
	ck_assert(!t.truncated);
	doc_text_cleanup(&t);

	/* Controls dropped (the bell, a C1), tabs kept. */
	ck_assert(run(DOC_MARKDOWN, "# T\x07itle\n\tx\xc2\x85y", 14, &t));
	ck_assert_str_eq(t.text.data, "# Title\n\txy");
	doc_text_cleanup(&t);

	ck_assert(!run(DOC_TEXT, "caf\xe9", 4, &t));
	ck_assert_str_eq(t.why, "the file is not valid UTF-8 text");
	doc_text_cleanup(&t);
	ck_assert(!run(DOC_TEXT, "a\0b", 3, &t));
	doc_text_cleanup(&t);

	/* The cap counts characters, not bytes. */
	lim.max_chars = 3;
	ck_assert(run(DOC_TEXT, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 8, &t));
	ck_assert_str_eq(t.text.data, "\xc3\xa9\xc3\xa9\xc3\xa9");
	ck_assert_uint_eq(t.chars, 3);
	ck_assert(t.truncated);
	doc_text_cleanup(&t);

	/* Larger than allowed: refused before reading. */
	lim.max_bytes = 4;
	ck_assert(!run(DOC_TEXT, "hello", 5, &t));
	ck_assert_ptr_nonnull(strstr(t.why, "larger than"));
	doc_text_cleanup(&t);
}
END_TEST

START_TEST(json)
{
	struct doc_text	 t;
	const char	*j = "{\"order\":{\"id\":7,\"items\":[\"tea\",\"a, \\\"b\\\"\"],"
			    "\"empty\":[]}}";
	const char	*deep;
	char		*big;

	ck_assert(run(DOC_JSON, j, strlen(j), &t));
	ck_assert_str_eq(t.text.data, "{\n  \"order\": {\n    \"id\": 7,\n"
	    "    \"items\": [\n      \"tea\",\n      \"a, \\\"b\\\"\"\n    ],\n"
	    "    \"empty\": []\n  }\n}\n");
	doc_text_cleanup(&t);

	/* Not JSON: given as the text it is. */
	ck_assert(run(DOC_JSON, "{oops", 5, &t));
	ck_assert_str_eq(t.text.data, "{oops");
	doc_text_cleanup(&t);

	/* 100,000 levels deep: bounded output, no tree, no recursion. */
	big = malloc(200001);
	ck_assert_ptr_nonnull(big);
	memset(big, '[', 100000);
	memset(big + 100000, ']', 100000);
	big[200000] = '\0';
	lim.max_chars = 5000;
	ck_assert(run(DOC_JSON, big, 200000, &t));
	ck_assert(t.truncated);
	ck_assert_uint_eq(t.chars, 5000);
	doc_text_cleanup(&t);
	free(big);
	/* 20 levels. */
	deep = "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]";
	ck_assert_uint_eq(strlen(deep), 41);
	lim.max_chars = 100000;
	ck_assert(run(DOC_JSON, deep, strlen(deep), &t));
	/* Indentation stops growing at 16 levels. */
	ck_assert_ptr_nonnull(strstr(t.text.data, "\n                "
	    "                1\n"));
	doc_text_cleanup(&t);
}
END_TEST

START_TEST(pdf)
{
	const char	*pages[] = { "Invoice 4711\nTotal due: 99 EUR",
			    "Page two: terms", "Page three: appendix" };
	struct doc_text	 t;
	unsigned char	*p;
	size_t		 n;

	p = hdoc_pdf(pages, 3, &n);
	ck_assert(run(DOC_PDF, p, n, &t));
	ck_assert_int_eq(t.pages, 3);
	ck_assert_ptr_nonnull(strstr(t.text.data, "Invoice 4711"));
	ck_assert_ptr_nonnull(strstr(t.text.data, "Total due: 99 EUR"));
	ck_assert_ptr_nonnull(strstr(t.text.data, "Page three: appendix"));
	ck_assert(!t.truncated);
	doc_text_cleanup(&t);

	/* The page cap: the first two, said to be cut. */
	lim.max_pages = 2;
	ck_assert(run(DOC_PDF, p, n, &t));
	ck_assert_ptr_nonnull(strstr(t.text.data, "Page two: terms"));
	ck_assert_ptr_null(strstr(t.text.data, "appendix"));
	ck_assert(t.truncated);
	doc_text_cleanup(&t);

	/* Damaged: the header survives, the rest is gone. */
	ck_assert(!run(DOC_PDF, p, 200, &t));
	ck_assert_str_eq(t.why, "the PDF is damaged or not a PDF Parley can "
	    "read");
	doc_text_cleanup(&t);
	ck_assert(!run(DOC_PDF, "hello", 5, &t));
	ck_assert_str_eq(t.why, "the file is not a PDF");
	doc_text_cleanup(&t);
	free(p);
}
END_TEST

START_TEST(docx)
{
	const char		*paras[] = { "Dear Ana,", "Your order <42> & more",
				    "ships on Monday." };
	struct doc_text		 t;
	struct hzip_entry	 e[1];
	unsigned char		*p;
	size_t			 n;
	const char		*laughs;

	p = hdoc_docx(paras, 3, &n);
	ck_assert(run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.text.data, "Dear Ana,\nYour order <42> & more\n"
	    "ships on Monday.\n");
	doc_text_cleanup(&t);
	ck_assert(!run(DOC_XLSX, p, n, &t));	/* no workbook */
	doc_text_cleanup(&t);
	free(p);

	/* Entities are never substituted: one is left out; a billion
	 * laughs is refused (libxml2 sees the amplification) unexpanded. */
	laughs = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaa\">]>"
	    "<w:document xmlns:w=\"" "http://x\"><w:body><w:p><w:r><w:t>x&a;y"
	    "</w:t></w:r></w:p></w:body></w:document>";
	e[0] = (struct hzip_entry){ "word/document.xml", laughs,
	    strlen(laughs) };
	p = hdoc_zip(e, 1, &n);
	ck_assert(run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.text.data, "xy\n");
	doc_text_cleanup(&t);
	free(p);
	laughs = "<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY a \"aaaaaaaaaa\">"
	    "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
	    "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">]>"
	    "<w:document xmlns:w=\"x\"><w:body><w:p><w:r><w:t>x&c;y</w:t>"
	    "</w:r></w:p></w:body></w:document>";
	e[0] = (struct hzip_entry){ "word/document.xml", laughs,
	    strlen(laughs) };
	p = hdoc_zip(e, 1, &n);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.why, "the DOCX file's text is damaged XML");
	ck_assert_uint_eq(t.text.len, 0);
	doc_text_cleanup(&t);
	free(p);

	/* Not XML inside. */
	e[0] = (struct hzip_entry){ "word/document.xml", "<w:p><w:t>a", 11 };
	p = hdoc_zip(e, 1, &n);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.why, "the DOCX file's text is damaged XML");
	doc_text_cleanup(&t);
	free(p);

	ck_assert(!run(DOC_DOCX, "PK\3\4nonsense", 12, &t));
	doc_text_cleanup(&t);
	ck_assert(!run(DOC_DOCX, "hello", 5, &t));
	ck_assert_str_eq(t.why, "the file is not a DOCX document (not a zip "
	    "archive)");
	doc_text_cleanup(&t);
}
END_TEST

START_TEST(xlsx)
{
	struct doc_text	 t;
	unsigned char	*p;
	size_t		 n;

	p = hdoc_xlsx(&n);
	ck_assert(run(DOC_XLSX, p, n, &t));
	ck_assert_str_eq(t.text.data, HDOC_XLSX_TEXT);
	ck_assert(!t.truncated);
	doc_text_cleanup(&t);
	lim.max_chars = 20;
	ck_assert(run(DOC_XLSX, p, n, &t));
	ck_assert_uint_eq(t.chars, 20);
	ck_assert(t.truncated);
	doc_text_cleanup(&t);
	free(p);
}
END_TEST

START_TEST(zip_defences)
{
	struct hzip_entry	 e[6];
	struct doc_text		 t;
	unsigned char		*p;
	size_t			 n;

	/* A bomb: 20 MB of XML from a few kilobytes, refused from the
	 * directory alone. */
	p = hdoc_docx_bomb(20 * 1024 * 1024, &n);
	ck_assert(n < 200 * 1024);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.why, "the DOCX file decompresses to far more than "
	    "it weighs (a zip bomb?)");
	doc_text_cleanup(&t);

	/* The same entry claiming 1,000 bytes: stopped while it inflates
	 * (the ratio check is off here so that the reading is what
	 * catches it). */
	lim.max_ratio = 1000000;
	hdoc_zip_lie(p, n, "word/document.xml", 1000);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	ck_assert_msg(strstr(t.why, "more than its header declares") != NULL ||
	    strstr(t.why, "damaged") != NULL, "%s", t.why);
	doc_text_cleanup(&t);
	free(p);

	/* One entry over the per-entry cap. */
	lim.max_entry_bytes = 1000;
	p = hdoc_docx_bomb(5000, &n);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	doc_text_cleanup(&t);
	free(p);
	doc_limits_default(&lim);

	/* Too many entries. */
	lim.max_entries = 5;
	for (int i = 0; i < 6; i++)
		e[i] = (struct hzip_entry){ i == 0 ? "word/document.xml" :
		    i == 1 ? "a" : i == 2 ? "b" : i == 3 ? "c" : i == 4 ? "d" :
		    "e", "<w:p/>", 6 };
	p = hdoc_zip(e, 6, &n);
	ck_assert(!run(DOC_DOCX, p, n, &t));
	ck_assert_str_eq(t.why, "the DOCX file holds more than 5 parts");
	doc_text_cleanup(&t);
	free(p);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("doctext");
	TCase	*tc = tcase_create("doctext");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, kinds);
	tcase_add_test(tc, text_formats);
	tcase_add_test(tc, json);
	tcase_add_test(tc, pdf);
	tcase_add_test(tc, docx);
	tcase_add_test(tc, xlsx);
	tcase_add_test(tc, zip_defences);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
