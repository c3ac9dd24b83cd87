/*
 * bench/benchfake: the two internet services bench/reply needs, on one
 * loopback port, with a timestamp on everything.
 *
 *   POST /v1/chat/completions   an OpenAI chat completion answered after
 *                               --llm-delay-ms (a negative delay: never),
 *                               content "Reply to bench-N" where N is the
 *                               "[bench-N]" tag of the last user message
 *   GET  /v1/models             fake-model
 *   POST /2010-04-01/Accounts/{sid}/Messages.json
 *                               Twilio's send API: 201 with a Message JSON
 *   POST /v2/Indicators/Typing.json   Twilio's typing indicator
 *   GET  /_bench/llm            "tag in_us out_us" per completion answered
 *   GET  /_bench/sends          "to_digits at_us tag" per message sent
 *   GET  /_bench/stats          "llm_in N llm_out N sends N typing N other N"
 *   POST /_bench/delay?ms=MS    set the LLM delay; held requests (delay < 0)
 *                               are answered at once
 *   POST /_bench/reset          clear the logs and counters
 *   GET  /healthz               "ok"
 *
 * Why not tests/fakes/fake_llm: it runs 32 CivetWeb threads and sleeps in
 * them, so 1,000 concurrent 2-second answers would take a minute at the
 * fake, not at Parley. This one is a single epoll thread with a FIFO of
 * timed answers (every delay is the same, so arrival order is due order)
 * and holds any number of connections. Times are CLOCK_MONOTONIC
 * microseconds, comparable with bench/loadgen's --record file.
 *
 * Usage: benchfake --port N [--llm-delay-ms MS]   (prints "ready")
 *        benchfake --free-port                    (prints a free port)
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
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
#include <sys/socket.h>

#define REQ_MAX		(1024 * 1024)
#define LOG_MAX		200000

struct conn {
	int		 fd;
	uint64_t	 gen;
	char		*buf;
	size_t		 len;
	size_t		 cap;
	char		*out;		/* pending response bytes */
	size_t		 out_len;
	size_t		 out_off;
	bool		 waiting;	/* a timed answer is queued */
	bool		 sent_continue;
};

struct timed {
	struct conn	*c;
	uint64_t	 gen;
	int64_t		 due;
	int		 tag;
	int64_t		 in_us;
};

struct llm_rec {
	int	 tag;
	int64_t	 in_us;
	int64_t	 out_us;
};

struct send_rec {
	char	 to[24];
	int64_t	 at_us;
	int	 tag;
};

static int		 ep;
static int		 llm_delay_ms = 2000;
static volatile sig_atomic_t stopping;
static struct timed	*held;		/* never-answered requests */
static size_t		 n_held, cap_held;
static struct timed	*fifo;
static size_t		 fifo_head, fifo_tail, fifo_cap;
static struct llm_rec	*llm_log;
static size_t		 n_llm_log;
static struct send_rec	*send_log;
static size_t		 n_send_log;
static long		 n_llm_in, n_typing, n_other;
static uint64_t		 next_gen = 1;
static uint64_t		 sid_seq;

static int64_t	 now_us(void);
static void	 on_signal(int);
static void	 conn_free(struct conn *);
static void	 respond(struct conn *, int, const char *, const char *,
		    size_t);
static void	 flush_out(struct conn *);
static void	 handle(struct conn *, const char *, const char *,
		    const char *, size_t);
static void	 on_readable(struct conn *);
static int	 tag_of(const char *, size_t);
static void	 fifo_push(struct timed);

static int64_t
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
conn_free(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->buf);
	free(c->out);
	free(c);
}

static void
flush_out(struct conn *c)
{
	struct epoll_event	 ev = { 0 };
	ssize_t			 w;

	while (c->out_off < c->out_len) {
		w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
		    MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			ev.events = EPOLLIN | EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			return;
		}
		if (w <= 0)
			return;		/* the peer left; EPOLLIN sees EOF */
		c->out_off += (size_t)w;
	}
	free(c->out);
	c->out = NULL;
	c->out_len = c->out_off = 0;
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
respond(struct conn *c, int status, const char *reason, const char *body,
    size_t len)
{
	char	 head[256];
	int	 hlen;

	hlen = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: keep-alive\r\n\r\n", status, reason, len);
	if ((c->out = realloc(c->out, c->out_len + (size_t)hlen + len)) ==
	    NULL)
		abort();
	memcpy(c->out + c->out_len, head, (size_t)hlen);
	memcpy(c->out + c->out_len + hlen, body, len);
	c->out_len += (size_t)hlen + len;
	flush_out(c);
}

/* N from the last "[bench-N]" in the request (the newest user message
 * comes last in an OpenAI messages array); -1 when there is none. */
static int
tag_of(const char *body, size_t len)
{
	const char	*p = body, *last = NULL;

	while ((p = memmem(p, len - (size_t)(p - body), "[bench-", 7)) !=
	    NULL) {
		last = p;
		p += 7;
	}
	return last != NULL ? atoi(last + 7) : -1;
}

static void
fifo_push(struct timed t)
{
	if (fifo_tail == fifo_cap) {
		if (fifo_head > 0) {
			memmove(fifo, fifo + fifo_head, (fifo_tail -
			    fifo_head) * sizeof(*fifo));
			fifo_tail -= fifo_head;
			fifo_head = 0;
		} else {
			fifo_cap = fifo_cap ? fifo_cap * 2 : 1024;
			if ((fifo = realloc(fifo, fifo_cap * sizeof(*fifo))) ==
			    NULL)
				abort();
		}
	}
	fifo[fifo_tail++] = t;
}

static void
answer_llm(struct conn *c, int tag, int64_t in_us)
{
	char	 body[1024];
	int	 n;

	n = snprintf(body, sizeof(body),
	    "{\"id\":\"chatcmpl-bench%d\",\"object\":\"chat.completion\","
	    "\"created\":%lld,\"model\":\"fake-model\",\"choices\":[{"
	    "\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":"
	    "\"Reply to bench-%d\"},\"finish_reason\":\"stop\"}],"
	    "\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4,"
	    "\"total_tokens\":16}}", tag, (long long)time(NULL), tag);
	c->waiting = false;
	if (n_llm_log < LOG_MAX)
		llm_log[n_llm_log++] = (struct llm_rec){ tag, in_us,
		    now_us() };
	respond(c, 200, "OK", body, (size_t)n);
}

/* "whatsapp:+15551000123" form-encoded → "15551000123". */
static void
form_to(const char *body, size_t len, char *out, size_t outlen)
{
	const char	*p = body, *end = body + len;
	size_t		 n = 0;

	out[0] = '\0';
	while (p < end) {
		if ((p == body || p[-1] == '&') && end - p > 3 &&
		    strncmp(p, "To=", 3) == 0)
			break;
		p++;
	}
	if (p >= end)
		return;
	for (p += 3; p < end && *p != '&' && n + 1 < outlen; p++)
		if (*p >= '0' && *p <= '9' && !(p > body + 1 && p[-1] == '%')
		    && !(p > body + 2 && p[-2] == '%'))
			out[n++] = *p;
	out[n] = '\0';
}

static void
handle(struct conn *c, const char *method, const char *path,
    const char *body, size_t blen)
{
	char	 out[1024];
	int	 n;
	int64_t	 t = now_us();

	if (strcmp(method, "POST") == 0 &&
	    strcmp(path, "/v1/chat/completions") == 0) {
		struct timed	 tm = { c, c->gen, 0, tag_of(body, blen), t };

		n_llm_in++;
		if (llm_delay_ms < 0) {
			/* Held until the delay changes (bench/ingest parks
			 * the only reply worker here). */
			c->waiting = true;
			if (n_held == cap_held) {
				cap_held = cap_held ? cap_held * 2 : 64;
				if ((held = realloc(held, cap_held *
				    sizeof(*held))) == NULL)
					abort();
			}
			held[n_held++] = tm;
			return;
		}
		tm.due = t + (int64_t)llm_delay_ms * 1000;
		c->waiting = true;
		fifo_push(tm);
		return;
	}
	if (strcmp(method, "GET") == 0 && strcmp(path, "/v1/models") == 0) {
		n = snprintf(out, sizeof(out), "{\"object\":\"list\",\"data\":"
		    "[{\"id\":\"fake-model\",\"object\":\"model\","
		    "\"owned_by\":\"bench\"}]}");
		respond(c, 200, "OK", out, (size_t)n);
		return;
	}
	if (strcmp(method, "POST") == 0 &&
	    strncmp(path, "/2010-04-01/Accounts/", 21) == 0 &&
	    strstr(path, "/Messages.json") != NULL) {
		struct send_rec	 r = { .at_us = t };
		char		 sid[40];

		form_to(body, blen, r.to, sizeof(r.to));
		r.tag = r.to[0] != '\0' && strlen(r.to) > 7 ?
		    atoi(r.to + 4) - 1000000 : -1;
		if (n_send_log < LOG_MAX)
			send_log[n_send_log++] = r;
		snprintf(sid, sizeof(sid), "SMbe%030" PRIu64, ++sid_seq);
		n = snprintf(out, sizeof(out), "{\"sid\":\"%s\",\"status\":"
		    "\"queued\",\"to\":\"whatsapp:+%s\",\"error_code\":null,"
		    "\"error_message\":null,\"num_segments\":\"1\","
		    "\"direction\":\"outbound-api\"}", sid, r.to);
		respond(c, 201, "Created", out, (size_t)n);
		return;
	}
	if (strcmp(method, "POST") == 0 &&
	    strcmp(path, "/v2/Indicators/Typing.json") == 0) {
		n_typing++;
		respond(c, 200, "OK", "{\"success\":true}", 16);
		return;
	}
	if (strcmp(method, "GET") == 0 && (strcmp(path, "/_bench/llm") == 0 ||
	    strcmp(path, "/_bench/sends") == 0)) {
		bool	 llm = path[8] == 'l';
		size_t	 cnt = llm ? n_llm_log : n_send_log;
		size_t	 cap = cnt * 64 + 1, len = 0;
		char	*b = malloc(cap);

		if (b == NULL)
			abort();
		for (size_t i = 0; i < cnt; i++)
			len += (size_t)(llm ? snprintf(b + len, cap - len,
			    "%d %" PRId64 " %" PRId64 "\n", llm_log[i].tag,
			    llm_log[i].in_us, llm_log[i].out_us) :
			    snprintf(b + len, cap - len, "%s %" PRId64 " %d\n",
			    send_log[i].to, send_log[i].at_us,
			    send_log[i].tag));
		respond(c, 200, "OK", b, len);
		free(b);
		return;
	}
	if (strcmp(method, "POST") == 0 &&
	    strncmp(path, "/_bench/delay?ms=", 17) == 0) {
		llm_delay_ms = atoi(path + 17);
		/* Held requests become due now (the answer is immediate). */
		for (size_t i = 0; i < n_held; i++) {
			held[i].due = t;
			fifo_push(held[i]);
		}
		n_held = 0;
		respond(c, 200, "OK", "{}", 2);
		return;
	}
	if (strcmp(method, "POST") == 0 && strcmp(path, "/_bench/reset") == 0) {
		n_llm_log = n_send_log = 0;
		n_llm_in = n_typing = n_other = 0;
		respond(c, 200, "OK", "{}", 2);
		return;
	}
	if (strcmp(method, "GET") == 0 && strcmp(path, "/_bench/stats") == 0) {
		n = snprintf(out, sizeof(out), "llm_in %ld llm_out %zu sends "
		    "%zu typing %ld other %ld\n", n_llm_in, n_llm_log,
		    n_send_log, n_typing, n_other);
		respond(c, 200, "OK", out, (size_t)n);
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		respond(c, 200, "OK", "ok", 2);
		return;
	}
	n_other++;
	fprintf(stderr, "benchfake: unknown %s %s\n", method, path);
	n = snprintf(out, sizeof(out), "{\"code\":20404,\"message\":\"Not "
	    "found\",\"status\":404}");
	respond(c, 404, "Not Found", out, (size_t)n);
}

/* Reads what is there; handles each complete request in turn. */
static void
on_readable(struct conn *c)
{
	ssize_t	 r;

	for (;;) {
		if (c->cap - c->len < 4096) {
			if (c->cap >= REQ_MAX) {
				conn_free(c);
				return;
			}
			c->cap = c->cap ? c->cap * 2 : 8192;
			if ((c->buf = realloc(c->buf, c->cap)) == NULL)
				abort();
		}
		r = recv(c->fd, c->buf + c->len, c->cap - c->len - 1, 0);
		if (r < 0 && errno == EAGAIN)
			break;
		if (r <= 0) {
			if (c->waiting) {
				/* A queued answer still points here: close
				 * now, free when it comes due. */
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->fd = -1;
				c->gen = 0;
				return;
			}
			conn_free(c);
			return;
		}
		c->len += (size_t)r;
	}
	while (!c->waiting && c->out == NULL) {
		char	*hend, *sp1, *sp2, *line;
		size_t	 hlen, clen = 0, total;
		char	 method[16], path[512];

		c->buf[c->len] = '\0';
		if ((hend = strstr(c->buf, "\r\n\r\n")) == NULL)
			return;
		hlen = (size_t)(hend - c->buf) + 4;
		sp1 = memchr(c->buf, ' ', hlen);
		sp2 = sp1 ? memchr(sp1 + 1, ' ', hlen - (size_t)(sp1 -
		    c->buf) - 1) : NULL;
		if (sp1 == NULL || sp2 == NULL || sp1 - c->buf >= 16 ||
		    sp2 - sp1 - 1 >= 512) {
			conn_free(c);
			return;
		}
		memcpy(method, c->buf, (size_t)(sp1 - c->buf));
		method[sp1 - c->buf] = '\0';
		memcpy(path, sp1 + 1, (size_t)(sp2 - sp1 - 1));
		path[sp2 - sp1 - 1] = '\0';
		for (line = strstr(c->buf, "\r\n") + 2; line < hend;
		    line = strstr(line, "\r\n") + 2) {
			if (strncasecmp(line, "Content-Length:", 15) == 0)
				clen = strtoul(line + 15, NULL, 10);
			else if (strncasecmp(line, "Expect:", 7) == 0 &&
			    !c->sent_continue && c->len < hlen + clen + 1) {
				c->sent_continue = true;
				send(c->fd, "HTTP/1.1 100 Continue\r\n\r\n",
				    25, MSG_NOSIGNAL);
			}
		}
		total = hlen + clen;
		if (total > REQ_MAX) {
			conn_free(c);
			return;
		}
		if (c->len < total) {
			if (c->cap < total + 1) {
				c->cap = total + 1;
				if ((c->buf = realloc(c->buf, c->cap)) == NULL)
					abort();
			}
			return;
		}
		c->sent_continue = false;
		{
			char	 save = c->buf[total];

			c->buf[total] = '\0';
			handle(c, method, path, c->buf + hlen, clen);
			c->buf[total] = save;
		}
		memmove(c->buf, c->buf + total, c->len - total);
		c->len -= total;
	}
}

static int
listen_on(int port)
{
	struct sockaddr_in	 sa;
	int			 fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, 4096) != 0) {
		fprintf(stderr, "benchfake: cannot listen on 127.0.0.1:%d: "
		    "%s\n", port, strerror(errno));
		exit(1);
	}
	return fd;
}

int
main(int argc, char **argv)
{
	struct epoll_event	 ev = { 0 }, evs[256];
	struct sigaction	 sa;
	int			 port = 0, lfd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--free-port") == 0) {
			struct sockaddr_in	 s;
			socklen_t		 len = sizeof(s);
			int			 fd = socket(AF_INET,
						    SOCK_STREAM, 0);

			memset(&s, 0, sizeof(s));
			s.sin_family = AF_INET;
			s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			if (bind(fd, (struct sockaddr *)&s, sizeof(s)) != 0 ||
			    getsockname(fd, (struct sockaddr *)&s, &len) != 0)
				return 1;
			printf("%d\n", ntohs(s.sin_port));
			close(fd);
			return 0;
		} else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--llm-delay-ms") == 0 &&
		    i + 1 < argc)
			llm_delay_ms = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: benchfake --port N "
			    "[--llm-delay-ms MS] | --free-port\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "benchfake: --port N is required\n");
		return 2;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	llm_log = calloc(LOG_MAX, sizeof(*llm_log));
	send_log = calloc(LOG_MAX, sizeof(*send_log));
	if (llm_log == NULL || send_log == NULL)
		abort();

	lfd = listen_on(port);
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("ready\n");
	fflush(stdout);

	while (!stopping) {
		int	 timeout = 200, n;
		int64_t	 t = now_us();

		/* Answer what is due (same delay for all: FIFO order). */
		while (fifo_head < fifo_tail && fifo[fifo_head].due <= t) {
			struct timed	*tm = &fifo[fifo_head++];

			if (tm->c->gen == tm->gen)
				answer_llm(tm->c, tm->tag, tm->in_us);
			else if (tm->c->fd < 0) {
				free(tm->c->buf);
				free(tm->c->out);
				free(tm->c);
			}
		}
		if (fifo_head < fifo_tail) {
			int64_t	 d = fifo[fifo_head].due - t;

			timeout = (int)((d + 999) / 1000);
			if (timeout > 200)
				timeout = 200;
		}
		n = epoll_wait(ep, evs, 256, timeout);
		for (int i = 0; i < n; i++) {
			struct conn	*c = evs[i].data.ptr;

			if (c != NULL && c->fd < 0)
				continue;
			if (c == NULL) {
				int	 fd, one = 1;

				while ((fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK)) >= 0) {
					struct epoll_event	 e = { 0 };

					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof(one));
					if ((c = calloc(1, sizeof(*c))) == NULL)
						abort();
					c->fd = fd;
					c->gen = next_gen++;
					e.events = EPOLLIN;
					e.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
				}
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				flush_out(c);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c);
		}
	}
	return 0;
}
