/*
 * bench/loadgen: an HTTP/1.1 load generator for Parley's Twilio webhook.
 *
 * Every request is built and signed (hmac_twilio_sign, the server's own
 * code for X-Twilio-Signature) before the clock starts, each with its own
 * MessageSid, so the measured loop only writes bytes and parses answers.
 * N keep-alive connections run from one epoll thread (two cores are shared
 * with the server and PostgreSQL: the generator must cost little).
 *
 * Two modes:
 *   closed loop (--rate 0): each connection sends its next request as soon
 *       as the previous answer arrived: the maximum rate;
 *   open loop (--rate R): request k is due at t0 + k/R whatever the server
 *       does; it goes out on any idle connection, and its latency counts
 *       from when it was due, so time spent waiting for a connection is
 *       charged to the server (no coordinated omission).
 * A run stops at --duration seconds or --count requests, whichever comes
 * first; requests still in flight then are awaited (up to 10 s) and counted.
 *
 * --record FILE writes one line per answered request: "index chat
 * due_us done_us status" in CLOCK_MONOTONIC microseconds (system-wide, so
 * comparable with bench/benchfake's records). The last line of stdout is
 * "RESULT key=value ..." for bench/run.sh.
 *
 * --get PATH sends plain GETs instead (tooling check against /healthz).
 * --quickack acknowledges every segment at once (TCP_QUICKACK): a
 * diagnostic only, to show what delayed ACKs cost a server that writes a
 * response in several small segments; real providers do not do this.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "crypto/hmac.h"

#define RBUF_MAX	16384
#define DRAIN_US	(10 * 1000000LL)
#define MAX_CONNS	4096

enum cstate { C_IDLE, C_CONNECTING, C_WRITING, C_READING };

struct conn {
	int		 fd;
	enum cstate	 st;
	int64_t		 req;		/* index being sent, -1: none */
	size_t		 woff;
	char		 rbuf[RBUF_MAX];
	size_t		 rlen;
	bool		 wants_close;
};

struct reqbuf {
	char	*data;
	size_t	 len;
};

static struct {
	const char	*host;
	int		 port;
	const char	*public_url;
	const char	*path;
	const char	*token;
	const char	*to;
	const char	*get_path;
	const char	*record;
	const char	*sid_prefix;
	const char	*body_prefix;
	int		 conns;
	double		 duration_s;
	int64_t		 count;
	double		 rate;
	int		 senders;
	int		 sender_base;
	bool		 quickack;
} opt = {
	.host = "127.0.0.1", .path = "/webhooks/whatsapp/twilio",
	.to = "+15550000001", .body_prefix = "bench message", .conns = 16,
	.duration_s = 10, .count = 0, .rate = 0, .senders = 10000,
	.sender_base = 1000000,
};

static struct reqbuf	*reqs;
static int64_t		 n_reqs;
static int64_t		*due_us;	/* per request: when it was due/sent */
static int64_t		*done_us;	/* per request: answer complete, 0 */
static short		*status_of;
static struct conn	*cs;
static int		 ep;
static int64_t		 next_req;	/* next index to hand out */
static int64_t		 n_done, n_ok, n_non2xx, n_errors, n_reconnects;
static struct sockaddr_in sa;

static int64_t	 now_us(void);
static void	 die(const char *, ...) __attribute__((format(printf, 1, 2),
		    noreturn));
static void	 usage(void);
static void	 build_requests(void);
static void	 form_add(char **p, size_t *len, size_t *cap, const char *k,
		    const char *v);
static void	 conn_open(struct conn *);
static void	 conn_close(struct conn *);
static void	 conn_send(struct conn *, int64_t);
static void	 conn_write(struct conn *);
static void	 conn_read(struct conn *, int64_t);
static int	 parse_response(struct conn *, int *, size_t *, bool *);
static int	 cmp_i64(const void *, const void *);

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
die(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: loadgen --port P [--host 127.0.0.1] --public-url URL "
	    "--token T --to +E164\n"
	    "               [--connections N] [--duration S] [--count N] "
	    "[--rate R]\n"
	    "               [--senders K] [--sender-base B] [--sid-prefix HEX]"
	    " [--body-prefix S]\n"
	    "               [--record FILE] [--get PATH] [--quickack]\n");
	exit(2);
}

/* Appends name=value, form-encoded (RFC 1866: space as '+'). */
static void
form_add(char **p, size_t *len, size_t *cap, const char *k, const char *v)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const char		*parts[2] = { k, v };

	for (int i = 0; i < 2; i++) {
		const unsigned char	*s = (const unsigned char *)parts[i];

		if (*len + 3 * strlen(parts[i]) + 4 > *cap) {
			*cap = (*cap + 3 * strlen(parts[i]) + 4) * 2;
			if ((*p = realloc(*p, *cap)) == NULL)
				die("out of memory");
		}
		if (i == 0 && *len > 0)
			(*p)[(*len)++] = '&';
		for (; *s != '\0'; s++) {
			if ((*s >= 'a' && *s <= 'z') ||
			    (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-' ||
			    *s == '_' || *s == '.' || *s == '*')
				(*p)[(*len)++] = (char)*s;
			else if (*s == ' ')
				(*p)[(*len)++] = '+';
			else {
				(*p)[(*len)++] = '%';
				(*p)[(*len)++] = hex[*s >> 4];
				(*p)[(*len)++] = hex[*s & 15];
			}
		}
		if (i == 0)
			(*p)[(*len)++] = '=';
	}
}

/* One signed Twilio inbound webhook per index, as Twilio sends them. */
static void
build_requests(void)
{
	char	 url[512], sid[40], from[64], wa_id[32], body[160], name[40];
	char	 sig[29], to[48];
	char	 head[1024];
	char	*form = NULL;
	size_t	 flen, fcap = 0;
	int	 hlen;

	snprintf(url, sizeof(url), "%s%s", opt.public_url, opt.path);
	snprintf(to, sizeof(to), "whatsapp:%s", opt.to);
	for (int64_t i = 0; i < n_reqs; i++) {
		int			 chat = (int)(i % opt.senders);
		struct twilio_param	 p[14];
		int			 n = 0;

		if (opt.get_path != NULL) {
			hlen = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\n"
			    "Host: %s:%d\r\n\r\n", opt.get_path, opt.host,
			    opt.port);
			reqs[i].data = strdup(head);
			reqs[i].len = (size_t)hlen;
			continue;
		}
		/* SM + 32 hex digits, like Twilio's 34-character SIDs. */
		snprintf(sid, sizeof(sid), "SM%.16s%016" PRIx64,
		    opt.sid_prefix, (uint64_t)i);
		snprintf(wa_id, sizeof(wa_id), "1555%07d",
		    opt.sender_base + chat);
		snprintf(from, sizeof(from), "whatsapp:+%s", wa_id);
		snprintf(body, sizeof(body), "%s %" PRId64 " [bench-%d]",
		    opt.body_prefix, i, chat);
		snprintf(name, sizeof(name), "Bench %d", chat);
		p[n++] = (struct twilio_param){ "SmsMessageSid", sid };
		p[n++] = (struct twilio_param){ "NumMedia", "0" };
		p[n++] = (struct twilio_param){ "ProfileName", name };
		p[n++] = (struct twilio_param){ "MessageType", "text" };
		p[n++] = (struct twilio_param){ "SmsSid", sid };
		p[n++] = (struct twilio_param){ "WaId", wa_id };
		p[n++] = (struct twilio_param){ "SmsStatus", "received" };
		p[n++] = (struct twilio_param){ "Body", body };
		p[n++] = (struct twilio_param){ "To", to };
		p[n++] = (struct twilio_param){ "NumSegments", "1" };
		p[n++] = (struct twilio_param){ "MessageSid", sid };
		p[n++] = (struct twilio_param){ "AccountSid",
		    "ACbe0c00000000000000000000000000be" };
		p[n++] = (struct twilio_param){ "From", from };
		p[n++] = (struct twilio_param){ "ApiVersion", "2010-04-01" };
		hmac_twilio_sign(opt.token, url, p, (size_t)n, sig);
		flen = 0;
		for (int k = 0; k < n; k++)
			form_add(&form, &flen, &fcap, p[k].name, p[k].value);
		hlen = snprintf(head, sizeof(head),
		    "POST %s HTTP/1.1\r\n"
		    "Host: %s:%d\r\n"
		    "User-Agent: TwilioProxy/1.1\r\n"
		    "Accept: */*\r\n"
		    "Content-Type: application/x-www-form-urlencoded\r\n"
		    "X-Twilio-Signature: %s\r\n"
		    "Content-Length: %zu\r\n\r\n",
		    opt.path, opt.host, opt.port, sig, flen);
		if ((reqs[i].data = malloc((size_t)hlen + flen)) == NULL)
			die("out of memory");
		memcpy(reqs[i].data, head, (size_t)hlen);
		memcpy(reqs[i].data + hlen, form, flen);
		reqs[i].len = (size_t)hlen + flen;
	}
	free(form);
}

static void
conn_open(struct conn *c)
{
	struct epoll_event	 ev = { 0 };
	int			 one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->rlen = 0;
	c->wants_close = false;
	c->st = C_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 &&
	    errno != EINPROGRESS)
		die("connect %s:%d: %s", opt.host, opt.port, strerror(errno));
	ev.events = EPOLLOUT | EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
}

static void
conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->st = C_IDLE;
}

static void
conn_send(struct conn *c, int64_t i)
{
	c->req = i;
	c->woff = 0;
	if (c->fd < 0) {
		conn_open(c);
		return;		/* writes when connected */
	}
	c->st = C_WRITING;
	conn_write(c);
}

static void
conn_write(struct conn *c)
{
	struct reqbuf		*r = &reqs[c->req];
	struct epoll_event	 ev = { 0 };
	ssize_t			 w;

	while (c->woff < r->len) {
		w = send(c->fd, r->data + c->woff, r->len - c->woff,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			ev.events = EPOLLOUT | EPOLLIN;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (w <= 0) {
			/* A keep-alive connection the server closed: the
			 * request never left, so send it again on a new
			 * one. */
			conn_close(c);
			n_reconnects++;
			conn_send(c, c->req);
			return;
		}
		c->woff += (size_t)w;
	}
	c->st = C_READING;
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/*
 * 1 when a whole response is in rbuf (its length in *used), 0 when more
 * is needed, -1 on garbage. Content-Length and chunked bodies; a body
 * without either ends at EOF (handled by the caller).
 */
static int
parse_response(struct conn *c, int *status, size_t *used, bool *eof_body)
{
	char	*end, *line, *p;
	size_t	 hlen, clen = 0;
	bool	 has_clen = false, chunked = false;

	*eof_body = false;
	if (c->rlen < 12)
		return 0;
	c->rbuf[c->rlen < RBUF_MAX ? c->rlen : RBUF_MAX - 1] = '\0';
	if ((end = strstr(c->rbuf, "\r\n\r\n")) == NULL)
		return c->rlen >= RBUF_MAX - 1 ? -1 : 0;
	hlen = (size_t)(end - c->rbuf) + 4;
	if (strncmp(c->rbuf, "HTTP/1.", 7) != 0)
		return -1;
	*status = atoi(c->rbuf + 9);
	for (line = strstr(c->rbuf, "\r\n") + 2; line < end;
	    line = strstr(line, "\r\n") + 2) {
		if (strncasecmp(line, "Content-Length:", 15) == 0) {
			clen = strtoul(line + 15, NULL, 10);
			has_clen = true;
		} else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 &&
		    strstr(line, "chunked") != NULL)
			chunked = true;
		else if (strncasecmp(line, "Connection:", 11) == 0 &&
		    (p = line + 11) != NULL && strncasecmp(p + strspn(p, " "),
		    "close", 5) == 0)
			c->wants_close = true;
	}
	if (chunked) {
		size_t	 off = hlen, sz;

		for (;;) {
			char	*nl;

			if (off >= c->rlen)
				return 0;
			nl = strstr(c->rbuf + off, "\r\n");
			if (nl == NULL)
				return 0;
			sz = strtoul(c->rbuf + off, NULL, 16);
			off = (size_t)(nl - c->rbuf) + 2 + sz + 2;
			if (off > c->rlen)
				return 0;
			if (sz == 0) {
				*used = off;
				return 1;
			}
		}
	}
	if (!has_clen) {
		if ((*status >= 100 && *status < 200) || *status == 204 ||
		    *status == 304) {
			*used = hlen;
			return 1;
		}
		*eof_body = true;
		return 0;
	}
	if (hlen + clen > RBUF_MAX - 1) {
		/* Bigger than we keep: count it once it all arrived. */
		if (c->rlen < hlen + clen)
			return -2;
	}
	if (c->rlen < hlen + clen)
		return 0;
	*used = hlen + clen;
	return 1;
}

static void
finish(struct conn *c, int status, int64_t t)
{
	int64_t	 i = c->req;

	done_us[i] = t;
	status_of[i] = (short)status;
	n_done++;
	if (status >= 200 && status < 300)
		n_ok++;
	else
		n_non2xx++;
	c->req = -1;
	c->st = C_IDLE;
}

static void
conn_read(struct conn *c, int64_t t)
{
	ssize_t	 r;
	int	 status = 0, pr;
	size_t	 used = 0;
	bool	 eof_body;

	for (;;) {
		r = recv(c->fd, c->rbuf + c->rlen, RBUF_MAX - 1 - c->rlen, 0);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			pr = parse_response(c, &status, &used, &eof_body);
			if (r == 0 && eof_body) {
				finish(c, status, t);
				conn_close(c);
				return;
			}
			/* Closed before an answer: an error; the request
			 * is not retried (the server may have acted). */
			n_errors++;
			done_us[c->req] = t;
			status_of[c->req] = -1;
			n_done++;
			c->req = -1;
			conn_close(c);
			return;
		}
		c->rlen += (size_t)r;
		if (opt.quickack) {
			int	 one = 1;

			setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one,
			    sizeof(one));
		}
		if (c->rlen >= RBUF_MAX - 1)
			break;
	}
	pr = parse_response(c, &status, &used, &eof_body);
	if (pr == -2) {
		/* Large body: drop what we have, keep the header count. */
		c->rlen = 0;
		return;
	}
	if (pr < 0) {
		n_errors++;
		done_us[c->req] = t;
		status_of[c->req] = -1;
		n_done++;
		c->req = -1;
		conn_close(c);
		return;
	}
	if (pr == 0)
		return;
	memmove(c->rbuf, c->rbuf + used, c->rlen - used);
	c->rlen -= used;
	finish(c, status, t);
	if (c->wants_close)
		conn_close(c);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t	 x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const int64_t *v, int64_t n, double p)
{
	int64_t	 k;

	if (n == 0)
		return 0;
	k = (int64_t)(p / 100.0 * (double)n + 0.999999) - 1;
	if (k < 0)
		k = 0;
	if (k >= n)
		k = n - 1;
	return (double)v[k] / 1000.0;
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[256];
	struct rusage		 ru;
	int64_t			 t0, t, deadline, stop_at, first_due = 0;
	int64_t			*lat;
	int64_t			 n_lat = 0, sent_until;
	char			 sid_default[17];
	bool			 stopping = false;
	FILE			*rf;

	for (int i = 1; i < argc; i++) {
		const char	*a = argv[i];
		const char	*v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quickack") == 0) {
			opt.quickack = true;
			continue;
		}
		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--host") == 0)
			opt.host = v;
		else if (strcmp(a, "--port") == 0)
			opt.port = atoi(v);
		else if (strcmp(a, "--public-url") == 0)
			opt.public_url = v;
		else if (strcmp(a, "--path") == 0)
			opt.path = v;
		else if (strcmp(a, "--token") == 0)
			opt.token = v;
		else if (strcmp(a, "--to") == 0)
			opt.to = v;
		else if (strcmp(a, "--get") == 0)
			opt.get_path = v;
		else if (strcmp(a, "--record") == 0)
			opt.record = v;
		else if (strcmp(a, "--sid-prefix") == 0)
			opt.sid_prefix = v;
		else if (strcmp(a, "--body-prefix") == 0)
			opt.body_prefix = v;
		else if (strcmp(a, "--connections") == 0)
			opt.conns = atoi(v);
		else if (strcmp(a, "--duration") == 0)
			opt.duration_s = atof(v);
		else if (strcmp(a, "--count") == 0)
			opt.count = atoll(v);
		else if (strcmp(a, "--rate") == 0)
			opt.rate = atof(v);
		else if (strcmp(a, "--senders") == 0)
			opt.senders = atoi(v);
		else if (strcmp(a, "--sender-base") == 0)
			opt.sender_base = atoi(v);
		else
			usage();
	}
	if (opt.port <= 0 || opt.conns < 1 || opt.conns > MAX_CONNS ||
	    opt.senders < 1 || opt.duration_s <= 0)
		usage();
	if (opt.get_path == NULL && (opt.public_url == NULL ||
	    opt.token == NULL))
		usage();
	if (opt.sid_prefix == NULL) {
		snprintf(sid_default, sizeof(sid_default), "%016" PRIx64,
		    (uint64_t)time(NULL) << 20 ^ (uint64_t)getpid());
		opt.sid_prefix = sid_default;
	}
	/* Enough requests for the run: the count, or what the rate (or a
	 * generous 20k/s ceiling) can use in the duration. */
	n_reqs = opt.count;
	if (n_reqs <= 0)
		n_reqs = (int64_t)((opt.rate > 0 ? opt.rate * 1.05 : 20000.0) *
		    opt.duration_s) + opt.conns;
	signal(SIGPIPE, SIG_IGN);
	reqs = calloc((size_t)n_reqs, sizeof(*reqs));
	due_us = calloc((size_t)n_reqs, sizeof(*due_us));
	done_us = calloc((size_t)n_reqs, sizeof(*done_us));
	status_of = calloc((size_t)n_reqs, sizeof(*status_of));
	cs = calloc((size_t)opt.conns, sizeof(*cs));
	if (reqs == NULL || due_us == NULL || done_us == NULL ||
	    status_of == NULL || cs == NULL)
		die("out of memory");
	build_requests();

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)opt.port);
	if (inet_pton(AF_INET, opt.host, &sa.sin_addr) != 1)
		die("bad --host %s", opt.host);
	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1: %s", strerror(errno));
	/* Connect everything first so the run measures requests only. */
	for (int i = 0; i < opt.conns; i++) {
		cs[i].fd = -1;
		cs[i].req = -1;
	}

	t0 = now_us();
	deadline = t0 + (int64_t)(opt.duration_s * 1e6);
	stop_at = deadline;
	sent_until = 0;
	for (;;) {
		int	 n, timeout_ms = 100;
		bool	 busy = false;

		t = now_us();
		if (!stopping && (t >= deadline || next_req >= n_reqs)) {
			stopping = true;
			stop_at = t + DRAIN_US;
		}
		/* Hand out due requests to idle connections. */
		if (!stopping) {
			if (opt.rate > 0)
				sent_until = (int64_t)((double)(t - t0) *
				    opt.rate / 1e6) + 1;
			else
				sent_until = n_reqs;
			if (sent_until > n_reqs)
				sent_until = n_reqs;
			for (int i = 0; i < opt.conns &&
			    next_req < sent_until; i++) {
				struct conn	*c = &cs[i];

				if (c->req >= 0)
					continue;
				due_us[next_req] = opt.rate > 0 ? t0 +
				    (int64_t)((double)next_req * 1e6 /
				    opt.rate) : t;
				if (next_req == 0)
					first_due = due_us[0];
				conn_send(c, next_req++);
			}
			if (opt.rate > 0) {
				int64_t	 nd = t0 + (int64_t)((double)next_req *
					    1e6 / opt.rate);

				timeout_ms = nd > t ? (int)((nd - t + 999) /
				    1000) : 0;
				if (timeout_ms > 100)
					timeout_ms = 100;
			}
		}
		for (int i = 0; i < opt.conns; i++)
			busy |= cs[i].req >= 0;
		if (stopping && (!busy || t >= stop_at))
			break;
		n = epoll_wait(ep, evs, 256, timeout_ms);
		t = now_us();
		for (int i = 0; i < n; i++) {
			struct conn	*c = evs[i].data.ptr;

			if (c->fd < 0)
				continue;
			if (c->st == C_CONNECTING) {
				int	 err = 0;
				socklen_t len = sizeof(err);

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &len);
				if (err != 0)
					die("connect %s:%d: %s", opt.host,
					    opt.port, strerror(err));
				c->st = C_WRITING;
				conn_write(c);
			} else if (c->st == C_WRITING &&
			    (evs[i].events & EPOLLOUT))
				conn_write(c);
			else if (c->st == C_READING)
				conn_read(c, t);
			else if (c->st == C_IDLE && c->fd >= 0) {
				/* The server closed an idle keep-alive
				 * connection: reopen on next use. */
				char	 b[256];

				if (recv(c->fd, b, sizeof(b), 0) <= 0)
					conn_close(c);
			}
		}
	}

	/* Statistics over answered requests. */
	lat = calloc((size_t)(next_req + 1), sizeof(*lat));
	for (int64_t i = 0; i < next_req; i++)
		if (done_us[i] > 0 && status_of[i] >= 200 &&
		    status_of[i] < 300)
			lat[n_lat++] = done_us[i] - due_us[i];
	qsort(lat, (size_t)n_lat, sizeof(*lat), cmp_i64);
	{
		int64_t	 end = 0;
		double	 span;

		for (int64_t i = 0; i < next_req; i++)
			if (done_us[i] > end)
				end = done_us[i];
		span = (double)(end - (first_due ? first_due : t0)) / 1e6;
		if (span <= 0)
			span = 1e-6;
		getrusage(RUSAGE_SELF, &ru);
		printf("loadgen: %s %d conns, %" PRId64 " sent, %" PRId64
		    " ok, %" PRId64 " non-2xx, %" PRId64 " errors, %" PRId64
		    " unanswered, %.2f s\n", opt.rate > 0 ? "open-loop" :
		    "closed-loop", opt.conns, next_req, n_ok, n_non2xx,
		    n_errors, next_req - n_done, span);
		printf("loadgen: %.0f req/s (ok), latency p50 %.2f ms, p90 "
		    "%.2f ms, p99 %.2f ms, max %.2f ms\n",
		    (double)n_ok / span, pct(lat, n_lat, 50), pct(lat, n_lat,
		    90), pct(lat, n_lat, 99), pct(lat, n_lat, 100));
		printf("RESULT mode=%s conns=%d rate=%.0f sent=%" PRId64
		    " ok=%" PRId64 " non2xx=%" PRId64 " errors=%" PRId64
		    " unanswered=%" PRId64 " reconnects=%" PRId64
		    " seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f"
		    " p99_ms=%.3f max_ms=%.3f cpu_s=%.2f\n",
		    opt.rate > 0 ? "open" : "closed", opt.conns, opt.rate,
		    next_req, n_ok, n_non2xx, n_errors, next_req - n_done,
		    n_reconnects, span, (double)n_ok / span,
		    pct(lat, n_lat, 50), pct(lat, n_lat, 90),
		    pct(lat, n_lat, 99), pct(lat, n_lat, 100),
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
		    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	if (opt.record != NULL) {
		if ((rf = fopen(opt.record, "w")) == NULL)
			die("%s: %s", opt.record, strerror(errno));
		for (int64_t i = 0; i < next_req; i++)
			fprintf(rf, "%" PRId64 " %" PRId64 " %" PRId64 " %"
			    PRId64 " %d\n", i, i % opt.senders, due_us[i],
			    done_us[i], status_of[i]);
		fclose(rf);
	}
	return 0;
}
