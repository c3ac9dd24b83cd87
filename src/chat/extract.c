/*
 * extract: see extract.h for the design (which formats run where, the
 * child's limits, the protocol). The child is this binary: its path is
 * cfg.self_exe when set (tests that run the media code in their own
 * process), else /proc/self/exe, which names the running binary even
 * when its file has been replaced by an upgrade.
 */
#define _GNU_SOURCE
#include "chat/extract.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/context.h"
#include "util/log.h"
#include "util/str.h"
#include "util/time.h"
#include "util/utf8.h"
#include "util/xmalloc.h"

#define CHILD_EXE_DEFAULT	"/proc/self/exe"
#define TIMEOUT_DEFAULT_S	20	/* a struct app made without config */
#define HEADER_MAX		64
#define ENV_MAX			4

/* At most EXTRACT_CONCURRENCY children at once (see extract.h). */
static struct {
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	int		 running;
} slots = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };

static int	 timeout_of(const struct app *);
static void	 slot_take(void);
static void	 slot_give(void);
static int	 doc_fd(const unsigned char *, size_t);
static bool	 child_spawn(const struct app *, enum doc_kind,
		    const struct doc_limits *, int, int, pid_t *);
static void	 child_collect(const struct app *, pid_t, int, size_t,
		    struct extract_result *);
static void	 answer_parse(const struct buf *, struct extract_result *);
static void	 limits_set(int, long);
static const char *opt(int, char **, const char *);
static bool	 opt_num(int, char **, const char *, int64_t *);

void
extract_result_init(struct extract_result *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->text, 0);
}

void
extract_result_cleanup(struct extract_result *r)
{
	buf_cleanup(&r->text);
}

void
extract_limits(const struct app *app, struct doc_limits *l)
{
	doc_limits_default(l);
	if (app->cfg.extract_max_bytes > 0)
		l->max_bytes = app->cfg.extract_max_bytes;
	if (app->cfg.extract_max_chars > 0)
		l->max_chars = app->cfg.extract_max_chars;
	if (app->cfg.extract_max_pages > 0)
		l->max_pages = app->cfg.extract_max_pages;
}

/* --- the parent's side -------------------------------------------------- */

static int
timeout_of(const struct app *app)
{
	return app->cfg.extract_timeout_s > 0 ? app->cfg.extract_timeout_s :
	    TIMEOUT_DEFAULT_S;
}

static void
slot_take(void)
{
	pthread_mutex_lock(&slots.mu);
	while (slots.running >= EXTRACT_CONCURRENCY)
		pthread_cond_wait(&slots.cv, &slots.mu);
	slots.running++;
	pthread_mutex_unlock(&slots.mu);
}

static void
slot_give(void)
{
	pthread_mutex_lock(&slots.mu);
	slots.running--;
	pthread_cond_signal(&slots.cv);
	pthread_mutex_unlock(&slots.mu);
}

/* The document in a sealed memory file, at offset 0; -1 on failure. */
static int
doc_fd(const unsigned char *p, size_t n)
{
	int	 fd;
	size_t	 off = 0;

	if ((fd = memfd_create("parley-document", MFD_CLOEXEC |
	    MFD_ALLOW_SEALING)) == -1)
		return -1;
	while (off < n) {
		ssize_t	 w = write(fd, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW |
	    F_SEAL_SHRINK | F_SEAL_SEAL) == -1 || lseek(fd, 0, SEEK_SET) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Starts `<self> extract …` with stdin = in_fd, stdout = out_fd, signals
 * back to their defaults and unblocked (the server blocks SIGTERM and
 * ignores SIGPIPE, and both would be inherited), and an environment of
 * the sanitizers' options only.
 */
static bool
child_spawn(const struct app *app, enum doc_kind k,
    const struct doc_limits *l, int in_fd, int out_fd, pid_t *pid)
{
	static const char	*keep[] = { "ASAN_OPTIONS", "UBSAN_OPTIONS",
				    "LSAN_OPTIONS" };
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none, all;
	char				 a_bytes[24], a_chars[24], a_pages[24];
	char				 a_cpu[24], a_mem[24];
	char				*envp[ENV_MAX], *argv[16];
	const char			*exe;
	int				 rc, n = 0, ne = 0;

	exe = app->cfg.self_exe != NULL ? app->cfg.self_exe :
	    CHILD_EXE_DEFAULT;
	snprintf(a_bytes, sizeof(a_bytes), "%zu", l->max_bytes);
	snprintf(a_chars, sizeof(a_chars), "%zu", l->max_chars);
	snprintf(a_pages, sizeof(a_pages), "%d", l->max_pages);
	snprintf(a_cpu, sizeof(a_cpu), "%d", timeout_of(app));
	snprintf(a_mem, sizeof(a_mem), "%d", app->cfg.extract_mem_mb);
	argv[n++] = (char *)(uintptr_t)"parley";
	argv[n++] = (char *)(uintptr_t)"extract";
	argv[n++] = (char *)(uintptr_t)"--kind";
	argv[n++] = (char *)(uintptr_t)doc_kind_name(k);
	argv[n++] = (char *)(uintptr_t)"--max-bytes";
	argv[n++] = a_bytes;
	argv[n++] = (char *)(uintptr_t)"--max-chars";
	argv[n++] = a_chars;
	argv[n++] = (char *)(uintptr_t)"--max-pages";
	argv[n++] = a_pages;
	argv[n++] = (char *)(uintptr_t)"--cpu";
	argv[n++] = a_cpu;
	argv[n++] = (char *)(uintptr_t)"--mem";
	argv[n++] = a_mem;
	argv[n] = NULL;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char	*v = getenv(keep[i]);

		if (v != NULL)
			envp[ne++] = xasprintf("%s=%s", keep[i], v);
	}
	envp[ne] = NULL;

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
#if !defined(__SANITIZE_ADDRESS__)
	/* poppler reports every oddity of a damaged file on stderr. A
	 * sanitizer build keeps stderr: its reports are the point. */
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#endif
	posix_spawnattr_init(&at);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(pid, exe, &fa, &at, argv, envp);
	for (int i = 0; i < ne; i++)
		free(envp[i]);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		log_err("extract", "msg=\"the extraction process did not "
		    "start\" exe=%s error=\"%s\"", exe, strerror(rc));
		return false;
	}
	return true;
}

/*
 * Reads the child's answer from fd until it ends, the wall-clock limit
 * passes or it passes max bytes (both kill it), reaps it and turns what
 * happened into out.
 */
static void
child_collect(const struct app *app, pid_t pid, int fd, size_t max,
    struct extract_result *out)
{
	struct buf	 ans;
	int64_t		 deadline;
	int		 status = 0, timeout_s = timeout_of(app);
	bool		 timed_out = false, too_much = false;
	char		 chunk[65536];

	buf_init(&ans, 0);
	deadline = time_mono_ms() + (int64_t)timeout_s * 1000;
	for (;;) {
		struct pollfd	 pf = { .fd = fd, .events = POLLIN };
		int64_t		 left = deadline - time_mono_ms();
		ssize_t		 r;
		int		 pr;

		if (left <= 0) {
			timed_out = true;
			break;
		}
		pr = poll(&pf, 1, left > 1000 ? 1000 : (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		if (pr == 0)
			continue;
		r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (ans.len + (size_t)r > max) {
			too_much = true;
			break;
		}
		buf_append(&ans, chunk, (size_t)r);
	}
	if (timed_out || too_much)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;

	if (timed_out)
		snprintf(out->why, sizeof(out->why), "reading it took longer "
		    "than %d s", timeout_s);
	else if (too_much)
		snprintf(out->why, sizeof(out->why), "the reader gave more "
		    "text than allowed");
	else if (WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU ||
	    WTERMSIG(status) == SIGKILL))
		snprintf(out->why, sizeof(out->why), "reading it needed more "
		    "than %d s of processing", timeout_s);
	else if (WIFSIGNALED(status))
		snprintf(out->why, sizeof(out->why), "the reader ran out of "
		    "memory or crashed on it (signal %d)", WTERMSIG(status));
	else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		snprintf(out->why, sizeof(out->why), "the reader failed on it "
		    "(exit status %d)", WIFEXITED(status) ?
		    WEXITSTATUS(status) : -1);
	else
		answer_parse(&ans, out);
	if (!out->ok)
		log_info("extract", "msg=\"document not read\" why=\"%s\"",
		    out->why);
	buf_cleanup(&ans);
}

/* "OK <chars> <truncated> <pages>\n<text>" or "ERR <reason>\n". */
static void
answer_parse(const struct buf *ans, struct extract_result *out)
{
	const char	*p = ans->data != NULL ? ans->data : "";
	const char	*nl = memchr(p, '\n', ans->len);
	unsigned long	 chars = 0;
	int		 trunc = 0, pages = 0;
	char		 head[HEADER_MAX + 1];
	size_t		 hlen;

	if (ans->len > 4 && strncmp(p, "ERR ", 4) == 0) {
		size_t	 wlen = (nl != NULL ? (size_t)(nl - p) : ans->len) - 4;

		if (wlen >= sizeof(out->why))
			wlen = sizeof(out->why) - 1;
		memcpy(out->why, p + 4, wlen);
		out->why[wlen] = '\0';
		/* Our reasons are plain ASCII; anything else is not ours. */
		for (char *c = out->why; *c != '\0'; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
		return;
	}
	if (nl == NULL || (hlen = (size_t)(nl - p)) > HEADER_MAX) {
		snprintf(out->why, sizeof(out->why), "the reader gave no "
		    "usable answer");
		return;
	}
	memcpy(head, p, hlen);
	head[hlen] = '\0';
	if (sscanf(head, "OK %lu %d %d", &chars, &trunc, &pages) != 3) {
		snprintf(out->why, sizeof(out->why), "the reader gave no "
		    "usable answer");
		return;
	}
	/* The text goes into the database: whole UTF-8, no NUL. */
	if (memchr(nl + 1, '\0', ans->len - hlen - 1) != NULL ||
	    !utf8_valid(nl + 1, ans->len - hlen - 1)) {
		snprintf(out->why, sizeof(out->why), "the reader gave no "
		    "usable answer");
		return;
	}
	buf_append(&out->text, nl + 1, ans->len - hlen - 1);
	out->chars = chars;
	out->truncated = trunc != 0;
	out->ok = true;
}

void
extract_run(const struct app *app, enum doc_kind k, const unsigned char *p,
    size_t n, struct extract_result *out)
{
	struct doc_limits	 l;
	struct doc_text		 t;
	int			 in_fd = -1, pipefd[2] = { -1, -1 };
	pid_t			 pid;

	extract_limits(app, &l);
	if (n > l.max_bytes || !doc_kind_isolated(k)) {
		/* Too large is said by doc_extract, before any reading. */
		doc_text_init(&t);
		out->ok = doc_extract(k, p, n, &l, &t);
		if (out->ok) {
			buf_append(&out->text, t.text.data, t.text.len);
			out->chars = t.chars;
			out->truncated = t.truncated;
		} else
			snprintf(out->why, sizeof(out->why), "%s", t.why);
		doc_text_cleanup(&t);
		return;
	}
	slot_take();
	if ((in_fd = doc_fd(p, n)) == -1 || pipe2(pipefd, O_CLOEXEC) == -1) {
		log_err("extract", "msg=\"no memory file or pipe for the "
		    "extraction process\" error=\"%s\"", strerror(errno));
		snprintf(out->why, sizeof(out->why), "the server could not "
		    "start its reader");
		goto out;
	}
	if (!child_spawn(app, k, &l, in_fd, pipefd[1], &pid)) {
		snprintf(out->why, sizeof(out->why), "the server could not "
		    "start its reader");
		goto out;
	}
	close(pipefd[1]);
	pipefd[1] = -1;
	close(in_fd);
	in_fd = -1;
	/* UTF-8 is at most 4 bytes a character, plus the header line. */
	child_collect(app, pid, pipefd[0], l.max_chars * 4 + HEADER_MAX + 1,
	    out);
out:
	if (in_fd != -1)
		close(in_fd);
	if (pipefd[0] != -1)
		close(pipefd[0]);
	if (pipefd[1] != -1)
		close(pipefd[1]);
	slot_give();
}

/* --- the child's side --------------------------------------------------- */

static const char *
opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static bool
opt_num(int argc, char **argv, const char *name, int64_t *v)
{
	const char	*s = opt(argc, argv, name);

	return s != NULL && str_to_i64(s, v) && *v >= 0;
}

/* Sets both limits of resource res to v. */
static void
limits_set(int res, long v)
{
	struct rlimit	 rl = { (rlim_t)v, (rlim_t)v };

	(void)setrlimit(res, &rl);
}

int
extract_child_main(int argc, char **argv)
{
	struct doc_limits	 l;
	struct doc_text		 t;
	struct stat		 sb;
	struct rlimit		 cpu;
	unsigned char		*p = NULL;
	enum doc_kind		 k = doc_kind_parse(opt(argc, argv, "--kind"));
	int64_t			 v_bytes, v_chars, v_pages, v_cpu, v_mem;
	size_t			 n = 0, cap;
	bool			 ok;

	/* Nothing of the server's stays open here. */
	closefrom(3);
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (k == DOC_NONE || !opt_num(argc, argv, "--max-bytes", &v_bytes) ||
	    !opt_num(argc, argv, "--max-chars", &v_chars) ||
	    !opt_num(argc, argv, "--max-pages", &v_pages) ||
	    !opt_num(argc, argv, "--cpu", &v_cpu) ||
	    !opt_num(argc, argv, "--mem", &v_mem) || v_cpu < 1) {
		fprintf(stderr, "usage: parley extract --kind pdf|docx|xlsx|"
		    "json|csv|markdown|text --max-bytes N --max-chars N "
		    "--max-pages N --cpu S --mem MB (a document on stdin)\n");
		return 2;
	}
	cpu.rlim_cur = (rlim_t)v_cpu;
	cpu.rlim_max = (rlim_t)v_cpu + 1;
	(void)setrlimit(RLIMIT_CPU, &cpu);
	limits_set(RLIMIT_CORE, 0);
#if !defined(__SANITIZE_ADDRESS__)
	/* The answer is the only thing written, to a pipe; a sanitizer
	 * build writes its reports to the server's log, of any size. */
	limits_set(RLIMIT_FSIZE, (long)(v_chars * 4 + HEADER_MAX + 1));
	if (v_mem > 0)
		limits_set(RLIMIT_AS, (long)(v_mem * 1024 * 1024));
#endif
	doc_limits_default(&l);
	l.max_bytes = (size_t)v_bytes;
	l.max_chars = (size_t)v_chars;
	l.max_pages = (int)v_pages;

	/* The document: a memory file (its size known), or any stream;
	 * one byte more than allowed is read to know it is too large. */
	cap = l.max_bytes + 1;
	if (fstat(0, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size <= l.max_bytes)
		cap = (size_t)sb.st_size + 1;
	if ((p = malloc(cap)) == NULL)
		abort();
	for (;;) {
		ssize_t	 r = read(0, p + n, cap - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap)
			break;
	}
	doc_text_init(&t);
	ok = doc_extract(k, p, n, &l, &t);
	if (ok)
		printf("OK %zu %d %d\n", t.chars, t.truncated ? 1 : 0,
		    t.pages);
	else
		printf("ERR %s\n", t.why);
	if (ok && t.text.len > 0)
		fwrite(t.text.data, 1, t.text.len, stdout);
	fflush(stdout);
	doc_text_cleanup(&t);
	free(p);
	return 0;
}
