/*
 * tests/fuzz: libFuzzer targets for every parser of untrusted bytes (issue
 * 10). Each fuzz_<name>.c is one target; `make fuzz` builds them with
 * Debian's clang (-fsanitize=fuzzer,address,undefined) and runs each for
 * FUZZ_SECONDS (tests/fuzz/run.sh); corpus/<name>/ holds its seeds, taken
 * from the payloads the integration tests send, and every reproducer a
 * fuzzer ever found.
 *
 * support.c lets the real request path run without a network or a
 * database, so the targets exercise the router, the handlers and the
 * parsers as they are, not copies of them:
 *
 * - A fake CivetWeb connection: the mg_* calls libparley makes are linked
 *   to support.c's (-Wl,--wrap=mg_…), which read the request from a
 *   struct fuzz_conn and count the answer instead of sending it.
 * - The database is down: db_acquire() answers NULL (--wrap), so every
 *   path that needs PostgreSQL takes its real 503 branch. Parsing happens
 *   before that wherever the code allows it.
 * - The webhook path's two database steps are stood in for (--wrap): the
 *   channel lookup (chancache_get) finds a channel with FUZZ_SECRET for any
 *   plausible number, so a target that signs its body gets past the
 *   signature check into the parser; ingest_store() checks every
 *   normalised message it is handed (strings whole, ids sane) instead of
 *   storing it.
 * - The API's bearer hook accepts "Bearer fuzz" (owner of organisation 1).
 *
 * Any answer of 500 (or none) aborts: a client's mistake never gets one.
 */
#ifndef PARLEY_TESTS_FUZZ_H
#define PARLEY_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct app;

/* The secret of every channel chancache_get "finds". */
#define FUZZ_SECRET	"fuzz-channel-secret"
/* The public URL the fake app has (Twilio signs URLs). */
#define FUZZ_PUBLIC_URL	"https://parley.example"

/* Builds the app once (config, templates, routes, hooks); quiet logs. */
struct app	*fuzz_app(void);

/*
 * Runs one request through router_dispatch on a fake connection.
 * headers: "Name", "value" pairs, NULL-terminated (may be NULL). Returns
 * the status sent; aborts on 500 or on no answer at all.
 */
int		 fuzz_request(const char *method, const char *path,
		    const char *query, const char *const *headers,
		    const void *body, size_t len);

/* Messages ingest_store was handed since start (each one checked). */
extern int	 fuzz_n_ingested;

/* Splits data at the first NUL: the part before it into *a (copied,
 * NUL-terminated, malloc'd), the rest into *b and *blen (borrowed). */
void		 fuzz_split(const uint8_t *data, size_t size, char **a,
		    const uint8_t **b, size_t *blen);

#endif
