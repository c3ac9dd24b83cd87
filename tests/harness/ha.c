/*
 * ha.c: PgBouncer, standbys, failover and webhook streams (see ha.h).
 *
 * Running as the server user. PgBouncer, like PostgreSQL, refuses root.
 * The child drops to the cluster's user (the account's groups, then gid,
 * then uid) before exec, as db/embedded.c does for the server programs;
 * the user and its groups are looked up before the fork. pg_basebackup is
 * a client program and runs as we do: db_embedded_start then hands the
 * copied data directory to the server user, as it does any cluster's.
 *
 * The stream's threads never call Check: they only record, and the test
 * asserts on the records after joining them.
 */
#include "harness/ha.h"
#include "harness/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <libpq-fe.h>

#include "crypto/hmac.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define HA_PGBOUNCER		"/usr/sbin/pgbouncer"
#define HA_PG_BIN		"/usr/lib/postgresql/15/bin"
#define HA_START_MS		15000
#define HA_STOP_MS		15000
#define HA_REPLICA_MS		30000
#define HA_CRASH_MS		30000
#define HA_MAX_GROUPS		64
#define HA_PARAMS		10

struct ha_user {
	bool	 as_user;	/* we are root: children become uid/gid */
	uid_t	 uid;
	gid_t	 gid;
	gid_t	 groups[HA_MAX_GROUPS];
	int	 n_groups;
};

struct stream_thread {
	struct hstream	*s;
	int		 idx;
};

static void	 server_user(struct ha_user *);
static void	 write_file(const char *, const char *, const char *,
		    const struct ha_user *);
static bool	 query_ok(const char *);
static void	 remove_flat_dir(const char *);
static bool	 pid_gone(pid_t);
static void	*stream_main(void *);
static void	 stream_one(struct hstream *, CURL *, int);
static char	*form_encode(CURL *, struct twilio_param *, int);

/* --- PgBouncer ------------------------------------------------------------ */

void
hbouncer_start(struct hbouncer *b, struct hpg *pg, const char *mode,
    int pool_size)
{
	struct ha_user	 u;
	char		 ini[2048], path[320], ci[256];
	char		*argv[3];
	int64_t		 deadline;
	pid_t		 pid, w;
	int		 fd, ws;

	memset(b, 0, sizeof(*b));
	if (access(HA_PGBOUNCER, X_OK) != 0)
		ck_abort_msg("%s is missing: install Debian's pgbouncer "
		    "(make deps)", HA_PGBOUNCER);
	server_user(&u);
	str_copy(b->dir, "/tmp/parley-bouncer-XXXXXX", sizeof(b->dir));
	if (mkdtemp(b->dir) == NULL)
		ck_abort_msg("hbouncer_start: mkdtemp: %s", strerror(errno));
	if (chmod(b->dir, 0755) != 0 || (u.as_user &&
	    chown(b->dir, u.uid, u.gid) != 0))
		ck_abort_msg("hbouncer_start: %s: %s", b->dir, strerror(errno));
	b->port = hfree_port();
	hfmt(b->log_path, sizeof(b->log_path), "%s/pgbouncer.log", b->dir);

	/* As stock as it gets: no ignore_startup_parameters, so a client
	 * sending a startup `options` is refused as in production. */
	write_file(b->dir, "userlist.txt", "\"parley\" \"\"\n", &u);
	hfmt(ini, sizeof(ini),
	    "[databases]\n"
	    "* = host=127.0.0.1 port=%d\n"
	    "\n"
	    "[pgbouncer]\n"
	    "listen_addr = 127.0.0.1\n"
	    "listen_port = %d\n"
	    "unix_socket_dir =\n"
	    "auth_type = trust\n"
	    "auth_file = %s/userlist.txt\n"
	    "admin_users = parley\n"
	    "pool_mode = %s\n"
	    "default_pool_size = %d\n"
	    "max_client_conn = 500\n"
	    "logfile = %s\n",
	    pg->port, b->port, b->dir, mode, pool_size, b->log_path);
	write_file(b->dir, "pgbouncer.ini", ini, &u);

	hfmt(path, sizeof(path), "%s/pgbouncer.ini", b->dir);
	argv[0] = (char *)(uintptr_t)HA_PGBOUNCER;
	argv[1] = path;
	argv[2] = NULL;
	hfmt(ci, sizeof(ci), "%s/stderr.log", b->dir);
	if ((fd = open(ci, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644)) == -1)
		ck_abort_msg("open %s: %s", ci, strerror(errno));
	fflush(NULL);
	if ((pid = fork()) == -1)
		ck_abort_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fd, 1);
		dup2(fd, 2);
		if (u.as_user && (setgroups((size_t)u.n_groups, u.groups) != 0 ||
		    setgid(u.gid) != 0 || setuid(u.uid) != 0))
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fd);
	b->pid = (int)pid;
	hchild_add(b->pid);

	hbouncer_conninfo(b, "parley", ci, sizeof(ci));
	deadline = time_mono_ms() + HA_START_MS;
	for (;;) {
		if ((w = waitpid(pid, &ws, WNOHANG)) == pid) {
			hchild_remove(b->pid);
			b->pid = 0;
			hfmt(path, sizeof(path), "%s/stderr.log", b->dir);
			hlog_tail(path, 4000);
			ck_abort_msg("pgbouncer exited with status %d at start",
			    hexit_status(ws));
		}
		if (query_ok(ci))
			return;
		if (time_mono_ms() > deadline)
			break;
		hsleep_ms(50);
	}
	hlog_tail(b->log_path, 4000);
	ck_abort_msg("pgbouncer did not answer within %d s", HA_START_MS / 1000);
}

void
hbouncer_stop(struct hbouncer *b)
{
	int	 status;

	if (b->pid > 0 && !hchild_stop(b->pid, HA_STOP_MS, &status))
		fprintf(stderr, "pgbouncer did not stop on SIGTERM: killed\n");
	b->pid = 0;
	if (b->dir[0] != '\0') {
		const char	*keep = getenv("PARLEY_TEST_KEEP");

		if (keep != NULL && strcmp(keep, "1") == 0)
			fprintf(stderr, "pgbouncer: kept %s\n", b->dir);
		else
			remove_flat_dir(b->dir);
	}
	b->dir[0] = '\0';
}

void
hbouncer_conninfo(const struct hbouncer *b, const char *db, char *out,
    size_t len)
{
	hfmt(out, len, "host=127.0.0.1 port=%d dbname=%s user=parley",
	    b->port, db);
}

bool
hbouncer_log_contains(const struct hbouncer *b, const char *needle)
{
	FILE	*f;
	char	 line[4096];
	bool	 found = false;

	if ((f = fopen(b->log_path, "r")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* --- streaming replication and failover ----------------------------------- */

void
hpg_start_standby(struct hpg *standby, struct hpg *primary, bool is_sync)
{
	const char	*bin = getenv("PARLEY_PG_BIN");
	char		 exe[300], port[16], data[320];
	char		*out = NULL;
	int		 rc;

	memset(standby, 0, sizeof(*standby));
	str_copy(standby->dir, "/tmp/parley-test-XXXXXX",
	    sizeof(standby->dir));
	if (mkdtemp(standby->dir) == NULL)
		ck_abort_msg("hpg_start_standby: mkdtemp: %s", strerror(errno));
	if (chmod(standby->dir, 0755) != 0)
		ck_abort_msg("hpg_start_standby: chmod: %s", strerror(errno));
	hpg_track(standby);
	standby->port = hfree_port();

	hfmt(exe, sizeof(exe), "%s/pg_basebackup",
	    bin != NULL && *bin != '\0' ? bin : HA_PG_BIN);
	hfmt(port, sizeof(port), "%d", primary->port);
	hfmt(data, sizeof(data), "%s/data", standby->dir);
	{
		const char	*argv[] = { exe, "-h", "127.0.0.1", "-p", port,
				    "-U", "parley", "-D", data, "-R", "-X",
				    "stream", "-c", "fast", "--no-sync", NULL };

		rc = hrun_cmd(argv, NULL, NULL, &out, 120);
	}
	ck_assert_msg(rc == 0, "pg_basebackup exited %d:\n%s", rc, out);
	free(out);

	/* The copy is started like any harness cluster: its own port and
	 * socket (parley.conf is rewritten), standby.signal makes it one. */
	hpg_restart(standby);
	ck_assert_msg(hpg_wait_int(primary, 1, HA_REPLICA_MS, "SELECT count(*) "
	    "FROM pg_stat_replication WHERE state = 'streaming'"),
	    "the standby on port %d is not streaming from the primary",
	    standby->port);
	out = hpg_sqlf(standby, "SELECT pg_is_in_recovery()");
	ck_assert_msg(strcmp(out, "t") == 0, "the copy is not a standby");
	free(out);
	if (!is_sync)
		return;
	free(hpg_sqlf(primary, "ALTER SYSTEM SET synchronous_standby_names "
	    "= '*'"));
	free(hpg_sqlf(primary, "SELECT pg_reload_conf()"));
	ck_assert_msg(hpg_wait_int(primary, 1, HA_REPLICA_MS, "SELECT count(*) "
	    "FROM pg_stat_replication WHERE sync_state = 'sync'"),
	    "the standby did not become synchronous");
}

void
hpg_crash(struct hpg *pg)
{
	char	 path[320], line[64];
	FILE	*f;
	int64_t	 v = 0, deadline;

	hfmt(path, sizeof(path), "%s/data/postmaster.pid", pg->dir);
	if ((f = fopen(path, "r")) == NULL)
		ck_abort_msg("hpg_crash: %s: %s", path, strerror(errno));
	if (fgets(line, sizeof(line), f) == NULL ||
	    !str_to_i64(str_trim(line), &v) || v <= 1)
		ck_abort_msg("hpg_crash: no PID in %s", path);
	fclose(f);
	/* SIGQUIT to the postmaster is pg_ctl stop -m immediate. */
	if (kill((pid_t)v, SIGQUIT) != 0)
		ck_abort_msg("hpg_crash: kill %lld: %s", (long long)v,
		    strerror(errno));
	deadline = time_mono_ms() + HA_CRASH_MS;
	while (!pid_gone((pid_t)v)) {
		if (time_mono_ms() > deadline)
			ck_abort_msg("hpg_crash: postmaster %lld still running",
			    (long long)v);
		hsleep_ms(10);
	}
}

void
hpg_promote(struct hpg *pg)
{
	char	*s;

	s = hpg_sqlf(pg, "SELECT pg_promote(true, 60)");
	ck_assert_msg(strcmp(s, "t") == 0, "pg_promote answered %s", s);
	free(s);
	s = hpg_sqlf(pg, "SELECT pg_is_in_recovery()");
	ck_assert_msg(strcmp(s, "f") == 0, "still in recovery after promotion");
	free(s);
}

void
hpg_tcp_conninfo(const struct hpg *pg, char *out, size_t len)
{
	hfmt(out, len, "host=127.0.0.1 port=%d dbname=parley user=parley",
	    pg->port);
}

/* --- a stream of signed webhooks ------------------------------------------- */

void
hstream_start(struct hstream *s)
{
	struct stream_thread	*t;

	ck_assert(s->n > 0 && s->n_bases > 0 &&
	    s->n_bases <= HSTREAM_BASES_MAX);
	ck_assert(s->n_threads > 0 && s->n_threads <=
	    (int)(sizeof(s->threads) / sizeof(s->threads[0])));
	ck_assert(s->tag != NULL && s->from_prefix != NULL);
	s->m = xcalloc((size_t)s->n, sizeof(*s->m));
	for (int i = 0; i < s->n; i++) {
		struct hstream_msg	*m = &s->m[i];

		hfmt(m->sid, sizeof(m->sid), "SM%s%08d", s->tag, i);
		hfmt(m->from, sizeof(m->from), "%s%04d", s->from_prefix,
		    s->senders > 0 ? i % s->senders : i);
		hfmt(m->text, sizeof(m->text), "%s message %d", s->tag, i);
	}
	atomic_store(&s->n_acked, 0);
	atomic_store(&s->n_sent, 0);
	pthread_mutex_init(&s->mu, NULL);
	s->first_bad_ms = 0;
	s->first_bad_end_ms = 0;
	s->last_bad_ms = 0;
	s->n_bad = 0;
	s->n_started = 0;
	for (int i = 0; i < s->n_threads; i++) {
		t = xcalloc(1, sizeof(*t));
		t->s = s;
		t->idx = i;
		if (pthread_create(&s->threads[i], NULL, stream_main, t) != 0)
			ck_abort_msg("hstream_start: pthread_create failed");
		s->n_started++;
	}
}

void
hstream_wait(struct hstream *s)
{
	for (int i = 0; i < s->n_started; i++)
		pthread_join(s->threads[i], NULL);
	s->n_started = 0;
}

void
hstream_free(struct hstream *s)
{
	if (s->m != NULL)
		pthread_mutex_destroy(&s->mu);
	free(s->m);
	s->m = NULL;
}

static void *
stream_main(void *arg)
{
	struct stream_thread	*t = arg;
	struct hstream		*s = t->s;
	CURL			*h;

	if ((h = curl_easy_init()) == NULL)
		abort();
	for (int i = t->idx; i < s->n; i += s->n_threads) {
		atomic_fetch_add(&s->n_sent, 1);
		stream_one(s, h, i);
		if (s->pace_ms > 0)
			hsleep_ms(s->pace_ms);
	}
	curl_easy_cleanup(h);
	free(t);
	return NULL;
}

/* Posts message i until a 2xx or give_up_ms, recording every attempt. */
static void
stream_one(struct hstream *s, CURL *h, int i)
{
	struct hstream_msg	*m = &s->m[i];
	struct twilio_param	 p[HA_PARAMS];
	struct curl_slist	*hdrs = NULL;
	const char		*base = s->bases[i % s->n_bases];
	char			 url[160], from[40], to[40], waid[24];
	char			 sig[29], sighdr[64];
	char			*body;
	int64_t			 t0, t1, first = time_mono_ms();
	long			 status;
	CURLcode		 rc;

	snprintf(url, sizeof(url), "%s/webhooks/whatsapp/twilio", base);
	snprintf(from, sizeof(from), "whatsapp:%s", m->from);
	snprintf(to, sizeof(to), "whatsapp:%s", s->to);
	snprintf(waid, sizeof(waid), "%s", m->from + (m->from[0] == '+'));
	p[0] = (struct twilio_param){ "MessageSid", m->sid };
	p[1] = (struct twilio_param){ "SmsMessageSid", m->sid };
	p[2] = (struct twilio_param){ "AccountSid", s->account };
	p[3] = (struct twilio_param){ "From", from };
	p[4] = (struct twilio_param){ "To", to };
	p[5] = (struct twilio_param){ "Body", m->text };
	p[6] = (struct twilio_param){ "NumMedia", "0" };
	p[7] = (struct twilio_param){ "ProfileName", "Tess" };
	p[8] = (struct twilio_param){ "WaId", waid };
	p[9] = (struct twilio_param){ "ApiVersion", "2010-04-01" };
	/* Twilio signs the URL it calls with the parameters sorted. */
	hmac_twilio_sign(s->token, url, p, HA_PARAMS, sig);
	snprintf(sighdr, sizeof(sighdr), "X-Twilio-Signature: %s", sig);
	body = form_encode(h, p, HA_PARAMS);
	hdrs = curl_slist_append(hdrs, sighdr);
	hdrs = curl_slist_append(hdrs,
	    "Content-Type: application/x-www-form-urlencoded");

	for (;;) {
		curl_easy_reset(h);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(h, CURLOPT_PROXY, "");
		curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
		/* Twilio gives up on a webhook after 15 s. */
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 15000L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hdiscard);
		t0 = time_mono_ms();
		status = 0;
		rc = curl_easy_perform(h);
		if (rc == CURLE_OK)
			curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		t1 = time_mono_ms();
		m->attempts++;
		if (status >= 200 && status < 300) {
			m->ack_ms = t1;
			atomic_fetch_add(&s->n_acked, 1);
			break;
		}
		if (status >= 500)
			m->n_5xx++;
		else if (status == 0)
			m->n_failed++;
		else
			m->n_other++;
		pthread_mutex_lock(&s->mu);
		if (s->first_bad_ms == 0 || t0 < s->first_bad_ms)
			s->first_bad_ms = t0;
		if (s->first_bad_end_ms == 0 || t1 < s->first_bad_end_ms)
			s->first_bad_end_ms = t1;
		if (t1 > s->last_bad_ms)
			s->last_bad_ms = t1;
		s->n_bad++;
		pthread_mutex_unlock(&s->mu);
		if (t1 - first > s->give_up_ms)
			break;
		hsleep_ms(s->retry_ms);
	}
	curl_slist_free_all(hdrs);
	free(body);
}

/* name=value&… with curl's percent-encoding (malloc'd). */
static char *
form_encode(CURL *h, struct twilio_param *p, int n)
{
	size_t	 len = 1, off = 0;
	char	*out, *k, *v;

	for (int i = 0; i < n; i++)
		len += 3 * (strlen(p[i].name) + strlen(p[i].value)) + 2;
	out = xmalloc(len);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		k = curl_easy_escape(h, p[i].name, 0);
		v = curl_easy_escape(h, p[i].value, 0);
		if (k == NULL || v == NULL)
			abort();
		off += (size_t)snprintf(out + off, len - off, "%s%s=%s",
		    i > 0 ? "&" : "", k, v);
		curl_free(k);
		curl_free(v);
	}
	return out;
}

/* --- helpers --------------------------------------------------------------- */

/* The unprivileged user server programs run as when we are root. */
static void
server_user(struct ha_user *u)
{
	struct passwd	 pw, *found = NULL;
	const char	*name = getenv("PARLEY_PG_USER");
	char		 buf[4096];
	int		 n = HA_MAX_GROUPS;

	memset(u, 0, sizeof(*u));
	if (geteuid() != 0)
		return;
	if (name == NULL || *name == '\0')
		name = "postgres";
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &found) != 0 ||
	    found == NULL || pw.pw_uid == 0)
		ck_abort_msg("no unprivileged user %s to run pgbouncer as",
		    name);
	u->as_user = true;
	u->uid = pw.pw_uid;
	u->gid = pw.pw_gid;
	if (getgrouplist(name, pw.pw_gid, u->groups, &n) < 0)
		n = HA_MAX_GROUPS;
	u->n_groups = n;
}

static void
write_file(const char *dir, const char *name, const char *text,
    const struct ha_user *u)
{
	char	 path[320];
	FILE	*f;

	hfmt(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) != 0)
		ck_abort_msg("cannot write %s: %s", path, strerror(errno));
	if (u->as_user && chown(path, u->uid, u->gid) != 0)
		ck_abort_msg("chown %s: %s", path, strerror(errno));
}

/* True when conninfo takes "SELECT 1". */
static bool
query_ok(const char *conninfo)
{
	char		*ci = xasprintf("%s connect_timeout=2", conninfo);
	PGconn		*c = PQconnectdb(ci);
	PGresult	*r = NULL;
	bool		 ok = false;

	if (PQstatus(c) == CONNECTION_OK) {
		r = PQexec(c, "SELECT 1");
		ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	}
	PQclear(r);
	PQfinish(c);
	free(ci);
	return ok;
}

/* A directory of plain files: the files, then the directory. */
static void
remove_flat_dir(const char *dir)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[600];

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* The postmaster is not our child: gone once kill(0) fails or it is a
 * zombie waiting for a reaper that is not us. */
static bool
pid_gone(pid_t pid)
{
	char	 path[64], buf[512], *rp;
	FILE	*f;
	size_t	 n;

	if (kill(pid, 0) != 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	rp = strrchr(buf, ')');
	return rp != NULL && rp[1] == ' ' && rp[2] == 'Z';
}
