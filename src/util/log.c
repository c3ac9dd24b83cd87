/*
 * log: logfmt lines on stderr (see log.h).
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/str.h"
#include "util/time.h"

static _Atomic int		 min_level = LOG_INFO;
static _Thread_local char	 context_id[40];

static const char *const	 level_names[] = {
	"debug", "info", "warn", "error"
};

void
log_set_level(enum log_level lvl)
{
	atomic_store(&min_level, (int)lvl);
}

enum log_level
log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (str_eq(s, level_names[i]))
			return (enum log_level)i;
	return LOG_INFO;
}

void
log_set_context_id(const char *id)
{
	if (id == NULL)
		context_id[0] = '\0';
	else
		str_copy(context_id, id, sizeof(context_id));
}

void
log_msg(enum log_level lvl, const char *module, const char *fmt, ...)
{
	char	 line[2048], ts[32];
	int	 n, m;
	va_list	 ap;

	if ((int)lvl < atomic_load(&min_level))
		return;
	time_rfc3339(ts);
	n = snprintf(line, sizeof(line), "ts=%s level=%s module=%s ", ts,
	    level_names[lvl], module);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n = (size_t)(n + m) >= sizeof(line) - 48 ? (int)sizeof(line) - 48 :
	    n + m;
	if (context_id[0] != '\0')
		n += snprintf(line + n, sizeof(line) - (size_t)n, " id=%s",
		    context_id);
	line[n++] = '\n';
	/* One write per line so lines from threads never interleave. */
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}
