/*
 * arena: region allocator (see arena.h). Blocks are chained; a request that
 * needs a large piece gets a block of its own so small ones stay dense.
 */
#include "util/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xmalloc.h"

#define ARENA_BLOCK	(16 * 1024)
#define ARENA_ALIGN	(alignof(max_align_t))

struct block {
	struct block	*next;
	size_t		 used;
	size_t		 size;
	alignas(max_align_t) unsigned char data[];
};

struct deferred {
	struct deferred	*next;
	void		(*fn)(void *);
	void		*p;
};

struct arena {
	struct block	*blocks;
	struct deferred	*deferred;
};

static struct block	*block_new(size_t);

static struct block *
block_new(size_t size)
{
	struct block	*b = xmalloc(sizeof(*b) + size);

	b->next = NULL;
	b->used = 0;
	b->size = size;
	return b;
}

struct arena *
arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void
arena_free(struct arena *a)
{
	struct block	*b, *nb;
	struct deferred	*d, *nd;

	if (a == NULL)
		return;
	for (d = a->deferred; d != NULL; d = nd) {
		nd = d->next;
		d->fn(d->p);
	}
	for (b = a->blocks; b != NULL; b = nb) {
		nb = b->next;
		free(b);
	}
	free(a);
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct block	*b = a->blocks;
	size_t		 off;
	void		*p;

	if (n > SIZE_MAX - ARENA_ALIGN)
		abort();
	n = (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (n == 0)
		n = ARENA_ALIGN;
	if (n > ARENA_BLOCK / 4) {
		/* A large piece gets its own block, linked behind the current. */
		struct block *big = block_new(n);

		big->used = n;
		if (b != NULL) {
			big->next = b->next;
			b->next = big;
		} else
			a->blocks = big;
		memset(big->data, 0, n);
		return big->data;
	}
	if (b == NULL || b->size - b->used < n) {
		b = block_new(ARENA_BLOCK);
		b->next = a->blocks;
		a->blocks = b;
	}
	off = b->used;
	b->used += n;
	p = b->data + off;
	memset(p, 0, n);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t	 len = strnlen(s, n);
	char	*p = arena_alloc(a, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return s ? arena_strndup(a, s, strlen(s)) : NULL;
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		abort();
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void
arena_defer(struct arena *a, void (*fn)(void *), void *p)
{
	struct deferred	*d = arena_alloc(a, sizeof(*d));

	d->fn = fn;
	d->p = p;
	d->next = a->deferred;
	a->deferred = d;
}
