/*
 * Test harness shared by the integration tests (tests/integration/):
 *
 *   pg.c      a throwaway PostgreSQL cluster on a free 127.0.0.1 port, in a
 *             fresh temporary directory, run as an unprivileged user when the
 *             tests run as root (through db_embedded_start); stop/restart for
 *             fault tests; psql-free SQL for set-up and assertions.
 *   harness.c the real parley binary (build/asan/parley unless PARLEY_BIN
 *             says otherwise) started on a free loopback port with a chosen
 *             environment, waited for on /healthz, stopped with SIGTERM.
 *   http.c    a libcurl client with a cookie jar per struct client, helpers to
 *             pull the CSRF token out of a page, and form encoding.
 *
 * Every call that cannot go on fails the current Check test with a sentence.
 */
#ifndef PARLEY_TESTS_HARNESS_H
#define PARLEY_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* hpg_sql_int / hpg_sql with printf formatting (test SQL only; the
 * formatted text must fit 8 KiB). hpg_sqlf fails the test on error. */
int64_t	 hpg_sqlf_int(struct hpg *pg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
char	*hpg_sqlf(struct hpg *pg, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Polls the formatted query every 50 ms until its integer answer is want
 * or timeout_ms passes; true when it got there. */
bool	 hpg_wait_int(struct hpg *pg, int64_t want, int timeout_ms,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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
 * PARLEY_DATA_DIR and PARLEY_MASTER_KEY_FILE under pg->dir; inherited
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
/* POST body (JSON) to the fake's control path, e.g. "/_fake/queue". */
void	 hfake_post(struct hfake *f, const char *path, const char *json);
/* GET a control path; returns the body (malloc'd). */
char	*hfake_get(struct hfake *f, const char *path);

#endif
