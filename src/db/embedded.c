/*
 * db/embedded.c: a private PostgreSQL cluster for `make run` and the tests.
 *
 * Layout under the caller's directory (always used by absolute path):
 *   data/            the cluster (initdb on first use, reused afterwards)
 *   data/parley.conf listen_addresses, port, unix_socket_directories,
 *                    memory and planner costs (emb_memory_conf): rewritten at
 *                    every start and included from
 *                    postgresql.conf, so no value ever passes through a shell
 *   run/             the Unix socket (mode 0700: with trust authentication,
 *                    reaching the socket is being a superuser)
 *   postgres.log     the server's log; initdb.log, pg_ctl.log beside it
 *
 * DESIGN. PostgreSQL refuses to run as root, so when we are root every
 * server program (initdb, pg_ctl and through it postgres) runs as an
 * unprivileged user: fork, drop to that user's groups, gid and uid, exec,
 * never a shell. The user's supplementary groups are looked up before the
 * fork (setgroups with that list is initgroups without the NSS lookup,
 * which is not safe in the child of a threaded process). Only the
 * directory itself and the entries above are chowned, never unknown files,
 * so a mistaken `dir` cannot give away someone's home. Every child is
 * waited for with a deadline and killed past it.
 *
 * A cluster found running (pg_ctl status) is used as it is and is left
 * running by db_embedded_stop(): it belongs to whoever started it, e.g. a
 * `parley serve` beside this `parley migrate`.
 *
 * Thread-safety: start and stop fork and wait for children; call them from
 * one thread, at startup and shutdown.
 */
#include "db/db.h"
#include "db/db_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define EMB_DEFAULT_BIN		"/usr/lib/postgresql/15/bin"
#define EMB_DEFAULT_USER	"postgres"
#define EMB_DB_USER		"parley"
#define EMB_DB_NAME		"parley"
#define EMB_DEFAULT_PORT	5432
/* Deadlines for the server programs; pg_ctl gets its own -t below them. */
#define EMB_INITDB_MS		(120 * 1000)
#define EMB_PG_CTL_MS		(75 * 1000)
#define EMB_PG_CTL_WAIT		"60"
#define EMB_STATUS_MS		(10 * 1000)
#define EMB_CONNECT_MS		(15 * 1000)
#define EMB_MAX_ARGS		16
#define EMB_MAX_DEPTH		64
#define EMB_MAX_GROUPS		256

struct db_embedded {
	char	*dir;		/* absolute, no trailing slash */
	char	*data;
	char	*run;
	char	*bin;
	int	 port;		/* the port in the socket name */
	bool	 as_user;	/* we are root: children become `user` */
	char	*user;
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[EMB_MAX_GROUPS];
	int	 n_groups;
	bool	 is_ours;	/* started here: stop stops it */
};

struct emb_args {
	char	*v[EMB_MAX_ARGS + 1];
	int	 n;
};

static bool	 emb_prepare_dir(struct db_embedded *, const char *, char *,
		    size_t);
static bool	 emb_mkdirs(const char *, mode_t);
static bool	 emb_lookup_user(struct db_embedded *, char *, size_t);
static bool	 emb_check_traverse(struct db_embedded *, char *, size_t);
static bool	 emb_chown_tree(const struct db_embedded *, const char *, int);
static bool	 emb_chown_ours(const struct db_embedded *);
static void	 emb_drop_privileges(const struct db_embedded *);
static int	 emb_wait(pid_t, int);
static int	 emb_run(const struct db_embedded *, struct emb_args *,
		    const char *, int);
static void	 emb_arg(struct emb_args *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 emb_args_free(struct emb_args *);
static bool	 emb_is_running(const struct db_embedded *);
static bool	 emb_initdb(struct db_embedded *, char *, size_t);
static bool	 emb_write_file(const struct db_embedded *, const char *,
		    const char *, bool);
static bool	 emb_configure(struct db_embedded *, int, char *, size_t);
static bool	 emb_start(struct db_embedded *, char *, size_t);
static int	 emb_running_port(const struct db_embedded *);
static bool	 emb_create_db(struct db_embedded *, char *, size_t);
static void	 emb_conf_quote(struct buf *, const char *);
static bool	 emb_conninfo(const struct db_embedded *, char *, size_t);
static void	 emb_log_tail(const char *, char *, size_t);
static void	 emb_ignore_notice(void *, const char *);
static void	 emb_free(struct db_embedded *);

struct db_embedded *
db_embedded_start(const char *dir, int port, char *conninfo,
    size_t conninfo_len, char *err, size_t errlen)
{
	struct db_embedded	*e;
	const char		*bin;
	char			*path = NULL;
	bool			 ok = false;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	e = xcalloc(1, sizeof(*e));
	if (dir == NULL || *dir == '\0' || port < 0 || port > 65535) {
		db_seterr(err, errlen, "The embedded PostgreSQL needs a directory "
		    "and a port between 0 and 65535.");
		goto out;
	}
	bin = getenv("PARLEY_PG_BIN");
	e->bin = xstrdup(bin != NULL && *bin != '\0' ? bin : EMB_DEFAULT_BIN);
	path = xasprintf("%s/pg_ctl", e->bin);
	if (access(path, X_OK) != 0) {
		db_seterr(err, errlen, "PostgreSQL server programs were not found "
		    "in %s (install postgresql-15 or set PARLEY_PG_BIN).",
		    e->bin);
		goto out;
	}
	if (geteuid() == 0 && !emb_lookup_user(e, err, errlen))
		goto out;
	if (!emb_prepare_dir(e, dir, err, errlen))
		goto out;

	if (emb_is_running(e)) {
		/* Someone's cluster is up on this data: use it, leave it. */
		e->port = emb_running_port(e);
	} else {
		if (!emb_initdb(e, err, errlen))
			goto out;
		if (!emb_configure(e, port, err, errlen))
			goto out;
		if (!emb_start(e, err, errlen))
			goto out;
		e->is_ours = true;
	}
	if (!emb_create_db(e, err, errlen))
		goto out;
	if (!emb_conninfo(e, conninfo, conninfo_len)) {
		db_seterr(err, errlen, "The connection string for %s does not fit "
		    "in %zu bytes.", e->run, conninfo_len);
		goto out;
	}
	ok = true;
out:
	free(path);
	if (!ok) {
		db_embedded_stop(e);
		e = NULL;
	}
	return e;
}

void
db_embedded_stop(struct db_embedded *e)
{
	struct emb_args	 a = { 0 };
	char		 tail[256];
	char		*log = NULL;
	int		 rc;

	if (e == NULL)
		return;
	if (e->is_ours) {
		emb_arg(&a, "%s/pg_ctl", e->bin);
		emb_arg(&a, "stop");
		emb_arg(&a, "-D");
		emb_arg(&a, "%s", e->data);
		emb_arg(&a, "-m");
		emb_arg(&a, "fast");
		emb_arg(&a, "-w");
		emb_arg(&a, "-t");
		emb_arg(&a, EMB_PG_CTL_WAIT);
		emb_arg(&a, "-s");
		log = xasprintf("%s/pg_ctl.log", e->dir);
		rc = emb_run(e, &a, log, EMB_PG_CTL_MS);
		if (rc != 0) {
			emb_log_tail(log, tail, sizeof(tail));
			db_log_error("pg_ctl stop failed", tail, NULL);
		}
	}
	emb_args_free(&a);
	free(log);
	emb_free(e);
}

/*
 * Makes dir (and its parents), resolves it to an absolute path, creates
 * run/, hands both to the server's user and checks that user can reach
 * them. The socket path must fit in sockaddr_un.
 */
static bool
emb_prepare_dir(struct db_embedded *e, const char *dir, char *err,
    size_t errlen)
{
	struct sockaddr_un	 sun;
	char			 real[PATH_MAX];

	if (!emb_mkdirs(dir, 0700) || realpath(dir, real) == NULL) {
		db_seterr(err, errlen, "Cannot create the PostgreSQL directory "
		    "%s: %s.", dir, strerror(errno));
		return false;
	}
	e->dir = xstrdup(real);
	e->data = xasprintf("%s/data", e->dir);
	e->run = xasprintf("%s/run", e->dir);
	/* "/.s.PGSQL.65535" and the NUL. */
	if (strlen(e->run) + 16 > sizeof(sun.sun_path)) {
		db_seterr(err, errlen, "The PostgreSQL socket directory %s is too "
		    "long for a Unix socket path (at most %zu bytes); choose a "
		    "shorter directory.", e->run, sizeof(sun.sun_path) - 16);
		return false;
	}
	if (mkdir(e->run, 0700) != 0 && errno != EEXIST) {
		db_seterr(err, errlen, "Cannot create %s: %s.", e->run,
		    strerror(errno));
		return false;
	}
	if (!e->as_user)
		return true;
	if (!emb_chown_ours(e)) {
		db_seterr(err, errlen, "Cannot give %s to user %s: %s.", e->dir,
		    e->user, strerror(errno));
		return false;
	}
	return emb_check_traverse(e, err, errlen);
}

/* mkdir -p: creates each missing component of path with `mode`. */
static bool
emb_mkdirs(const char *path, mode_t mode)
{
	char	*p = xstrdup(path);
	char	 c;
	bool	 ok = false;

	for (char *s = p + 1; ; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		c = *s;
		*s = '\0';
		if (mkdir(p, c == '\0' ? mode : 0755) != 0 && errno != EEXIST)
			goto out;
		*s = c;
		if (c == '\0')
			break;
	}
	ok = true;
out:
	free(p);
	return ok;
}

/* The unprivileged user (PARLEY_PG_USER or postgres) and its groups. */
static bool
emb_lookup_user(struct db_embedded *e, char *err, size_t errlen)
{
	struct passwd	 pw;
	struct passwd	*found = NULL;
	const char	*name;
	char		 buf[4096];
	int		 n = EMB_MAX_GROUPS;

	name = getenv("PARLEY_PG_USER");
	if (name == NULL || *name == '\0')
		name = EMB_DEFAULT_USER;
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 ||
	    found == NULL) {
		db_seterr(err, errlen, "PostgreSQL refuses to run as root and the "
		    "user %s to run it as does not exist (create it, or set "
		    "PARLEY_PG_USER).", name);
		return false;
	}
	if (pw.pw_uid == 0) {
		db_seterr(err, errlen, "PARLEY_PG_USER=%s is root; PostgreSQL "
		    "needs an unprivileged user.", name);
		return false;
	}
	e->as_user = true;
	e->user = xstrdup(name);
	e->uid = pw.pw_uid;
	e->gid = pw.pw_gid;
	if (getgrouplist(name, pw.pw_gid, e->groups, &n) < 0)
		n = EMB_MAX_GROUPS;	/* more than fit: keep the first ones */
	e->n_groups = n;
	return true;
}

/*
 * Asks a child running as the server's user to enter every directory from
 * / down to dir; the exit status names the first it could not. Checking as
 * that user (not by reading mode bits) gets ACLs and groups right.
 */
static bool
emb_check_traverse(struct db_embedded *e, char *err, size_t errlen)
{
	char	*p;
	char	 c;
	pid_t	 pid;
	int	 rc;
	int	 i;

	pid = fork();
	if (pid < 0) {
		db_seterr(err, errlen, "fork: %s.", strerror(errno));
		return false;
	}
	if (pid == 0) {
		emb_drop_privileges(e);
		p = e->dir;
		i = 0;
		for (char *s = p + 1; ; s++) {
			if (*s != '/' && *s != '\0')
				continue;
			i++;
			c = *s;
			*s = '\0';	/* the child's copy of the string */
			if (access(p, X_OK) != 0)
				_exit(i < 200 ? i : 200);
			*s = c;
			if (c == '\0')
				break;
		}
		_exit(0);
	}
	rc = emb_wait(pid, EMB_STATUS_MS);
	if (rc == 0)
		return true;
	if (rc < 0 || rc > 200) {
		db_seterr(err, errlen, "Could not check that user %s can reach "
		    "%s.", e->user, e->dir);
		return false;
	}
	/* Cut e->dir after its rc-th component to name the directory. */
	p = xstrdup(e->dir);
	i = 0;
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s == '/' && ++i == rc) {
			*s = '\0';
			break;
		}
	}
	db_seterr(err, errlen, "PostgreSQL runs as user %s, who cannot enter "
	    "the directory %s on the way to %s; choose a directory that user "
	    "can reach (for example under /tmp or /var/lib) or allow it in "
	    "(chmod o+x %s).", e->user, p, e->dir, p);
	free(p);
	return false;
}

/*
 * Gives dir and the entries we create in it to the server's user. Unknown
 * entries are left alone: this never chowns a tree we do not own.
 */
static bool
emb_chown_ours(const struct db_embedded *e)
{
	static const char *const files[] = {
		"postgres.log", "initdb.log", "pg_ctl.log",
	};
	char	*p;
	bool	 ok = true;

	if (lchown(e->dir, e->uid, e->gid) != 0)
		return false;
	if (!emb_chown_tree(e, e->run, 0) || !emb_chown_tree(e, e->data, 0))
		return false;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		p = xasprintf("%s/%s", e->dir, files[i]);
		if (lchown(p, e->uid, e->gid) != 0 && errno != ENOENT)
			ok = false;
		free(p);
	}
	return ok;
}

/* chown -R without following symbolic links; a missing path is fine. */
static bool
emb_chown_tree(const struct db_embedded *e, const char *path, int depth)
{
	struct stat	 sb;
	struct dirent	*de;
	DIR		*d;
	char		*child;
	bool		 ok = true;

	if (lstat(path, &sb) != 0)
		return errno == ENOENT;
	if ((sb.st_uid != e->uid || sb.st_gid != e->gid) &&
	    lchown(path, e->uid, e->gid) != 0)
		return false;
	if (!S_ISDIR(sb.st_mode) || depth >= EMB_MAX_DEPTH)
		return true;
	if ((d = opendir(path)) == NULL)
		return false;
	while (ok && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		child = xasprintf("%s/%s", path, de->d_name);
		ok = emb_chown_tree(e, child, depth + 1);
		free(child);
	}
	closedir(d);
	return ok;
}

/*
 * In a forked child: become the server's user for good (groups first, then
 * gid, then uid, the only order that works). Any failure ends the child:
 * running PostgreSQL programs as root is never the fallback.
 */
static void
emb_drop_privileges(const struct db_embedded *e)
{
	if (!e->as_user)
		return;
	if (setgroups((size_t)e->n_groups, e->groups) != 0 ||
	    setgid(e->gid) != 0 || setuid(e->uid) != 0 || getuid() == 0)
		_exit(126);
}

/*
 * Waits for pid at most timeout_ms, then kills it. Returns its exit
 * status, or -1 when it was killed, died of a signal or timed out.
 */
static int
emb_wait(pid_t pid, int timeout_ms)
{
	struct timespec	 ts;
	int64_t		 deadline = time_mono_ms() + timeout_ms;
	long		 nap_ms = 1;
	pid_t		 rc;
	int		 status;

	for (;;) {
		rc = waitpid(pid, &status, WNOHANG);
		if (rc == pid)
			break;
		if (rc < 0 && errno != EINTR)
			return -1;
		if (time_mono_ms() >= deadline) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = nap_ms * 1000000L;
		nanosleep(&ts, NULL);
		if (nap_ms < 50)
			nap_ms *= 2;
	}
	if (!WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

/*
 * Runs a server program as the server's user with stdin from /dev/null and
 * stdout and stderr appended to out_path (opened as that user, so it owns
 * its log). No shell, no inherited descriptors. Returns the exit status,
 * 126 when privileges could not be dropped, 127 when exec failed, -1 on
 * timeout or signal.
 */
static int
emb_run(const struct db_embedded *e, struct emb_args *a, const char *out_path,
    int timeout_ms)
{
	pid_t	 pid;
	int	 fd;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		emb_drop_privileges(e);
		if (chdir(e->dir) != 0)
			_exit(126);
		umask(077);
		if ((fd = open("/dev/null", O_RDONLY)) < 0 ||
		    dup2(fd, STDIN_FILENO) < 0)
			_exit(126);
		if ((fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND,
		    0600)) < 0 || dup2(fd, STDOUT_FILENO) < 0 ||
		    dup2(fd, STDERR_FILENO) < 0)
			_exit(126);
		/* The postmaster outlives us: it must not hold our sockets,
		 * pipes or files open. */
		if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0)
			for (fd = 3; fd < 4096; fd++)
				close(fd);
		execv(a->v[0], a->v);
		_exit(127);
	}
	return emb_wait(pid, timeout_ms);
}

static void
emb_arg(struct emb_args *a, const char *fmt, ...)
{
	struct buf	 b;
	va_list		 ap;

	if (a->n == EMB_MAX_ARGS)
		abort();	/* our own argument lists are fixed */
	buf_init(&b, 0);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	a->v[a->n++] = buf_steal(&b, NULL);
	a->v[a->n] = NULL;
}

static void
emb_args_free(struct emb_args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	a->n = 0;
	a->v[0] = NULL;
}

/* pg_ctl status: 0 means a postmaster is running on data/. */
static bool
emb_is_running(const struct db_embedded *e)
{
	struct emb_args	 a = { 0 };
	int		 rc = -1;

	emb_arg(&a, "%s/pg_ctl", e->bin);
	emb_arg(&a, "status");
	emb_arg(&a, "-D");
	emb_arg(&a, "%s", e->data);
	if (access(e->data, F_OK) == 0)
		rc = emb_run(e, &a, "/dev/null", EMB_STATUS_MS);
	emb_args_free(&a);
	return rc == 0;
}

/*
 * Initialises data/ unless it already holds a cluster. C.UTF-8 is tried
 * first (a UTF-8 collation without a system locale to drift); where that
 * locale is missing, --no-locale (plain C) still gives UTF-8 storage.
 */
static bool
emb_initdb(struct db_embedded *e, char *err, size_t errlen)
{
	struct emb_args	 a = { 0 };
	char		 tail[256];
	char		*ver;
	char		*log;
	int		 rc = -1;
	bool		 ok = false;

	ver = xasprintf("%s/PG_VERSION", e->data);
	log = xasprintf("%s/initdb.log", e->dir);
	if (access(ver, F_OK) == 0) {
		ok = true;
		goto out;
	}
	for (int attempt = 0; attempt < 2 && rc != 0; attempt++) {
		emb_args_free(&a);
		emb_arg(&a, "%s/initdb", e->bin);
		emb_arg(&a, "-D");
		emb_arg(&a, "%s", e->data);
		emb_arg(&a, "-U");
		emb_arg(&a, EMB_DB_USER);
		emb_arg(&a, "--auth=trust");
		emb_arg(&a, "-E");
		emb_arg(&a, "UTF8");
		emb_arg(&a, attempt == 0 ? "--locale=C.UTF-8" : "--no-locale");
		rc = emb_run(e, &a, log, EMB_INITDB_MS);
	}
	if (rc != 0) {
		emb_log_tail(log, tail, sizeof(tail));
		db_seterr(err, errlen, "initdb could not create a PostgreSQL "
		    "cluster in %s (%s; see %s).", e->data,
		    rc == 126 ? "could not switch to the PostgreSQL user" :
		    tail, log);
		goto out;
	}
	ok = true;
out:
	emb_args_free(&a);
	free(ver);
	free(log);
	return ok;
}

/* Writes (or appends) a small file, owned by the server's user. */
static bool
emb_write_file(const struct db_embedded *e, const char *path,
    const char *text, bool append)
{
	size_t	 len = strlen(text);
	ssize_t	 n;
	int	 fd;
	bool	 ok;

	fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC),
	    0600);
	if (fd < 0)
		return false;
	n = write(fd, text, len);
	ok = n >= 0 && (size_t)n == len;
	if (e->as_user && fchown(fd, e->uid, e->gid) != 0)
		ok = false;
	if (close(fd) != 0)
		ok = false;
	return ok;
}

/*
 * Memory and planner costs for the cluster, from the machine's RAM: shared_buffers a quarter
 * of it (128 MB at least, PostgreSQL's default; 4 GB at most) and
 * effective_cache_size half of it. PostgreSQL's 128 MB default keeps a
 * few pages of a 10-million-message table, so a search's heap fetches came
 * from the OS cache at ~25 µs each instead of ~6 µs (bench/conversations).
 * Shared memory is touched lazily, so a test cluster costs only what it
 * uses.
 */
static void
emb_memory_conf(struct buf *b)
{
	long		 pages = sysconf(_SC_PHYS_PAGES);
	long		 psize = sysconf(_SC_PAGESIZE);
	long long	 mb, shared;

	if (pages <= 0 || psize <= 0)
		return;
	mb = (long long)pages * psize / (1024 * 1024);
	shared = mb / 4;
	if (shared < 128)
		shared = 128;
	if (shared > 4096)
		shared = 4096;
	buf_printf(b, "shared_buffers = '%lldMB'\n", shared);
	buf_printf(b, "effective_cache_size = '%lldMB'\n",
	    mb / 2 > shared ? mb / 2 : shared);
	/* SSD or cache: a random page costs little more than a sequential
	 * one. With the default 4 the planner hashed all 100,000 chats
	 * rather than look up 1,250 of them by key (64 ms against 30). */
	buf_puts(b, "random_page_cost = 1.1\n");
}

/*
 * Writes data/parley.conf for this start and makes postgresql.conf include
 * it (once). Values are single-quoted for the config file, never a shell.
 */
static bool
emb_configure(struct db_embedded *e, int port, char *err, size_t errlen)
{
	struct buf	 b;
	char		 line[256];
	char		*conf = NULL;
	char		*main_conf;
	FILE		*f;
	bool		 has_include = false;
	bool		 ok = false;

	e->port = port == 0 ? EMB_DEFAULT_PORT : port;
	buf_init(&b, 0);
	buf_puts(&b, "# Written by parley (src/db/embedded.c) at every start; "
	    "edits are lost.\n");
	buf_printf(&b, "listen_addresses = '%s'\n",
	    port == 0 ? "" : "127.0.0.1");
	buf_printf(&b, "port = %d\n", e->port);
	buf_puts(&b, "unix_socket_directories = ");
	emb_conf_quote(&b, e->run);
	buf_putc(&b, '\n');
	emb_memory_conf(&b);

	conf = xasprintf("%s/parley.conf", e->data);
	if (!emb_write_file(e, conf, buf_str(&b), false)) {
		db_seterr(err, errlen, "Cannot write %s: %s.", conf,
		    strerror(errno));
		goto out;
	}
	main_conf = xasprintf("%s/postgresql.conf", e->data);
	if ((f = fopen(main_conf, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (str_starts_with(line,
			    "include_if_exists = 'parley.conf'"))
				has_include = true;
		fclose(f);
	}
	if (!has_include && !emb_write_file(e, main_conf,
	    "\n# parley: listen and socket settings, see parley.conf\n"
	    "include_if_exists = 'parley.conf'\n", true)) {
		db_seterr(err, errlen, "Cannot update %s: %s.", main_conf,
		    strerror(errno));
		free(main_conf);
		goto out;
	}
	free(main_conf);
	ok = true;
out:
	free(conf);
	buf_cleanup(&b);
	return ok;
}

/* pg_ctl start -w: returns once the server accepts connections. */
static bool
emb_start(struct db_embedded *e, char *err, size_t errlen)
{
	struct emb_args	 a = { 0 };
	char		 tail[256];
	char		*log;
	char		*ctl_log;
	int		 rc;

	log = xasprintf("%s/postgres.log", e->dir);
	ctl_log = xasprintf("%s/pg_ctl.log", e->dir);
	emb_arg(&a, "%s/pg_ctl", e->bin);
	emb_arg(&a, "start");
	emb_arg(&a, "-D");
	emb_arg(&a, "%s", e->data);
	emb_arg(&a, "-l");
	emb_arg(&a, "%s", log);
	emb_arg(&a, "-w");
	emb_arg(&a, "-t");
	emb_arg(&a, EMB_PG_CTL_WAIT);
	emb_arg(&a, "-s");
	rc = emb_run(e, &a, ctl_log, EMB_PG_CTL_MS);
	if (rc != 0) {
		emb_log_tail(log, tail, sizeof(tail));
		if (tail[0] == '\0')
			emb_log_tail(ctl_log, tail, sizeof(tail));
		db_seterr(err, errlen, "PostgreSQL did not start in %s (%s; see "
		    "%s).", e->data, tail[0] != '\0' ? tail :
		    "no message", log);
	}
	emb_args_free(&a);
	free(log);
	free(ctl_log);
	return rc == 0;
}

/* The port of a running cluster, from line 4 of postmaster.pid. */
static int
emb_running_port(const struct db_embedded *e)
{
	char	 line[256];
	char	*path;
	FILE	*f;
	int64_t	 v;
	int	 port = EMB_DEFAULT_PORT;

	path = xasprintf("%s/postmaster.pid", e->data);
	if ((f = fopen(path, "r")) != NULL) {
		for (int i = 1; fgets(line, sizeof(line), f) != NULL; i++) {
			if (i != 4)
				continue;
			if (str_to_i64(str_trim(line), &v) && v > 0 &&
			    v < 65536)
				port = (int)v;
			break;
		}
		fclose(f);
	}
	free(path);
	return port;
}

/*
 * Connects to the maintenance database and creates "parley" if missing.
 * Retries for a while: a cluster found running may still be starting up.
 * Both a duplicate_database error and a unique violation mean another
 * process created it first, which is as good.
 */
static bool
emb_create_db(struct db_embedded *e, char *err, size_t errlen)
{
	const char	*keys[] = { "host", "port", "dbname", "user",
			    "connect_timeout", "application_name", NULL };
	const char	*vals[7];
	char		 port[16];
	struct timespec	 ts = { 0, 200 * 1000000L };
	int64_t		 deadline = time_mono_ms() + EMB_CONNECT_MS;
	PGconn		*conn = NULL;
	PGresult	*r = NULL;
	const char	*state;
	bool		 ok = false;

	snprintf(port, sizeof(port), "%d", e->port);
	vals[0] = e->run;
	vals[1] = port;
	vals[2] = "postgres";
	vals[3] = EMB_DB_USER;
	vals[4] = "5";
	vals[5] = "parley";
	vals[6] = NULL;
	for (;;) {
		conn = PQconnectdbParams(keys, vals, 0);
		if (PQstatus(conn) == CONNECTION_OK)
			break;
		if (time_mono_ms() >= deadline) {
			db_seterr(err, errlen, "Cannot connect to the embedded "
			    "PostgreSQL in %s: %s", e->run,
			    PQerrorMessage(conn));
			goto out;
		}
		PQfinish(conn);
		conn = NULL;
		nanosleep(&ts, NULL);
	}
	PQsetNoticeProcessor(conn, emb_ignore_notice, NULL);
	r = PQexec(conn, "SELECT 1 FROM pg_database WHERE datname = '"
	    EMB_DB_NAME "'");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		db_seterr(err, errlen, "Cannot list databases: %s",
		    PQerrorMessage(conn));
		goto out;
	}
	if (PQntuples(r) == 1) {
		ok = true;
		goto out;
	}
	PQclear(r);
	r = PQexec(conn, "CREATE DATABASE " EMB_DB_NAME);
	state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && !(state != NULL &&
	    (strcmp(state, "42P04") == 0 || strcmp(state, "23505") == 0))) {
		db_seterr(err, errlen, "Cannot create database %s: %s",
		    EMB_DB_NAME, PQerrorMessage(conn));
		goto out;
	}
	ok = true;
out:
	PQclear(r);
	PQfinish(conn);
	if (!ok && err != NULL && errlen > 0)
		err[strcspn(err, "\n")] = '\0';	/* libpq ends in "\n" */
	return ok;
}

/* A single-quoted value for postgresql.conf ('' for a quote). */
static void
emb_conf_quote(struct buf *b, const char *s)
{
	buf_putc(b, '\'');
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			buf_putc(b, '\'');
		buf_putc(b, *s);
	}
	buf_putc(b, '\'');
}

/* host=<run> port=<port> dbname=parley user=parley, quoting the path when
 * libpq's syntax needs it. */
static bool
emb_conninfo(const struct db_embedded *e, char *out, size_t len)
{
	struct buf	 b;
	bool		 ok;

	buf_init(&b, len > 0 ? len - 1 : 1);
	buf_puts(&b, "host=");
	if (strpbrk(e->run, " '\\\t") != NULL) {
		buf_putc(&b, '\'');
		for (const char *s = e->run; *s != '\0'; s++) {
			if (*s == '\'' || *s == '\\')
				buf_putc(&b, '\\');
			buf_putc(&b, *s);
		}
		buf_putc(&b, '\'');
	} else
		buf_puts(&b, e->run);
	buf_printf(&b, " port=%d dbname=" EMB_DB_NAME " user=" EMB_DB_USER,
	    e->port);
	ok = !b.err && len > 0 && out != NULL;
	if (ok)
		str_copy(out, buf_str(&b), len);
	buf_cleanup(&b);
	return ok;
}

/* The last non-empty line of a log file ("" when there is none). */
static void
emb_log_tail(const char *path, char *out, size_t len)
{
	char	 buf[4096];
	char	*line;
	size_t	 n = 0;
	FILE	*f;

	out[0] = '\0';
	if ((f = fopen(path, "r")) == NULL)
		return;
	if (fseek(f, -(long)(sizeof(buf) - 1), SEEK_END) != 0)
		rewind(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
	    buf[n - 1] == ' '))
		buf[--n] = '\0';
	line = strrchr(buf, '\n');
	str_copy(out, line != NULL ? line + 1 : buf, len);
}

static void
emb_ignore_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void
emb_free(struct db_embedded *e)
{
	free(e->dir);
	free(e->data);
	free(e->run);
	free(e->bin);
	free(e->user);
	free(e);
}

