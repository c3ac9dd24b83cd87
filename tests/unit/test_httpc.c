/*
 * Unit tests for util/httpc's connections (its idle-handle cache and
 * httpc_req.reuse), and for which provider calls of channels/ may ride a
 * kept connection, against a loopback HTTP/1.1 server this file runs in
 * threads (struct srv). The server counts the TCP connections it accepts
 * and the requests it reads, and answers every request with where it
 * arrived: {"conn":n,"seq":k,"auth":0|1,"len":body bytes,…}, the k-th
 * request of the n-th connection (plus a message id in Meta's and
 * Twilio's shapes, so a provider send is accepted). So each test can say
 * which requests shared a connection, whether one was sent twice, and
 * whether a header of an earlier borrower came along.
 *
 * Every test starts with an empty cache (httpc_global_init in the
 * fixture) and ends by freeing it (httpc_global_cleanup), so ASan's leak
 * check covers the cache. Waits are bounded (WAIT_MS).
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "channels/channel.h"
#include "util/buf.h"
#include "util/httpc.h"

#include "unit/unit.h"

#define CONN_MAX	256	/* connections one server accepts */
#define HEAD_MAX	8192
#define WAIT_MS		5000
#define THREADS		16
#define PER_THREAD	25

/* A transfer that must be answered by the server, into *seen. */
#define DO_OK(req, seen) do {						\
	char	 why_[256];						\
									\
	ck_assert_msg(do_req((req), (seen), why_, sizeof(why_)) ==	\
	    HTTPC_OK, "%s", why_);					\
} while (0)

/* The loopback server. */
struct srv {
	int		 lfd;
	char		 base[48];	/* http://127.0.0.1:port */
	char		 url[64];	/* base + /x */
	pthread_t	 acceptor;
	atomic_bool	 stop;
	atomic_int	 conns;		/* accepted */
	atomic_int	 reqs;		/* read whole */
	atomic_int	 open;		/* accepted and not closed yet */
	int		 idle_close_ms;	/* > 0: close a connection idle so long */
	int		 drop_at;	/* > 0: read that request of each
					 * connection, close without answer */
	pthread_mutex_t	 mu;
	pthread_t	 th[CONN_MAX];
	int		 n_th;
};

struct conn {
	struct srv	*s;
	int		 fd;
	int		 id;
};

/* One answer, parsed. */
struct seen {
	int	 conn;
	int	 seq;
	int	 auth;
	int	 len;
};

/* An address policy's state (httpc_addr_fn's ctx). */
struct policy {
	atomic_int	 asked;
	bool		 allow;
};

static void	 srv_start(struct srv *s, int idle_close_ms, int drop_at);
static void	 srv_stop(struct srv *s);
static void	*srv_accept(void *);
static void	*srv_conn(void *);
static bool	 wait_open(struct srv *s, int want);
static void	 sleep_ms(int ms);
static int	 ld(atomic_int *v);
static enum httpc_err do_req(const struct httpc_req *req, struct seen *out,
		    char *error, size_t errlen);
static bool	 count_data(void *ctx, const char *p, size_t len);
static bool	 count_cancel(void *ctx);
static void	 req_init(struct httpc_req *req, const struct srv *s,
		    bool reuse, bool post);
static bool	 policy_ask(void *ctx, const struct sockaddr *sa);
static bool	 policy_ask_too(void *ctx, const struct sockaddr *sa);
static void	*hammer(void *);
static void	 setup(void);
static void	 teardown(void);

/* --- the server ---------------------------------------------------------- */

static void
srv_start(struct srv *s, int idle_close_ms, int drop_at)
{
	struct sockaddr_in	 sa;
	socklen_t		 len = sizeof(sa);

	memset(s, 0, sizeof(*s));
	s->idle_close_ms = idle_close_ms;
	s->drop_at = drop_at;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(s->lfd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 128), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len),
	    0);
	snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%d",
	    ntohs(sa.sin_port));
	snprintf(s->url, sizeof(s->url), "%s/x", s->base);
	ck_assert_int_eq(pthread_create(&s->acceptor, NULL, srv_accept, s),
	    0);
}

static void
srv_stop(struct srv *s)
{
	atomic_store(&s->stop, true);
	pthread_join(s->acceptor, NULL);
	close(s->lfd);
	for (int i = 0; i < s->n_th; i++)
		pthread_join(s->th[i], NULL);
	pthread_mutex_destroy(&s->mu);
}

static void *
srv_accept(void *arg)
{
	struct srv	*s = arg;
	struct pollfd	 p;
	struct conn	*c;
	int		 fd;

	while (!atomic_load(&s->stop)) {
		p.fd = s->lfd;
		p.events = POLLIN;
		if (poll(&p, 1, 20) <= 0)
			continue;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		pthread_mutex_lock(&s->mu);
		if (s->n_th == CONN_MAX) {
			pthread_mutex_unlock(&s->mu);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		c->s = s;
		c->fd = fd;
		c->id = atomic_fetch_add(&s->conns, 1) + 1;
		atomic_fetch_add(&s->open, 1);
		if (pthread_create(&s->th[s->n_th], NULL, srv_conn, c) != 0) {
			atomic_fetch_sub(&s->open, 1);
			close(fd);
			free(c);
		} else
			s->n_th++;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

/* Requests of one connection, in order, until EOF, stop or idle close. */
static void *
srv_conn(void *arg)
{
	struct conn	*c = arg;
	struct srv	*s = c->s;
	struct pollfd	 p;
	char		 buf[HEAD_MAX + 1], head[HEAD_MAX + 1], body[256];
	char		 out[384], *end, *cl;
	size_t		 len = 0, hlen, blen;
	ssize_t		 n;
	int		 seq = 0, idle = 0;

	for (;;) {
		buf[len] = '\0';
		if ((end = strstr(buf, "\r\n\r\n")) == NULL) {
			if (len == HEAD_MAX || atomic_load(&s->stop))
				break;
			p.fd = c->fd;
			p.events = POLLIN;
			if ((n = poll(&p, 1, 10)) < 0)
				continue;
			if (n == 0) {
				idle += 10;
				if (len == 0 && s->idle_close_ms > 0 &&
				    idle >= s->idle_close_ms)
					break;
				continue;
			}
			if ((n = read(c->fd, buf + len, HEAD_MAX - len)) <= 0)
				break;
			len += (size_t)n;
			idle = 0;
			continue;
		}
		hlen = (size_t)(end + 4 - buf);
		for (size_t i = 0; i < hlen; i++)
			head[i] = (char)(buf[i] >= 'A' && buf[i] <= 'Z' ?
			    buf[i] - 'A' + 'a' : buf[i]);
		head[hlen] = '\0';
		blen = (cl = strstr(head, "\r\ncontent-length:")) != NULL ?
		    strtoul(cl + 17, NULL, 10) : 0;
		if (hlen + blen > HEAD_MAX)
			break;
		while (len < hlen + blen) {
			if ((n = read(c->fd, buf + len, HEAD_MAX - len)) <= 0)
				goto out;
			len += (size_t)n;
		}
		seq++;
		atomic_fetch_add(&s->reqs, 1);
		if (s->drop_at > 0 && seq == s->drop_at)
			break;
		snprintf(body, sizeof(body), "{\"conn\":%d,\"seq\":%d,"
		    "\"auth\":%d,\"len\":%zu,\"sid\":\"SM%d_%d\","
		    "\"messages\":[{\"id\":\"wamid.%d_%d\"}]}", c->id, seq,
		    strstr(head, "\r\nauthorization:") != NULL, blen, c->id,
		    seq, c->id, seq);
		n = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\n"
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		    "\r\n%s",
		    strlen(body), body);
		if (write(c->fd, out, (size_t)n) != n)
			break;
		memmove(buf, buf + hlen + blen, len - hlen - blen);
		len -= hlen + blen;
		idle = 0;
	}
out:
	close(c->fd);
	atomic_fetch_sub(&s->open, 1);
	free(c);
	return NULL;
}

/* Until the server has want connections open; false after WAIT_MS. */
static bool
wait_open(struct srv *s, int want)
{
	for (int waited = 0; waited < WAIT_MS; waited += 5) {
		if (ld(&s->open) == want)
			return true;
		sleep_ms(5);
	}
	return false;
}

/* A counter's value (short, for the messages of failed assertions). */
static int
ld(atomic_int *v)
{
	return atomic_load(v);
}

static void
sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- the client side ----------------------------------------------------- */

static void
req_init(struct httpc_req *req, const struct srv *s, bool reuse, bool post)
{
	memset(req, 0, sizeof(*req));
	req->url = s->url;
	req->timeout_ms = 10000;
	req->reuse = reuse;
	if (post) {
		req->body = "hello";
		req->body_len = 5;
	}
}

/*
 * One transfer, its answer parsed into *out. HTTPC_FAILED also when a
 * response came but not the server's 200 line. Asserts nothing, so
 * threads may call it; error[] gets the sentence.
 */
static enum httpc_err
do_req(const struct httpc_req *req, struct seen *out, char *error,
    size_t errlen)
{
	struct httpc_resp	 resp;
	enum httpc_err		 e;

	memset(out, 0, sizeof(*out));
	httpc_resp_init(&resp);
	e = httpc_do(req, &resp);
	snprintf(error, errlen, "%s", resp.error);
	if (e == HTTPC_OK && (resp.status != 200 || sscanf(buf_str(&resp.body),
	    "{\"conn\":%d,\"seq\":%d,\"auth\":%d,\"len\":%d", &out->conn,
	    &out->seq,
	    &out->auth, &out->len) != 4)) {
		snprintf(error, errlen, "HTTP %ld: \"%s\"", resp.status,
		    buf_str(&resp.body));
		e = HTTPC_FAILED;
	}
	httpc_resp_cleanup(&resp);
	return e;
}

/* Two httpc_addr_fn with one shape: distinct functions, distinct keys. */
static bool
policy_ask(void *ctx, const struct sockaddr *sa)
{
	struct policy	*p = ctx;

	(void)sa;
	atomic_fetch_add(&p->asked, 1);
	return p->allow;
}

static bool
policy_ask_too(void *ctx, const struct sockaddr *sa)
{
	return policy_ask(ctx, sa);
}

static void
setup(void)
{
	ck_assert(httpc_global_init());
}

static void
teardown(void)
{
	httpc_global_cleanup();
}

/* --- tests --------------------------------------------------------------- */

/* (a) Two reusing requests from one thread: one connection. */
START_TEST(reuse_one_connection)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct seen		 a, b;

	srv_start(&s, 0, 0);
	req_init(&req, &s, true, true);
	DO_OK(&req, &a);
	req_init(&req, &s, true, false);
	DO_OK(&req, &b);
	ck_assert_int_eq(a.conn, b.conn);
	ck_assert_int_eq(a.seq, 1);
	ck_assert_int_eq(b.seq, 2);
	ck_assert_int_eq(a.len, 5);
	ck_assert_int_eq(ld(&s.conns), 1);
	ck_assert_int_eq(ld(&s.reqs), 2);
	/* Kept open by the cache, closed when it is freed. */
	ck_assert_int_eq(ld(&s.open), 1);
	httpc_global_cleanup();
	ck_assert(wait_open(&s, 0));
	ck_assert(httpc_global_init());
	srv_stop(&s);
}
END_TEST

struct hammer_arg {
	struct srv	*s;
	int		 failed;
	char		 error[256];
};

static void *
hammer(void *arg)
{
	struct hammer_arg	*h = arg;
	struct httpc_req	 req;
	struct seen		 seen;

	for (int i = 0; i < PER_THREAD; i++) {
		req_init(&req, h->s, true, i % 2 == 0);
		if (do_req(&req, &seen, h->error, sizeof(h->error)) !=
		    HTTPC_OK)
			h->failed++;
	}
	return NULL;
}

/* (b) THREADS threads × PER_THREAD requests at once: all answered, and
 * no more connections than handles in use at a time. */
START_TEST(reuse_many_threads)
{
	struct srv		 s;
	struct hammer_arg	 args[THREADS];
	pthread_t		 th[THREADS];
	int			 i;

	srv_start(&s, 0, 0);
	for (i = 0; i < THREADS; i++) {
		memset(&args[i], 0, sizeof(args[i]));
		args[i].s = &s;
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer,
		    &args[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < THREADS; i++)
		ck_assert_msg(args[i].failed == 0, "thread %d: %d failed: %s",
		    i, args[i].failed, args[i].error);
	ck_assert_int_eq(ld(&s.reqs), THREADS * PER_THREAD);
	ck_assert_int_ge(ld(&s.conns), 1);
	ck_assert_msg(ld(&s.conns) <= THREADS, "%d connections for "
	    "%d requests", ld(&s.conns), THREADS * PER_THREAD);
	srv_stop(&s);
}
END_TEST

/*
 * (c) A send (no reuse) has a connection of its own every time, closed
 * after it, even when the cache holds an open one to the same server;
 * the reusing request after it still finds that one.
 */
START_TEST(send_fresh_connection)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct seen		 a, b, c, k1, k2;

	srv_start(&s, 0, 0);
	req_init(&req, &s, false, true);
	DO_OK(&req, &a);
	ck_assert(wait_open(&s, 0));
	DO_OK(&req, &b);
	ck_assert(wait_open(&s, 0));
	DO_OK(&req, &c);
	ck_assert(wait_open(&s, 0));
	ck_assert_int_eq(ld(&s.conns), 3);
	ck_assert(a.conn != b.conn && b.conn != c.conn && a.conn != c.conn);
	ck_assert(a.seq == 1 && b.seq == 1 && c.seq == 1);

	/* A kept connection in the cache, then a send, then a reuse. */
	req_init(&req, &s, true, false);
	DO_OK(&req, &k1);
	req_init(&req, &s, false, true);
	DO_OK(&req, &a);
	ck_assert(a.conn != k1.conn);
	ck_assert_int_eq(a.seq, 1);
	ck_assert(wait_open(&s, 1));
	req_init(&req, &s, true, false);
	DO_OK(&req, &k2);
	ck_assert_int_eq(k2.conn, k1.conn);
	ck_assert_int_eq(k2.seq, 2);
	ck_assert_int_eq(ld(&s.conns), 5);
	srv_stop(&s);
}
END_TEST

/*
 * A send that gets no answer is not sent again (exactly once): the
 * server reads it, closes, and the caller hears of a failure.
 */
START_TEST(send_never_repeated)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct seen		 a;
	char			 why[256];

	srv_start(&s, 0, 1);
	req_init(&req, &s, false, true);
	ck_assert_int_ne(do_req(&req, &a, why, sizeof(why)), HTTPC_OK);
	ck_assert_msg(why[0] != '\0', "no sentence");
	ck_assert_int_eq(ld(&s.reqs), 1);
	ck_assert_int_eq(ld(&s.conns), 1);
	srv_stop(&s);
}
END_TEST

/*
 * (d) The server closes keep-alive connections idle for 100 ms: the
 * reusing request after that still succeeds, on a new connection.
 */
START_TEST(reuse_after_server_idle_close)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct seen		 a, b;

	srv_start(&s, 100, 0);
	req_init(&req, &s, true, true);
	DO_OK(&req, &a);
	ck_assert(wait_open(&s, 0));
	DO_OK(&req, &b);
	ck_assert(b.conn != a.conn);
	ck_assert_int_eq(b.seq, 1);
	ck_assert_int_eq(ld(&s.reqs), 2);
	srv_stop(&s);
}
END_TEST

/*
 * (d) The race the idle check cannot see: the server takes the second
 * request of a kept connection and closes without a word. A reusing
 * request still succeeds, because libcurl sends it again on a fresh
 * connection: the server read it twice. That repeat is why only requests
 * whose repeat is harmless may reuse.
 */
START_TEST(reuse_dead_connection_retried)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct seen		 a, b;

	srv_start(&s, 0, 2);
	req_init(&req, &s, true, true);
	DO_OK(&req, &a);
	DO_OK(&req, &b);
	ck_assert(b.conn != a.conn);
	ck_assert_int_eq(b.seq, 1);
	ck_assert_int_eq(b.len, 5);
	ck_assert_int_eq(ld(&s.conns), 2);
	ck_assert_int_eq(ld(&s.reqs), 3);

	/* The same server, sends only: each its own connection, so none
	 * is ever the dropped second one, and each is read once. */
	atomic_store(&s.reqs, 0);
	req_init(&req, &s, false, true);
	DO_OK(&req, &a);
	DO_OK(&req, &b);
	ck_assert(a.seq == 1 && b.seq == 1 && a.conn != b.conn);
	ck_assert_int_eq(ld(&s.reqs), 2);
	srv_stop(&s);
}
END_TEST

/*
 * (e) A connection opened under one address policy never carries a
 * request of another: not unguarded → guarded, not across functions, not
 * across contexts of one function. A guard that refuses loopback is asked
 * and refuses, although a connection to the same server is open.
 */
START_TEST(policies_never_share)
{
	struct srv		 s;
	struct httpc_req	 req;
	struct policy		 pa, pb, deny;
	struct seen		 n1, a1, a2, b1, f1, n2;
	char			 why[256];

	memset(&pa, 0, sizeof(pa));
	memset(&pb, 0, sizeof(pb));
	memset(&deny, 0, sizeof(deny));
	pa.allow = pb.allow = true;
	srv_start(&s, 0, 0);

	req_init(&req, &s, true, false);
	DO_OK(&req, &n1);

	req.allow_addr = policy_ask;
	req.addr_ctx = &pa;
	DO_OK(&req, &a1);
	ck_assert(a1.conn != n1.conn);
	ck_assert_int_eq(ld(&pa.asked), 1);
	DO_OK(&req, &a2);
	ck_assert_int_eq(a2.conn, a1.conn);
	ck_assert_int_eq(ld(&pa.asked), 1);

	req.addr_ctx = &pb;
	DO_OK(&req, &b1);
	ck_assert(b1.conn != a1.conn && b1.conn != n1.conn);
	ck_assert_int_eq(ld(&pb.asked), 1);

	req.allow_addr = policy_ask_too;
	req.addr_ctx = &pa;
	DO_OK(&req, &f1);
	ck_assert(f1.conn != a1.conn && f1.conn != b1.conn &&
	    f1.conn != n1.conn);
	ck_assert_int_eq(ld(&pa.asked), 2);

	req.allow_addr = policy_ask;
	req.addr_ctx = &deny;
	ck_assert_int_eq(do_req(&req, &n2, why, sizeof(why)), HTTPC_CONNECT);
	ck_assert_msg(strstr(why, "refused to connect to 127.0.0.1") != NULL,
	    "%s", why);
	ck_assert_int_ge(ld(&deny.asked), 1);
	ck_assert_int_eq(ld(&s.conns), 4);

	/* The unguarded one is still there for unguarded requests. */
	req.allow_addr = NULL;
	req.addr_ctx = NULL;
	DO_OK(&req, &n2);
	ck_assert_int_eq(n2.conn, n1.conn);
	ck_assert_int_eq(ld(&s.conns), 4);
	srv_stop(&s);
}
END_TEST

static atomic_int	 data_calls;
static atomic_int	 cancel_calls;

static bool
count_data(void *ctx, const char *p, size_t len)
{
	(void)ctx;
	(void)p;
	(void)len;
	atomic_fetch_add(&data_calls, 1);
	return true;
}

static bool
count_cancel(void *ctx)
{
	(void)ctx;
	atomic_fetch_add(&cancel_calls, 1);
	return false;
}

/*
 * Nothing of one borrower reaches the next on the same handle and
 * connection: not its Authorization header, not its body reader, not its
 * cancel check.
 */
START_TEST(nothing_leaks_between_borrowers)
{
	static const char *const hdrs[] = { "Authorization: Bearer sk-secret",
				    NULL };
	struct srv		 s;
	struct httpc_req	 req;
	struct httpc_resp	 resp;
	struct seen		 b;
	int			 n_data, n_cancel;

	srv_start(&s, 0, 0);
	req_init(&req, &s, true, true);
	req.headers = hdrs;
	req.on_data = count_data;
	req.cancelled = count_cancel;
	httpc_resp_init(&resp);
	ck_assert_int_eq(httpc_do(&req, &resp), HTTPC_OK);
	ck_assert_int_eq(resp.body.len, 0);	/* it went to on_data */
	httpc_resp_cleanup(&resp);
	n_data = ld(&data_calls);
	n_cancel = ld(&cancel_calls);
	ck_assert_int_ge(n_data, 1);

	req_init(&req, &s, true, false);
	DO_OK(&req, &b);
	ck_assert_int_eq(b.conn, 1);
	ck_assert_int_eq(b.seq, 2);
	ck_assert_int_eq(b.auth, 0);
	ck_assert_int_eq(b.len, 0);
	ck_assert_int_eq(ld(&data_calls), n_data);
	ck_assert_int_eq(ld(&cancel_calls), n_cancel);
	srv_stop(&s);
}
END_TEST

/* --- channels: which provider calls ride a kept connection ------------- */

/* SEND_OK, or fail the test with o's sentence (o: the call's outcome). */
#define SENT(call) ck_assert_msg((call) == SEND_OK, "%s: %s", #call,	\
	o.error_text)

/* One channel of each provider kind that sends (api_base set per test). */
static const struct channel_creds providers[] = {
	{ .kind = "meta", .phone_number_id = "1234567890",
	    .access_token = "EAAtoken" },
	{ .kind = "kapso", .phone_number_id = "1234567890",
	    .api_key = "kapso-key" },
	{ .kind = "twilio", .account_sid = "AC00000000000000000000000000000000",
	    .auth_token = "twilio-token", .phone_number = "+15550000000" },
};

/*
 * For each provider: its typing indicators and read receipts share one
 * kept connection; each message send (text, reaction) opens its own and
 * closes it, leaving the kept one alone.
 */
START_TEST(indicators_kept_sends_fresh)
{
	struct channel_creds		 c = providers[_i];
	const struct channel_ops	*ops = channel_ops_for(c.kind);
	struct send_outcome		 o;
	struct srv			 s;
	int				 sends = 2;

	ck_assert_ptr_nonnull(ops);
	srv_start(&s, 0, 0);
	c.api_base = s.base;
	c.api_base2 = s.base;
	SENT(ops->send_typing(&c, "wamid.IN1", &o));
	SENT(ops->send_typing(&c, "wamid.IN2", &o));
	if (ops->send_read != NULL)
		SENT(ops->send_read(&c, "wamid.IN2", &o));
	ck_assert_int_eq(ld(&s.conns), 1);
	ck_assert_int_eq(ld(&s.reqs), ops->send_read != NULL ? 3 : 2);

	SENT(ops->send_text(&c, "+15550001111", false, "one", &o));
	SENT(ops->send_text(&c, "+15550001111", false, "two", &o));
	if (ops->send_reaction != NULL) {
		SENT(ops->send_reaction(&c, "+15550001111", "wamid.IN1",
		    "\xf0\x9f\x91\x8d", &o));
		sends++;
	}
	ck_assert_int_eq(ld(&s.conns), 1 + sends);
	/* The sends' connections are closed; the kept one is open. */
	ck_assert(wait_open(&s, 1));
	SENT(ops->send_typing(&c, "wamid.IN3", &o));
	ck_assert_int_eq(ld(&s.conns), 1 + sends);
	srv_stop(&s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("httpc");
	TCase	*tc = tcase_create("connections");
	TCase	*tch = tcase_create("channels");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reuse_one_connection);
	tcase_add_test(tc, reuse_many_threads);
	tcase_add_test(tc, send_fresh_connection);
	tcase_add_test(tc, send_never_repeated);
	tcase_add_test(tc, reuse_after_server_idle_close);
	tcase_add_test(tc, reuse_dead_connection_retried);
	tcase_add_test(tc, policies_never_share);
	tcase_add_test(tc, nothing_leaks_between_borrowers);
	suite_add_tcase(s, tc);
	tcase_set_timeout(tch, 60);
	tcase_add_checked_fixture(tch, setup, teardown);
	tcase_add_loop_test(tch, indicators_kept_sends_fresh, 0,
	    (int)(sizeof(providers) / sizeof(providers[0])));
	suite_add_tcase(s, tch);
	return unit_run(s);
}
