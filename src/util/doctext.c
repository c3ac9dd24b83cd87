/*
 * doctext: see doctext.h. One output path for every format: sink_put()
 * appends text, dropping control characters, replacing bytes that are not
 * UTF-8, counting characters and stopping at the cap; a format's reader
 * stops as soon as the sink is full.
 *
 * Reasons (out->why) are lower-case clauses with no final stop; callers
 * put them after "could not be read: ".
 */
#include "util/doctext.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/xmlreader.h>
#include <poppler.h>
#include <zip.h>

#include "util/utf8.h"

#define MIB			(1024u * 1024)
#define RATIO_MIN_BYTES		MIB	/* entries smaller pass any ratio */
#define XLSX_SHEETS_MAX		256
#define XLSX_STRINGS_MAX	(1000 * 1000)
#define XLSX_COLS_MAX		16384	/* XFD */
#define JSON_INDENT_MAX		16	/* levels indented; deeper stay flat */
#define NAME_MAX_LEN		256

/* The archive under reading and the caps it must respect. */
struct zdoc {
	zip_t			*z;
	const struct doc_limits	*l;
	struct doc_text		*out;
};

/* XLSX: one sheet's name and its entry. */
struct sheet {
	char	 name[NAME_MAX_LEN];
	char	 rid[64];
	char	 path[NAME_MAX_LEN];
};

/* XLSX: the shared strings, offsets into one buffer. */
struct strings {
	struct buf	 all;
	size_t		*off;
	size_t		 n;
	size_t		 cap;
};

static bool	 full(const struct doc_text *, const struct doc_limits *);
static void	 sink_put(struct doc_text *, const struct doc_limits *,
		    const char *, size_t);
static void	 sink_puts(struct doc_text *, const struct doc_limits *,
		    const char *);
static bool	 fail(struct doc_text *, const char *);
static bool	 text_read(const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *);
static bool	 json_read(const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *);
static bool	 pdf_read(const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *);
static bool	 zdoc_open(struct zdoc *, const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *,
		    const char *);
static bool	 zip_check(struct zdoc *, const char *);
static bool	 zip_entry(struct zdoc *, const char *, bool, struct buf *);
static xmlTextReaderPtr xml_reader(const struct buf *);
static bool	 is(const xmlChar *, const char *);
static bool	 docx_read(const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *);
static bool	 xlsx_read(const unsigned char *, size_t,
		    const struct doc_limits *, struct doc_text *);
static bool	 xlsx_strings(struct zdoc *, struct strings *);
static int	 xlsx_sheets(struct zdoc *, struct sheet *, int);
static bool	 xlsx_sheet(struct zdoc *, const struct strings *,
		    const struct sheet *);
static long	 xlsx_col(const char *);
static void	 csv_cell(struct doc_text *, const struct doc_limits *,
		    const char *);
static bool	 ext_is(const char *, const char *);

/* --- kinds and limits -------------------------------------------------- */

void
doc_limits_default(struct doc_limits *l)
{
	l->max_bytes = 25 * MIB;
	l->max_chars = 100000;
	l->max_pages = 500;
	l->max_entries = 5000;
	l->max_entry_bytes = 64 * MIB;
	l->max_total_bytes = 256 * MIB;
	l->max_ratio = 200;
}

void
doc_text_init(struct doc_text *t)
{
	memset(t, 0, sizeof(*t));
	buf_init(&t->text, 0);
}

void
doc_text_cleanup(struct doc_text *t)
{
	buf_cleanup(&t->text);
}

/* Whether filename ends in "."ext (case-insensitive). */
static bool
ext_is(const char *filename, const char *ext)
{
	const char	*dot = filename != NULL ? strrchr(filename, '.') : NULL;

	return dot != NULL && strcasecmp(dot + 1, ext) == 0;
}

enum doc_kind
doc_kind_of(const char *ct, const char *filename, const unsigned char *p,
    size_t n)
{
	static const struct {
		const char	*type;
		const char	*ext;
		enum doc_kind	 kind;
	} table[] = {
		{ "application/pdf", "pdf", DOC_PDF },
		{ "application/vnd.openxmlformats-officedocument."
		    "wordprocessingml.document", "docx", DOC_DOCX },
		{ "application/vnd.openxmlformats-officedocument."
		    "spreadsheetml.sheet", "xlsx", DOC_XLSX },
		{ "application/json", "json", DOC_JSON },
		{ "text/json", NULL, DOC_JSON },
		{ "text/csv", "csv", DOC_CSV },
		{ "application/csv", NULL, DOC_CSV },
		{ "text/markdown", "md", DOC_MARKDOWN },
		{ "text/x-markdown", "markdown", DOC_MARKDOWN },
		{ "text/plain", "txt", DOC_TEXT },
	};
	bool	 generic;

	if (ct == NULL)
		ct = "";
	/* A type that says little: the name first, then the type. */
	generic = ct[0] == '\0' || strcasecmp(ct, "application/octet-stream")
	    == 0 || strcasecmp(ct, "binary/octet-stream") == 0 ||
	    strcasecmp(ct, "application/zip") == 0;
	if (generic || strcasecmp(ct, "text/plain") == 0)
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
			if (table[i].ext != NULL && ext_is(filename,
			    table[i].ext) && (generic ||
			    strncmp(table[i].type, "text/", 5) == 0 ||
			    table[i].kind == DOC_JSON))
				return table[i].kind;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(ct, table[i].type) == 0)
			return table[i].kind;
	if (strncasecmp(ct, "image/", 6) == 0 ||
	    strncasecmp(ct, "audio/", 6) == 0 ||
	    strncasecmp(ct, "video/", 6) == 0)
		return DOC_NONE;
	if (strncasecmp(ct, "text/", 5) == 0)
		return DOC_TEXT;
	if (generic && p != NULL && n >= 5 && memcmp(p, "%PDF-", 5) == 0)
		return DOC_PDF;
	if (ct[0] == '\0' && filename == NULL)
		return DOC_NONE;
	return strncasecmp(ct, "application/", 12) == 0 || generic ?
	    DOC_UNSUPPORTED : DOC_NONE;
}

const char *
doc_kind_name(enum doc_kind k)
{
	switch (k) {
	case DOC_TEXT:
		return "text";
	case DOC_MARKDOWN:
		return "markdown";
	case DOC_CSV:
		return "csv";
	case DOC_JSON:
		return "json";
	case DOC_PDF:
		return "pdf";
	case DOC_DOCX:
		return "docx";
	case DOC_XLSX:
		return "xlsx";
	default:
		return NULL;
	}
}

enum doc_kind
doc_kind_parse(const char *name)
{
	for (int k = DOC_TEXT; k <= DOC_XLSX; k++)
		if (name != NULL && strcmp(name, doc_kind_name(k)) == 0)
			return (enum doc_kind)k;
	return DOC_NONE;
}

bool
doc_kind_isolated(enum doc_kind k)
{
	return k == DOC_PDF || k == DOC_DOCX || k == DOC_XLSX;
}

bool
doc_extract(enum doc_kind k, const unsigned char *p, size_t n,
    const struct doc_limits *l, struct doc_text *out)
{
	if (n > l->max_bytes) {
		snprintf(out->why, sizeof(out->why), "the file is larger than "
		    "the %zu MB Parley reads", l->max_bytes / MIB > 0 ?
		    l->max_bytes / MIB : 1);
		return false;
	}
	switch (k) {
	case DOC_TEXT:
	case DOC_MARKDOWN:
	case DOC_CSV:
		return text_read(p, n, l, out);
	case DOC_JSON:
		return json_read(p, n, l, out);
	case DOC_PDF:
		return pdf_read(p, n, l, out);
	case DOC_DOCX:
		return docx_read(p, n, l, out);
	case DOC_XLSX:
		return xlsx_read(p, n, l, out);
	default:
		return fail(out, "Parley reads PDF, text, Markdown, CSV, JSON, "
		    "DOCX and XLSX documents, not this kind");
	}
}

/* --- the sink ---------------------------------------------------------- */

static bool
full(const struct doc_text *t, const struct doc_limits *l)
{
	return t->chars >= l->max_chars;
}

static bool
fail(struct doc_text *t, const char *why)
{
	snprintf(t->why, sizeof(t->why), "%s", why);
	return false;
}

/*
 * Appends s[0..n): characters past the cap set truncated; control
 * characters other than \n and \t are dropped (\r too: "\r\n" → "\n",
 * a lone "\r" → "\n"); a byte that starts no valid sequence becomes
 * U+FFFD.
 */
static void
sink_put(struct doc_text *t, const struct doc_limits *l, const char *s,
    size_t n)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0;

	while (i < n) {
		size_t	 len = 1;

		if (full(t, l)) {
			t->truncated = true;
			return;
		}
		if (p[i] < 0x80) {
			if (p[i] == '\r') {
				buf_putc(&t->text, '\n');
				if (i + 1 < n && p[i + 1] == '\n')
					i++;
			} else if (p[i] >= 0x20 || p[i] == '\n' ||
			    p[i] == '\t')
				buf_putc(&t->text, (char)p[i]);
			else {
				i++;
				continue;
			}
		} else {
			len = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 :
			    p[i] >= 0xc0 ? 2 : 1;
			if (len == 1 || i + len > n ||
			    !utf8_valid((const char *)p + i, len)) {
				buf_append(&t->text, "\xef\xbf\xbd", 3);
				len = 1;
			} else if (len == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
				i += len;	/* C1 controls */
				continue;
			} else
				buf_append(&t->text, p + i, len);
		}
		i += len;
		t->chars++;
	}
}

static void
sink_puts(struct doc_text *t, const struct doc_limits *l, const char *s)
{
	sink_put(t, l, s, strlen(s));
}

/* --- text, Markdown, CSV, JSON ----------------------------------------- */

/* UTF-8 (a BOM dropped), no NUL: as it is. */
static bool
text_read(const unsigned char *p, size_t n, const struct doc_limits *l,
    struct doc_text *out)
{
	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	if (memchr(p, '\0', n) != NULL || !utf8_valid((const char *)p, n))
		return fail(out, "the file is not valid UTF-8 text");
	sink_put(out, l, (const char *)p, n);
	return true;
}

/*
 * JSON re-indented as it streams by, one member or element per line, two
 * spaces a level (JSON_INDENT_MAX levels at most), no tree built: the
 * output stops at the cap whatever the input's size or depth. Input that
 * is not balanced JSON is given as text.
 */
static bool
json_read(const unsigned char *p, size_t n, const struct doc_limits *l,
    struct doc_text *out)
{
	struct doc_text	 pretty;
	char		 pad[2 * JSON_INDENT_MAX + 2];
	size_t		 depth = 0, start;
	bool		 in_str = false, esc = false, ok = true;

	if (n >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
		p += 3;
		n -= 3;
	}
	if (memchr(p, '\0', n) != NULL || !utf8_valid((const char *)p, n))
		return fail(out, "the file is not valid UTF-8 text");
	doc_text_init(&pretty);
	pad[0] = '\n';
	for (size_t i = 0; i < n && ok && !full(&pretty, l); i++) {
		char	 c = (char)p[i];
		size_t	 lvl;

		if (in_str) {
			/* A string as it is, up to its closing quote. */
			start = i;
			while (i < n && (esc || p[i] != '"')) {
				esc = !esc && p[i] == '\\';
				i++;
			}
			if (i == n) {
				ok = false;
				break;
			}
			sink_put(&pretty, l, (const char *)p + start,
			    i - start + 1);
			in_str = false;
			continue;
		}
		switch (c) {
		case '"':
			in_str = true;
			sink_put(&pretty, l, "\"", 1);
			break;
		case '{':
		case '[':
			/* {} and [] stay on one line. */
			start = i + 1;
			while (start < n && strchr(" \t\r\n", p[start]) != NULL)
				start++;
			if (start < n && p[start] == (c == '{' ? '}' : ']')) {
				sink_put(&pretty, l, c == '{' ? "{}" : "[]", 2);
				i = start;
				break;
			}
			depth++;
			lvl = depth < JSON_INDENT_MAX ? depth : JSON_INDENT_MAX;
			memset(pad + 1, ' ', 2 * lvl);
			sink_put(&pretty, l, &c, 1);
			sink_put(&pretty, l, pad, 1 + 2 * lvl);
			break;
		case '}':
		case ']':
			if (depth == 0) {
				ok = false;
				break;
			}
			depth--;
			lvl = depth < JSON_INDENT_MAX ? depth : JSON_INDENT_MAX;
			memset(pad + 1, ' ', 2 * lvl);
			sink_put(&pretty, l, pad, 1 + 2 * lvl);
			sink_put(&pretty, l, &c, 1);
			break;
		case ',':
			lvl = depth < JSON_INDENT_MAX ? depth : JSON_INDENT_MAX;
			memset(pad + 1, ' ', 2 * lvl);
			sink_put(&pretty, l, ",", 1);
			sink_put(&pretty, l, pad, 1 + 2 * lvl);
			break;
		case ':':
			sink_put(&pretty, l, ": ", 2);
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			break;
		default:
			sink_put(&pretty, l, &c, 1);
		}
	}
	if (ok && !full(&pretty, l) && (depth != 0 || in_str))
		ok = false;
	if (!ok) {
		doc_text_cleanup(&pretty);
		sink_put(out, l, (const char *)p, n);
		return true;
	}
	sink_put(&pretty, l, "\n", 1);
	doc_text_cleanup(out);
	*out = pretty;
	return true;
}

/* --- PDF (poppler-glib) ------------------------------------------------- */

static bool
pdf_read(const unsigned char *p, size_t n, const struct doc_limits *l,
    struct doc_text *out)
{
	PopplerDocument	*doc;
	GBytes		*bytes;
	GError		*err = NULL;
	int		 pages;
	bool		 ok = true;

	if (n < 5 || memcmp(p, "%PDF-", 5) != 0)
		return fail(out, "the file is not a PDF");
	bytes = g_bytes_new_static(p, n);
	doc = poppler_document_new_from_bytes(bytes, NULL, &err);
	if (doc == NULL) {
		ok = fail(out, err != NULL && err->domain == POPPLER_ERROR &&
		    err->code == POPPLER_ERROR_ENCRYPTED ? "the PDF is "
		    "protected by a password" : "the PDF is damaged or not a "
		    "PDF Parley can read");
		if (err != NULL)
			g_error_free(err);
		g_bytes_unref(bytes);
		return ok;
	}
	pages = poppler_document_get_n_pages(doc);
	out->pages = pages;
	for (int i = 0; i < pages && !full(out, l); i++) {
		PopplerPage	*pg;
		char		*t;

		if (i >= l->max_pages) {
			out->truncated = true;
			break;
		}
		if ((pg = poppler_document_get_page(doc, i)) == NULL)
			continue;
		if ((t = poppler_page_get_text(pg)) != NULL) {
			if (i > 0)
				sink_puts(out, l, "\n\n");
			sink_puts(out, l, t);
			g_free(t);
		}
		g_object_unref(pg);
	}
	if (full(out, l))
		out->truncated = true;
	g_object_unref(doc);
	g_bytes_unref(bytes);
	return true;
}

/* --- zip formats (libzip + libxml2) ------------------------------------- */

/*
 * The archive's directory against the caps, before anything is
 * inflated: entry count, each entry's declared size and ratio, their sum.
 * what names the format in the reasons ("DOCX").
 */
static bool
zip_check(struct zdoc *d, const char *what)
{
	zip_int64_t	 ne = zip_get_num_entries(d->z, 0);
	uint64_t	 total = 0;
	char		 why[DOCTEXT_WHY_MAX];

	if (ne < 0 || (uint64_t)ne > d->l->max_entries) {
		snprintf(why, sizeof(why), "the %s file holds more than %zu "
		    "parts", what, d->l->max_entries);
		return fail(d->out, why);
	}
	for (zip_int64_t i = 0; i < ne; i++) {
		zip_stat_t	 st;

		zip_stat_init(&st);
		if (zip_stat_index(d->z, (zip_uint64_t)i, 0, &st) != 0 ||
		    !(st.valid & ZIP_STAT_SIZE) ||
		    !(st.valid & ZIP_STAT_COMP_SIZE)) {
			snprintf(why, sizeof(why), "the %s file is damaged",
			    what);
			return fail(d->out, why);
		}
		total += st.size;
		if (st.size > d->l->max_entry_bytes ||
		    total > d->l->max_total_bytes || (st.size >
		    RATIO_MIN_BYTES && (st.comp_size == 0 ||
		    st.size / st.comp_size > d->l->max_ratio))) {
			snprintf(why, sizeof(why), "the %s file decompresses "
			    "to far more than it weighs (a zip bomb?)", what);
			return fail(d->out, why);
		}
	}
	return true;
}

/*
 * Entry name into b, inflated, checked against what its header declared
 * while it is read (a lying header stops at declared + 1 bytes). A
 * missing entry is false with a reason unless optional (then true, b
 * empty).
 */
static bool
zip_entry(struct zdoc *d, const char *name, bool optional, struct buf *b)
{
	zip_stat_t	 st;
	zip_file_t	*f;
	zip_int64_t	 idx, got;
	uint64_t	 total = 0;
	char		 chunk[65536];
	bool		 ok = true;

	buf_reset(b);
	if ((idx = zip_name_locate(d->z, name, 0)) < 0) {
		if (optional)
			return true;
		return fail(d->out, "a part the format requires is missing");
	}
	zip_stat_init(&st);
	if (zip_stat_index(d->z, (zip_uint64_t)idx, 0, &st) != 0 ||
	    (f = zip_fopen_index(d->z, (zip_uint64_t)idx, 0)) == NULL) {
		zip_error_t	*ze = zip_get_error(d->z);

		return fail(d->out, ze != NULL && (zip_error_code_zip(ze) ==
		    ZIP_ER_NOPASSWD || zip_error_code_zip(ze) ==
		    ZIP_ER_ENCRNOTSUPP) ? "the file is protected by a password" :
		    "the file is damaged");
	}
	while ((got = zip_fread(f, chunk, sizeof(chunk))) > 0) {
		total += (uint64_t)got;
		if (total > st.size || total > d->l->max_entry_bytes) {
			ok = fail(d->out, "a part decompresses to more than "
			    "its header declares (a zip bomb?)");
			break;
		}
		buf_append(b, chunk, (size_t)got);
	}
	if (ok && (got < 0 || total != st.size))
		ok = fail(d->out, "the file is damaged");
	zip_fclose(f);
	return ok;
}

/* A reader over b: no network, no DTD, no entity substitution, quiet. */
static xmlTextReaderPtr
xml_reader(const struct buf *b)
{
	if (b->len > INT32_MAX)
		return NULL;
	return xmlReaderForMemory(b->data != NULL ? b->data : "",
	    (int)b->len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR |
	    XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
}

static bool
is(const xmlChar *local, const char *name)
{
	return local != NULL && strcmp((const char *)local, name) == 0;
}

/* Opens the archive (n bytes at p) into d; false with a reason. */
static bool
zdoc_open(struct zdoc *d, const unsigned char *p, size_t n,
    const struct doc_limits *l, struct doc_text *out, const char *what)
{
	zip_error_t	 ze;
	zip_source_t	*src;
	char		 why[DOCTEXT_WHY_MAX];

	memset(d, 0, sizeof(*d));
	d->l = l;
	d->out = out;
	zip_error_init(&ze);
	if (n < 4 || memcmp(p, "PK\3\4", 4) != 0 ||
	    (src = zip_source_buffer_create(p, n, 0, &ze)) == NULL) {
		zip_error_fini(&ze);
		snprintf(why, sizeof(why), "the file is not a %s document (not "
		    "a zip archive)", what);
		return fail(out, why);
	}
	if ((d->z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS,
	    &ze)) == NULL) {
		zip_source_free(src);
		zip_error_fini(&ze);
		snprintf(why, sizeof(why), "the %s file is damaged", what);
		return fail(out, why);
	}
	zip_error_fini(&ze);
	if (!zip_check(d, what)) {
		zip_discard(d->z);
		d->z = NULL;
		return false;
	}
	return true;
}

/*
 * word/document.xml: the text runs (w:t) of each paragraph (w:p) on its
 * own line, w:tab as a tab, w:br and w:cr as line breaks.
 */
static bool
docx_read(const unsigned char *p, size_t n, const struct doc_limits *l,
    struct doc_text *out)
{
	struct zdoc		 d;
	struct buf		 xml;
	xmlTextReaderPtr	 rd;
	int			 rc = 1, in_t = 0;
	bool			 ok;

	if (!zdoc_open(&d, p, n, l, out, "DOCX"))
		return false;
	buf_init(&xml, 0);
	if (!(ok = zip_entry(&d, "word/document.xml", false, &xml)))
		goto out;
	if ((rd = xml_reader(&xml)) == NULL) {
		ok = fail(out, "the DOCX file is damaged");
		goto out;
	}
	while (!full(out, l) && (rc = xmlTextReaderRead(rd)) == 1) {
		int		 type = xmlTextReaderNodeType(rd);
		const xmlChar	*name = xmlTextReaderConstLocalName(rd);

		if (type == XML_READER_TYPE_ELEMENT) {
			if (is(name, "t") && !xmlTextReaderIsEmptyElement(rd))
				in_t = 1;
			else if (is(name, "tab"))
				sink_put(out, l, "\t", 1);
			else if (is(name, "br") || is(name, "cr"))
				sink_put(out, l, "\n", 1);
			else if (is(name, "p") &&
			    xmlTextReaderIsEmptyElement(rd))
				sink_put(out, l, "\n", 1);
		} else if (type == XML_READER_TYPE_END_ELEMENT) {
			if (is(name, "t"))
				in_t = 0;
			else if (is(name, "p"))
				sink_put(out, l, "\n", 1);
		} else if (in_t && (type == XML_READER_TYPE_TEXT ||
		    type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)) {
			const xmlChar	*v = xmlTextReaderConstValue(rd);

			if (v != NULL)
				sink_puts(out, l, (const char *)v);
		}
	}
	xmlFreeTextReader(rd);
	if (rc < 0 && !full(out, l))
		ok = fail(out, "the DOCX file's text is damaged XML");
	if (full(out, l))
		out->truncated = true;
out:
	buf_cleanup(&xml);
	zip_discard(d.z);
	return ok;
}

/* "BC12" → 54 (0-based column); -1 when not a cell reference. */
static long
xlsx_col(const char *ref)
{
	long	 c = 0;
	int	 k = 0;

	while (ref[k] >= 'A' && ref[k] <= 'Z' && k < 3)
		c = c * 26 + (ref[k++] - 'A' + 1);
	if (k == 0 || ref[k] < '0' || ref[k] > '9' || c > XLSX_COLS_MAX)
		return -1;
	return c - 1;
}

/* One CSV field, quoted when it holds a comma, a quote or a line break. */
static void
csv_cell(struct doc_text *out, const struct doc_limits *l, const char *v)
{
	if (strpbrk(v, ",\"\n\r") == NULL) {
		sink_puts(out, l, v);
		return;
	}
	sink_put(out, l, "\"", 1);
	for (const char *q; (q = strchr(v, '"')) != NULL; v = q + 1) {
		sink_put(out, l, v, (size_t)(q - v));
		sink_put(out, l, "\"\"", 2);
	}
	sink_puts(out, l, v);
	sink_put(out, l, "\"", 1);
}

/* xl/sharedStrings.xml: each <si>'s text (runs joined, phonetics out). */
static bool
xlsx_strings(struct zdoc *d, struct strings *s)
{
	struct buf		 xml;
	xmlTextReaderPtr	 rd;
	int			 rc = 1, in_t = 0, in_rph = 0;
	bool			 ok;

	buf_init(&xml, 0);
	if (!(ok = zip_entry(d, "xl/sharedStrings.xml", true, &xml)) ||
	    xml.len == 0)
		goto out;
	if ((rd = xml_reader(&xml)) == NULL) {
		ok = fail(d->out, "the XLSX file is damaged");
		goto out;
	}
	while ((rc = xmlTextReaderRead(rd)) == 1) {
		int		 type = xmlTextReaderNodeType(rd);
		const xmlChar	*name = xmlTextReaderConstLocalName(rd);

		if (type == XML_READER_TYPE_ELEMENT && is(name, "si")) {
			if (s->n == XLSX_STRINGS_MAX) {
				ok = fail(d->out, "the XLSX file holds too "
				    "many strings");
				break;
			}
			if (s->n == s->cap) {
				s->cap = s->cap ? s->cap * 2 : 256;
				s->off = realloc(s->off, s->cap *
				    sizeof(*s->off));
				if (s->off == NULL)
					abort();
			}
			/* Each string ends in a NUL inside all. */
			if (s->n > 0)
				buf_putc(&s->all, '\0');
			s->off[s->n++] = s->all.len;
		} else if (type == XML_READER_TYPE_ELEMENT && is(name, "rPh"))
			in_rph = !xmlTextReaderIsEmptyElement(rd);
		else if (type == XML_READER_TYPE_END_ELEMENT && is(name, "rPh"))
			in_rph = 0;
		else if (type == XML_READER_TYPE_ELEMENT && is(name, "t"))
			in_t = !xmlTextReaderIsEmptyElement(rd);
		else if (type == XML_READER_TYPE_END_ELEMENT && is(name, "t"))
			in_t = 0;
		else if (in_t && !in_rph && s->n > 0 &&
		    (type == XML_READER_TYPE_TEXT ||
		    type == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)) {
			const xmlChar	*v = xmlTextReaderConstValue(rd);

			if (v != NULL)
				buf_puts(&s->all, (const char *)v);
		}
	}
	xmlFreeTextReader(rd);
	if (ok && rc < 0)
		ok = fail(d->out, "the XLSX file's strings are damaged XML");
	buf_putc(&s->all, '\0');
out:
	buf_cleanup(&xml);
	return ok;
}

/*
 * The sheets in the workbook's order (xl/workbook.xml), each with its
 * part from xl/_rels/workbook.xml.rels; how many, -1 with a reason.
 */
static int
xlsx_sheets(struct zdoc *d, struct sheet *sh, int max)
{
	struct buf		 xml;
	xmlTextReaderPtr	 rd;
	int			 n = 0, rc;

	buf_init(&xml, 0);
	if (!zip_entry(d, "xl/workbook.xml", false, &xml) ||
	    (rd = xml_reader(&xml)) == NULL) {
		if (d->out->why[0] == '\0')
			fail(d->out, "the XLSX file is damaged");
		n = -1;
		goto out;
	}
	while ((rc = xmlTextReaderRead(rd)) == 1) {
		const xmlChar	*name = xmlTextReaderConstLocalName(rd);

		if (xmlTextReaderNodeType(rd) != XML_READER_TYPE_ELEMENT ||
		    !is(name, "sheet") || n == max)
			continue;
		memset(&sh[n], 0, sizeof(sh[n]));
		while (xmlTextReaderMoveToNextAttribute(rd) == 1) {
			const xmlChar	*an = xmlTextReaderConstLocalName(rd);
			const xmlChar	*ns = xmlTextReaderConstNamespaceUri(rd);
			const xmlChar	*v = xmlTextReaderConstValue(rd);

			if (v == NULL)
				continue;
			if (is(an, "name") && ns == NULL)
				snprintf(sh[n].name, sizeof(sh[n].name), "%s",
				    (const char *)v);
			else if (is(an, "id") && ns != NULL)
				snprintf(sh[n].rid, sizeof(sh[n].rid), "%s",
				    (const char *)v);
		}
		n++;
	}
	xmlFreeTextReader(rd);
	if (rc < 0) {
		fail(d->out, "the XLSX file's workbook is damaged XML");
		n = -1;
		goto out;
	}
	if (!zip_entry(d, "xl/_rels/workbook.xml.rels", false, &xml) ||
	    (rd = xml_reader(&xml)) == NULL) {
		if (d->out->why[0] == '\0')
			fail(d->out, "the XLSX file is damaged");
		n = -1;
		goto out;
	}
	while (xmlTextReaderRead(rd) == 1) {
		xmlChar	*id, *target;

		if (xmlTextReaderNodeType(rd) != XML_READER_TYPE_ELEMENT ||
		    !is(xmlTextReaderConstLocalName(rd), "Relationship"))
			continue;
		id = xmlTextReaderGetAttribute(rd, BAD_CAST "Id");
		target = xmlTextReaderGetAttribute(rd, BAD_CAST "Target");
		for (int i = 0; id != NULL && target != NULL && i < n; i++) {
			const char	*t = (const char *)target;

			if (strcmp(sh[i].rid, (const char *)id) != 0 ||
			    strstr(t, "..") != NULL)
				continue;
			/* Relative to xl/, or absolute in the package. */
			if (t[0] == '/')
				snprintf(sh[i].path, sizeof(sh[i].path), "%s",
				    t + 1);
			else
				snprintf(sh[i].path, sizeof(sh[i].path),
				    "xl/%s", t);
		}
		xmlFree(id);
		xmlFree(target);
	}
	xmlFreeTextReader(rd);
out:
	buf_cleanup(&xml);
	return n;
}

/*
 * One sheet as CSV-like rows: cells in column order (gaps as empty
 * fields), shared strings resolved, inline strings and values as stored.
 */
static bool
xlsx_sheet(struct zdoc *d, const struct strings *s, const struct sheet *sh)
{
	const struct doc_limits	*l = d->l;
	struct doc_text		*out = d->out;
	struct buf		 xml, val;
	xmlTextReaderPtr	 rd;
	char			 type[16];
	long			 col = 0, next = 0;
	int			 rc = 1, in_v = 0, in_cell = 0;
	bool			 ok, row_open = false;

	buf_init(&xml, 0);
	buf_init(&val, 0);
	if (!(ok = zip_entry(d, sh->path, false, &xml)))
		goto out;
	if ((rd = xml_reader(&xml)) == NULL) {
		ok = fail(out, "the XLSX file is damaged");
		goto out;
	}
	sink_puts(out, l, "## Sheet: ");
	sink_puts(out, l, sh->name[0] != '\0' ? sh->name : sh->path);
	sink_puts(out, l, "\n");
	type[0] = '\0';
	while (!full(out, l) && (rc = xmlTextReaderRead(rd)) == 1) {
		int		 nt = xmlTextReaderNodeType(rd);
		const xmlChar	*name = xmlTextReaderConstLocalName(rd);

		if (nt == XML_READER_TYPE_ELEMENT && is(name, "row")) {
			row_open = true;
			next = 0;
			if (xmlTextReaderIsEmptyElement(rd)) {
				sink_put(out, l, "\n", 1);
				row_open = false;
			}
		} else if (nt == XML_READER_TYPE_END_ELEMENT &&
		    is(name, "row")) {
			sink_put(out, l, "\n", 1);
			row_open = false;
		} else if (nt == XML_READER_TYPE_ELEMENT && is(name, "c") &&
		    row_open) {
			xmlChar	*r = xmlTextReaderGetAttribute(rd,
				    BAD_CAST "r");
			xmlChar	*t = xmlTextReaderGetAttribute(rd,
				    BAD_CAST "t");

			col = r != NULL ? xlsx_col((const char *)r) : next;
			if (col < next)
				col = next;
			snprintf(type, sizeof(type), "%s", t != NULL ?
			    (const char *)t : "");
			xmlFree(r);
			xmlFree(t);
			buf_reset(&val);
			in_cell = !xmlTextReaderIsEmptyElement(rd);
		} else if (nt == XML_READER_TYPE_ELEMENT && in_cell &&
		    (is(name, "v") || is(name, "t")))
			in_v = !xmlTextReaderIsEmptyElement(rd);
		else if (nt == XML_READER_TYPE_END_ELEMENT &&
		    (is(name, "v") || is(name, "t")))
			in_v = 0;
		else if (in_v && (nt == XML_READER_TYPE_TEXT ||
		    nt == XML_READER_TYPE_SIGNIFICANT_WHITESPACE)) {
			const xmlChar	*v = xmlTextReaderConstValue(rd);

			if (v != NULL && val.len < l->max_chars * 4)
				buf_puts(&val, (const char *)v);
		} else if (nt == XML_READER_TYPE_END_ELEMENT && is(name, "c") &&
		    in_cell) {
			const char	*v = buf_str(&val);
			char		*end;
			unsigned long	 k;

			in_cell = 0;
			if (strcmp(type, "s") == 0) {
				k = strtoul(v, &end, 10);
				v = *v != '\0' && *end == '\0' && k < s->n ?
				    s->all.data + s->off[k] : "";
			} else if (strcmp(type, "b") == 0)
				v = strcmp(v, "1") == 0 ? "TRUE" : "FALSE";
			/* A comma before every field but the first; the
			 * columns skipped are empty fields. */
			for (long i = next; i <= col && !full(out, l); i++)
				if (i > 0)
					sink_put(out, l, ",", 1);
			csv_cell(out, l, v);
			next = col + 1;
		}
	}
	xmlFreeTextReader(rd);
	if (rc < 0 && !full(out, l))
		ok = fail(out, "the XLSX file's sheet is damaged XML");
out:
	buf_cleanup(&xml);
	buf_cleanup(&val);
	return ok;
}

static bool
xlsx_read(const unsigned char *p, size_t n, const struct doc_limits *l,
    struct doc_text *out)
{
	struct zdoc	 d;
	struct strings	 s;
	struct sheet	*sh;
	int		 n_sheets;
	bool		 ok = true;

	if (!zdoc_open(&d, p, n, l, out, "XLSX"))
		return false;
	memset(&s, 0, sizeof(s));
	buf_init(&s.all, 0);
	sh = calloc(XLSX_SHEETS_MAX, sizeof(*sh));
	if (sh == NULL)
		abort();
	if (!xlsx_strings(&d, &s) ||
	    (n_sheets = xlsx_sheets(&d, sh, XLSX_SHEETS_MAX)) < 0) {
		ok = false;
		goto out;
	}
	for (int i = 0; i < n_sheets && ok && !full(out, l); i++) {
		if (sh[i].path[0] == '\0')
			continue;
		if (i > 0)
			sink_put(out, l, "\n", 1);
		ok = xlsx_sheet(&d, &s, &sh[i]);
	}
	if (full(out, l))
		out->truncated = true;
out:
	free(sh);
	free(s.off);
	buf_cleanup(&s.all);
	zip_discard(d.z);
	return ok;
}
