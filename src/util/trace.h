/*
 * trace: W3C Trace Context (https://www.w3.org/TR/trace-context/) for the
 * calling thread, so an outbound call can carry the trace of the request
 * or job that caused it. A handler or job calls trace_begin() with the
 * incoming `traceparent` header (or NULL to start a new trace) and
 * trace_end() when done; trace_child() makes the header for one outbound
 * call: the same trace id, a new parent (span) id, the same flags.
 *
 * Thread-local state, like log's context id: nothing is shared.
 */
#ifndef PARLEY_UTIL_TRACE_H
#define PARLEY_UTIL_TRACE_H

#include <stdbool.h>

#define TRACE_HEADER_LEN	55	/* "00-" 32 "-" 16 "-" 2 */

/* Adopts a valid incoming traceparent, else starts a new trace. */
void	 trace_begin(const char *traceparent);
/* Forgets the thread's trace. */
void	 trace_end(void);
/*
 * The traceparent for an outbound call into out[TRACE_HEADER_LEN + 1];
 * a new trace for this call alone when the thread has none.
 */
void	 trace_child(char out[TRACE_HEADER_LEN + 1]);
/* True when s is a well-formed version-00 traceparent with non-zero ids. */
bool	 trace_parse(const char *s, char trace_id[33], char flags[3]);

#endif
