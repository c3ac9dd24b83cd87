/*
 * server: CivetWeb start and stop (see server.h).
 */
#include "http/server.h"

#include <stdio.h>
#include <string.h>

#include <civetweb.h>

#include "util/context.h"
#include "util/log.h"
#include "http/router.h"

static int	log_message(const struct mg_connection *, const char *);

/* CivetWeb's own error lines join ours, tagged. */
static int
log_message(const struct mg_connection *conn, const char *message)
{
	(void)conn;
	log_warn("civetweb", "msg=\"%.*s\"", (int)strcspn(message, "\r\n\""),
	    message);
	return 1;
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
	snprintf(ports, sizeof(ports), "%s:%d", app->cfg.listen_host,
	    app->cfg.listen_port);
	snprintf(threads, sizeof(threads), "%d", app->cfg.http_threads);
	opts[n++] = "listening_ports";
	opts[n++] = ports;
	opts[n++] = "num_threads";
	opts[n++] = threads;
	opts[n++] = "request_timeout_ms";
	opts[n++] = "15000";
	opts[n++] = "keep_alive_timeout_ms";
	opts[n++] = "5000";
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
	app->mg = mg_start2(&init, &merr);
	if (app->mg == NULL) {
		if (err[0] == '\0')
			snprintf(err, errlen, "could not listen on %s", ports);
		return false;
	}
	mg_set_request_handler(app->mg, "/", router_dispatch, app);
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
