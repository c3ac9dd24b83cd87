/*
 * tmpl: the Mustache engine (spec-conformant: comments, delimiters,
 * interpolation, inverted, partials, sections, inheritance) and the loader
 * of templates/.
 *
 * Templates compile once into a set; rendering is read-only on the set, so
 * one set is shared by every HTTP thread. Data comes as a cJSON tree. `{{x}}`
 * escapes & < > " and ' (STYLE.md §9); `{{{x}}}` and `{{&x}}` do not.
 * Falsey: false, null, missing, empty list (the spec's set).
 */
#ifndef PARLEY_TMPL_TMPL_H
#define PARLEY_TMPL_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct tmpl_set;

struct tmpl_set	*tmpl_set_new(void);
/* Frees every compiled template; NULL is a no-op. */
void		 tmpl_set_free(struct tmpl_set *set);

/*
 * Compiles `src` (len bytes) and adds it under `name`, replacing any
 * template of that name. A syntax error (unclosed tag or section,
 * mismatched section close, bad delimiter change) returns false with
 * "NAME:LINE: sentence" in err.
 */
bool		 tmpl_set_add(struct tmpl_set *set, const char *name,
		    const char *src, size_t len, char *err, size_t errlen);
/* True when a template of that name exists. */
bool		 tmpl_set_has(const struct tmpl_set *set, const char *name);

/*
 * Loads every *.mustache file under `dir` recursively, named by its path
 * relative to dir without the extension ("layout", "partials/nav",
 * "auth/login"). Partials and parents resolve against the same names.
 * Returns false with the first error (template name and line) in err.
 */
bool		 tmpl_set_load_dir(struct tmpl_set *set, const char *dir,
		    char *err, size_t errlen);

/*
 * Renders template `name` with `data` as the root context. Returns a
 * malloc'd NUL-terminated string (caller frees; length in *len if not
 * NULL), or NULL when no template has that name or the render went past
 * one of mustache.c's bounds (partial/parent depth, work steps, output
 * size: a template that includes itself ends there). A missing partial
 * renders as empty, as the spec requires.
 */
char		*tmpl_render(const struct tmpl_set *set, const char *name,
		    const cJSON *data, size_t *len);

/*
 * tmpl_render for text that is not HTML (an agent's system prompt going to
 * a model, a WhatsApp message): {{x}} is not escaped. Never use its output
 * in a page.
 */
char		*tmpl_render_text(const struct tmpl_set *set, const char *name,
		    const cJSON *data, size_t *len);

#endif
