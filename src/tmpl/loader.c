/*
 * tmpl/loader.c: templates/ → the names tmpl_set_add knows.
 *
 * Walks a directory tree and adds every *.mustache file under its path
 * relative to the root, without the extension ("auth/login"). Hidden files
 * and directories (leading '.') are skipped, entries are visited in sorted
 * order so the first error is the same on every machine, and the walk stops
 * at TMPL_DIR_DEPTH_MAX levels (a symlink loop cannot spin).
 *
 * Errors name the file ("templates/auth/login.mustache:12: unclosed tag"),
 * so an editor can jump to it. On failure the set may hold the templates
 * added before the bad one: callers load into a fresh set and swap it in
 * only on success, which is also how a development-mode reload stays safe
 * for threads that are still rendering from the old set.
 *
 * Thread-safety: none of its own; it mutates the set it is given.
 */
#include "tmpl/tmpl.h"

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/xmalloc.h"

#define TMPL_DIR_DEPTH_MAX	16
#define TMPL_FILE_MAX		(4 * 1024 * 1024)
#define TMPL_EXT		".mustache"

static bool	 load_tree(struct tmpl_set *, const char *, const char *, int,
		    char *, size_t);
static bool	 load_file(struct tmpl_set *, const char *, const char *,
		    char *, size_t);
static char	*join(const char *, const char *);
static bool	 has_ext(const char *);
static int	 name_cmp(const void *, const void *);
static void	 set_err(char *, size_t, const char *, int);

bool
tmpl_set_load_dir(struct tmpl_set *set, const char *dir, char *err,
    size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	return load_tree(set, dir, "", 0, err, errlen);
}

/* Loads the directory root/rel ("" for the root itself). */
static bool
load_tree(struct tmpl_set *set, const char *root, const char *rel, int depth,
    char *err, size_t errlen)
{
	DIR		*d = NULL;
	struct dirent	*de;
	struct stat	 st;
	char		*path, *child_rel = NULL, *child_path = NULL;
	char		*stem = NULL;
	char		**names = NULL;
	size_t		 n = 0, cap = 0, i, len;
	bool		 ok = false;

	path = rel[0] ? join(root, rel) : xstrdup(root);
	if (depth > TMPL_DIR_DEPTH_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: directories nested more "
			    "than %d deep (a symlink loop?)", path,
			    TMPL_DIR_DEPTH_MAX);
		goto out;
	}
	if ((d = opendir(path)) == NULL) {
		set_err(err, errlen, path, errno);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), name_cmp);

	for (i = 0; i < n; i++) {
		free(child_rel);
		free(child_path);
		free(stem);
		stem = NULL;
		child_rel = rel[0] ? join(rel, names[i]) : xstrdup(names[i]);
		child_path = join(root, child_rel);
		if (stat(child_path, &st) == -1) {
			set_err(err, errlen, child_path, errno);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			if (!load_tree(set, root, child_rel, depth + 1, err,
			    errlen))
				goto out;
		} else if (S_ISREG(st.st_mode) && has_ext(names[i])) {
			len = strlen(child_rel) - strlen(TMPL_EXT);
			stem = xstrndup(child_rel, len);
			if (!load_file(set, child_path, stem, err, errlen))
				goto out;
		}
	}
	ok = true;
out:
	if (d != NULL)
		closedir(d);
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(stem);
	free(child_rel);
	free(child_path);
	free(path);
	return ok;
}

/* Reads one file and adds it as `name`; errors are "PATH:LINE: sentence". */
static bool
load_file(struct tmpl_set *set, const char *path, const char *name,
    char *err, size_t errlen)
{
	struct stat	 st;
	char		*src = NULL, *msg = NULL;
	size_t		 len = 0, nlen;
	ssize_t		 got;
	int		 fd, saved;
	bool		 ok = false;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		set_err(err, errlen, path, errno);
		goto out;
	}
	if (fstat(fd, &st) == -1) {
		set_err(err, errlen, path, errno);
		goto out;
	}
	if (st.st_size > TMPL_FILE_MAX) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: larger than %d bytes",
			    path, TMPL_FILE_MAX);
		goto out;
	}
	src = xmalloc((size_t)st.st_size + 1);
	/* Read to EOF, never past the cap, in case the file grows. */
	while (len <= (size_t)st.st_size) {
		got = read(fd, src + len, (size_t)st.st_size + 1 - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1) {
			saved = errno;
			set_err(err, errlen, path, saved);
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > (size_t)st.st_size) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: changed while being read",
			    path);
		goto out;
	}
	if (!tmpl_set_add(set, name, src, len, err, errlen)) {
		/* "NAME:LINE: …" → "PATH:LINE: …", which editors follow. */
		nlen = strlen(name);
		if (err != NULL && errlen > 0 &&
		    strncmp(err, name, nlen) == 0 && err[nlen] == ':') {
			msg = xstrdup(err + nlen);
			snprintf(err, errlen, "%s%s", path, msg);
		}
		goto out;
	}
	ok = true;
out:
	if (fd != -1)
		close(fd);
	free(msg);
	free(src);
	return ok;
}

static char *
join(const char *a, const char *b)
{
	size_t	 n = strlen(a);

	if (n > 0 && a[n - 1] == '/')
		return xasprintf("%s%s", a, b);
	return xasprintf("%s/%s", a, b);
}

static bool
has_ext(const char *name)
{
	size_t	 n = strlen(name), e = strlen(TMPL_EXT);

	return n > e && strcmp(name + n - e, TMPL_EXT) == 0;
}

static int
name_cmp(const void *a, const void *b)
{
	const char *const	*x = a;
	const char *const	*y = b;

	return strcmp(*x, *y);
}

/* "PATH: reason" from an errno value; strerror_r keeps it thread-safe. */
static void
set_err(char *err, size_t errlen, const char *path, int e)
{
	char	 reason[128];

	if (err == NULL || errlen == 0)
		return;
	if (strerror_r(e, reason, sizeof(reason)) != 0)
		snprintf(reason, sizeof(reason), "error %d", e);
	snprintf(err, errlen, "%s: %s", path, reason);
}
