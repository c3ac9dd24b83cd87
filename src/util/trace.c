/*
 * trace: the thread's W3C trace context (see trace.h).
 */
#include "util/trace.h"

#include <stdio.h>
#include <string.h>

#include <sodium.h>

static _Thread_local char	 cur_trace[33];
static _Thread_local char	 cur_flags[3];

static bool	 hex_ok(const char *, size_t);
static void	 random_hex(char *, size_t);

static bool
hex_ok(const char *s, size_t n)
{
	bool	 nonzero = false;

	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
		nonzero |= s[i] != '0';
	}
	return nonzero;
}

/* n lower-case hex digits (n even), never all zero. */
static void
random_hex(char *out, size_t n)
{
	unsigned char	 b[16];

	do {
		randombytes_buf(b, n / 2);
		sodium_bin2hex(out, n + 1, b, n / 2);
	} while (!hex_ok(out, n));
}

bool
trace_parse(const char *s, char trace_id[33], char flags[3])
{
	/* version "00" only: a later version may add fields after flags,
	 * which we would not pass on faithfully. */
	if (s == NULL || strlen(s) != TRACE_HEADER_LEN ||
	    strncmp(s, "00-", 3) != 0 || s[35] != '-' || s[52] != '-' ||
	    !hex_ok(s + 3, 32) || !hex_ok(s + 36, 16))
		return false;
	if (!((s[53] >= '0' && s[53] <= '9') || (s[53] >= 'a' && s[53] <= 'f'))
	    || !((s[54] >= '0' && s[54] <= '9') ||
	    (s[54] >= 'a' && s[54] <= 'f')))
		return false;
	memcpy(trace_id, s + 3, 32);
	trace_id[32] = '\0';
	memcpy(flags, s + 53, 2);
	flags[2] = '\0';
	return true;
}

void
trace_begin(const char *traceparent)
{
	if (!trace_parse(traceparent, cur_trace, cur_flags)) {
		random_hex(cur_trace, 32);
		memcpy(cur_flags, "01", 3);
	}
}

void
trace_end(void)
{
	cur_trace[0] = '\0';
}

void
trace_child(char out[TRACE_HEADER_LEN + 1])
{
	char	 span[17];
	char	 fresh[33];

	random_hex(span, 16);
	if (cur_trace[0] != '\0') {
		snprintf(out, TRACE_HEADER_LEN + 1, "00-%s-%s-%s", cur_trace,
		    span, cur_flags);
		return;
	}
	/* No trace on this thread: a new one for this call alone. */
	random_hex(fresh, 32);
	snprintf(out, TRACE_HEADER_LEN + 1, "00-%s-%s-01", fresh, span);
}
