/*
 * static: files under static/ (see static.h). Paths are checked segment by
 * segment: no "..", no hidden files, no empty segments, a known extension.
 */
#include "http/static.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "http/req.h"
#include "http/resp.h"
#include "util/arena.h"
#include "util/context.h"
#include "util/str.h"

#define STATIC_MAX	(4 * 1024 * 1024)

static const char	*mime_for(const char *);

static const char *
mime_for(const char *path)
{
	static const struct {
		const char	*ext;
		const char	*mime;
	} types[] = {
		{ ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".woff2", "font/woff2" },
		{ ".txt", "text/plain; charset=utf-8" },
	};
	const char	*dot = strrchr(path, '.');

	if (dot == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].mime;
	return NULL;
}

int
static_serve(struct req *r)
{
	const char	*rel = req_param(r, "path");
	const char	*mime;
	char		*full, *data;
	struct stat	 sb;
	int		 fd = -1, st;
	ssize_t		 n;
	size_t		 got = 0;

	if (rel == NULL || (mime = mime_for(rel)) == NULL)
		return resp_not_found(r);
	for (const char *seg = rel; *seg; ) {
		size_t	 len = strcspn(seg, "/");

		if (len == 0 || seg[0] == '.')
			return resp_not_found(r);
		seg += len;
		if (*seg == '/')
			seg++;
	}
	if (strchr(rel, '\\') != NULL)
		return resp_not_found(r);
	full = arena_printf(r->arena, "%s/%s", r->app->static_dir, rel);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > STATIC_MAX) {
		st = resp_not_found(r);
		goto out;
	}
	data = arena_alloc(r->arena, (size_t)sb.st_size + 1);
	while (got < (size_t)sb.st_size &&
	    (n = read(fd, data + got, (size_t)sb.st_size - got)) > 0)
		got += (size_t)n;
	resp_header(r, "Cache-Control", "public, max-age=300");
	st = resp_send(r, 200, mime, data, got);
out:
	if (fd >= 0)
		close(fd);
	return st;
}
