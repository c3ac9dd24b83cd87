/*
 * fake.c: local stand-ins for internet services (see harness.h), started
 * the way harness.c starts parley.
 *
 * The binary is <builddir>/tests/fakes/<name>, where <builddir> is the
 * directory holding $PARLEY_BIN (build/asan for build/asan/parley) or
 * build/asan when PARLEY_BIN is unset. A fake gets a free loopback port
 * (--port N before the caller's arguments), the inherited environment,
 * stdin from /dev/null and stdout+stderr in a log file under $TMPDIR
 * (deleted after a clean stop unless PARLEY_TEST_KEEP=1). It is ready
 * when GET /_fake/requests gets any HTTP answer: the fake is listening
 * (fakes print "ready" only after they listen, and serve that path).
 *
 * Fakes die with us: PR_SET_PDEATHSIG, plus an atexit hook that SIGKILLs
 * any fake still registered. Every wait is bounded.
 */
#include "harness/harness.h"
#include "harness/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <curl/curl.h>
#include <sodium.h>

#include "util/time.h"
#include "util/xmalloc.h"

#define HFAKE_START_TIMEOUT_MS	15000
#define HFAKE_STOP_TIMEOUT_MS	15000
#define HFAKE_ARGS_MAX		30
#define HFAKE_BODY_MAX		(64u * 1024 * 1024)
#define HFAKE_LOG_TAIL		4000

struct hfake_body {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 overflow;
};

static void	 fake_bin(char *dst, size_t len, const char *name);
static void	 spawn(struct hfake *, const char *, const char *const *,
		    const char *, const char **, const char *);
static size_t	 on_body(char *ptr, size_t size, size_t nmemb, void *ud);
static long	 request(const char *method, const char *url,
		    const char *json, char **body, int timeout_ms);

static int	 fseq;

/* <builddir>/tests/fakes/<name>, builddir from PARLEY_BIN's directory. */
static void
fake_bin(char *dst, size_t len, const char *name)
{
	const char	*v = getenv("PARLEY_BIN");
	char		 dir[PATH_MAX];
	char		*slash;

	if (v != NULL && v[0] != '\0') {
		if (v[0] == '/')
			hfmt(dir, sizeof(dir), "%s", v);
		else
			hfmt(dir, sizeof(dir), "%s/%s", hrepo_root(), v);
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
	} else
		hfmt(dir, sizeof(dir), "%s/build/asan", hrepo_root());
	hfmt(dst, len, "%s/tests/fakes/%s", dir, name);
	if (access(dst, X_OK) != 0)
		ck_abort_msg("the fake %s is missing or not executable (build "
		    "it with `make SANITIZE=1 test-build`, or set PARLEY_BIN)",
		    dst);
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct hfake_body	*b = ud;
	size_t			 n = size * nmemb;

	if (b->overflow || b->len + n > HFAKE_BODY_MAX) {
		b->overflow = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		b->cap = b->cap ? b->cap : 4096;
		while (b->cap < b->len + n + 1)
			b->cap *= 2;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			abort();
	}
	memcpy(b->p + b->len, ptr, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/*
 * One request to a fake; the status (0 when unreachable) and, if body is
 * not NULL, the response body (malloc'd, "" when empty).
 */
static long
request(const char *method, const char *url, const char *json, char **body,
    int timeout_ms)
{
	struct hfake_body	 b = { NULL, 0, 0, 0 };
	struct curl_slist	*hdrs = NULL;
	CURL			*h;
	long			 status = 0;

	if ((h = curl_easy_init()) == NULL)
		ck_abort_msg("curl_easy_init failed");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
	if (json != NULL) {
		hdrs = curl_slist_append(hdrs,
		    "Content-Type: application/json");
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(json));
	}
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	if (body != NULL) {
		if (b.p == NULL && (b.p = calloc(1, 1)) == NULL)
			abort();
		*body = b.p;
	} else
		free(b.p);
	return status;
}

/*
 * Starts argv (argv[0] a path) with "--port N" and args after pre (the
 * program's own leading arguments, may be NULL), logging to a file named
 * for name, and waits until GET ready_path answers. f->port: the port to
 * use, 0 for a free one.
 */
static void
spawn(struct hfake *f, const char *prog, const char *const *pre,
    const char *name, const char **args, const char *ready_path)
{
	char		 port[16], url[512];
	char		*argv[HFAKE_ARGS_MAX + 8];
	const char	*tmp = getenv("TMPDIR");
	int64_t		 deadline;
	pid_t		 pid, w;
	int		 fd, devnull, ws, n = 0, want_port = f->port;
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ck_abort_msg("curl_global_init failed");
	memset(f, 0, sizeof(*f));
	f->port = want_port > 0 ? want_port : hfree_port();
	hfmt(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	hfmt(f->log_path, sizeof(f->log_path), "%s/parley-%s-%d-%d.log",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name,
	    (int)getpid(), ++fseq);
	hfmt(port, sizeof(port), "%d", f->port);

	argv[n++] = (char *)(uintptr_t)prog;
	for (i = 0; pre != NULL && pre[i] != NULL && i < 4; i++)
		argv[n++] = (char *)(uintptr_t)pre[i];
	argv[n++] = (char *)(uintptr_t)"--port";
	argv[n++] = port;
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		if (i >= HFAKE_ARGS_MAX)
			ck_abort_msg("hfake_start: too many arguments");
		argv[n++] = (char *)(uintptr_t)args[i];
	}
	argv[n] = NULL;

	if ((fd = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) == -1)
		ck_abort_msg("open %s: %s", f->log_path, strerror(errno));
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		close(fd);
		ck_abort_msg("open /dev/null: %s", strerror(errno));
	}
	fflush(NULL);
	if ((pid = fork()) == -1) {
		close(fd);
		close(devnull);
		ck_abort_msg("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (strchr(argv[0], '/') != NULL)
			execv(argv[0], argv);
		else
			execvp(argv[0], argv);
		_exit(127);
	}
	close(fd);
	close(devnull);
	f->pid = (int)pid;
	hchild_add(f->pid);

	hfmt(url, sizeof(url), "%s%s", f->base, ready_path);
	deadline = time_mono_ms() + HFAKE_START_TIMEOUT_MS;
	for (;;) {
		w = waitpid(pid, &ws, WNOHANG);
		if (w == pid) {
			hchild_remove(f->pid);
			f->pid = 0;
			hlog_tail(f->log_path, HFAKE_LOG_TAIL);
			ck_abort_msg("%s exited with status %d before answering "
			    "(log: %s)", name, hexit_status(ws), f->log_path);
		}
		if (request("GET", url, NULL, NULL, 2000) != 0)
			return;
		if (time_mono_ms() > deadline)
			break;
		hsleep_ms(20);
	}
	hchild_kill(pid);
	f->pid = 0;
	hlog_tail(f->log_path, HFAKE_LOG_TAIL);
	ck_abort_msg("%s did not answer on port %d within %d s (log: %s)",
	    name, f->port, HFAKE_START_TIMEOUT_MS / 1000, f->log_path);
}

void
hfake_start(struct hfake *f, const char *name, const char **args)
{
	char	 bin[PATH_MAX];

	fake_bin(bin, sizeof(bin), name);
	f->port = 0;
	spawn(f, bin, NULL, name, args, "/_fake/requests");
}

void
hnode_start(struct hfake *f, const char *script, const char **args)
{
	char		 path[PATH_MAX];
	const char	*pre[2] = { path, NULL };
	const char	*base = strrchr(script, '/');

	hfmt(path, sizeof(path), "%s/%s", hrepo_root(), script);
	if (access(path, R_OK) != 0)
		ck_abort_msg("%s is missing", path);
	spawn(f, "node", pre, base != NULL ? base + 1 : script, args,
	    "/_ctl/log");
}

void
hfake_stop(struct hfake *f)
{
	const char	*keep = getenv("PARLEY_TEST_KEEP");
	int		 pid = f->pid, status;

	if (pid <= 0)
		return;
	f->pid = 0;
	if (!hchild_stop(pid, HFAKE_STOP_TIMEOUT_MS, &status)) {
		hlog_tail(f->log_path, HFAKE_LOG_TAIL);
		ck_abort_msg("fake on port %d did not exit within %d s of "
		    "SIGTERM (killed; log: %s)", f->port,
		    HFAKE_STOP_TIMEOUT_MS / 1000, f->log_path);
	}
	if (status != 0) {
		/* Under ASan a leak or error in the fake shows up here. */
		hlog_tail(f->log_path, HFAKE_LOG_TAIL);
		ck_abort_msg("fake on port %d exited with status %d (log: %s)",
		    f->port, status, f->log_path);
	}
	if (keep == NULL || strcmp(keep, "1") != 0)
		unlink(f->log_path);
}

void
hfake_post(struct hfake *f, const char *path, const char *json)
{
	char	 url[512];
	char	*body = NULL;
	long	 st;

	hfmt(url, sizeof(url), "%s%s", f->base, path);
	st = request("POST", url, json != NULL ? json : "", &body, 10000);
	if (st < 200 || st > 299) {
		fprintf(stderr, "POST %s: %ld %s\n", url, st, body);
		free(body);
		ck_abort_msg("POST %s answered %ld, not 2xx", url, st);
	}
	free(body);
}

char *
hfake_get(struct hfake *f, const char *path)
{
	char	 url[512];
	char	*body = NULL;
	long	 st;

	hfmt(url, sizeof(url), "%s%s", f->base, path);
	st = request("GET", url, NULL, &body, 10000);
	if (st < 200 || st > 299) {
		fprintf(stderr, "GET %s: %ld %s\n", url, st, body);
		free(body);
		ck_abort_msg("GET %s answered %ld, not 2xx", url, st);
	}
	return body;
}

void
hfake_reset(struct hfake *f)
{
	hfake_post(f, "/_fake/reset", "{}");
}

void
hfake_queue(struct hfake *f, const char *json)
{
	hfake_post(f, "/_fake/queue", json);
}

cJSON *
hfake_log(struct hfake *f)
{
	char	*s = hfake_get(f, "/_fake/requests");
	cJSON	*log = cJSON_Parse(s);

	ck_assert_msg(cJSON_IsArray(log), "the request log of the fake on "
	    "port %d is not an array: %.2000s", f->port, s);
	free(s);
	return log;
}

int
hfake_log_count(struct hfake *f)
{
	cJSON	*log = hfake_log(f);
	int	 n = cJSON_GetArraySize(log);

	cJSON_Delete(log);
	return n;
}

int
hfake_queued(struct hfake *f)
{
	char		*s = hfake_get(f, "/_fake/queue");
	cJSON		*o = cJSON_Parse(s);
	const cJSON	*q = cJSON_GetObjectItemCaseSensitive(o, "queued");
	int		 n;

	ck_assert_msg(cJSON_IsNumber(q), "the fake on port %d answered "
	    "/_fake/queue with %.2000s", f->port, s);
	n = q->valueint;
	free(s);
	cJSON_Delete(o);
	return n;
}

void
hfake_wait_log(struct hfake *f, int n, int timeout_ms)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;

	while (hfake_log_count(f) < n) {
		ck_assert_msg(time_mono_ms() < deadline, "the fake on port %d "
		    "was asked %d times, not %d", f->port, hfake_log_count(f),
		    n);
		hsleep_ms(50);
	}
}

cJSON *
hllm_user_messages(cJSON *log, int i, int *n)
{
	cJSON	*msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(
		    cJSON_GetArrayItem(log, i), "body"), "messages");
	cJSON	*first = cJSON_GetArrayItem(msgs, 0);

	if (first != NULL && strcmp(hjstr(first, "role"), "system") == 0)
		cJSON_Delete(cJSON_DetachItemFromArray(msgs, 0));
	*n = cJSON_GetArraySize(msgs);
	return msgs;
}

void
hvars_whatsapp(struct hvars *e, const struct hfake *wa)
{
	hvars_set(e, "PARLEY_TWILIO_API_BASE=%s", wa->base);
	hvars_set(e, "PARLEY_TWILIO_MESSAGING_BASE=%s", wa->base);
	hvars_set(e, "PARLEY_TWILIO_CONTENT_BASE=%s", wa->base);
	hvars_set(e, "PARLEY_META_GRAPH_BASE=%s/v24.0", wa->base);
	hvars_set(e, "PARLEY_KAPSO_API_BASE=%s/meta/whatsapp/v24.0",
	    wa->base);
}

void
hvars_reply(struct hvars *e, const struct hfake *wa)
{
	hvars_whatsapp(e, wa);
	hvars_set(e, "PARLEY_JOB_POLL_MS=100");
	hvars_set(e, "PARLEY_JOB_LEASE_SECONDS=5");
	hvars_set(e, "PARLEY_WORKERS=4");
	hvars_set(e, "PARLEY_LLM_TIMEOUT_SECONDS=20");
}

int
hwa_sends(struct hfake *wa, bool texts_only, cJSON **out)
{
	cJSON		*log = hfake_log(wa), *sends = cJSON_CreateArray();
	const cJSON	*e, *j;
	const char	*type;
	int		 n;

	cJSON_ArrayForEach(e, log) {
		if (strcmp(hjstr(e, "op"), "send") != 0)
			continue;
		j = cJSON_GetObjectItemCaseSensitive(e, "json");
		type = hjstr(j, "type");
		/* A Twilio template carries ContentSid instead of Body. */
		if (texts_only ? (j != NULL ? strcmp(type, "text") != 0 :
		    hjstr(cJSON_GetObjectItemCaseSensitive(e, "form"),
		    "ContentSid")[0] != '\0') : strcmp(type, "reaction") == 0)
			continue;
		cJSON_AddItemToArray(sends, cJSON_Duplicate(e, true));
	}
	cJSON_Delete(log);
	n = cJSON_GetArraySize(sends);
	if (out != NULL)
		*out = sends;
	else
		cJSON_Delete(sends);
	return n;
}

bool
hwa_wait_sends(struct hfake *wa, bool texts_only, int want, int timeout_ms)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;

	while (time_mono_ms() < deadline) {
		if (hwa_sends(wa, texts_only, NULL) >= want)
			return true;
		hsleep_ms(50);
	}
	return hwa_sends(wa, texts_only, NULL) >= want;
}

const char *
hwa_text(const cJSON *send)
{
	const cJSON	*j = cJSON_GetObjectItemCaseSensitive(send, "json");

	if (j != NULL)
		return hjstr(cJSON_GetObjectItemCaseSensitive(j, "text"),
		    "body");
	return hjstr(cJSON_GetObjectItemCaseSensitive(send, "form"), "Body");
}

void
hwa_media(struct hfake *wa, const char *id, const char *content_type,
    const void *p, size_t n)
{
	size_t	 b64len = sodium_base64_ENCODED_LEN(n,
		    sodium_base64_VARIANT_ORIGINAL);
	char	*b64 = xmalloc(b64len), *json;

	sodium_bin2base64(b64, b64len, p, n, sodium_base64_VARIANT_ORIGINAL);
	json = xasprintf("{\"id\":\"%s\",\"content_type\":\"%s\","
	    "\"body_b64\":\"%s\"}", id, content_type, b64);
	hfake_post(wa, "/_fake/media", json);
	free(json);
	free(b64);
}
