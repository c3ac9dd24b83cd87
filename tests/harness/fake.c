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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <curl/curl.h>

#define HFAKE_START_TIMEOUT_MS	15000
#define HFAKE_STOP_TIMEOUT_MS	15000
#define HFAKE_ARGS_MAX		30
#define HFAKE_LIVE_MAX		16
#define HFAKE_BODY_MAX		(64u * 1024 * 1024)
#define HFAKE_LOG_TAIL		4000

struct hfake_body {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 overflow;
};

static void	 ffmt(char *dst, size_t len, const char *f, ...)
		    __attribute__((format(printf, 3, 4)));
static int64_t	 fnow_ms(void);
static void	 fsleep_ms(int ms);
static int	 ffree_port(void);
static void	 fake_bin(char *dst, size_t len, const char *name);
static void	 flive_add(int pid);
static void	 flive_remove(int pid);
static void	 flive_kill_all(void);
static int	 fstatus_of(int ws);
static void	 flog_tail(const char *path);
static size_t	 on_body(char *ptr, size_t size, size_t nmemb, void *ud);
static long	 request(const char *method, const char *url,
		    const char *json, char **body, int timeout_ms);

static int	 flive_pids[HFAKE_LIVE_MAX];
static int	 fseq;

/* snprintf that fails the test instead of truncating. */
static void
ffmt(char *dst, size_t len, const char *f, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, f);
	n = vsnprintf(dst, len, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		ck_abort_msg("fake: %zu-byte buffer too small for \"%s\"",
		    len, f);
}

static int64_t
fnow_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
fsleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* A port free right now (the same race as harness.c's, equally rare). */
static int
ffree_port(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);
	int			 fd, port;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		ck_abort_msg("cannot find a free port: %s", strerror(errno));
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* <builddir>/tests/fakes/<name>, builddir from PARLEY_BIN's directory. */
static void
fake_bin(char *dst, size_t len, const char *name)
{
	const char	*v = getenv("PARLEY_BIN");
	char		 dir[PATH_MAX];
	char		*slash;

	if (v != NULL && v[0] != '\0') {
		if (v[0] == '/')
			ffmt(dir, sizeof(dir), "%s", v);
		else
			ffmt(dir, sizeof(dir), "%s/%s", hrepo_root(), v);
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
	} else
		ffmt(dir, sizeof(dir), "%s/build/asan", hrepo_root());
	ffmt(dst, len, "%s/tests/fakes/%s", dir, name);
	if (access(dst, X_OK) != 0)
		ck_abort_msg("the fake %s is missing or not executable (build "
		    "it with `make SANITIZE=1 test-build`, or set PARLEY_BIN)",
		    dst);
}

static void
flive_kill_all(void)
{
	int	 i;

	for (i = 0; i < HFAKE_LIVE_MAX; i++) {
		if (flive_pids[i] > 0) {
			kill(flive_pids[i], SIGKILL);
			waitpid(flive_pids[i], NULL, 0);
			flive_pids[i] = 0;
		}
	}
}

static void
flive_add(int pid)
{
	static int	 registered;
	int		 i;

	if (!registered) {
		atexit(flive_kill_all);
		registered = 1;
	}
	for (i = 0; i < HFAKE_LIVE_MAX; i++) {
		if (flive_pids[i] == 0) {
			flive_pids[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_abort_msg("more than %d fakes running at once", HFAKE_LIVE_MAX);
}

static void
flive_remove(int pid)
{
	int	 i;

	for (i = 0; i < HFAKE_LIVE_MAX; i++)
		if (flive_pids[i] == pid)
			flive_pids[i] = 0;
}

static int
fstatus_of(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return -1;
}

static void
flog_tail(const char *path)
{
	FILE	*f;
	long	 size;
	char	 buf[HFAKE_LOG_TAIL + 1];
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL)
		return;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > HFAKE_LOG_TAIL ? size - HFAKE_LOG_TAIL : 0,
	    SEEK_SET);
	n = fread(buf, 1, HFAKE_LOG_TAIL, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- tail of %s ----\n%s%s---- end of log ----\n",
	    path, buf, n > 0 && buf[n - 1] != '\n' ? "\n" : "");
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

void
hfake_start(struct hfake *f, const char *name, const char **args)
{
	char		 bin[PATH_MAX], port[16], url[128];
	char		*argv[HFAKE_ARGS_MAX + 4];
	const char	*tmp = getenv("TMPDIR");
	int64_t		 deadline;
	pid_t		 pid, w;
	int		 fd, devnull, ws, n = 0;
	size_t		 i;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ck_abort_msg("curl_global_init failed");
	memset(f, 0, sizeof(*f));
	fake_bin(bin, sizeof(bin), name);
	f->port = ffree_port();
	ffmt(f->base, sizeof(f->base), "http://127.0.0.1:%d", f->port);
	ffmt(f->log_path, sizeof(f->log_path), "%s/parley-%s-%d-%d.log",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp", name,
	    (int)getpid(), ++fseq);
	ffmt(port, sizeof(port), "%d", f->port);

	argv[n++] = bin;
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
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	close(devnull);
	f->pid = (int)pid;
	flive_add(f->pid);

	ffmt(url, sizeof(url), "%s/_fake/requests", f->base);
	deadline = fnow_ms() + HFAKE_START_TIMEOUT_MS;
	for (;;) {
		w = waitpid(pid, &ws, WNOHANG);
		if (w == pid) {
			flive_remove(f->pid);
			f->pid = 0;
			flog_tail(f->log_path);
			ck_abort_msg("%s exited with status %d before answering "
			    "(log: %s)", name, fstatus_of(ws), f->log_path);
		}
		if (request("GET", url, NULL, NULL, 2000) != 0)
			return;
		if (fnow_ms() > deadline)
			break;
		fsleep_ms(20);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	flive_remove(f->pid);
	f->pid = 0;
	flog_tail(f->log_path);
	ck_abort_msg("%s did not answer on port %d within %d s (log: %s)",
	    name, f->port, HFAKE_START_TIMEOUT_MS / 1000, f->log_path);
}

void
hfake_stop(struct hfake *f)
{
	pid_t		 pid = (pid_t)f->pid;
	const char	*keep = getenv("PARLEY_TEST_KEEP");
	int64_t		 deadline;
	int		 ws, status;

	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	deadline = fnow_ms() + HFAKE_STOP_TIMEOUT_MS;
	while (waitpid(pid, &ws, WNOHANG) == 0) {
		if (fnow_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			flive_remove(f->pid);
			f->pid = 0;
			flog_tail(f->log_path);
			ck_abort_msg("fake on port %d did not exit within %d s "
			    "of SIGTERM (killed; log: %s)", f->port,
			    HFAKE_STOP_TIMEOUT_MS / 1000, f->log_path);
		}
		fsleep_ms(10);
	}
	flive_remove(f->pid);
	f->pid = 0;
	status = fstatus_of(ws);
	if (status != 0) {
		/* Under ASan a leak or error in the fake shows up here. */
		flog_tail(f->log_path);
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

	ffmt(url, sizeof(url), "%s%s", f->base, path);
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

	ffmt(url, sizeof(url), "%s%s", f->base, path);
	st = request("GET", url, NULL, &body, 10000);
	if (st < 200 || st > 299) {
		fprintf(stderr, "GET %s: %ld %s\n", url, st, body);
		free(body);
		ck_abort_msg("GET %s answered %ld, not 2xx", url, st);
	}
	return body;
}
