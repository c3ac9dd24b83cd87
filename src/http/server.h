/*
 * server: CivetWeb set-up. Every path goes to router_dispatch(); CivetWeb
 * serves no files of its own. Thread count and timeouts follow DESIGN.md
 * ("Scaling out"): each keep-alive connection holds a thread, so keep-alive
 * and request timeouts are short.
 */
#ifndef PARLEY_HTTP_SERVER_H
#define PARLEY_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

struct app;

/* Starts listening; false with CivetWeb's reason in err. */
bool	 server_start(struct app *app, char *err, size_t errlen);
/* Stops accepting, finishes in-flight requests, joins the threads. */
void	 server_stop(struct app *app);

#endif
