/*
 * harness.c: the real parley binary under test (see harness.h).
 *
 * The binary is $PARLEY_BIN, else build/asan/parley under the repository
 * root (tests run from the root; we also look upwards from the cwd). A
 * server gets a free loopback port, a hermetic environment (inherited
 * PARLEY_* variables are dropped so a developer's shell cannot leak into a
 * test; ASAN_OPTIONS and the rest are kept), its data and master key under
 * the cluster's temporary directory, and stdout+stderr in a log file there.
 *
 * Children die with us: each is started with PR_SET_PDEATHSIG and an
 * atexit hook SIGKILLs any server still registered, so a crashed or
 * aborted test never leaves a server holding a port. Every wait is bounded.
 */
#include "harness/harness.h"
#include "harness/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
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

#include "util/time.h"
#include "util/xmalloc.h"

extern char	**environ;

#define HSERVER_START_TIMEOUT_MS	30000
#define HSERVER_STOP_TIMEOUT_MS		30000
#define HRUN_PARLEY_TIMEOUT_S		60
#define HRUN_OUTPUT_MAX			(16u * 1024 * 1024)
#define HENV_MAX			256
#define HCHILD_MAX			32
#define LOG_TAIL_BYTES			6000

struct henv {
	char	*v[HENV_MAX + 1];
	int	 n;
};

static void	 henv_set(struct henv *e, const char *kv);
static void	 henv_inherit(struct henv *e, bool drop_parley);
static void	 henv_defaults(struct henv *e, struct hpg *pg, int port);
static void	 henv_overrides(struct henv *e, const char **env);
static void	 henv_free(struct henv *e);
static const char *parley_bin(void);
static long	 healthz(const char *base);
static void	 children_kill_all(void);
static void	 ignore_sigpipe(void);
static int	 run_argv(char *const *argv, char *const *envp,
		    const char *stdin_text, char **out, int timeout_s,
		    bool use_path);

static int	 children[HCHILD_MAX];
static int	 log_seq;

void
hfmt(char *dst, size_t len, const char *f, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, f);
	n = vsnprintf(dst, len, f, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		ck_abort_msg("harness: %zu-byte buffer too small for \"%s\"",
		    len, f);
}

void
hsleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static void
ignore_sigpipe(void)
{
	static int	 done;

	if (!done) {
		signal(SIGPIPE, SIG_IGN);
		done = 1;
	}
}

int
hfree_port(void)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);
	int			 fd, port;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		ck_abort_msg("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) == -1) {
		close(fd);
		ck_abort_msg("cannot find a free port: %s", strerror(errno));
	}
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

const char *
hrepo_root(void)
{
	static char	 root[PATH_MAX];
	char		 dir[PATH_MAX], probe[PATH_MAX + 32];
	struct stat	 st;
	char		*slash;

	if (root[0] != '\0')
		return root;
	if (getcwd(dir, sizeof(dir)) == NULL)
		ck_abort_msg("getcwd: %s", strerror(errno));
	for (;;) {
		hfmt(probe, sizeof(probe), "%s/Makefile", dir);
		if (stat(probe, &st) == 0 && S_ISREG(st.st_mode)) {
			hfmt(probe, sizeof(probe), "%s/migrations", dir);
			if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
				hfmt(root, sizeof(root), "%s", dir);
				return root;
			}
		}
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			break;
		*slash = '\0';
	}
	ck_abort_msg("cannot find the repository root (Makefile and "
	    "migrations/) from the current directory; run tests from the "
	    "repository root");
	return NULL;
}

char *
hmigrations_upto(int upto)
{
	char		*dir = xstrdup("/tmp/parley-oldmig-XXXXXX");
	char		*src = xasprintf("%s/migrations", hrepo_root());
	DIR		*d;
	struct dirent	*e;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(d = opendir(src));
	while ((e = readdir(d)) != NULL) {
		int	 v = atoi(e->d_name);
		char	*cmd;

		if (v < 1 || v > upto || strstr(e->d_name, ".sql") == NULL)
			continue;
		cmd = xasprintf("cp '%s/%s' '%s/'", src, e->d_name, dir);
		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
	}
	closedir(d);
	free(src);
	return dir;
}

static const char *
parley_bin(void)
{
	static char	 bin[PATH_MAX];
	const char	*v = getenv("PARLEY_BIN");

	if (v != NULL && v[0] != '\0') {
		if (v[0] == '/')
			hfmt(bin, sizeof(bin), "%s", v);
		else
			hfmt(bin, sizeof(bin), "%s/%s", hrepo_root(), v);
	} else
		hfmt(bin, sizeof(bin), "%s/build/asan/parley",
		    hrepo_root());
	if (access(bin, X_OK) != 0)
		ck_abort_msg("the server binary %s is missing or not "
		    "executable (build it with `make SANITIZE=1`, or set "
		    "PARLEY_BIN)", bin);
	return bin;
}

/* --- environment -------------------------------------------------------- */

/* Sets "NAME=value", replacing NAME; a bare "NAME" removes it. */
static void
henv_set(struct henv *e, const char *kv)
{
	const char	*eq = strchr(kv, '=');
	size_t		 nlen = eq != NULL ? (size_t)(eq - kv) : strlen(kv);
	int		 i;

	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], kv, nlen) == 0 && e->v[i][nlen] == '=') {
			free(e->v[i]);
			e->v[i] = e->v[--e->n];
			e->v[e->n] = NULL;
			break;
		}
	}
	if (eq == NULL)
		return;
	if (e->n == HENV_MAX)
		ck_abort_msg("too many environment variables for a child");
	if ((e->v[e->n++] = strdup(kv)) == NULL)
		abort();
	e->v[e->n] = NULL;
}

static void
henv_inherit(struct henv *e, bool drop_parley)
{
	char	**p;

	for (p = environ; *p != NULL; p++) {
		if (drop_parley && strncmp(*p, "PARLEY_", 7) == 0)
			continue;
		henv_set(e, *p);
	}
}

/*
 * The default test environment. pg may be NULL (no database: --version);
 * port 0 picks a free one, so a stray `serve` never lands on 8080.
 */
static void
henv_defaults(struct henv *e, struct hpg *pg, int port)
{
	char	 kv[1024];

	if (port == 0)
		port = hfree_port();
	hfmt(kv, sizeof(kv), "PARLEY_LISTEN=127.0.0.1:%d", port);
	henv_set(e, kv);
	hfmt(kv, sizeof(kv), "PARLEY_PUBLIC_URL=http://127.0.0.1:%d",
	    port);
	henv_set(e, kv);
	hfmt(kv, sizeof(kv), "PARLEY_HOME=%s", hrepo_root());
	henv_set(e, kv);
	henv_set(e, "PARLEY_ADMIN_EMAIL=owner@example.com");
	henv_set(e, "PARLEY_ADMIN_PASSWORD=correct-horse-battery-staple");
	/* No periodic template sync: it would call the providers' real
	 * hosts from any suite with a channel (a test syncs on demand, or
	 * turns it on with an override). */
	henv_set(e, "PARLEY_TEMPLATE_SYNC_MINUTES=0");
	if (pg != NULL) {
		hfmt(kv, sizeof(kv), "PARLEY_DATABASE_URL=%s",
		    pg->conninfo);
		henv_set(e, kv);
		/* Data and master key stay in the throwaway directory. */
		hfmt(kv, sizeof(kv), "PARLEY_DATA_DIR=%s/parley-data",
		    pg->dir);
		henv_set(e, kv);
		hfmt(kv, sizeof(kv),
		    "PARLEY_MASTER_KEY_FILE=%s/parley-data/master.key",
		    pg->dir);
		henv_set(e, kv);
		hfmt(kv, sizeof(kv), "%s/parley-data", pg->dir);
		if (mkdir(kv, 0700) == -1 && errno != EEXIST)
			ck_abort_msg("mkdir %s: %s", kv, strerror(errno));
	}
}

static void
henv_overrides(struct henv *e, const char **env)
{
	size_t	 i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		henv_set(e, env[i]);
}

static void
henv_free(struct henv *e)
{
	int	 i;

	for (i = 0; i < e->n; i++)
		free(e->v[i]);
	e->n = 0;
	e->v[0] = NULL;
}

/* --- children ----------------------------------------------------------- */

static void
children_kill_all(void)
{
	for (int i = 0; i < HCHILD_MAX; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGKILL);
			waitpid(children[i], NULL, 0);
			children[i] = 0;
		}
	}
}

void
hchild_add(int pid)
{
	static int	 registered;

	if (!registered) {
		atexit(children_kill_all);
		registered = 1;
	}
	for (int i = 0; i < HCHILD_MAX; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			return;
		}
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ck_abort_msg("more than %d servers and fakes running at once",
	    HCHILD_MAX);
}

void
hchild_remove(int pid)
{
	for (int i = 0; i < HCHILD_MAX; i++)
		if (children[i] == pid)
			children[i] = 0;
}

void
hchild_kill(int pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	hchild_remove(pid);
}

bool
hchild_stop(int pid, int timeout_ms, int *status)
{
	int64_t	 deadline = time_mono_ms() + timeout_ms;
	int	 ws;

	kill(pid, SIGTERM);
	while (waitpid(pid, &ws, WNOHANG) == 0) {
		if (time_mono_ms() > deadline) {
			hchild_kill(pid);
			return false;
		}
		hsleep_ms(10);
	}
	hchild_remove(pid);
	*status = hexit_status(ws);
	return true;
}

int
hexit_status(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return -1;
}

void
hlog_tail(const char *path, size_t bytes)
{
	FILE	*f;
	long	 size;
	char	*buf;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "(no log at %s)\n", path);
		return;
	}
	buf = xmalloc(bytes + 1);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, size > (long)bytes ? size - (long)bytes : 0, SEEK_SET);
	n = fread(buf, 1, bytes, f);
	buf[n] = '\0';
	fclose(f);
	fprintf(stderr, "---- tail of %s ----\n%s%s---- end of log ----\n",
	    path, buf, n > 0 && buf[n - 1] != '\n' ? "\n" : "");
	free(buf);
}

size_t
hdiscard(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void)ptr;
	(void)ud;
	return size * nmemb;
}

/* GET base/healthz with a short timeout; the status, 0 when unreachable. */
static long
healthz(const char *base)
{
	CURL	*h;
	char	 url[128];
	long	 status = 0;

	hfmt(url, sizeof(url), "%s/healthz", base);
	if ((h = curl_easy_init()) == NULL)
		ck_abort_msg("curl_easy_init failed");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 2000L);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hdiscard);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	return status;
}

/* --- server ------------------------------------------------------------- */

void
hserver_start(struct hserver *s, struct hpg *pg, const char **env)
{
	struct henv	 e = { .n = 0 };
	const char	*bin;
	char		*argv[3];
	int64_t		 deadline;
	pid_t		 pid, w;
	int		 fd, ws, devnull;
	long		 st = 0;

	ignore_sigpipe();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		ck_abort_msg("curl_global_init failed");
	memset(s, 0, sizeof(*s));
	bin = parley_bin();
	s->port = hfree_port();
	hfmt(s->base, sizeof(s->base), "http://127.0.0.1:%d", s->port);
	hfmt(s->log_path, sizeof(s->log_path), "%s/parley-%d-%d.log",
	    pg->dir, (int)getpid(), ++log_seq);

	henv_inherit(&e, true);
	henv_defaults(&e, pg, s->port);
	henv_overrides(&e, env);

	if ((fd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) == -1) {
		henv_free(&e);
		ck_abort_msg("open %s: %s", s->log_path, strerror(errno));
	}
	if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		close(fd);
		henv_free(&e);
		ck_abort_msg("open /dev/null: %s", strerror(errno));
	}
	argv[0] = (char *)(uintptr_t)bin;
	argv[1] = (char *)(uintptr_t)"serve";
	argv[2] = NULL;

	fflush(NULL);
	if ((pid = fork()) == -1) {
		close(fd);
		close(devnull);
		henv_free(&e);
		ck_abort_msg("fork: %s", strerror(errno));
	}
	if (pid == 0) {
		/* Only async-signal-safe calls from here to exec. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(devnull, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execve(argv[0], argv, e.v);
		_exit(127);
	}
	close(fd);
	close(devnull);
	henv_free(&e);
	s->pid = (int)pid;
	hchild_add(s->pid);

	deadline = time_mono_ms() + HSERVER_START_TIMEOUT_MS;
	for (;;) {
		w = waitpid(pid, &ws, WNOHANG);
		if (w == pid) {
			hchild_remove(s->pid);
			s->pid = 0;
			hlog_tail(s->log_path, LOG_TAIL_BYTES);
			ck_abort_msg("parley serve exited with status %d before "
			    "answering /healthz (log: %s)", hexit_status(ws),
			    s->log_path);
		}
		if ((st = healthz(s->base)) == 200)
			return;
		if (time_mono_ms() > deadline)
			break;
		hsleep_ms(50);
	}
	hchild_kill(pid);
	s->pid = 0;
	hlog_tail(s->log_path, LOG_TAIL_BYTES);
	ck_abort_msg("parley serve did not answer 200 on /healthz within %d s "
	    "(last status %ld; log: %s)", HSERVER_START_TIMEOUT_MS / 1000, st,
	    s->log_path);
}

int
hserver_stop(struct hserver *s)
{
	int	 pid = s->pid, status;

	if (pid <= 0)
		return -1;
	s->pid = 0;
	if (!hchild_stop(pid, HSERVER_STOP_TIMEOUT_MS, &status)) {
		hlog_tail(s->log_path, LOG_TAIL_BYTES);
		ck_abort_msg("parley serve did not exit within %d s of "
		    "SIGTERM (killed; log: %s)",
		    HSERVER_STOP_TIMEOUT_MS / 1000, s->log_path);
	}
	if (status != 0) {
		fprintf(stderr, "parley serve exited with status %d\n",
		    status);
		hlog_tail(s->log_path, LOG_TAIL_BYTES);
	}
	return status;
}

bool
hserver_log_contains(struct hserver *s, const char *needle)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 cap = 0, len = 0, n;
	bool	 found;

	if ((f = fopen(s->log_path, "r")) == NULL)
		return false;
	for (;;) {
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			if ((buf = realloc(buf, cap + 1)) == NULL)
				abort();
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	fclose(f);
	if (buf == NULL)
		return false;
	buf[len] = '\0';
	found = strstr(buf, needle) != NULL;
	free(buf);
	return found;
}

/* --- one-shot commands -------------------------------------------------- */

/*
 * Runs argv with envp, stdin from stdin_text (or /dev/null), stdout and
 * stderr into one pipe; bounded by timeout_s. The child is killed and the
 * test failed on timeout.
 */
static int
run_argv(char *const *argv, char *const *envp, const char *stdin_text,
    char **out, int timeout_s, bool use_path)
{
	int		 in[2] = { -1, -1 }, op[2] = { -1, -1 };
	char		*buf = NULL;
	size_t		 cap = 0, len = 0, off = 0, tlen;
	int64_t		 deadline, left;
	struct pollfd	 pfd[2];
	int		 npfd, ws, i;
	ssize_t		 n;
	pid_t		 pid;
	bool		 out_open = true;

	ignore_sigpipe();
	tlen = stdin_text != NULL ? strlen(stdin_text) : 0;
	if (pipe(in) == -1 || pipe(op) == -1)
		ck_abort_msg("pipe: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		fcntl(in[i], F_SETFD, FD_CLOEXEC);
		fcntl(op[i], F_SETFD, FD_CLOEXEC);
	}
	fflush(NULL);
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in[0], 0);
		dup2(op[1], 1);
		dup2(op[1], 2);
		if (use_path) {
			/* execvpe is GNU; PATH is looked up in our env. */
			environ = (char **)(uintptr_t)envp;
			execvp(argv[0], argv);
		} else
			execve(argv[0], argv, envp);
		_exit(127);
	}
	close(in[0]);
	close(op[1]);
	if (tlen == 0) {
		close(in[1]);
		in[1] = -1;
	} else
		fcntl(in[1], F_SETFL, O_NONBLOCK);

	deadline = time_mono_ms() + (int64_t)timeout_s * 1000;
	while (out_open) {
		if ((left = deadline - time_mono_ms()) <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			if (in[1] != -1)
				close(in[1]);
			close(op[0]);
			fprintf(stderr, "%s: output so far:\n%.*s\n", argv[0],
			    (int)len, buf != NULL ? buf : "");
			free(buf);
			ck_abort_msg("%s did not finish within %d s (killed)",
			    argv[0], timeout_s);
		}
		npfd = 0;
		pfd[npfd].fd = op[0];
		pfd[npfd++].events = POLLIN;
		if (in[1] != -1) {
			pfd[npfd].fd = in[1];
			pfd[npfd++].events = POLLOUT;
		}
		if (poll(pfd, (nfds_t)npfd, (int)(left > 200 ? 200 : left)) ==
		    -1 && errno != EINTR)
			ck_abort_msg("poll: %s", strerror(errno));
		for (i = 0; i < npfd; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (pfd[i].fd == op[0]) {
				if (cap - len < 4096) {
					cap = cap ? cap * 2 : 16384;
					if (cap > HRUN_OUTPUT_MAX)
						ck_abort_msg("%s wrote more "
						    "than %u bytes", argv[0],
						    HRUN_OUTPUT_MAX);
					if ((buf = realloc(buf, cap + 1)) ==
					    NULL)
						abort();
				}
				n = read(op[0], buf + len, cap - len);
				if (n > 0)
					len += (size_t)n;
				else if (n == 0 || errno != EINTR)
					out_open = false;
			} else {
				n = write(in[1], stdin_text + off, tlen - off);
				if (n > 0)
					off += (size_t)n;
				if ((n == -1 && errno != EAGAIN &&
				    errno != EINTR) || off == tlen) {
					close(in[1]);
					in[1] = -1;
				}
			}
		}
	}
	if (in[1] != -1)
		close(in[1]);
	close(op[0]);

	/* Output closed; the child is exiting. Still bounded. */
	while (waitpid(pid, &ws, WNOHANG) == 0) {
		if (time_mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			break;
		}
		hsleep_ms(10);
	}
	if (buf == NULL && (buf = malloc(1)) == NULL)
		abort();
	buf[len] = '\0';
	if (out != NULL)
		*out = buf;
	else
		free(buf);
	return hexit_status(ws);
}

int
hrun_cmd(const char *const *argv, const char **env, const char *stdin_text,
    char **out, int timeout_s)
{
	struct henv	 e = { .n = 0 };
	int		 st;

	henv_inherit(&e, false);
	henv_overrides(&e, env);
	st = run_argv((char *const *)(uintptr_t)argv, e.v, stdin_text, out,
	    timeout_s, true);
	henv_free(&e);
	return st;
}

int
hrun_parley_env(struct hpg *pg, const char **env, const char *const *args,
    const char *stdin_text, char **out)
{
	struct henv	 e = { .n = 0 };
	char		*argv[64];
	size_t		 i;
	int		 st;

	argv[0] = (char *)(uintptr_t)parley_bin();
	for (i = 0; args != NULL && args[i] != NULL; i++) {
		if (i + 2 >= sizeof(argv) / sizeof(argv[0]))
			ck_abort_msg("hrun_parley: too many arguments");
		argv[i + 1] = (char *)(uintptr_t)args[i];
	}
	argv[i + 1] = NULL;

	henv_inherit(&e, true);
	henv_defaults(&e, pg, 0);
	henv_overrides(&e, env);
	st = run_argv(argv, e.v, stdin_text, out, HRUN_PARLEY_TIMEOUT_S,
	    false);
	henv_free(&e);
	return st;
}

int
hrun_parley(struct hpg *pg, const char *const *args, const char *stdin_text,
    char **out)
{
	return hrun_parley_env(pg, NULL, args, stdin_text, out);
}

void
hserver_stop_clean(struct hserver *s)
{
	int	 st = hserver_stop(s);

	ck_assert_msg(st == 0, "parley serve exited %d on SIGTERM (log: %s)",
	    st, s->log_path);
	ck_assert_msg(!hserver_log_contains(s, "runtime error") &&
	    !hserver_log_contains(s, "Sanitizer"), "sanitizer report in %s",
	    s->log_path);
}

/* --- the CLI's set-up commands ------------------------------------------ */

char *
htoken_create(struct hpg *pg, const char *email, const char *name,
    const char *role)
{
	const char	*args[] = { "token", "create", "--email", email,
			    "--name", name, role != NULL ? "--role" : NULL,
			    role, NULL };
	char		*out = NULL, *tok;
	size_t		 n;
	int		 st;

	st = hrun_parley(pg, args, NULL, &out);
	ck_assert_msg(st == 0, "parley token create exited %d:\n%s", st, out);
	n = strcspn(out, "\n");
	ck_assert_msg(strncmp(out, "prl_", 4) == 0 && n == 47,
	    "parley token create printed no token line first:\n%s", out);
	ck_assert_msg(strstr(out + n, "prl_") == NULL, "the token was "
	    "printed twice:\n%s", out);
	if ((tok = strndup(out, n)) == NULL)
		abort();
	free(out);
	return tok;
}

void
huser_create(struct hpg *pg, const char *email, const char *org,
    const char *role, const char *pw)
{
	const char	*args[] = { "user", "create", "--email", email,
			    "--org", org, "--role", role, NULL };
	char		*in, *out = NULL;
	int		 st;

	in = xasprintf("%s\n", pw);
	st = hrun_parley(pg, args, in, &out);
	ck_assert_msg(st == 0, "parley user create --email %s exited %d:\n%s",
	    email, st, out);
	free(in);
	free(out);
}

/* --- environment lists and suites --------------------------------------- */

void
hvars_set(struct hvars *e, const char *f, ...)
{
	va_list	 ap;
	char	*kv;
	size_t	 nlen;
	int	 n, i;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	ck_assert_msg(n >= 0, "hvars_set: cannot format %s", f);
	kv = xmalloc((size_t)n + 1);
	va_start(ap, f);
	vsnprintf(kv, (size_t)n + 1, f, ap);
	va_end(ap);
	nlen = strcspn(kv, "=");
	for (i = 0; i < e->n; i++)
		if (strncmp(e->v[i], kv, nlen + 1) == 0)
			break;
	if (i == e->n) {
		if (e->n == HVARS_MAX)
			ck_abort_msg("hvars_set: more than %d variables",
			    HVARS_MAX);
		e->n++;
	} else
		free((void *)(uintptr_t)e->v[i]);
	e->v[i] = kv;
	e->v[e->n] = NULL;
}

void
hvars_free(struct hvars *e)
{
	for (int i = 0; i < e->n; i++)
		free((void *)(uintptr_t)e->v[i]);
	e->n = 0;
	e->v[0] = NULL;
}

int
hrun_suites(Suite *s, ...)
{
	SRunner	*sr = srunner_create(s);
	Suite	*more;
	va_list	 ap;
	int	 failed;

	va_start(ap, s);
	while ((more = va_arg(ap, Suite *)) != NULL)
		srunner_add_suite(sr, more);
	va_end(ap);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed;
}
