/*
 * server: CivetWeb start and stop (see server.h).
 *
 * DESIGN (threads, timeouts, idle clients; issue 10). CivetWeb 1.15 gives
 * every open connection a worker thread of its own, from the moment it is
 * accepted until it closes, so a client that connects and says nothing
 * holds a thread, and so does one that sends a request a byte at a time.
 * Accepted sockets wait for a free worker in arrival order: once idle
 * clients outnumber the threads, every later request (a webhook, /healthz)
 * waits behind them. What limits them here:
 *
 * - TCP_DEFER_ACCEPT on the listening socket (Linux): the kernel hands a
 *   connection to CivetWeb only once its first bytes have arrived, so a
 *   socket that connects and sends nothing holds no thread for up to
 *   DEFER_ACCEPT_S. A real client sends its request at once and does not
 *   notice. (nginx's "listen … deferred" does the same.)
 * - request_timeout_ms: a request's headers must arrive whole within
 *   REQUEST_TIMEOUT_MS of the worker starting to read them (CivetWeb
 *   measures from the start, so a byte-a-second sender is cut off too),
 *   and every body read must make progress within it. The router adds a
 *   deadline for a whole body (router.c, BODY_DEADLINE_MS).
 * - keep_alive_timeout_ms: an idle keep-alive connection gives its thread
 *   back after KEEP_ALIVE_TIMEOUT_MS.
 * - PARLEY_HTTP_THREADS: each thread costs a stack (mostly untouched
 *   virtual memory), so size it above the connections expected at once.
 *
 * CivetWeb 1.15 has no per-address connection limit and no way to drop a
 * connection before a worker reads it. Those, and buffering slow clients,
 * belong to the reverse proxy in front (README "Behind a reverse proxy"),
 * which is event-driven and holds idle clients cheaply; its requests reach
 * Parley whole and fast, well inside these timeouts.
 *
 * Stack size: CivetWeb 1.15 fixes its threads' stack size when it is
 * compiled (USE_STACK_SIZE; Debian's package keeps the CMake default of
 * 102,400 bytes) and has no run-time option for it. 100 KiB is little for
 * a request thread that parses JSON, renders templates and runs libpq and
 * libcurl, under ASan too. So server_start() gives CivetWeb's threads
 * HTTP_STACK_SIZE by standing in for pthread_attr_setstacksize() while
 * mg_start2() creates them (and only then, on that thread: every other
 * caller gets exactly what it asked for). The first worker logs the stack
 * it really got ("http worker stack_kib=…"), which tests/integration
 * checks.
 *
 * Thread-safety: server_start/stop run on the main thread.
 */
#define _GNU_SOURCE	/* pthread_getattr_np, RTLD_NEXT */
#include "http/server.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <civetweb.h>

#include "util/context.h"
#include "util/log.h"
#include "http/router.h"
#include "util/str.h"

/*
 * 1 MiB per request thread: ten times CivetWeb's packaged size, an eighth
 * of glibc's default. A 64-deep JSON body (util/json.h, the deepest any
 * request may send) takes under 24 KiB of it to parse; the rest is margin
 * for what a handler calls. Untouched pages cost no memory, so even 4,096
 * threads reserve only address space.
 */
#define HTTP_STACK_SIZE		(1024 * 1024)
/* Whole request headers within this; also each body read's progress. */
#define REQUEST_TIMEOUT_MS	3000
/* An idle keep-alive connection is closed after this. */
#define KEEP_ALIVE_TIMEOUT_MS	2000
/* A connection that sends nothing is not accepted for up to this long. */
#define DEFER_ACCEPT_S		60

#define STR_(x)	#x
#define STR(x)	STR_(x)

typedef int	(*setstacksize_fn)(pthread_attr_t *, size_t);

static int	 log_message(const struct mg_connection *, const char *);
static void	*init_thread(const struct mg_context *, int);
static void	 defer_accept(struct mg_context *);
static setstacksize_fn real_setstacksize(void);

/* True on the thread inside mg_start2(), which creates CivetWeb's threads. */
static _Thread_local bool	 in_mg_start;
static _Atomic(setstacksize_fn)	 real_fn;
static atomic_bool		 worker_logged;

static setstacksize_fn
real_setstacksize(void)
{
	setstacksize_fn	 fn = atomic_load(&real_fn);

	if (fn == NULL) {
		/* POSIX lets a function pointer round-trip through void *. */
		*(void **)&fn = dlsym(RTLD_NEXT, "pthread_attr_setstacksize");
		atomic_store(&real_fn, fn);
	}
	return fn;
}

/*
 * Stands in for libc's while mg_start2() runs on this thread (see the top
 * of the file); everyone else's call passes through unchanged.
 */
int
pthread_attr_setstacksize(pthread_attr_t *attr, size_t size)
{
	setstacksize_fn	 fn = real_setstacksize();

	if (in_mg_start)
		size = HTTP_STACK_SIZE;
	return fn != NULL ? fn(attr, size) : 0;
}

/* CivetWeb's own error lines join ours, tagged. */
static int
log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	log_warn("civetweb", "msg=\"%.*s\"", (int)strcspn(message, "\r\n\""),
	    message);
	return 1;
}

/* The first request thread says what stack it really has. */
static void *
init_thread(const struct mg_context *ctx, int thread_type)
{
	pthread_attr_t	 attr;
	size_t		 size = 0;

	(void)ctx;
	if (thread_type != 1 || atomic_exchange(&worker_logged, true))
		return NULL;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		(void)pthread_attr_getstacksize(&attr, &size);
		pthread_attr_destroy(&attr);
	}
	log_info("http", "msg=\"http worker\" stack_kib=%zu", size / 1024);
	return NULL;
}

/*
 * Sets TCP_DEFER_ACCEPT on CivetWeb's listening sockets, found among our
 * open descriptors by their port (CivetWeb 1.15 does not hand them out).
 * Best effort: without it, idle clients only hold threads longer.
 */
static void
defer_accept(struct mg_context *ctx)
{
	struct mg_server_port	 ports[4];
	int			 n_ports, secs = DEFER_ACCEPT_S, n_set = 0;
	DIR			*d;
	struct dirent		*e;

	n_ports = mg_get_server_ports(ctx, 4, ports);
	if (n_ports <= 0 || (d = opendir("/proc/self/fd")) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		struct sockaddr_storage	 ss;
		socklen_t		 len = sizeof(ss);
		int64_t			 fd64;
		int			 fd, on = 0, port;
		socklen_t		 on_len = sizeof(on);

		if (!str_to_i64(e->d_name, &fd64) || fd64 > INT_MAX)
			continue;
		fd = (int)fd64;
		if (fd <= 2 || fd == dirfd(d) ||
		    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &on_len) != 0 ||
		    !on || getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
			continue;
		if (ss.ss_family == AF_INET)
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		else
			continue;
		for (int i = 0; i < n_ports; i++)
			if (ports[i].port == port &&
			    setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
			    sizeof(secs)) == 0)
				n_set++;
	}
	closedir(d);
	if (n_set == 0)
		log_warn("http", "msg=\"could not defer accept on the "
		    "listening socket\"");
}

bool
server_start(struct app *app, char *err, size_t errlen)
{
	struct mg_callbacks	 cb;
	struct mg_init_data	 init;
	struct mg_error_data	 merr;
	unsigned		 code = 0;
	char			 ports[96], threads[16];
	const char		*opts[32];
	int			 n = 0;

	memset(&cb, 0, sizeof(cb));
	cb.log_message = log_message;
	cb.init_thread = init_thread;
	snprintf(ports, sizeof(ports), "%s:%d", app->cfg.listen_host,
	    app->cfg.listen_port);
	snprintf(threads, sizeof(threads), "%d", app->cfg.http_threads);
	opts[n++] = "listening_ports";
	opts[n++] = ports;
	opts[n++] = "num_threads";
	opts[n++] = threads;
	opts[n++] = "request_timeout_ms";
	opts[n++] = STR(REQUEST_TIMEOUT_MS);
	opts[n++] = "keep_alive_timeout_ms";
	opts[n++] = STR(KEEP_ALIVE_TIMEOUT_MS);
	opts[n++] = "enable_keep_alive";
	opts[n++] = "yes";
	opts[n++] = "listen_backlog";
	opts[n++] = "1024";
	opts[n++] = "decode_url";
	opts[n++] = "yes";
	/*
	 * CivetWeb 1.15 writes a response in many small send()s (one per
	 * header); without TCP_NODELAY, Nagle holds them until the client's
	 * delayed ACK, adding ~40 ms to every response (bench/README.md).
	 */
	opts[n++] = "tcp_nodelay";
	opts[n++] = "1";
	opts[n] = NULL;

	memset(&init, 0, sizeof(init));
	init.callbacks = &cb;
	init.user_data = app;
	init.configuration_options = opts;
	memset(&merr, 0, sizeof(merr));
	merr.code = &code;
	merr.text = err;
	merr.text_buffer_size = errlen;
	err[0] = '\0';
	(void)real_setstacksize();
	in_mg_start = true;
	app->mg = mg_start2(&init, &merr);
	in_mg_start = false;
	if (app->mg == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "could not listen on %s", ports);
		return false;
	}
	defer_accept(app->mg);
	mg_set_request_handler(app->mg, "/", router_dispatch, app);
	log_info("http", "msg=\"listening\" threads=%d request_timeout_ms=%d "
	    "keep_alive_timeout_ms=%d defer_accept_s=%d",
	    app->cfg.http_threads, REQUEST_TIMEOUT_MS, KEEP_ALIVE_TIMEOUT_MS,
	    DEFER_ACCEPT_S);
	return true;
}

void
server_stop(struct app *app)
{
	if (app->mg != NULL) {
		mg_stop(app->mg);
		app->mg = NULL;
	}
}
