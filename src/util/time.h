/*
 * time: clocks. Durations use the monotonic clock; timestamps shown to
 * people or stored come from PostgreSQL or the wall clock.
 */
#ifndef PARLEY_UTIL_TIME_H
#define PARLEY_UTIL_TIME_H

#include <stdint.h>

int64_t	 time_mono_us(void);	/* monotonic microseconds */
int64_t	 time_mono_ms(void);	/* monotonic milliseconds */
int64_t	 time_unix(void);	/* wall clock, seconds since the epoch */
/* Formats the wall clock as RFC 3339 UTC with milliseconds into out[32]. */
void	 time_rfc3339(char out[32]);

#endif
