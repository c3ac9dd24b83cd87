/*
 * time: clocks (see time.h).
 */
#include "util/time.h"

#include <stdio.h>
#include <time.h>

int64_t
time_mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
time_mono_ms(void)
{
	return time_mono_us() / 1000;
}

int64_t
time_unix(void)
{
	return (int64_t)time(NULL);
}

void
time_rfc3339(char out[32])
{
	struct timespec	 ts;
	struct tm	 tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t		 n;

	n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000) % 1000);
}
