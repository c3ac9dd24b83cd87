/*
 * tmpl/mustache.c: the Mustache engine behind tmpl.h (spec v1.3 core plus
 * inheritance; no lambdas, no dynamic names).
 *
 * Owns: the template set (a sorted array of compiled templates, looked up by
 * name with bsearch). Thread-safety: tmpl_set_add and tmpl_set_free mutate
 * the set and need the caller's exclusion; tmpl_render only reads the set and
 * the data, so any number of threads may render from one set at once. All
 * per-render state (output, context stack, indentation, inheritance frames)
 * lives on the rendering thread's stack.
 *
 * DESIGN
 * Compile: one pass over the source finds tags with the current delimiters
 * and builds a tree of nodes. Standalone lines (a line holding only white
 * space and one section, inverted, close, comment, partial, delimiter, parent
 * or block tag) are cut out at compile time, so rendering never looks at
 * white space rules. Every surviving source line starts with an N_LINE node
 * carrying the line's leading white space: that is where a standalone
 * partial's indentation is inserted at render time (spec: "prepended to each
 * line of the partial"), without copying or re-parsing the partial.
 *
 * Inheritance follows the spec's whitespace tests (inheritance.json) and the
 * discussion in mustache/spec#131: a standalone block's content is dedented
 * by the white space its lines share (like Python's textwrap.dedent), and
 * re-indented where it is expanded. Dedent is decided when the block closes:
 * every N_LINE, partial, parent and block indentation inside it that no inner
 * standalone block claimed records how many leading bytes to drop. Pairs of
 * adjacent tags on one line ({{<p}}{{/p}}, {{$b}}{{/b}}, {{<p}}{{$b}},
 * {{/b}}{{/p}}) count as standalone, as the spec's "Standalone parent" and
 * "Standalone block" cases require.
 *
 * Render: a recursive walk with the context stack, the indentation chain and
 * the parent frames (each {{<parent}} node whose blocks override the parent's
 * blocks; the outermost frame wins, as "Multi-level inheritance" requires) on
 * the C stack. Bounded: template nesting (TMPL_NEST_MAX, at compile time),
 * partial/parent/override depth, work steps and output size (at render time;
 * exceeding one fails the render, which returns NULL).
 */
#include "tmpl/tmpl.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/xmalloc.h"

#define TMPL_SRC_MAX	(4u * 1024 * 1024)	/* bytes of one template */
#define TMPL_NEST_MAX	100	/* open sections/blocks/parents in one template */
#define TMPL_DEPTH_MAX	64	/* partials, parents and overrides in one render */
#define TMPL_STEPS_MAX	(1ul << 26)	/* nodes visited in one render */
#define TMPL_OUT_MAX	(64u * 1024 * 1024)	/* bytes of one rendering */
#define TMPL_DELIM_MAX	16
#define TMPL_NPOS	SIZE_MAX

enum node_type {
	N_ROOT,		/* a template's top-level list */
	N_TEXT,		/* literal bytes */
	N_LINE,		/* a source line starts: indentation goes here */
	N_VAR,		/* {{x}}: HTML-escaped */
	N_RAW,		/* {{{x}}}, {{&x}} */
	N_SECTION,	/* {{#x}} */
	N_INVERTED,	/* {{^x}} */
	N_PARTIAL,	/* {{>x}} */
	N_PARENT,	/* {{<x}}: its N_BLOCK kids are the arguments */
	N_BLOCK		/* {{$x}} */
};

struct node {
	enum node_type	 type;
	/*
	 * N_TEXT: the bytes. N_LINE: the line's leading white space. N_PARTIAL,
	 * N_PARENT, N_BLOCK when standalone: the indentation to add. Points into
	 * the template's own copy of its source.
	 */
	const char	*text;
	size_t		 len;
	int		 dedent;	/* leading bytes of text an enclosing
					   standalone block drops; -1: none */
	bool		 is_blank;	/* N_LINE: the line is only white space */
	bool		 is_inline;	/* N_BLOCK: content starts mid-line */
	bool		 is_standalone;
	char		*name;		/* tag content, trimmed */
	char		**path;		/* N_VAR, N_RAW, sections: name split at
					   dots; n_path 0 is the implicit "." */
	size_t		 n_path;
	struct node	**kids;
	size_t		 n_kids;
	size_t		 cap_kids;
};

struct tmpl {
	char		*name;
	char		*src;		/* NUL-terminated copy; nodes point in */
	struct node	*root;
};

struct tmpl_set {
	struct tmpl	**v;		/* sorted by name */
	size_t		 n;
	size_t		 cap;
};

struct tag {
	size_t		 at;		/* first byte of the opening delimiter */
	size_t		 end;		/* just past the closing delimiter */
	char		 type;		/* 0 for a plain variable */
	const char	*name;		/* trimmed content */
	size_t		 name_len;
};

struct open {
	struct node	*node;
	size_t		 tag_at;
	size_t		 body_at;	/* where the content starts in src */
};

struct parser {
	const char	*name;
	const char	*src;
	size_t		 len;
	size_t		 pos;
	char		 otag[TMPL_DELIM_MAX + 1];
	char		 ctag[TMPL_DELIM_MAX + 1];
	size_t		 olen;
	size_t		 clen;
	struct node	*root;
	struct open	 open[TMPL_NEST_MAX];
	size_t		 n_open;
	char		*err;
	size_t		 errlen;
};

enum pair {
	PAIR_NONE,
	PAIR_BLOCK_EMPTY,	/* {{$b}}{{/b}} */
	PAIR_PARENT_EMPTY,	/* {{<p}}{{/p}} */
	PAIR_PARENT_BLOCK,	/* {{<p}}{{$b}} */
	PAIR_CLOSE_BOTH		/* {{/b}}{{/p}} */
};

struct ctx {
	const cJSON		*v;
	const struct ctx	*up;
};

struct indent {
	const char		*s;
	size_t			 len;
	const struct indent	*up;
};

struct render {
	const struct tmpl_set	*set;
	struct buf		 out;
	const struct node	*frames[TMPL_DEPTH_MAX];
	size_t			 n_frames;
	unsigned		 depth;
	unsigned long		 steps;
	bool			 failed;
	bool			 plain;		/* text output: no escaping */
};

static struct node	*node_new(enum node_type);
static void		 node_free(struct node *);
static void		 node_add(struct node *, struct node *);
static void		 tmpl_free(struct tmpl *);
static struct tmpl	*set_find(const struct tmpl_set *, const char *);
static size_t		 set_index(const struct tmpl_set *, const char *, bool *);
static int		 tmpl_cmp(const void *, const void *);

static size_t		 find(const char *, size_t, size_t, const char *, size_t);
static bool		 is_ws(char);
static bool		 fail(struct parser *, size_t, const char *, ...)
			    __attribute__((format(printf, 3, 4)));
static bool		 parse(struct parser *);
static bool		 parse_tag(const struct parser *, size_t, struct tag *);
static bool		 line_before(const struct parser *, size_t, size_t *);
static bool		 line_after(const struct parser *, size_t, size_t *,
			    size_t *);
static bool		 is_standalone_type(char);
static enum pair	 find_pair(const struct parser *, const struct tag *,
			    struct tag *);
static bool		 handle_pair(struct parser *, enum pair,
			    const struct tag *, const struct tag *, size_t);
static bool		 handle_tag(struct parser *, const struct tag *, bool,
			    size_t, size_t);
static void		 emit_text(struct parser *, size_t, size_t, bool);
static struct node	*container(struct parser *);
static bool		 check_name(struct parser *, const struct tag *);
static struct node	*named_node(struct parser *, enum node_type,
			    const struct tag *);
static bool		 split_path(struct parser *, const struct tag *,
			    struct node *);
static bool		 push(struct parser *, struct node *, size_t, size_t);
static bool		 close_tag(struct parser *, const struct tag *, size_t);
static void		 finish_block(struct parser *, struct node *, size_t,
			    size_t);
static void		 assign_dedent(struct node *, int);
static bool		 set_delims(struct parser *, const struct tag *);
static const char	*kind_name(enum node_type);

static void		 render_list(struct render *, const struct node *,
			    const struct ctx *, const struct indent *);
static void		 render_node(struct render *, const struct node *,
			    const struct ctx *, const struct indent *);
static void		 render_include(struct render *, const struct node *,
			    const struct ctx *, const struct indent *);
static void		 render_block(struct render *, const struct node *,
			    const struct ctx *, const struct indent *);
static const struct indent *indent_push(struct indent *, const struct node *,
			    const struct indent *);
static void		 put_indent(struct render *, const struct indent *);
static void		 put_value(struct render *, const cJSON *, bool);
static void		 put_escaped(struct buf *, const char *);
static char		*render_named(const struct tmpl_set *, const char *,
			    const cJSON *, size_t *, bool);
static void		 put_number(struct buf *, double);
static const cJSON	*lookup(const struct ctx *, const struct node *);
static bool		 is_falsey(const cJSON *);

/* --- the set ----------------------------------------------------------- */

struct tmpl_set *
tmpl_set_new(void)
{
	return xcalloc(1, sizeof(struct tmpl_set));
}

void
tmpl_set_free(struct tmpl_set *set)
{
	size_t	 i;

	if (set == NULL)
		return;
	for (i = 0; i < set->n; i++)
		tmpl_free(set->v[i]);
	free(set->v);
	free(set);
}

bool
tmpl_set_has(const struct tmpl_set *set, const char *name)
{
	return set_find(set, name) != NULL;
}

bool
tmpl_set_add(struct tmpl_set *set, const char *name, const char *src,
    size_t len, char *err, size_t errlen)
{
	struct parser	*p = NULL;
	struct tmpl	*t = NULL;
	size_t		 i;
	bool		 found;
	bool		 ok = false;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (len > TMPL_SRC_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s:1: template is larger "
			    "than %u bytes", name, TMPL_SRC_MAX);
		goto out;
	}

	t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(name);
	t->src = xmalloc(len + 1);
	if (len > 0)
		memcpy(t->src, src, len);
	t->src[len] = '\0';
	t->root = node_new(N_ROOT);

	/* The parser holds TMPL_NEST_MAX open frames: keep it off the stack. */
	p = xcalloc(1, sizeof(*p));
	p->name = name;
	p->src = t->src;
	p->len = len;
	memcpy(p->otag, "{{", 3);
	memcpy(p->ctag, "}}", 3);
	p->olen = p->clen = 2;
	p->root = t->root;
	p->err = err;
	p->errlen = errlen;
	if (!parse(p))
		goto out;

	i = set_index(set, name, &found);
	if (found) {
		tmpl_free(set->v[i]);
	} else {
		if (set->n == set->cap) {
			set->cap = set->cap ? set->cap * 2 : 16;
			set->v = xrealloc(set->v, set->cap * sizeof(*set->v));
		}
		memmove(set->v + i + 1, set->v + i,
		    (set->n - i) * sizeof(*set->v));
		set->n++;
	}
	set->v[i] = t;
	t = NULL;
	ok = true;
out:
	free(p);
	tmpl_free(t);
	return ok;
}

char *
render_named(const struct tmpl_set *set, const char *name, const cJSON *data,
    size_t *len, bool plain)
{
	struct render	*r;
	struct ctx	 root;
	struct tmpl	*t;
	char		*s = NULL;

	if (len != NULL)
		*len = 0;
	if ((t = set_find(set, name)) == NULL)
		return NULL;

	r = xcalloc(1, sizeof(*r));
	r->set = set;
	r->plain = plain;
	buf_init(&r->out, TMPL_OUT_MAX);
	root.v = data;
	root.up = NULL;
	render_list(r, t->root, &root, NULL);
	if (!r->failed && !r->out.err)
		s = buf_steal(&r->out, len);
	buf_cleanup(&r->out);
	free(r);
	return s;
}

char *
tmpl_render(const struct tmpl_set *set, const char *name, const cJSON *data,
    size_t *len)
{
	return render_named(set, name, data, len, false);
}

char *
tmpl_render_text(const struct tmpl_set *set, const char *name,
    const cJSON *data, size_t *len)
{
	return render_named(set, name, data, len, true);
}

static void
tmpl_free(struct tmpl *t)
{
	if (t == NULL)
		return;
	node_free(t->root);
	free(t->src);
	free(t->name);
	free(t);
}

static int
tmpl_cmp(const void *key, const void *elem)
{
	const struct tmpl *const	*t = elem;

	return strcmp(key, (*t)->name);
}

static struct tmpl *
set_find(const struct tmpl_set *set, const char *name)
{
	struct tmpl	**t;

	if (set == NULL || name == NULL || set->n == 0)
		return NULL;
	t = bsearch(name, set->v, set->n, sizeof(*set->v), tmpl_cmp);
	return t ? *t : NULL;
}

/* Where name is, or where it would be inserted to keep the array sorted. */
static size_t
set_index(const struct tmpl_set *set, const char *name, bool *found)
{
	size_t	 lo = 0, hi = set->n, mid;
	int	 c;

	*found = false;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, set->v[mid]->name);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* --- nodes ------------------------------------------------------------- */

static struct node *
node_new(enum node_type type)
{
	struct node	*n = xcalloc(1, sizeof(*n));

	n->type = type;
	n->dedent = -1;
	return n;
}

/* Recursion is bounded by TMPL_NEST_MAX, which the parser enforces. */
static void
node_free(struct node *n)
{
	size_t	 i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_kids; i++)
		node_free(n->kids[i]);
	for (i = 0; i < n->n_path; i++)
		free(n->path[i]);
	free(n->path);
	free(n->kids);
	free(n->name);
	free(n);
}

static void
node_add(struct node *parent, struct node *kid)
{
	if (parent->n_kids == parent->cap_kids) {
		parent->cap_kids = parent->cap_kids ? parent->cap_kids * 2 : 4;
		parent->kids = xrealloc(parent->kids,
		    parent->cap_kids * sizeof(*parent->kids));
	}
	parent->kids[parent->n_kids++] = kid;
}

/* --- compiling --------------------------------------------------------- */

static size_t
find(const char *s, size_t len, size_t from, const char *pat, size_t plen)
{
	const char	*hit;

	while (from + plen <= len) {
		hit = memchr(s + from, pat[0], len - from - plen + 1);
		if (hit == NULL)
			return TMPL_NPOS;
		from = (size_t)(hit - s);
		if (memcmp(hit, pat, plen) == 0)
			return from;
		from++;
	}
	return TMPL_NPOS;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Writes "NAME:LINE: sentence" for the tag at `at`; always returns false. */
static bool
fail(struct parser *p, size_t at, const char *fmt, ...)
{
	va_list	 ap;
	size_t	 line = 1, i;
	int	 n;

	if (p->err == NULL || p->errlen == 0)
		return false;
	for (i = 0; i < at && i < p->len; i++)
		if (p->src[i] == '\n')
			line++;
	n = snprintf(p->err, p->errlen, "%s:%zu: ", p->name, line);
	if (n < 0 || (size_t)n >= p->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

static bool
parse(struct parser *p)
{
	struct tag	 t, t2;
	enum pair	 pair;
	size_t		 at, ls = 0, eol_start, eol_end;
	bool		 standalone;

	for (;;) {
		at = find(p->src, p->len, p->pos, p->otag, p->olen);
		if (at == TMPL_NPOS) {
			emit_text(p, p->pos, p->len, false);
			break;
		}
		if (!parse_tag(p, at, &t))
			return fail(p, at, "unclosed tag: \"%s\" without a "
			    "matching \"%s%s\"", p->otag,
			    t.type == '{' ? "}" : t.type == '=' ? "=" : "",
			    p->ctag);
		standalone = false;
		pair = PAIR_NONE;
		if (line_before(p, at, &ls)) {
			/* A line only ever starts after pos (tags end in a
			   delimiter, never in white space); stay defensive. */
			if (ls < p->pos)
				ls = p->pos;
			pair = find_pair(p, &t, &t2);
			standalone = is_standalone_type(t.type) &&
			    line_after(p, t.end, &eol_start, &eol_end);
		}
		if (pair != PAIR_NONE) {
			emit_text(p, p->pos, ls, false);
			if (!handle_pair(p, pair, &t, &t2, ls))
				return false;
		} else if (standalone) {
			emit_text(p, p->pos, ls, false);
			p->pos = eol_end;
			if (!handle_tag(p, &t, true, ls, ls))
				return false;
		} else {
			emit_text(p, p->pos, at, true);
			p->pos = t.end;
			if (!handle_tag(p, &t, false, ls, at))
				return false;
		}
	}
	if (p->n_open > 0)
		return fail(p, p->open[p->n_open - 1].tag_at,
		    "%s \"%.64s\" is never closed",
		    kind_name(p->open[p->n_open - 1].node->type),
		    p->open[p->n_open - 1].node->name);
	return true;
}

/*
 * Reads the tag whose opening delimiter starts at `at`: its type character,
 * its trimmed content and its end. False when no closing delimiter follows.
 */
static bool
parse_tag(const struct parser *p, size_t at, struct tag *t)
{
	char	 close[TMPL_DELIM_MAX + 2];
	size_t	 from, end, n = 0;

	t->at = at;
	t->type = 0;
	from = at + p->olen;
	if (from < p->len && p->src[from] != '\0' &&
	    memchr("{&#^/!><$=", p->src[from], 10) != NULL)
		t->type = p->src[from++];
	if (t->type == '{')
		close[n++] = '}';
	else if (t->type == '=')
		close[n++] = '=';
	memcpy(close + n, p->ctag, p->clen);
	n += p->clen;
	if ((end = find(p->src, p->len, from, close, n)) == TMPL_NPOS)
		return false;
	t->end = end + n;
	while (from < end && is_ws(p->src[from]))
		from++;
	while (end > from && is_ws(p->src[end - 1]))
		end--;
	t->name = p->src + from;
	t->name_len = end - from;
	return true;
}

/* True when only spaces and tabs precede `at` on its line; *ls: line start. */
static bool
line_before(const struct parser *p, size_t at, size_t *ls)
{
	size_t	 i = at;

	while (i > 0 && (p->src[i - 1] == ' ' || p->src[i - 1] == '\t'))
		i--;
	if (i > 0 && p->src[i - 1] != '\n')
		return false;
	*ls = i;
	return true;
}

/*
 * True when only spaces and tabs follow `end` up to a newline or the end;
 * *eol_start is the newline (or the end), *eol_end just past it.
 */
static bool
line_after(const struct parser *p, size_t end, size_t *eol_start,
    size_t *eol_end)
{
	size_t	 i = end;

	while (i < p->len && (p->src[i] == ' ' || p->src[i] == '\t'))
		i++;
	*eol_start = i;
	if (i == p->len) {
		*eol_end = i;
		return true;
	}
	if (p->src[i] == '\n') {
		*eol_end = i + 1;
		return true;
	}
	if (p->src[i] == '\r' && i + 1 < p->len && p->src[i + 1] == '\n') {
		*eol_end = i + 2;
		return true;
	}
	return false;
}

static bool
is_standalone_type(char type)
{
	return type != 0 && type != '&' && type != '{';
}

/*
 * The inheritance spec treats some pairs of adjacent tags as one standalone
 * tag. `t` has only white space before it on its line; the pair needs only
 * white space after the second tag.
 */
static enum pair
find_pair(const struct parser *p, const struct tag *t, struct tag *t2)
{
	const struct node	*blk, *par;
	size_t			 s, e;

	if (t->type != '$' && t->type != '<' && t->type != '/')
		return PAIR_NONE;
	if (t->end + p->olen > p->len ||
	    memcmp(p->src + t->end, p->otag, p->olen) != 0)
		return PAIR_NONE;
	if (!parse_tag(p, t->end, t2) || !line_after(p, t2->end, &s, &e))
		return PAIR_NONE;
	if (t->type == '$' && t2->type == '/' && t->name_len == t2->name_len &&
	    memcmp(t->name, t2->name, t->name_len) == 0)
		return PAIR_BLOCK_EMPTY;
	if (t->type == '<' && t2->type == '/' && t->name_len == t2->name_len &&
	    memcmp(t->name, t2->name, t->name_len) == 0)
		return PAIR_PARENT_EMPTY;
	if (t->type == '<' && t2->type == '$')
		return PAIR_PARENT_BLOCK;
	if (t->type != '/' || t2->type != '/' || p->n_open < 2)
		return PAIR_NONE;
	blk = p->open[p->n_open - 1].node;
	par = p->open[p->n_open - 2].node;
	if (blk->type != N_BLOCK || par->type != N_PARENT ||
	    strlen(blk->name) != t->name_len ||
	    memcmp(blk->name, t->name, t->name_len) != 0 ||
	    strlen(par->name) != t2->name_len ||
	    memcmp(par->name, t2->name, t2->name_len) != 0)
		return PAIR_NONE;
	return PAIR_CLOSE_BOTH;
}

static bool
handle_pair(struct parser *p, enum pair pair, const struct tag *t,
    const struct tag *t2, size_t ls)
{
	struct node	*n, *b;
	size_t		 eol_start, eol_end;

	line_after(p, t2->end, &eol_start, &eol_end);
	switch (pair) {
	case PAIR_BLOCK_EMPTY:
		/* mustache/spec#131: the close is not standalone by itself,
		   so the newline stays in the output. */
		p->pos = eol_start;
		if ((n = named_node(p, N_BLOCK, t)) == NULL)
			return false;
		n->is_standalone = true;
		n->text = p->src + ls;
		n->len = t->at - ls;
		node_add(container(p), n);
		return true;
	case PAIR_PARENT_EMPTY:
		p->pos = eol_end;
		if ((n = named_node(p, N_PARENT, t)) == NULL)
			return false;
		n->is_standalone = true;
		n->text = p->src + ls;
		n->len = t->at - ls;
		node_add(container(p), n);
		return true;
	case PAIR_PARENT_BLOCK:
		p->pos = eol_end;
		if ((n = named_node(p, N_PARENT, t)) == NULL)
			return false;
		if ((b = named_node(p, N_BLOCK, t2)) == NULL) {
			node_free(n);
			return false;
		}
		n->is_standalone = true;
		n->text = p->src + ls;
		n->len = t->at - ls;
		b->is_standalone = true;
		node_add(container(p), n);
		if (!push(p, n, t->at, t2->at)) {
			node_free(b);
			return false;
		}
		node_add(n, b);
		return push(p, b, t2->at, eol_end);
	case PAIR_CLOSE_BOTH:
		p->pos = eol_end;
		return close_tag(p, t, ls) && close_tag(p, t2, ls);
	case PAIR_NONE:
		break;
	}
	return true;
}

/*
 * `ls` is the start of the tag's line (meaningful when standalone); `cut`
 * is where the content of a section closed by this tag ends. p->pos is
 * already past the tag (and past its line when standalone).
 */
static bool
handle_tag(struct parser *p, const struct tag *t, bool standalone, size_t ls,
    size_t cut)
{
	struct node	*n;

	switch (t->type) {
	case '!':
		return true;
	case '=':
		return set_delims(p, t);
	case '/':
		return close_tag(p, t, cut);
	case 0:
	case '&':
	case '{':
		if ((n = named_node(p, t->type == 0 ? N_VAR : N_RAW, t)) == NULL)
			return false;
		node_add(container(p), n);
		return true;
	case '#':
	case '^':
		n = named_node(p, t->type == '#' ? N_SECTION : N_INVERTED, t);
		if (n == NULL)
			return false;
		node_add(container(p), n);
		return push(p, n, t->at, p->pos);
	case '>':
	case '<':
	case '$':
		n = named_node(p, t->type == '>' ? N_PARTIAL :
		    t->type == '<' ? N_PARENT : N_BLOCK, t);
		if (n == NULL)
			return false;
		if (standalone) {
			n->is_standalone = true;
			n->text = p->src + ls;
			n->len = t->at - ls;
		}
		node_add(container(p), n);
		if (t->type == '>')
			return true;
		return push(p, n, t->at, p->pos);
	default:
		return fail(p, t->at, "unknown tag type '%c'", t->type);
	}
}

/*
 * Adds the text [s, e) to the open container, with an N_LINE node at each
 * line start. `tag_follows`: a tag that stays on its line begins at e, so a
 * line starting exactly at e still gets its N_LINE.
 */
static void
emit_text(struct parser *p, size_t s, size_t e, bool tag_follows)
{
	struct node	*parent = container(p), *n;
	const char	*nl;
	size_t		 i = s, j;
	bool		 blank;

	for (;;) {
		if ((i == 0 || p->src[i - 1] == '\n') &&
		    (i < e || (i == e && tag_follows))) {
			j = i;
			while (j < e && (p->src[j] == ' ' || p->src[j] == '\t'))
				j++;
			blank = !(i == e && tag_follows) && (j == p->len ||
			    p->src[j] == '\n' || (p->src[j] == '\r' &&
			    j + 1 < p->len && p->src[j + 1] == '\n'));
			/* An empty line gets no indentation (spec partials). */
			if (j > i || !blank) {
				n = node_new(N_LINE);
				n->text = p->src + i;
				n->len = j - i;
				n->is_blank = blank;
				node_add(parent, n);
			}
			i = j;
		}
		if (i >= e)
			break;
		nl = memchr(p->src + i, '\n', e - i);
		j = nl ? (size_t)(nl - p->src) + 1 : e;
		n = node_new(N_TEXT);
		n->text = p->src + i;
		n->len = j - i;
		node_add(parent, n);
		i = j;
	}
}

static struct node *
container(struct parser *p)
{
	return p->n_open ? p->open[p->n_open - 1].node : p->root;
}

static bool
check_name(struct parser *p, const struct tag *t)
{
	size_t	 i;

	if (t->name_len == 0)
		return fail(p, t->at, "empty tag");
	for (i = 0; i < t->name_len; i++)
		if (is_ws(t->name[i]) || t->name[i] == '\0')
			return fail(p, t->at, "tag name \"%.*s\" contains "
			    "white space", (int)(t->name_len > 64 ? 64 :
			    t->name_len), t->name);
	return true;
}

/* A node named after the tag; NULL (error written) for a bad name. */
static struct node *
named_node(struct parser *p, enum node_type type, const struct tag *t)
{
	struct node	*n;

	if (!check_name(p, t))
		return NULL;
	n = node_new(type);
	n->name = xstrndup(t->name, t->name_len);
	if (type == N_VAR || type == N_RAW || type == N_SECTION ||
	    type == N_INVERTED) {
		if (!split_path(p, t, n)) {
			node_free(n);
			return NULL;
		}
	}
	return n;
}

/* "a.b.c" → {a, b, c}; "." → no parts (the current context). */
static bool
split_path(struct parser *p, const struct tag *t, struct node *n)
{
	const char	*s = t->name, *end = t->name + t->name_len, *dot;
	size_t		 parts = 1, i;

	if (t->name_len == 1 && s[0] == '.')
		return true;
	for (i = 0; i < t->name_len; i++)
		if (s[i] == '.')
			parts++;
	n->path = xcalloc(parts, sizeof(*n->path));
	while (s <= end) {
		dot = memchr(s, '.', (size_t)(end - s));
		if (dot == NULL)
			dot = end;
		if (dot == s)
			return fail(p, t->at, "bad name \"%.64s\": empty "
			    "part between dots", n->name);
		n->path[n->n_path++] = xstrndup(s, (size_t)(dot - s));
		s = dot + 1;
	}
	return true;
}

static bool
push(struct parser *p, struct node *n, size_t tag_at, size_t body_at)
{
	if (p->n_open == TMPL_NEST_MAX)
		return fail(p, tag_at, "sections nested more than %d deep",
		    TMPL_NEST_MAX);
	if (n->type == N_BLOCK)
		n->is_inline = body_at > 0 && body_at <= p->len &&
		    p->src[body_at - 1] != '\n';
	p->open[p->n_open].node = n;
	p->open[p->n_open].tag_at = tag_at;
	p->open[p->n_open].body_at = body_at;
	p->n_open++;
	return true;
}

/* Closes the innermost open section; its content ends at `cut`. */
static bool
close_tag(struct parser *p, const struct tag *t, size_t cut)
{
	struct open	*o;
	size_t		 line = 1, i;

	if (!check_name(p, t))
		return false;
	if (p->n_open == 0)
		return fail(p, t->at, "closing tag \"%.*s\" has no open "
		    "section", (int)(t->name_len > 64 ? 64 : t->name_len),
		    t->name);
	o = &p->open[p->n_open - 1];
	if (strlen(o->node->name) != t->name_len ||
	    memcmp(o->node->name, t->name, t->name_len) != 0) {
		for (i = 0; i < o->tag_at; i++)
			if (p->src[i] == '\n')
				line++;
		return fail(p, t->at, "closing tag \"%.*s\" does not match "
		    "%s \"%.64s\" opened on line %zu",
		    (int)(t->name_len > 64 ? 64 : t->name_len), t->name,
		    kind_name(o->node->type), o->node->name, line);
	}
	if (o->node->type == N_BLOCK && o->node->is_standalone)
		finish_block(p, o->node, o->body_at, cut);
	p->n_open--;
	return true;
}

/*
 * A standalone block's content [body, cut) is dedented by the white space
 * its non-blank lines share (textwrap.dedent), and the block is re-indented
 * where it expands: by that shared white space when the content has some
 * ("Intrinsic indentation"), else by the tag's own ("Block reindentation").
 */
static void
finish_block(struct parser *p, struct node *n, size_t body, size_t cut)
{
	const char	*s = p->src, *nl;
	size_t		 i = body, j, line_end, common = 0, clen = 0, k;
	size_t		 first_ws = 0;
	bool		 have = false, first = true, first_blank = false;

	while (i < cut) {
		j = i;
		while (j < cut && (s[j] == ' ' || s[j] == '\t'))
			j++;
		nl = memchr(s + j, '\n', cut - j);
		line_end = nl ? (size_t)(nl - s) : cut;
		if (first) {
			first_ws = j - i;
			first_blank = j == line_end;
			first = false;
		}
		if (j < line_end) {
			if (!have) {
				common = i;
				clen = j - i;
				have = true;
			} else {
				for (k = 0; k < clen && k < j - i &&
				    s[common + k] == s[i + k]; k++)
					;
				clen = k;
			}
		}
		i = line_end + 1;
	}
	if (!first && !first_blank && clen > 0) {
		n->text = s + body;
		n->len = clen;
	} else if (!first && first_blank && first_ws > 0) {
		n->text = s + body;
		n->len = first_ws;
	}
	assign_dedent(n, clen > INT32_MAX ? INT32_MAX : (int)clen);
}

/* Gives every indentation inside n that no inner block claimed dedent d. */
static void
assign_dedent(struct node *n, int d)
{
	struct node	*k;
	size_t		 i;

	for (i = 0; i < n->n_kids; i++) {
		k = n->kids[i];
		switch (k->type) {
		case N_LINE:
		case N_PARTIAL:
			if (k->dedent < 0)
				k->dedent = d;
			break;
		case N_PARENT:
		case N_BLOCK:
			if (k->dedent < 0)
				k->dedent = d;
			assign_dedent(k, d);
			break;
		case N_SECTION:
		case N_INVERTED:
			assign_dedent(k, d);
			break;
		case N_ROOT:
		case N_TEXT:
		case N_VAR:
		case N_RAW:
			break;
		}
	}
}

/* {{=<% %>=}}: two delimiters, white-space separated. */
static bool
set_delims(struct parser *p, const struct tag *t)
{
	const char	*s = t->name, *end = t->name + t->name_len;
	const char	*o, *c;
	size_t		 olen, clen;

	o = s;
	while (s < end && !is_ws(*s))
		s++;
	olen = (size_t)(s - o);
	while (s < end && is_ws(*s))
		s++;
	c = s;
	while (s < end && !is_ws(*s))
		s++;
	clen = (size_t)(s - c);
	if (olen == 0 || clen == 0 || s != end ||
	    olen > TMPL_DELIM_MAX || clen > TMPL_DELIM_MAX ||
	    memchr(o, '\0', olen) != NULL || memchr(c, '\0', clen) != NULL)
		return fail(p, t->at, "bad delimiter change \"%.*s\": want "
		    "two delimiters of 1 to %d characters, like {{=<%% %%>=}}",
		    (int)(t->name_len > 64 ? 64 : t->name_len), t->name,
		    TMPL_DELIM_MAX);
	memcpy(p->otag, o, olen);
	p->otag[olen] = '\0';
	p->olen = olen;
	memcpy(p->ctag, c, clen);
	p->ctag[clen] = '\0';
	p->clen = clen;
	return true;
}

static const char *
kind_name(enum node_type type)
{
	switch (type) {
	case N_BLOCK:
		return "block";
	case N_PARENT:
		return "parent";
	case N_INVERTED:
		return "inverted section";
	default:
		return "section";
	}
}

/* --- rendering --------------------------------------------------------- */

static void
render_list(struct render *r, const struct node *list, const struct ctx *c,
    const struct indent *ind)
{
	size_t	 i;

	for (i = 0; i < list->n_kids && !r->failed; i++)
		render_node(r, list->kids[i], c, ind);
}

static void
render_node(struct render *r, const struct node *n, const struct ctx *c,
    const struct indent *ind)
{
	const cJSON	*v, *el;
	struct ctx	 sub;
	size_t		 d;

	if (r->failed)
		return;
	if (++r->steps > TMPL_STEPS_MAX) {
		r->failed = true;
		return;
	}
	switch (n->type) {
	case N_TEXT:
		buf_append(&r->out, n->text, n->len);
		break;
	case N_LINE:
		/* textwrap.dedent empties white-space-only lines. */
		if (n->is_blank && n->dedent >= 0)
			break;
		put_indent(r, ind);
		d = n->dedent > 0 ? (size_t)n->dedent : 0;
		if (d < n->len)
			buf_append(&r->out, n->text + d, n->len - d);
		break;
	case N_VAR:
	case N_RAW:
		put_value(r, lookup(c, n), n->type == N_VAR);
		break;
	case N_SECTION:
		v = lookup(c, n);
		if (is_falsey(v))
			break;
		sub.up = c;
		if (cJSON_IsArray(v)) {
			cJSON_ArrayForEach(el, v) {
				sub.v = el;
				render_list(r, n, &sub, ind);
			}
		} else {
			sub.v = v;
			render_list(r, n, &sub, ind);
		}
		break;
	case N_INVERTED:
		if (is_falsey(lookup(c, n)))
			render_list(r, n, c, ind);
		break;
	case N_PARTIAL:
	case N_PARENT:
		render_include(r, n, c, ind);
		break;
	case N_BLOCK:
		render_block(r, n, c, ind);
		break;
	case N_ROOT:
		render_list(r, n, c, ind);
		break;
	}
	if (r->out.err)
		r->failed = true;
}

/*
 * {{>name}} and {{<name}}: the named template, with the tag's indentation
 * when standalone. A parent's block arguments are visible (as a frame) while
 * the parent renders. A missing template renders as empty (spec).
 */
static void
render_include(struct render *r, const struct node *n, const struct ctx *c,
    const struct indent *ind)
{
	struct indent	 sub;
	struct tmpl	*t;

	if ((t = set_find(r->set, n->name)) == NULL)
		return;
	if (r->depth >= TMPL_DEPTH_MAX) {
		r->failed = true;	/* runaway recursion */
		return;
	}
	r->depth++;
	if (n->type == N_PARENT)
		r->frames[r->n_frames++] = n;
	render_list(r, t->root, c, n->is_standalone ?
	    indent_push(&sub, n, ind) : NULL);
	if (n->type == N_PARENT)
		r->n_frames--;
	r->depth--;
}

/* {{$name}}: the outermost parent's argument of that name, else the default. */
static void
render_block(struct render *r, const struct node *n, const struct ctx *c,
    const struct indent *ind)
{
	const struct node	*src = n, *f, *k;
	struct indent		 sub;
	size_t			 i, j;

	for (i = 0; i < r->n_frames && src == n; i++) {
		f = r->frames[i];
		for (j = 0; j < f->n_kids; j++) {
			k = f->kids[j];
			if (k->type == N_BLOCK && strcmp(k->name, n->name) == 0) {
				src = k;
				break;
			}
		}
	}
	if (src->n_kids == 0)
		return;
	if (src != n && r->depth >= TMPL_DEPTH_MAX) {
		r->failed = true;	/* a block overriding itself */
		return;
	}
	if (src != n)
		r->depth++;
	if (n->is_standalone) {
		indent_push(&sub, n, ind);
		/* Content starting mid-line has no N_LINE for its first
		   line, yet textwrap.indent indents it too. */
		if (src->is_inline)
			put_indent(r, &sub);
		render_list(r, src, c, &sub);
	} else {
		render_list(r, src, c, ind);
	}
	if (src != n)
		r->depth--;
}

/* Fills `sub` with n's indentation, less what its block dedents, over up. */
static const struct indent *
indent_push(struct indent *sub, const struct node *n, const struct indent *up)
{
	size_t	 d = n->dedent > 0 ? (size_t)n->dedent : 0;

	sub->s = "";
	sub->len = 0;
	if (n->text != NULL && d < n->len) {
		sub->s = n->text + d;
		sub->len = n->len - d;
	}
	sub->up = up;
	return sub;
}

/* Depth is bounded by TMPL_DEPTH_MAX (one link per include or block). */
static void
put_indent(struct render *r, const struct indent *ind)
{
	if (ind == NULL)
		return;
	put_indent(r, ind->up);
	buf_append(&r->out, ind->s, ind->len);
}

/* Strings as they are, numbers as JSON writes them, booleans as words;
   null, missing, arrays and objects as nothing. */
static void
put_value(struct render *r, const cJSON *v, bool escape)
{
	if (v == NULL)
		return;
	if (cJSON_IsString(v) && v->valuestring != NULL) {
		if (escape && !r->plain)
			put_escaped(&r->out, v->valuestring);
		else
			buf_puts(&r->out, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		put_number(&r->out, v->valuedouble);
	} else if (cJSON_IsTrue(v)) {
		buf_puts(&r->out, "true");
	} else if (cJSON_IsFalse(v)) {
		buf_puts(&r->out, "false");
	}
}

/* & < > " ' (STYLE.md §9: ' too, for single-quoted attributes). */
static void
put_escaped(struct buf *b, const char *s)
{
	const char	*run = s, *rep;

	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			continue;
		}
		buf_append(b, run, (size_t)(s - run));
		buf_puts(b, rep);
		run = s + 1;
	}
	buf_append(b, run, (size_t)(s - run));
}

/* 85 → "85", 1.5 → "1.5": integers without a fraction, others shortest. */
static void
put_number(struct buf *b, double d)
{
	char	 s[64];

	if (!isfinite(d)) {
		buf_puts(b, isnan(d) ? "NaN" : d > 0 ? "Infinity" :
		    "-Infinity");
		return;
	}
	if (d == 0) {
		buf_putc(b, '0');
		return;
	}
	if (fabs(d) < 1e15 && d == floor(d)) {
		snprintf(s, sizeof(s), "%.0f", d);
	} else {
		snprintf(s, sizeof(s), "%.15g", d);
		if (strtod(s, NULL) != d)
			snprintf(s, sizeof(s), "%.17g", d);
	}
	buf_puts(b, s);
}

/*
 * The spec's name resolution: the first part is looked up from the innermost
 * context outwards; the rest only inside what the first part found.
 */
static const cJSON *
lookup(const struct ctx *c, const struct node *n)
{
	const cJSON	*v = NULL;
	size_t		 i;

	if (n->n_path == 0)
		return c ? c->v : NULL;
	for (; c != NULL; c = c->up) {
		if (cJSON_IsObject(c->v) &&
		    (v = cJSON_GetObjectItemCaseSensitive(c->v, n->path[0])))
			break;
	}
	for (i = 1; v != NULL && i < n->n_path; i++) {
		if (!cJSON_IsObject(v))
			return NULL;
		v = cJSON_GetObjectItemCaseSensitive(v, n->path[i]);
	}
	return v;
}

/* Falsey: missing, false, null, empty list (tmpl.h). */
static bool
is_falsey(const cJSON *v)
{
	if (v == NULL || cJSON_IsFalse(v) || cJSON_IsNull(v) ||
	    cJSON_IsInvalid(v))
		return true;
	return cJSON_IsArray(v) && v->child == NULL;
}
