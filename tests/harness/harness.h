/*
 * Test harness shared by the integration tests (tests/integration/):
 *
 *   pg.c      a throwaway PostgreSQL cluster on a free 127.0.0.1 port, in a
 *             fresh temporary directory, run as an unprivileged user when the
 *             tests run as root (through db_embedded_start); stop/restart for
 *             fault tests; psql-free SQL for set-up and assertions.
 *   harness.c the real parley binary (build/asan/parley unless PARLEY_BIN
 *             says otherwise) started on a free loopback port with a chosen
 *             environment, waited for on /healthz, stopped with SIGTERM;
 *             its CLI for tokens and users; running the suites.
 *   http.c    a libcurl client with a cookie jar per struct client, helpers to
 *             pull the CSRF token out of a page, form encoding, JSON bodies.
 *   fake.c    the local stand-ins for internet services (tests/fakes/): start,
 *             stop, script them and read what they received.
 *
 * On top of these, each with its own header:
 *   panel.h   checked requests to the panel and the REST API (never a 500,
 *             no leaked credential), CSRF forms, logins, bearer tokens.
 *   webhook.h Twilio, Meta and Kapso webhooks, signed as each provider signs.
 *   model.h   rows made in-process through the server's model code.
 *   world.h   the reply pipeline's world: cluster, fakes, server, pool, key.
 *
 * Every call that cannot go on fails the current Check test with a sentence.
 */
#ifndef PARLEY_TESTS_HARNESS_H
#define PARLEY_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <cjson/cJSON.h>

/* --- pg.c ------------------------------------------------------------- */

struct hpg {
	char	 dir[256];	/* temporary directory holding the cluster */
	int	 port;
	char	 conninfo[512];	/* libpq string for database "parley" */
	void	*embedded;	/* struct db_embedded * while running */
};

/* Starts a new empty cluster; aborts the test run on failure. */
void	 hpg_start(struct hpg *pg);
/* Stops the cluster, keeping its data (for restart). */
void	 hpg_stop(struct hpg *pg);
/* Starts a stopped cluster again on the same port and data. */
void	 hpg_restart(struct hpg *pg);
/* Stops (if running) and deletes the directory. */
void	 hpg_destroy(struct hpg *pg);
/* Runs SQL (no parameters; test code only) and returns the first field of
 * the first row as a malloc'd string ("" when there is none); NULL on error
 * with the error printed. */
char	*hpg_sql(struct hpg *pg, const char *sql);
/* hpg_sql's first field as an integer (-1 on error or no row). */
int64_t	 hpg_sql_int(struct hpg *pg, const char *sql);
/*
 * hpg_sql_int / hpg_sql with printf formatting (test SQL only, any
 * length). hpg_sqlf fails the test when the SQL fails; its answer is
 * malloc'd (the caller frees it).
 */
int64_t	 hpg_sqlf_int(struct hpg *pg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
char	*hpg_sqlf(struct hpg *pg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Polls the formatted query every 50 ms until its integer answer is want
 * or timeout_ms passes; true when it got there. */
bool	 hpg_wait_int(struct hpg *pg, int64_t want, int timeout_ms,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/*
 * True once every stored message is in the conversation search
 * (message_search, kept by the server's indexer a moment after a message
 * is stored: chat/search.h), within timeout_ms. Needs a running server.
 */
bool	 hpg_search_caught_up(struct hpg *pg, int timeout_ms);
/*
 * True once no chat has a turn due or running and no turn or
 * acknowledgment job waits (within timeout_ms): every turn has ended.
 */
bool	 hpg_turns_idle(struct hpg *pg, int timeout_ms);
/*
 * NO MESSAGE LEFT BEHIND, the check every suite that delivers inbound
 * messages runs after each scenario (its fixture's teardown): waits up to
 * timeout_ms for the turns to end, then fails the test when an inbound
 * message is neither answered (messages.answered_by) nor settled with a
 * reason (unanswered_reason) in a chat that does not wait for a person
 * (there the chat's state is the reason), listing them. The same query
 * as chat/messages.h chat_unsettled, across organisations.
 */
void	 hassert_none_left_behind(struct hpg *pg, int timeout_ms);

/*
 * The end of a suite's cluster: destroyed, or with PARLEY_TEST_KEEP=1
 * stopped and kept (its directory, with the server logs, is printed after
 * "name: kept"). Does nothing for a cluster never started or already
 * finished, so a suite's main may call it after its teardown; never fails
 * a test.
 */
void	 hpg_finish(struct hpg *pg, const char *name);

/* --- harness.c -------------------------------------------------------- */

struct hserver {
	int	 port;
	char	 base[64];	/* "http://127.0.0.1:PORT" */
	int	 pid;
	char	 log_path[300];	/* the server's stderr */
};

/*
 * Starts parley serve against pg with the default test environment
 * (PARLEY_DATABASE_URL, PARLEY_LISTEN, PARLEY_PUBLIC_URL = base,
 * PARLEY_ADMIN_EMAIL=owner@example.com, PARLEY_ADMIN_PASSWORD=
 * correct-horse-battery-staple, PARLEY_HOME = the repository,
 * PARLEY_DATA_DIR and PARLEY_MASTER_KEY_FILE under pg->dir,
 * PARLEY_TEMPLATE_SYNC_MINUTES=0 (no periodic sync to real providers); inherited
 * PARLEY_* variables are dropped) plus `env`, a NULL-terminated list of
 * "NAME=value" overrides (may be NULL). stdout+stderr go to log_path under
 * pg->dir. Waits until /healthz answers (up to 30 s), failing fast with the
 * log's tail if the server exits first.
 */
void	 hserver_start(struct hserver *s, struct hpg *pg, const char **env);
/* SIGTERM, wait (up to 30 s, then SIGKILL and fail); returns the exit
 * status (0 for a clean stop, 128 + signal if killed), -1 if not running. */
int	 hserver_stop(struct hserver *s);
/* True when the server's stderr log contains `needle`. */
bool	 hserver_log_contains(struct hserver *s, const char *needle);
/*
 * hserver_stop, asserting that the server exits 0 on SIGTERM and that its
 * log holds no sanitizer report ("runtime error", "Sanitizer"): under
 * ASan, no leak and no undefined behaviour in the whole run.
 */
void	 hserver_stop_clean(struct hserver *s);

#define HVARS_MAX	32

/*
 * "NAME=value" overrides for hserver_start, built in steps: start from a
 * zeroed struct, pass `v` (NULL-terminated) to hserver_start, free the
 * copies with hvars_free.
 */
struct hvars {
	const char	*v[HVARS_MAX + 1];
	int		 n;
};

/* Sets one formatted "NAME=value" (copied), replacing an earlier NAME. */
void	 hvars_set(struct hvars *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 hvars_free(struct hvars *e);
/* Runs build/.../parley with args and stdin text; returns the exit status
 * and the combined output (malloc'd) in *out if not NULL. */
int	 hrun_parley(struct hpg *pg, const char *const *args,
	    const char *stdin_text, char **out);
/* hrun_parley with `env` overrides ("NAME=value"; a bare "NAME" unsets). */
int	 hrun_parley_env(struct hpg *pg, const char **env,
	    const char *const *args, const char *stdin_text, char **out);
/*
 * Runs argv (argv[0] looked up in PATH) with the inherited environment
 * plus `env` overrides, feeding stdin_text; kills it and fails the test
 * after timeout_s seconds. Returns the exit status (128 + signal when
 * killed by one) and the combined stdout/stderr (malloc'd) in *out.
 */
int	 hrun_cmd(const char *const *argv, const char **env,
	    const char *stdin_text, char **out, int timeout_s);
/* The repository root (the nearest directory up from the cwd holding
 * Makefile and migrations/); aborts when there is none. */
const char	*hrepo_root(void);
/*
 * A temporary directory with the repository's migrations numbered up to
 * `upto` (copies: the runner checks their checksums against the same
 * files later), to build a database as an older release left it; the
 * caller removes it and frees the path.
 */
char		*hmigrations_upto(int upto);
/*
 * `parley token create --email email --name name [--role role]` (role
 * NULL: the command's default). Asserts that it exits 0 and prints the
 * token alone on the first line ("prl_" and 43 more characters), once.
 * Returns the token, malloc'd.
 */
char	*htoken_create(struct hpg *pg, const char *email, const char *name,
	    const char *role);
/* `parley user create --email email --org org --role role`, the password
 * on stdin; asserts that it exits 0. */
void	 huser_create(struct hpg *pg, const char *email, const char *org,
	    const char *role, const char *pw);
/* Runs the suites (a NULL-terminated list) in this process (CK_NOFORK,
 * output as CK_VERBOSITY says); returns how many tests failed. */
int	 hrun_suites(Suite *s, ...);

/* --- http.c ----------------------------------------------------------- */

struct hresp {
	long	 status;
	char	*body;		/* malloc'd, NUL-terminated */
	size_t	 body_len;
	char	*headers;	/* raw header block, malloc'd */
};

struct client {
	char	 base[64];
	char	 cookies[4096];	/* "name=value; name2=value2" as sent */
	char	 source[64];	/* local address to connect from; "" = any */
};

void	 client_init(struct client *c, const char *base);
/* Connects from loopback address `addr` (e.g. "127.0.0.2") from now on,
 * so tests can act as several client addresses. */
void	 client_set_source(struct client *c, const char *addr);
/*
 * One request. `path` is appended to the base. `body` may be NULL; when
 * content_type is NULL and body is given, form encoding is assumed.
 * `headers` is a NULL-terminated list of "Name: value" (may be NULL).
 * Redirects are not followed. Set-Cookie responses update the jar.
 */
void	 client_req(struct client *c, const char *method, const char *path,
	    const char *body, const char *content_type, const char **headers,
	    struct hresp *r);
void	 hresp_free(struct hresp *r);
/* The value of header `name` (case-insensitive), malloc'd; NULL if absent. */
char	*hresp_header(const struct hresp *r, const char *name);
/* The value of the hidden _csrf input in an HTML body, malloc'd or NULL. */
char	*html_csrf(const char *html);
/* Logs in through GET /login + POST /login; true on a 303 to the panel. */
bool	 client_login(struct client *c, const char *email, const char *pw);
/* The value attribute of the first <input> named `name`, malloc'd or NULL. */
char	*html_input_value(const char *html, const char *name);
/* Appends "name=value" form-encoded (with '&' when not first) to dst. */
void	 form_add(char *dst, size_t dstlen, const char *name, const char *value);
/*
 * A multipart/form-data body (malloc'd, NUL-terminated: the file's bytes
 * must hold no NUL) with boundary HMULTIPART_BOUNDARY: a _csrf field
 * (omitted when csrf is ""), a text field `field`=text and one file part
 * "file" (filename, ctype, bytes). HMULTIPART_TYPE is its Content-Type.
 */
#define HMULTIPART_BOUNDARY	"hArNeSsBoUnDaRy"
#define HMULTIPART_TYPE		"multipart/form-data; boundary=" \
				HMULTIPART_BOUNDARY
char	*hmultipart(const char *csrf, const char *field, const char *text,
	    const char *filename, const char *ctype, const char *bytes);
/* The body parsed as JSON (the caller deletes it); fails the test when
 * it is not JSON. */
cJSON	*hresp_json(const struct hresp *r);
/* Fails the test unless the body contains needle (has) or does not
 * (lacks); `what` names the step in the message (NULL: the status). */
void	 hresp_has(const struct hresp *r, const char *needle,
	    const char *what);
void	 hresp_lacks(const struct hresp *r, const char *needle,
	    const char *what);
/* The string member `name` of o (case-sensitive), borrowed from o; ""
 * when o is NULL or the member is absent or not a string, so that a
 * string assertion on it says what was missing. */
const char	*hjstr(const cJSON *o, const char *name);

/* --- fake.c: local stand-ins for internet services (tests/fakes/) ------ */

struct hfake {
	int	 port;
	char	 base[64];	/* "http://127.0.0.1:PORT" */
	int	 pid;
	char	 log_path[300];
};

/*
 * Starts <builddir>/tests/fakes/<name> (e.g. "fake_llm") on a free
 * loopback port with extra argv (NULL-terminated, may be NULL) and waits
 * until it answers. Fails the test run on error.
 */
void	 hfake_start(struct hfake *f, const char *name, const char **args);
void	 hfake_stop(struct hfake *f);
/*
 * Starts `node <repo>/<script> --port N args` the way hfake_start starts a
 * fake (log file, dies with us) and waits until GET /_ctl/log answers:
 * the MCP test servers (tests/mcp/server.mjs). f->port: the port to use
 * (a restart on the same port), 0 for a free one. hfake_stop stops it.
 */
void	 hnode_start(struct hfake *f, const char *script, const char **args);
/* POST body (JSON) to the fake's control path, e.g. "/_fake/queue". */
void	 hfake_post(struct hfake *f, const char *path, const char *json);
/* GET a control path; returns the body (malloc'd). */
char	*hfake_get(struct hfake *f, const char *path);
/* POSTs {} to /_fake/reset: the fake forgets its log, queue and media. */
void	 hfake_reset(struct hfake *f);
/* POSTs json (one scripted answer or an array of them) to /_fake/queue. */
void	 hfake_queue(struct hfake *f, const char *json);
/* The requests the fake received (/_fake/requests) as a JSON array the
 * caller deletes; fails the test on anything else. */
cJSON	*hfake_log(struct hfake *f);
/* How many requests the fake received. */
int	 hfake_log_count(struct hfake *f);
/* How many scripted answers are still queued (/_fake/queue). */
int	 hfake_queued(struct hfake *f);
/* Waits up to timeout_ms until the fake received at least n requests;
 * fails the test, saying how many it got, when it did not. */
void	 hfake_wait_log(struct hfake *f, int n, int timeout_ms);
/*
 * The messages of fake_llm's i-th logged chat request (log: hfake_log's
 * answer) without the leading system prompt, borrowed from log: the
 * conversation the model was asked about. *n gets how many.
 */
cJSON	*hllm_user_messages(cJSON *log, int i, int *n);

/* Points the server's Twilio, Meta and Kapso API bases at fake_whatsapp. */
void	 hvars_whatsapp(struct hvars *e, const struct hfake *wa);
/* hvars_whatsapp plus the reply pool's test pace: jobs polled every
 * 100 ms, 5 s leases, 4 workers, a 20 s model timeout. */
void	 hvars_reply(struct hvars *e, const struct hfake *wa);

/*
 * The "send" requests fake_whatsapp logged, in order: every one but the
 * reactions (the working indicator), or with texts_only just the texts
 * (Twilio's, which carry a form, and JSON ones of type "text"). Returns
 * how many; *out, when out is not NULL, gets them as an array the caller
 * deletes.
 */
int	 hwa_sends(struct hfake *wa, bool texts_only, cJSON **out);
/* Polls hwa_sends every 50 ms until there are at least want or
 * timeout_ms passes; true when there are. */
bool	 hwa_wait_sends(struct hfake *wa, bool texts_only, int want,
	    int timeout_ms);
/* The text of one logged send: Twilio's Body or the JSON text.body. */
const char	*hwa_text(const cJSON *send);
/* Registers media item id at fake_whatsapp (POST /_fake/media): n bytes
 * at p, sent base64, served as content_type. */
void	 hwa_media(struct hfake *wa, const char *id, const char *content_type,
	    const void *p, size_t n);

#endif
