/*
 * json: the one door through which JSON from outside becomes a cJSON tree.
 *
 * cJSON parses recursively and allows 1,000 levels of nesting; CivetWeb's
 * request threads (and the reply pool's) have small stacks, so a body of
 * 800 '[' used to take the whole process down. json_parse() first scans
 * the bytes (honouring strings and escapes, no allocation, no recursion)
 * and refuses anything nested deeper than JSON_MAX_DEPTH before cJSON sees
 * it. Every parse in src/ goes through here: tests/lint.sh fails the build
 * on a cJSON_Parse* call anywhere else.
 *
 * 64 levels is far beyond what any provider, model server or API client
 * sends (Meta's deepest delivery is 7 levels, an OpenAI tool call 6).
 *
 * Thread-safe: no state.
 */
#ifndef PARLEY_UTIL_JSON_H
#define PARLEY_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Deepest nesting of arrays and objects json_parse accepts. */
#define JSON_MAX_DEPTH	64

enum json_error {
	JSON_OK = 0,
	JSON_EMPTY,		/* no bytes, or only white space */
	JSON_TOO_DEEP,		/* nested deeper than JSON_MAX_DEPTH */
	JSON_INVALID,		/* not one well-formed JSON value */
};

/*
 * Parses the len bytes at s (need not be NUL-terminated) as exactly one
 * JSON value, white space around it allowed. Returns a tree the caller
 * frees with cJSON_Delete, or NULL with *err (may be NULL) saying why.
 */
cJSON		*json_parse(const char *s, size_t len, enum json_error *err);
/* json_parse of a NUL-terminated string; NULL s gives NULL (JSON_EMPTY). */
cJSON		*json_parse_str(const char *s, enum json_error *err);
/*
 * True when no array or object in the len bytes at s nests deeper than
 * max_depth. Brackets inside strings do not count. Says nothing about
 * whether the bytes are valid JSON; stops at the first level too deep.
 */
bool		 json_depth_ok(const char *s, size_t len, int max_depth);
/*
 * The number v as an int64 (its fraction dropped) in *out: false when v is
 * not a number or lies outside int64's range (1e300 is valid JSON; casting
 * it is undefined behaviour).
 */
bool		 json_int64(const cJSON *v, int64_t *out);
/* The string member name of o, or dflt when o is not an object with
 * one (borrowed from o). */
const char	*json_str_or(const cJSON *o, const char *name,
		    const char *dflt);
/* A sentence about a request body with that error, for answers. */
const char	*json_error_str(enum json_error err);

#endif
