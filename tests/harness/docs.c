/*
 * docs: see docs.h.
 */
#include "harness/docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-pdf.h>
#include <fontconfig/fontconfig.h>
#include <zip.h>

#define W_NS	"http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#define S_NS	"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define R_NS	"http://schemas.openxmlformats.org/officeDocument/2006/" \
		"relationships"
#define PR_NS	"http://schemas.openxmlformats.org/package/2006/relationships"

struct growbuf {
	unsigned char	*p;
	size_t		 len;
	size_t		 cap;
};

static void	 gb_put(struct growbuf *, const void *, size_t);
static void	 gb_puts(struct growbuf *, const char *);
static void	 gb_xml(struct growbuf *, const char *);
static cairo_status_t on_pdf(void *, const unsigned char *, unsigned int);
static void	 die(const char *);
static uint32_t	 le16(const unsigned char *);
static void	 put_le32(unsigned char *, uint32_t);

static void
die(const char *what)
{
	fprintf(stderr, "tests/harness/docs: %s\n", what);
	abort();
}

static void
gb_put(struct growbuf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = b->cap ? b->cap : 4096;
		while (b->cap < b->len + n + 1)
			b->cap *= 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			die("out of memory");
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
gb_puts(struct growbuf *b, const char *s)
{
	gb_put(b, s, strlen(s));
}

/* s with & < > " escaped. */
static void
gb_xml(struct growbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '&')
			gb_puts(b, "&amp;");
		else if (*s == '<')
			gb_puts(b, "&lt;");
		else if (*s == '>')
			gb_puts(b, "&gt;");
		else if (*s == '"')
			gb_puts(b, "&quot;");
		else
			gb_put(b, s, 1);
	}
}

static cairo_status_t
on_pdf(void *ud, const unsigned char *data, unsigned int n)
{
	gb_put(ud, data, n);
	return CAIRO_STATUS_SUCCESS;
}

unsigned char *
hdoc_pdf(const char *const *pages, int n, size_t *len)
{
	struct growbuf	 b = { NULL, 0, 0 };
	cairo_surface_t	*s;
	cairo_t		*cr;

	s = cairo_pdf_surface_create_for_stream(on_pdf, &b, 595, 842);
	cr = cairo_create(s);
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
	    CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, 14);
	for (int i = 0; i < n; i++) {
		char	*copy = strdup(pages[i]), *line, *save = NULL;
		double	 y = 80;

		if (copy == NULL)
			die("out of memory");
		for (line = strtok_r(copy, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save)) {
			cairo_move_to(cr, 50, y);
			cairo_show_text(cr, line);
			y += 24;
		}
		free(copy);
		cairo_show_page(cr);
	}
	cairo_destroy(cr);
	cairo_surface_finish(s);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
		die("cairo could not write the PDF");
	cairo_surface_destroy(s);
	/* cairo keeps fontconfig's state for the next caller; the tests
	 * run under LeakSanitizer. */
	cairo_debug_reset_static_data();
	FcFini();
	*len = b.len;
	return b.p;
}

unsigned char *
hdoc_zip(const struct hzip_entry *e, int n, size_t *len)
{
	zip_error_t	 ze;
	zip_source_t	*src, *fs;
	zip_t		*z;
	zip_stat_t	 st;
	unsigned char	*out;

	zip_error_init(&ze);
	if ((src = zip_source_buffer_create(NULL, 0, 0, &ze)) == NULL ||
	    (z = zip_open_from_source(src, ZIP_TRUNCATE, &ze)) == NULL)
		die("libzip could not start an archive");
	zip_source_keep(src);
	for (int i = 0; i < n; i++) {
		if ((fs = zip_source_buffer(z, e[i].data, e[i].len, 0)) ==
		    NULL || zip_file_add(z, e[i].name, fs, ZIP_FL_ENC_UTF_8) < 0)
			die("libzip could not add an entry");
	}
	if (zip_close(z) != 0)
		die("libzip could not write the archive");
	zip_stat_init(&st);
	if (zip_source_stat(src, &st) != 0 || zip_source_open(src) != 0)
		die("libzip could not read the archive back");
	if ((out = malloc(st.size > 0 ? st.size : 1)) == NULL)
		die("out of memory");
	if (zip_source_read(src, out, st.size) != (zip_int64_t)st.size)
		die("libzip gave a short archive");
	zip_source_close(src);
	zip_source_free(src);
	zip_error_fini(&ze);
	*len = st.size;
	return out;
}

unsigned char *
hdoc_docx(const char *const *paragraphs, int n, size_t *len)
{
	struct growbuf		 doc = { NULL, 0, 0 };
	struct hzip_entry	 e[3];
	unsigned char		*out;
	const char		*types = "<?xml version=\"1.0\" encoding=\"UTF-8\" "
				    "standalone=\"yes\"?><Types xmlns=\"http://"
				    "schemas.openxmlformats.org/package/2006/"
				    "content-types\"><Default Extension=\"xml\" "
				    "ContentType=\"application/xml\"/><Override "
				    "PartName=\"/word/document.xml\" ContentType="
				    "\"application/vnd.openxmlformats-"
				    "officedocument.wordprocessingml.document."
				    "main+xml\"/></Types>";
	const char		*rels = "<?xml version=\"1.0\" encoding=\"UTF-8\" "
				    "standalone=\"yes\"?><Relationships xmlns=\""
				    PR_NS "\"><Relationship Id=\"rId1\" Type=\""
				    R_NS "/officeDocument\" Target=\"word/"
				    "document.xml\"/></Relationships>";

	gb_puts(&doc, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
	    "standalone=\"yes\"?><w:document xmlns:w=\"" W_NS "\"><w:body>");
	for (int i = 0; i < n; i++) {
		gb_puts(&doc, "<w:p><w:r><w:t xml:space=\"preserve\">");
		gb_xml(&doc, paragraphs[i]);
		gb_puts(&doc, "</w:t></w:r></w:p>");
	}
	gb_puts(&doc, "</w:body></w:document>");
	e[0] = (struct hzip_entry){ "[Content_Types].xml", types,
	    strlen(types) };
	e[1] = (struct hzip_entry){ "_rels/.rels", rels, strlen(rels) };
	e[2] = (struct hzip_entry){ "word/document.xml", doc.p, doc.len };
	out = hdoc_zip(e, 3, len);
	free(doc.p);
	return out;
}

unsigned char *
hdoc_xlsx(size_t *len)
{
	static const char *const workbook =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
	    "<workbook xmlns=\"" S_NS "\" xmlns:r=\"" R_NS "\"><sheets>"
	    "<sheet name=\"Prices\" sheetId=\"1\" r:id=\"rId1\"/>"
	    "<sheet name=\"Notes\" sheetId=\"2\" r:id=\"rId2\"/>"
	    "</sheets></workbook>";
	static const char *const rels =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
	    "<Relationships xmlns=\"" PR_NS "\">"
	    "<Relationship Id=\"rId2\" Type=\"" R_NS "/worksheet\" "
	    "Target=\"worksheets/sheet2.xml\"/>"
	    "<Relationship Id=\"rId1\" Type=\"" R_NS "/worksheet\" "
	    "Target=\"/xl/worksheets/sheet1.xml\"/>"
	    "<Relationship Id=\"rId3\" Type=\"" R_NS "/sharedStrings\" "
	    "Target=\"sharedStrings.xml\"/></Relationships>";
	static const char *const strings =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
	    "<sst xmlns=\"" S_NS "\" count=\"5\" uniqueCount=\"5\">"
	    "<si><t>Item</t></si><si><t>Price</t></si>"
	    "<si><t>Croissant</t></si><si><t>Pain, au chocolat</t></si>"
	    "<si><r><t xml:space=\"preserve\">Quarterly </t></r>"
	    "<r><rPr><b/></rPr><t>forecast</t></r>"
	    "<rPh sb=\"0\" eb=\"1\"><t>KANA</t></rPh></si></sst>";
	static const char *const sheet1 =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
	    "<worksheet xmlns=\"" S_NS "\"><sheetData>"
	    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c>"
	    "<c r=\"B1\" t=\"s\"><v>1</v></c></row>"
	    "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>2</v></c>"
	    "<c r=\"B2\"><v>2.5</v></c></row>"
	    "<row r=\"3\"><c r=\"A3\" t=\"s\"><v>3</v></c>"
	    "<c r=\"C3\"><v>4</v></c></row>"
	    "<row r=\"4\"><c r=\"A4\" t=\"inlineStr\"><is><t>Inline</t></is>"
	    "</c><c r=\"B4\" t=\"b\"><v>1</v></c></row>"
	    "</sheetData></worksheet>";
	static const char *const sheet2 =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
	    "<worksheet xmlns=\"" S_NS "\"><sheetData>"
	    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>4</v></c></row>"
	    "</sheetData></worksheet>";
	struct hzip_entry	 e[] = {
		{ "xl/workbook.xml", workbook, strlen(workbook) },
		{ "xl/_rels/workbook.xml.rels", rels, strlen(rels) },
		{ "xl/sharedStrings.xml", strings, strlen(strings) },
		{ "xl/worksheets/sheet1.xml", sheet1, strlen(sheet1) },
		{ "xl/worksheets/sheet2.xml", sheet2, strlen(sheet2) },
	};

	return hdoc_zip(e, (int)(sizeof(e) / sizeof(e[0])), len);
}

unsigned char *
hdoc_docx_bomb(size_t inflated, size_t *len)
{
	static const char	 para[] = "<w:p><w:r><w:t>boom</w:t></w:r></w:p>";
	struct hzip_entry	 e[1];
	unsigned char		*xml, *out;

	if ((xml = malloc(inflated)) == NULL)
		die("out of memory");
	for (size_t i = 0; i < inflated; i++)
		xml[i] = (unsigned char)para[i % (sizeof(para) - 1)];
	e[0] = (struct hzip_entry){ "word/document.xml", xml, inflated };
	out = hdoc_zip(e, 1, len);
	free(xml);
	return out;
}

/* Little-endian 16 and 32 bits at p. */
static uint32_t
le16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

void
hdoc_zip_lie(unsigned char *zip, size_t len, const char *name,
    uint32_t declared)
{
	size_t	 nlen = strlen(name);
	int	 found = 0;

	/* Local file headers "PK\3\4" (size at 22, name at 30) and central
	 * directory entries "PK\1\2" (size at 24, name at 46). */
	for (size_t i = 0; i + 46 <= len; i++) {
		if (memcmp(zip + i, "PK\3\4", 4) == 0 && i + 30 + nlen <= len &&
		    le16(zip + i + 26) == nlen &&
		    memcmp(zip + i + 30, name, nlen) == 0) {
			put_le32(zip + i + 22, declared);
			found |= 1;
		} else if (memcmp(zip + i, "PK\1\2", 4) == 0 &&
		    i + 46 + nlen <= len && le16(zip + i + 28) == nlen &&
		    memcmp(zip + i + 46, name, nlen) == 0) {
			put_le32(zip + i + 24, declared);
			found |= 2;
		}
	}
	if (found != 3)
		die("hdoc_zip_lie: the entry is not in the archive");
}
