/*
 * http_wire: what Parley's responses look like on the wire, read from a
 * raw TCP socket against the real binary (no HTTP client library between
 * the test and the bytes):
 *
 * - one response, one write: the server is traced with strace (-f -yy,
 *   attached to the running process, all threads) while requests are made,
 *   each on its own connection, and the write-like system calls on that
 *   connection's socket are counted (strace names the socket's peer port,
 *   so the test knows which calls are its own). A small response of every
 *   kind (webhook, panel page, JSON error, static file, redirect, HEAD,
 *   204, 413) is exactly one call carrying every byte the client read; a
 *   streamed completion's head is one call of its own before the events,
 *   and a body past 64 KiB follows its head in a second call.
 * - the header set: names in order and the security headers' values, as
 *   CivetWeb's header machinery sent them before resp.c wrote responses
 *   itself (Date and Connection last), so the change is invisible to
 *   clients;
 * - framing: keep-alive across responses of every kind on one connection,
 *   Connection: close when the client asks, HTTP/1.0 with and without
 *   keep-alive, HEAD (Content-Length of the GET, no body), 204 (no
 *   Content-Length, no body), 413 on an announced oversize body (answered
 *   before the body, then the connection closes), a stream read to its
 *   close;
 * - group commit's counters on /metrics, which bench/run.sh reads.
 *
 * One suite, one cluster, one fake LLM and one server (CK_NOFORK, tests in
 * the order added). Needs strace (DEB_PKGS) and the right to ptrace the
 * server (the tests run as root, the server as our child).
 */
#include "harness/model.h"
#include "harness/webhook.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <check.h>

#include "crypto/secret.h"
#include "db/db.h"
#include "model/channel.h"
#include "util/xmalloc.h"

#define sqli(...)	hpg_sqlf_int(&pg, __VA_ARGS__)
#define sqls(...)	hpg_sqlf(&pg, __VA_ARGS__)

#define OWNER_EMAIL	"owner@example.com"
#define OWNER_ORG	"My Organization"
#define TW_NUMBER	"+14155238886"
#define TW_SID		"AC0123456789abcdef0123456789abcdef"
#define TW_TOKEN	"0123456789abcdef0123456789abcdef"
#define AGENT_SLUG	"wire"
#define WIRE_MAX	(1024 * 1024)	/* one response, at most */
#define WIRE_TIMEOUT_MS	10000
#define TRACE_MAX	64		/* connections in one trace */

/* One client connection and what it has read but not yet consumed. */
struct wconn {
	int	 fd;
	int	 lport;		/* ours (the peer, to strace) */
	char	*buf;
	size_t	 len;
	bool	 eof;
};

/* One response as read from the socket. */
struct wresp {
	long	 status;
	char	*head;		/* status line, headers, blank line */
	size_t	 head_len;	/* bytes, the blank line included */
	char	*body;
	size_t	 body_len;
	size_t	 wire_len;	/* head_len + body_len: all read */
};

/* strace attached to the server. */
struct tracer {
	int	 pid;
	char	 path[300];
};

/* What strace saw on one connection. */
struct wcount {
	int	 writes;	/* write-like calls on its socket */
	long	 bytes;	/* their results, summed */
	long	 first;	/* the first call's result */
};

static void	 setup(void);
static void	 teardown(void);
static void	 cleanup(void);
static void	 wc_open(struct wconn *c);
static void	 wc_close(struct wconn *c);
static void	 wc_send(struct wconn *c, const char *req);
static void	 wc_fill(struct wconn *c, int timeout_ms);
static void	 wc_read(struct wconn *c, bool is_head, struct wresp *w);
static bool	 wc_closed_by_server(struct wconn *c, int wait_ms);
static void	 wresp_free(struct wresp *w);
static char	*wresp_header(const struct wresp *w, const char *name);
static char	*wresp_names(const struct wresp *w);
static char	*twilio_request(const char *sid, const char *conn_hdr);
static char	*plain_request(const char *method, const char *path,
		    const char *extra);
static void	 exchange(const char *req, bool is_head, struct wresp *w,
		    int *lport);
static void	 tracer_start(struct tracer *t);
static char	*tracer_stop(struct tracer *t);
static struct wcount trace_count(const char *trace, int lport);
static int64_t	 spare_agent(const char *slug);
static void	 assert_security(const struct wresp *w, const char *what);
static int64_t	 metric(const char *name);
static void	 expect_header(const struct wresp *w, const char *name,
		    const char *want, const char *what);

static struct hpg	 pg;
static struct hserver	 srv;
static struct hfake	 llm;
static char		*token;		/* admin token of OWNER_ORG */
static int64_t		 org_id, model_id, agent_id;
static int		 sid_seq;

/* --- fixture ------------------------------------------------------------ */

static void
setup(void)
{
	struct secret_key	*key;
	struct db_pool		*pool;
	struct db		*db;
	struct channel_input	 in;
	int64_t			 prov, ch;

	hpg_start(&pg);
	hfake_start(&llm, "fake_llm", NULL);
	hserver_start(&srv, &pg, (const char *[]){
	    "PARLEY_TWILIO_API_BASE=http://127.0.0.1:9",
	    "PARLEY_TWILIO_MESSAGING_BASE=http://127.0.0.1:9",
	    "PARLEY_LLM_TIMEOUT_SECONDS=5", NULL });

	org_id = sqli("SELECT id FROM orgs WHERE name = '%s'", OWNER_ORG);
	ck_assert_msg(org_id > 0, "no organisation %s", OWNER_ORG);
	prov = sqli("INSERT INTO llm_providers (org_id, name, base_url)"
	    " VALUES (%lld, 'Fake', '%s/v1') RETURNING id",
	    (long long)org_id, llm.base);
	model_id = sqli("INSERT INTO org_models (org_id, provider_id, name,"
	    " display_name) VALUES (%lld, %lld, 'fake-model', 'Fake')"
	    " RETURNING id", (long long)org_id, (long long)prov);
	agent_id = spare_agent(AGENT_SLUG);
	ck_assert_msg(prov > 0 && model_id > 0 && agent_id > 0,
	    "set-up SQL failed");
	token = htoken_create(&pg, OWNER_EMAIL, "wire", "admin");

	key = hkey_load(&pg);
	pool = db_pool_new(pg.conninfo, 1, 5000);
	ck_assert(pool != NULL);
	db = db_acquire(pool);
	ck_assert_msg(db != NULL, "no database connection");
	memset(&in, 0, sizeof(in));
	in.kind = "twilio";
	in.name = "Twilio";
	in.phone_number = TW_NUMBER;
	in.twilio_account_sid = TW_SID;
	in.twilio_auth_token = TW_TOKEN;
	ch = hchannel_create(db, key, org_id, &in);
	ck_assert(ch > 0);
	db_release(db);
	db_pool_free(pool);
	secret_key_free(key);
}

static void
teardown(void)
{
	if (srv.pid > 0)
		(void)hserver_stop(&srv);
	if (llm.pid > 0)
		hfake_stop(&llm);
	cleanup();
}

/* Safe outside a test: never fails a Check test. */
static void
cleanup(void)
{
	free(token);
	token = NULL;
	hpg_finish(&pg, "http_wire");
}

/* --- helpers ------------------------------------------------------------ */

static int64_t
spare_agent(const char *slug)
{
	return sqli("INSERT INTO agents (org_id, name, slug, system_prompt,"
	    " model_id, mode) VALUES (%lld, 'Wire %s', '%s', 'You are a test"
	    " agent.', %lld, 'task') RETURNING id", (long long)org_id, slug,
	    slug, (long long)model_id);
}

static void
wc_open(struct wconn *c)
{
	struct sockaddr_in	 a;
	socklen_t		 alen = sizeof(a);

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_msg(c->fd >= 0, "socket: %s", strerror(errno));
	/*
	 * A receive buffer that holds any response here whole (the kernel
	 * caps it at net.core.rmem_max, 416 KiB by default): the server's
	 * send is then never cut short because this client was slow to be
	 * scheduled, and one write call means what the test says it means.
	 */
	(void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &(int){ WIRE_MAX },
	    sizeof(int));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)srv.port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_msg(connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0,
	    "connect to port %d: %s", srv.port, strerror(errno));
	ck_assert(getsockname(c->fd, (struct sockaddr *)&a, &alen) == 0);
	c->lport = ntohs(a.sin_port);
	c->buf = xmalloc(WIRE_MAX + 1);
}

static void
wc_close(struct wconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
}

static void
wc_send(struct wconn *c, const char *req)
{
	size_t	 len = strlen(req), off = 0;
	ssize_t	 n;

	while (off < len) {
		n = send(c->fd, req + off, len - off, MSG_NOSIGNAL);
		ck_assert_msg(n > 0, "send: %s", strerror(errno));
		off += (size_t)n;
	}
}

/* Reads what is there (waiting up to timeout_ms for something); sets eof
 * when the server closed. */
static void
wc_fill(struct wconn *c, int timeout_ms)
{
	struct pollfd	 p = { .fd = c->fd, .events = POLLIN };
	ssize_t		 n;

	ck_assert_msg(c->len < WIRE_MAX, "a response larger than %d bytes",
	    WIRE_MAX);
	ck_assert_msg(poll(&p, 1, timeout_ms) == 1, "no answer within %d ms "
	    "(%zu bytes so far: %.300s)", timeout_ms, c->len, c->buf);
	n = recv(c->fd, c->buf + c->len, WIRE_MAX - c->len, 0);
	ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
	if (n == 0)
		c->eof = true;
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
}

/*
 * Reads one whole response: the head, then Content-Length bytes, none for
 * HEAD, 1xx, 204 and 304, or up to the close when the head has no length.
 */
static void
wc_read(struct wconn *c, bool is_head, struct wresp *w)
{
	char	*end, *cl;
	size_t	 want;

	memset(w, 0, sizeof(*w));
	while ((end = strstr(c->buf, "\r\n\r\n")) == NULL) {
		ck_assert_msg(!c->eof, "the connection closed inside a head: "
		    "%.300s", c->buf);
		wc_fill(c, WIRE_TIMEOUT_MS);
	}
	w->head_len = (size_t)(end - c->buf) + 4;
	w->head = xmalloc(w->head_len + 1);
	memcpy(w->head, c->buf, w->head_len);
	w->head[w->head_len] = '\0';
	ck_assert_msg(sscanf(w->head, "HTTP/1.%*1d %ld ", &w->status) == 1,
	    "not a status line: %.200s", w->head);
	cl = wresp_header(w, "Content-Length");
	if (is_head || w->status < 200 || w->status == 204 ||
	    w->status == 304)
		want = 0;
	else if (cl != NULL)
		want = strtoul(cl, NULL, 10);
	else
		want = SIZE_MAX;	/* to the close */
	free(cl);
	while (want != SIZE_MAX ? c->len - w->head_len < want : !c->eof) {
		ck_assert_msg(!c->eof, "the connection closed inside a body "
		    "(%zu of %zu bytes)", c->len - w->head_len, want);
		wc_fill(c, WIRE_TIMEOUT_MS);
	}
	if (want == SIZE_MAX)
		want = c->len - w->head_len;
	w->body_len = want;
	w->body = xmalloc(want + 1);
	memcpy(w->body, c->buf + w->head_len, want);
	w->body[want] = '\0';
	w->wire_len = w->head_len + w->body_len;
	memmove(c->buf, c->buf + w->wire_len, c->len - w->wire_len);
	c->len -= w->wire_len;
	c->buf[c->len] = '\0';
}

/*
 * True when the server closes the connection within wait_ms without
 * sending another byte; false when it is still open then. A test that
 * expects the close waits long (a loaded machine may be slow to close);
 * one that expects the connection kept waits a second.
 */
static bool
wc_closed_by_server(struct wconn *c, int wait_ms)
{
	struct pollfd	 p = { .fd = c->fd, .events = POLLIN };

	ck_assert_msg(c->len == 0, "bytes after the response: %.200s",
	    c->buf);
	if (c->eof)
		return true;
	if (poll(&p, 1, wait_ms) == 0)
		return false;
	wc_fill(c, 0);
	ck_assert_msg(c->len == 0, "bytes after the response: %.200s",
	    c->buf);
	return c->eof;
}

static void
wresp_free(struct wresp *w)
{
	free(w->head);
	free(w->body);
	memset(w, 0, sizeof(*w));
}

/* The value of header name (case-insensitive), malloc'd; NULL if absent.
 * Fails the test when the header appears twice. */
static char *
wresp_header(const struct wresp *w, const char *name)
{
	const char	*p = strstr(w->head, "\r\n");
	size_t		 nlen = strlen(name);
	char		*v = NULL;

	while (p != NULL && p[2] != '\r') {
		const char	*line = p + 2;
		const char	*eol = strstr(line, "\r\n");

		if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
			const char	*s = line + nlen + 1;

			ck_assert_msg(v == NULL, "%s twice in:\n%s", name,
			    w->head);
			while (*s == ' ')
				s++;
			v = strndup(s, (size_t)(eol - s));
			if (v == NULL)
				abort();
		}
		p = eol;
	}
	return v;
}

/* Fails the test unless header name is exactly want. */
static void
expect_header(const struct wresp *w, const char *name, const char *want,
    const char *what)
{
	char	*v = wresp_header(w, name);

	ck_assert_msg(v != NULL && strcmp(v, want) == 0, "%s: %s is %s, want "
	    "%s", what, name, v ? v : "absent", want);
	free(v);
}

/* The header names in order, "A,B,C" (malloc'd). */
static char *
wresp_names(const struct wresp *w)
{
	char		*out = xmalloc(w->head_len + 1);
	const char	*p = strstr(w->head, "\r\n");
	size_t		 n = 0;

	out[0] = '\0';
	while (p != NULL && p[2] != '\r') {
		const char	*line = p + 2;
		size_t		 l = strcspn(line, ":\r");

		if (n > 0)
			out[n++] = ',';
		memcpy(out + n, line, l);
		n += l;
		out[n] = '\0';
		p = strstr(line, "\r\n");
	}
	return out;
}

/* A signed inbound Twilio text as Twilio sends it, with a fresh MessageSid
 * (and Connection: conn_hdr when not NULL); malloc'd. */
static char *
twilio_request(const char *sid_in, const char *conn_hdr)
{
	char		 sid[64], url[128], sig[96], *body, *req;
	const char	*params[][2] = {
		{ "MessageSid", sid }, { "SmsMessageSid", sid },
		{ "AccountSid", TW_SID }, { "From", "whatsapp:+15550001111" },
		{ "To", "whatsapp:" TW_NUMBER }, { "Body", "hello wire" },
		{ "NumMedia", "0" }, { "ProfileName", "Tess" },
		{ "WaId", "15550001111" }, { "ApiVersion", "2010-04-01" },
	};
	int		 n = (int)(sizeof(params) / sizeof(params[0]));

	if (sid_in != NULL)
		snprintf(sid, sizeof(sid), "%s", sid_in);
	else
		snprintf(sid, sizeof(sid), "SMwire%08d%06d", (int)getpid(),
		    ++sid_seq);
	snprintf(url, sizeof(url), "%s%s", srv.base, HTWILIO_INBOUND);
	htwilio_sig_header(sig, sizeof(sig), TW_TOKEN, url, params, n);
	body = hform(params, n);
	req = xasprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: %zu\r\n%s\r\n%s%s%s\r\n%s", HTWILIO_INBOUND,
	    srv.port, strlen(body), sig, conn_hdr ? "Connection: " : "",
	    conn_hdr ? conn_hdr : "", conn_hdr ? "\r\n" : "", body);
	free(body);
	return req;
}

/* "METHOD path HTTP/1.1" with Host and the extra header lines (each ending
 * in \r\n, or NULL); malloc'd. */
static char *
plain_request(const char *method, const char *path, const char *extra)
{
	return xasprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n",
	    method, path, srv.port, extra ? extra : "");
}

/* One request on a connection of its own; the response in w, our port in
 * *lport. */
static void
exchange(const char *req, bool is_head, struct wresp *w, int *lport)
{
	struct wconn	 c;

	wc_open(&c);
	*lport = c.lport;
	wc_send(&c, req);
	wc_read(&c, is_head, w);
	wc_close(&c);
}

/*
 * Attaches strace to the server (every thread, and threads it starts) and
 * returns once every thread is traced.
 */
static void
tracer_start(struct tracer *t)
{
	char		 pid[16];
	struct timespec	 t0, now;
	int		 devnull, pfd[2];

	snprintf(t->path, sizeof(t->path), "%s/strace-%d.txt", pg.dir,
	    ++sid_seq);
	snprintf(pid, sizeof(pid), "%d", srv.pid);
	ck_assert(pipe(pfd) == 0);
	t->pid = fork();
	ck_assert_msg(t->pid >= 0, "fork: %s", strerror(errno));
	if (t->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execlp("strace", "strace", "-f", "-yy", "-s", "64", "-e",
		    "trace=write,writev,sendto,sendmsg,sendmmsg,pwrite64,"
		    "pwritev,pwritev2", "-o", t->path, "-p", pid, (char *)NULL);
		dprintf(2, "cannot run strace: %s (install it: make deps)\n",
		    strerror(errno));
		_exit(127);
	}
	close(pfd[1]);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		char		 path[300], line[256], err[512] = "";
		DIR		*d;
		struct dirent	*e;
		int		 n_tasks = 0, n_traced = 0, ws;
		FILE		*f;

		if (waitpid(t->pid, &ws, WNOHANG) == t->pid) {
			ssize_t	 n = read(pfd[0], err, sizeof(err) - 1);

			err[n > 0 ? n : 0] = '\0';
			ck_abort_msg("strace exited before attaching: %s", err);
		}
		snprintf(path, sizeof(path), "/proc/%d/task", srv.pid);
		ck_assert_msg((d = opendir(path)) != NULL, "%s: %s", path,
		    strerror(errno));
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			n_tasks++;
			snprintf(path, sizeof(path), "/proc/%d/task/%s/status",
			    srv.pid, e->d_name);
			if ((f = fopen(path, "r")) == NULL)
				continue;	/* the thread ended */
			while (fgets(line, sizeof(line), f) != NULL)
				if (strncmp(line, "TracerPid:", 10) == 0 &&
				    atoi(line + 10) == t->pid)
					n_traced++;
			fclose(f);
		}
		closedir(d);
		if (n_tasks > 0 && n_traced == n_tasks)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert_msg(now.tv_sec - t0.tv_sec < 20, "strace attached to "
		    "%d of %d server threads in 20 s", n_traced, n_tasks);
		nanosleep(&(struct timespec){ 0, 20 * 1000000L }, NULL);
	}
	close(pfd[0]);
}

/* Detaches strace and returns what it wrote (malloc'd). */
static char *
tracer_stop(struct tracer *t)
{
	FILE	*f;
	char	*text;
	long	 len;
	int	 ws, waited = 0;

	kill(t->pid, SIGINT);
	while (waitpid(t->pid, &ws, WNOHANG) != t->pid) {
		if (waited++ == 200) {
			kill(t->pid, SIGKILL);
			waitpid(t->pid, &ws, 0);
			ck_abort_msg("strace did not detach within 10 s");
		}
		nanosleep(&(struct timespec){ 0, 50 * 1000000L }, NULL);
	}
	ck_assert_msg((f = fopen(t->path, "r")) != NULL, "%s: %s", t->path,
	    strerror(errno));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	text = xmalloc((size_t)len + 1);
	ck_assert((long)fread(text, 1, (size_t)len, f) == len);
	text[len] = '\0';
	fclose(f);
	return text;
}

/*
 * The write-like calls on the server's side of the connection from our
 * port lport: strace -yy prints that socket as
 * "<TCP:[127.0.0.1:SERVER->127.0.0.1:lport]>". A call another thread
 * interrupted is split into "... <unfinished ...>" and
 * "PID <... name resumed>...) = N"; its result is on the second line.
 * strace pads a pid shorter than five digits ("6778  <... writev"), which
 * the parse allows: CI's fresh machines have such pids.
 */
static struct wcount
trace_count(const char *trace, int lport)
{
	struct wcount	 wc = { 0, 0, -1 };
	char		 marker[64];
	const char	*line;

	snprintf(marker, sizeof(marker), "->127.0.0.1:%d]>", lport);
	for (line = trace; line != NULL && *line != '\0';) {
		const char	*eol = strchr(line, '\n');
		const char	*call = line, *res;
		size_t		 len = eol ? (size_t)(eol - line) :
				    strlen(line);
		char		 l[8192], pid[16];
		long		 n = -1;

		line = eol ? eol + 1 : NULL;
		if (len >= sizeof(l))
			len = sizeof(l) - 1;
		memcpy(l, call, len);
		l[len] = '\0';
		/* "PID" then spaces (strace pads short pids: "6778  "). */
		if (strstr(l, marker) == NULL || strncmp(l + strcspn(l, " ") +
		    strspn(l + strcspn(l, " "), " "), "<...", 4) == 0)
			continue;
		wc.writes++;
		snprintf(pid, sizeof(pid), "%.*s", (int)strcspn(l, " "), l);
		if (strstr(l, "<unfinished ...>") != NULL) {
			/* The result is on this thread's "resumed" line. */
			const char	*p = line;
			size_t		 plen = strlen(pid);

			while (p != NULL && *p != '\0') {
				if (strncmp(p, pid, plen) == 0 &&
				    p[plen] == ' ' && strncmp(p + plen +
				    strspn(p + plen, " "), "<... ", 5) == 0) {
					size_t	 rl = strcspn(p, "\n");

					snprintf(l, sizeof(l), "%.*s", (int)rl,
					    p);
					break;
				}
				p = strchr(p, '\n');
				p = p ? p + 1 : NULL;
			}
		}
		if ((res = strrchr(l, '=')) != NULL)
			n = strtol(res + 1, NULL, 10);
		if (wc.first < 0)
			wc.first = n;
		wc.bytes += n;
	}
	return wc;
}

/* The security headers, exactly as resp.c has always sent them. */
static void
assert_security(const struct wresp *w, const char *what)
{
	static const char *const	 want[][2] = {
		{ "Content-Security-Policy", "default-src 'self'; script-src "
		    "'self'; style-src 'self'; img-src 'self' data:; font-src "
		    "'self'; connect-src 'self'; form-action 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'; object-src "
		    "'none'" },
		{ "X-Content-Type-Options", "nosniff" },
		{ "X-Frame-Options", "DENY" },
		{ "Referrer-Policy", "same-origin" },
		{ "Cross-Origin-Opener-Policy", "same-origin" },
		{ "Permissions-Policy", "camera=(), microphone=(), "
		    "geolocation=()" },
	};
	char	*v;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		expect_header(w, want[i][0], want[i][1], what);
	v = wresp_header(w, "X-Request-Id");
	ck_assert_msg(v != NULL && strlen(v) == 16 &&
	    strspn(v, "0123456789abcdef") == 16, "%s: X-Request-Id %s", what,
	    v ? v : "absent");
	free(v);
	v = wresp_header(w, "Date");
	ck_assert_msg(v != NULL && strlen(v) == 29 &&
	    strcmp(v + 25, " GMT") == 0 && v[3] == ',', "%s: Date %s", what,
	    v ? v : "absent");
	free(v);
}

/* --- one response, one write --------------------------------------------- */

/*
 * Every kind of small response, each on its own connection while strace
 * watches the server: one write-like call per response, carrying every
 * byte the client read. Then a streamed completion: its head alone in the
 * first call, the events after; and a body past 64 KiB: the head, then
 * the body, never copied.
 */
START_TEST(t_one_write_per_response)
{
	static const struct {
		const char	*what;
		long		 status;
		bool		 is_head;
	} cases[] = {
		{ "twilio webhook", 200, false },
		{ "twilio webhook, bad signature", 403, false },
		{ "healthz", 200, false },
		{ "panel page", 200, false },
		{ "static file", 200, false },
		{ "API 404", 404, false },
		{ "redirect", 303, false },
		{ "HEAD of a page", 200, true },
		{ "API 204", 204, false },
		{ "413 before the body", 413, false },
		{ "another twilio webhook", 200, false },
	};
	enum { N_CASES = sizeof(cases) / sizeof(cases[0]) };
	struct tracer	 t;
	struct wresp	 w[N_CASES + 1];
	struct wcount	 wc;
	struct wconn	 sc;
	int		 lport[N_CASES + 1];
	char		*req[N_CASES + 1], *trace, *bearer, *bad;
	char		 summary[2048] = "", *big_req, kpath[96];
	struct wresp	 big;
	int		 n = 0, n_bad = 0, big_port;
	int64_t		 spare = spare_agent("wire-delete-1"), kid;

	bearer = xasprintf("Authorization: Bearer %s\r\n", token);
	req[0] = twilio_request(NULL, NULL);
	bad = twilio_request(NULL, NULL);
	/* The same request with a signature one character off. */
	*(strstr(bad, "X-Twilio-Signature: ") + 20) ^= 1;
	req[1] = bad;
	req[2] = plain_request("GET", "/healthz", NULL);
	req[3] = plain_request("GET", "/login", NULL);
	req[4] = plain_request("GET", "/static/app.css", NULL);
	req[5] = plain_request("GET", "/api/v1/nothing-here", bearer);
	req[6] = plain_request("GET", "/", NULL);
	req[7] = plain_request("HEAD", "/login", NULL);
	{
		char	 path[64];

		snprintf(path, sizeof(path), "/api/v1/agents/%lld",
		    (long long)spare);
		req[8] = plain_request("DELETE", path, bearer);
	}
	req[9] = xasprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 10000000\r\n\r\n", HTWILIO_INBOUND, srv.port);
	req[10] = twilio_request(NULL, NULL);
	/* A knowledge entry of 150,000 characters: a 150 kB JSON answer. */
	kid = sqli("INSERT INTO knowledge_entries (org_id, agent_id, title, "
	    "body) VALUES (%lld, %lld, 'Big', repeat('lorem ipsum ', 12500))"
	    " RETURNING id", (long long)org_id, (long long)agent_id);
	snprintf(kpath, sizeof(kpath), "/api/v1/agents/%lld/knowledge/%lld",
	    (long long)agent_id, (long long)kid);
	big_req = plain_request("GET", kpath, bearer);

	hfake_reset(&llm);
	hfake_queue(&llm, "{\"content\":\"streamed in several pieces, one "
	    "event each\"}");
	tracer_start(&t);
	for (int i = 0; i < N_CASES; i++)
		exchange(req[i], cases[i].is_head, &w[i], &lport[i]);
	/* The stream: its head, then events until the server closes. */
	wc_open(&sc);
	lport[N_CASES] = sc.lport;
	{
		char	*body = xasprintf("{\"model\":\"agent:%s\","
		    "\"stream\":true,\"messages\":[{\"role\":\"user\","
		    "\"content\":\"hi\"}]}", AGENT_SLUG);
		char	*sreq = xasprintf("POST /v1/chat/completions "
		    "HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%sContent-Type: "
		    "application/json\r\nContent-Length: %zu\r\n\r\n%s",
		    srv.port, bearer, strlen(body), body);

		wc_send(&sc, sreq);
		free(sreq);
		free(body);
	}
	wc_read(&sc, false, &w[N_CASES]);
	wc_close(&sc);
	exchange(big_req, false, &big, &big_port);
	trace = tracer_stop(&t);

	/* Every case's count in the message, so one run shows them all. */
	for (int i = 0; i < N_CASES; i++) {
		ck_assert_msg(w[i].status == cases[i].status, "%s: want %ld, "
		    "got %ld:\n%s", cases[i].what, cases[i].status,
		    w[i].status, w[i].head);
		wc = trace_count(trace, lport[i]);
		n += snprintf(summary + n, sizeof(summary) - (size_t)n,
		    "\n  %s: %d calls, %ld of %zu bytes", cases[i].what,
		    wc.writes, wc.bytes, w[i].wire_len);
		if (wc.writes != 1 || wc.bytes != (long)w[i].wire_len)
			n_bad++;
	}
	ck_assert_msg(n_bad == 0, "want one write call per response, "
	    "carrying every byte the client read:%s", summary);
	ck_assert_msg(w[N_CASES].status == 200 && strstr(w[N_CASES].body,
	    "data: [DONE]") != NULL, "stream: %ld\n%s%s", w[N_CASES].status,
	    w[N_CASES].head, w[N_CASES].body);
	wc = trace_count(trace, lport[N_CASES]);
	ck_assert_msg(wc.first == (long)w[N_CASES].head_len, "stream: the "
	    "first call wrote %ld bytes, the head is %zu", wc.first,
	    w[N_CASES].head_len);
	ck_assert_msg(wc.writes >= 2 && wc.bytes == (long)w[N_CASES].wire_len,
	    "stream: %d calls wrote %ld bytes, the client read %zu",
	    wc.writes, wc.bytes, w[N_CASES].wire_len);
	/*
	 * Past 64 KiB the body is not copied: the head, then the body. The
	 * body is one call unless the kernel took it in parts (a socket
	 * buffer full for a moment on a loaded machine: CivetWeb's sockets
	 * are non-blocking and it sends the rest), which is not a copy.
	 */
	ck_assert_msg(big.status == 200 && big.body_len > 150000,
	    "knowledge entry: %ld, %zu bytes", big.status, big.body_len);
	wc = trace_count(trace, big_port);
	ck_assert_msg(wc.writes >= 2 && wc.first == (long)big.head_len &&
	    wc.bytes == (long)big.wire_len, "large body: %d calls, the first "
	    "%ld bytes (head %zu), %ld of %zu bytes", wc.writes, wc.first,
	    big.head_len, wc.bytes, big.wire_len);
	wresp_free(&big);
	free(big_req);

	for (int i = 0; i <= N_CASES; i++) {
		wresp_free(&w[i]);
		if (i < N_CASES)
			free(req[i]);
	}
	free(trace);
	free(bearer);
}
END_TEST

/* --- the header set ------------------------------------------------------ */

/*
 * Names in order and the security headers' values of each kind of
 * response, as CivetWeb's header functions sent them (the order handlers
 * and clients have always seen): the security headers, X-Request-Id,
 * Content-Type, Cache-Control, the handler's own, Content-Length, Date,
 * Connection.
 */
START_TEST(t_header_set)
{
	static const char	 sec[] = "Content-Security-Policy,"
	    "X-Content-Type-Options,X-Frame-Options,Referrer-Policy,"
	    "Cross-Origin-Opener-Policy,Permissions-Policy,X-Request-Id";
	struct {
		const char	*what;
		char		*req;
		bool		 is_head;
		const char	*names;		/* after sec */
		const char	*ctype;
		const char	*cache;
	} cases[] = {
		{ "twilio webhook", NULL, false,
		  "Content-Type,Cache-Control,Content-Length,Date,Connection",
		  "text/xml", "no-store" },
		{ "static file", NULL, false,
		  "Content-Type,Cache-Control,Content-Length,Date,Connection",
		  "text/css; charset=utf-8", "public, max-age=300" },
		{ "redirect", NULL, false, "Content-Type,Cache-Control,"
		  "Location,Content-Length,Date,Connection",
		  "text/plain; charset=utf-8", "no-store" },
		{ "API 404", NULL, false,
		  "Content-Type,Cache-Control,Content-Length,Date,Connection",
		  "application/json", "no-store" },
		{ "panel 405", NULL, false, "Content-Type,Cache-Control,"
		  "Set-Cookie,Content-Length,Date,Connection",
		  "text/html; charset=utf-8", "no-store" },
		{ "HEAD of a static file", NULL, true,
		  "Content-Type,Cache-Control,Content-Length,Date,Connection",
		  "text/css; charset=utf-8", "public, max-age=300" },
		{ "login page", NULL, false, "Content-Type,Cache-Control,"
		  "Set-Cookie,Content-Length,Date,Connection",
		  "text/html; charset=utf-8", "no-store" },
	};
	enum { N = sizeof(cases) / sizeof(cases[0]) };
	struct wresp	 w, get;
	int		 lport;

	cases[0].req = twilio_request(NULL, NULL);
	cases[1].req = plain_request("GET", "/static/app.css", NULL);
	cases[2].req = plain_request("GET", "/", NULL);
	cases[3].req = plain_request("GET", "/api/v1/nothing-here", NULL);
	cases[4].req = plain_request("DELETE", "/login", NULL);
	cases[5].req = plain_request("HEAD", "/static/app.css", NULL);
	cases[6].req = plain_request("GET", "/login", NULL);
	for (int i = 0; i < N; i++) {
		char	*names, *want, *v;

		exchange(cases[i].req, cases[i].is_head, &w, &lport);
		names = wresp_names(&w);
		want = xasprintf("%s,%s", sec, cases[i].names);
		ck_assert_msg(strcmp(names, want) == 0, "%s: headers\n  %s\n"
		    "want\n  %s", cases[i].what, names, want);
		assert_security(&w, cases[i].what);
		expect_header(&w, "Content-Type", cases[i].ctype,
		    cases[i].what);
		expect_header(&w, "Cache-Control", cases[i].cache,
		    cases[i].what);
		expect_header(&w, "Connection", "keep-alive", cases[i].what);
		ck_assert_msg(strncmp(w.head, "HTTP/1.1 ", 9) == 0, "%s: %.40s",
		    cases[i].what, w.head);
		if (cases[i].is_head) {
			/* HEAD: the GET's length, no body. */
			char	*get_req = plain_request("GET",
				    "/static/app.css", NULL);

			exchange(get_req, false, &get, &lport);
			v = wresp_header(&w, "Content-Length");
			ck_assert_msg(v != NULL && strtoul(v, NULL, 10) ==
			    get.body_len && get.body_len > 0, "HEAD says "
			    "Content-Length %s, GET sent %zu bytes", v,
			    get.body_len);
			free(v);
			wresp_free(&get);
			free(get_req);
		}
		free(names);
		free(want);
		wresp_free(&w);
		free(cases[i].req);
	}
}
END_TEST

/* --- framing ------------------------------------------------------------- */

/*
 * One connection carries responses of every kind in turn (a body, none
 * for HEAD and 204, errors), then a request with Connection: close is
 * answered with Connection: close and the server closes.
 */
START_TEST(t_keep_alive)
{
	struct wconn	 c;
	struct wresp	 w;
	char		*bearer, *req, path[64], *v;
	int64_t		 spare = spare_agent("wire-delete-2");
	const struct {
		const char	*method;
		const char	*path;
		long		 status;
	} seq[] = {
		{ "POST", HTWILIO_INBOUND, 200 },
		{ "HEAD", "/login", 200 },
		{ "GET", "/healthz", 200 },
		{ "DELETE", path, 204 },
		{ "GET", "/api/v1/nothing-here", 404 },
		{ "GET", "/static/app.css", 200 },
		{ "DELETE", path, 404 },
		{ "GET", "/", 303 },
	};

	snprintf(path, sizeof(path), "/api/v1/agents/%lld", (long long)spare);
	bearer = xasprintf("Authorization: Bearer %s\r\n", token);
	wc_open(&c);
	for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		bool	 is_head = strcmp(seq[i].method, "HEAD") == 0;

		req = strcmp(seq[i].method, "POST") == 0 ?
		    twilio_request(NULL, NULL) : plain_request(seq[i].method,
		    seq[i].path, bearer);
		wc_send(&c, req);
		wc_read(&c, is_head, &w);
		ck_assert_msg(w.status == seq[i].status, "%s %s: want %ld, "
		    "got %ld", seq[i].method, seq[i].path, seq[i].status,
		    w.status);
		expect_header(&w, "Connection", "keep-alive", seq[i].path);
		v = wresp_header(&w, "Content-Length");
		if (seq[i].status == 204) {
			/* RFC 9110 §8.6: never in a 204; and no body. */
			ck_assert_msg(v == NULL, "204 with Content-Length %s",
			    v);
		} else {
			ck_assert_msg(v != NULL, "%s %s: no Content-Length",
			    seq[i].method, seq[i].path);
			ck_assert_msg(is_head || strtoul(v, NULL, 10) ==
			    w.body_len, "Content-Length %s, body %zu", v,
			    w.body_len);
		}
		free(v);
		wresp_free(&w);
		free(req);
	}
	ck_assert_msg(!wc_closed_by_server(&c, 1000), "the server closed a "
	    "keep-alive connection");
	/* The client says close: the server says so and does. */
	req = twilio_request(NULL, "close");
	wc_send(&c, req);
	wc_read(&c, false, &w);
	ck_assert_int_eq(w.status, 200);
	expect_header(&w, "Connection", "close", "Connection: close asked");
	ck_assert_msg(wc_closed_by_server(&c, WIRE_TIMEOUT_MS), "Connection: "
	    "close, but the connection stays open");
	wresp_free(&w);
	free(req);
	wc_close(&c);
	free(bearer);
}
END_TEST

/* HTTP/1.0: the status line answers in 1.0; without keep-alive the
 * connection closes, with it a second request is served. */
START_TEST(t_http10)
{
	struct wconn	 c;
	struct wresp	 w;

	wc_open(&c);
	wc_send(&c, "GET /healthz HTTP/1.0\r\n\r\n");
	wc_read(&c, false, &w);
	ck_assert_msg(strncmp(w.head, "HTTP/1.0 200 OK\r\n", 17) == 0,
	    "status line: %.40s", w.head);
	expect_header(&w, "Connection", "close", "HTTP/1.0");
	ck_assert_msg(wc_closed_by_server(&c, WIRE_TIMEOUT_MS), "HTTP/1.0 "
	    "without keep-alive, but the connection stays open");
	wresp_free(&w);
	wc_close(&c);

	wc_open(&c);
	for (int i = 0; i < 2; i++) {
		wc_send(&c, "GET /static/app.css HTTP/1.0\r\n"
		    "Connection: Keep-Alive\r\n\r\n");
		wc_read(&c, false, &w);
		ck_assert_msg(strncmp(w.head, "HTTP/1.0 200 OK\r\n", 17) == 0,
		    "status line: %.40s", w.head);
		expect_header(&w, "Connection", "keep-alive",
		    "HTTP/1.0 keep-alive");
		wresp_free(&w);
	}
	ck_assert_msg(!wc_closed_by_server(&c, 1000), "HTTP/1.0 keep-alive "
	    "closed");
	wc_close(&c);
}
END_TEST

/*
 * A body announced past the route's limit is refused before it is sent
 * (413), with Connection: close, and the server closes: the unread body
 * must not be taken for the next request.
 */
START_TEST(t_too_large_closes)
{
	struct wconn	 c;
	struct wresp	 w;
	char		*req;

	req = xasprintf("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 10000000\r\n\r\nMessageSid=SMx", HTWILIO_INBOUND,
	    srv.port);
	wc_open(&c);
	wc_send(&c, req);
	wc_read(&c, false, &w);
	ck_assert_int_eq(w.status, 413);
	expect_header(&w, "Connection", "close", "413");
	assert_security(&w, "413");
	ck_assert_msg(wc_closed_by_server(&c, WIRE_TIMEOUT_MS), "413 with the "
	    "body unread, but the connection stays open");
	wresp_free(&w);
	wc_close(&c);
	free(req);
}
END_TEST

/*
 * A streamed completion: the head has no Content-Length and says
 * Connection: close; the events arrive and the close ends the body.
 */
START_TEST(t_stream_framing)
{
	struct wconn	 c;
	struct wresp	 w;
	char		*body, *req, *v;

	hfake_reset(&llm);
	hfake_queue(&llm, "{\"content\":\"a streamed answer\"}");
	body = xasprintf("{\"model\":\"agent:%s\",\"stream\":true,"
	    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
	    AGENT_SLUG);
	req = xasprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: "
	    "127.0.0.1:%d\r\nAuthorization: Bearer %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\n\r\n%s", srv.port,
	    token, strlen(body), body);
	wc_open(&c);
	wc_send(&c, req);
	wc_read(&c, false, &w);
	ck_assert_msg(w.status == 200, "stream: %ld %s", w.status, w.body);
	ck_assert_msg((v = wresp_header(&w, "Content-Length")) == NULL,
	    "a stream with Content-Length %s", v);
	expect_header(&w, "Connection", "close", "stream");
	v = wresp_header(&w, "Content-Type");
	ck_assert_msg(v != NULL && strncmp(v, "text/event-stream", 17) == 0,
	    "stream: Content-Type %s", v);
	free(v);
	assert_security(&w, "stream");
	ck_assert_msg(strncmp(w.body, "data: ", 6) == 0 && strstr(w.body,
	    "data: [DONE]\n\n") != NULL, "stream body:\n%s", w.body);
	wresp_free(&w);
	wc_close(&c);
	free(req);
	free(body);
}
END_TEST

/* --- group commit counters ---------------------------------------------- */

/* The value of the unlabelled metric name on GET /metrics. */
static int64_t
metric(const char *name)
{
	struct wresp	 w;
	char		*req = plain_request("GET", "/metrics", NULL), *p;
	int		 lport;
	size_t		 nlen = strlen(name);
	int64_t		 v = -1;

	exchange(req, false, &w, &lport);
	ck_assert_int_eq(w.status, 200);
	for (p = w.body; p != NULL; p = strchr(p, '\n'), p = p ? p + 1 : p)
		if (strncmp(p, name, nlen) == 0 && p[nlen] == ' ')
			v = strtoll(p + nlen + 1, NULL, 10);
	ck_assert_msg(v >= 0, "/metrics lacks %s:\n%.3000s", name, w.body);
	wresp_free(&w);
	free(req);
	return v;
}

/*
 * bench/run.sh reads group commit's batch size from two counters: three
 * webhooks answered 200 are three messages, committed in one to three
 * transactions, counted before the first 200 went out.
 */
START_TEST(t_ingest_counters)
{
	int64_t		 c0, m0, c1, m1;
	struct wresp	 w;
	char		*req;
	int		 lport;

	c0 = metric("parley_ingest_commits_total");
	m0 = metric("parley_ingest_messages_total");
	for (int i = 0; i < 3; i++) {
		req = twilio_request(NULL, NULL);
		exchange(req, false, &w, &lport);
		ck_assert_int_eq(w.status, 200);
		wresp_free(&w);
		free(req);
	}
	c1 = metric("parley_ingest_commits_total");
	m1 = metric("parley_ingest_messages_total");
	ck_assert_msg(m1 - m0 == 3, "3 webhooks, %lld messages counted",
	    (long long)(m1 - m0));
	ck_assert_msg(c1 - c0 >= 1 && c1 - c0 <= 3, "3 webhooks one by one, "
	    "%lld commits counted", (long long)(c1 - c0));
}
END_TEST

/* --- suite -------------------------------------------------------------- */

START_TEST(t_sigterm_exits_zero)
{
	hserver_stop_clean(&srv);
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite	*s = suite_create("http_wire");
	TCase	*tc = tcase_create("wire");

	tcase_set_timeout(tc, 180);
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_add_test(tc, t_one_write_per_response);
	tcase_add_test(tc, t_header_set);
	tcase_add_test(tc, t_keep_alive);
	tcase_add_test(tc, t_http10);
	tcase_add_test(tc, t_too_large_closes);
	tcase_add_test(tc, t_stream_framing);
	tcase_add_test(tc, t_ingest_counters);
	tcase_add_test(tc, t_sigterm_exits_zero);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	int	 failed = hrun_suites(wire_suite(), NULL);

	cleanup();
	return failed == 0 ? 0 : 1;
}
