/*
 * tests/harness/internal.h: what harness.c, fake.c and pg.c share (child
 * processes, ports, formatting); not for suites, which include harness.h.
 */
#ifndef PARLEY_TESTS_INTERNAL_H
#define PARLEY_TESTS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* snprintf that fails the test instead of truncating. */
void	 hfmt(char *dst, size_t len, const char *f, ...)
	    __attribute__((format(printf, 3, 4)));
/* Sleeps ms milliseconds (through signals). */
void	 hsleep_ms(int ms);
/* A loopback port the kernel considers free right now; fails the test
 * when there is none. Another process could take it before the child
 * binds it: the child then fails to start and says so, which is rare
 * enough on a test machine. */
int	 hfree_port(void);
/* A libcurl write callback that drops the body. */
size_t	 hdiscard(char *ptr, size_t size, size_t nmemb, void *ud);
/* A waitpid status as an exit status: the code, 128 + signal, or -1. */
int	 hexit_status(int ws);
/* Prints the last `bytes` of the log at path to stderr. */
void	 hlog_tail(const char *path, size_t bytes);
/* Remembers a child (server or fake) so that an exit handler SIGKILLs it
 * when a test ends the process early; forgotten when it is stopped. */
void	 hchild_add(int pid);
void	 hchild_remove(int pid);
/* SIGKILLs a remembered child, reaps and forgets it. */
void	 hchild_kill(int pid);
/* Registers a cluster whose directory the caller made (a standby copied
 * into it), so that the exit handler stops and deletes it like any other;
 * start it with hpg_restart. */
struct hpg;
void	 hpg_track(struct hpg *pg);
/* SIGTERM, then waits up to timeout_ms for the child to exit: true with
 * its exit status in *status, or false after SIGKILL. Forgets it. */
bool	 hchild_stop(int pid, int timeout_ms, int *status);

#endif
