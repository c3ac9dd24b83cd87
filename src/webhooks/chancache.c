/*
 * chancache: channels and their webhook secrets for the webhook path (see
 * chancache.h). A fixed table of entries, replaced oldest-first; one mutex
 * (held for copies only, never across a database call).
 */
#include "webhooks/chancache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "util/context.h"
#include "util/log.h"
#include "http/req.h"
#include "model/channel.h"
#include "util/arena.h"
#include "util/str.h"
#include "util/time.h"
#include "util/xmalloc.h"

#define N_ENTRIES		128
#define MARK_INTERVAL_MS	60000
/* Shared keys kept per Twilio channel (the model allows 5; a race may
 * leave one more). */
#define N_KEYS			(CHANNEL_SHARED_KEYS_MAX + 3)

struct key {
	char	 key_id[132];
	char	*secret;		/* sodium_malloc'd */
};

struct entry {
	bool	 used;
	char	 kind[8];
	char	 key[72];
	int64_t	 expires_ms;
	int64_t	 last_mark_ms;
	int64_t	 id;
	int64_t	 org_id;
	int64_t	 default_agent_id;
	char	 name[128];
	char	 status[16];
	char	 environment[16];
	char	 phone_number[32];
	char	 phone_number_id[72];
	char	*secret;		/* sodium_malloc'd, or NULL */
	int	 n_keys;
	struct key keys[N_KEYS];	/* Twilio's shared keys */
};

static pthread_mutex_t	 mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry	 table[N_ENTRIES];

static struct entry	*find(const char *, const char *);
static void		 drop_secret(struct entry *);
static void		 wipe_free(void *);
static char		*secret_of(const char *, const struct channel_secrets *);
static char		*guarded_copy(const char *);
static void		 fill(struct req *, const struct entry *, struct channel *,
			    char **);
static void		 fill_keys(struct req *, const struct entry *,
			    struct chancache_key **, int *);
static enum db_status	 lookup(struct req *, const char *, const char *,
			    struct channel *, char **, struct chancache_key **,
			    int *);

static struct entry *
find(const char *kind, const char *key)
{
	for (int i = 0; i < N_ENTRIES; i++)
		if (table[i].used && strcmp(table[i].kind, kind) == 0 &&
		    strcmp(table[i].key, key) == 0)
			return &table[i];
	return NULL;
}

static void
drop_secret(struct entry *e)
{
	if (e->secret != NULL)
		sodium_free(e->secret);
	e->secret = NULL;
	for (int i = 0; i < e->n_keys; i++) {
		if (e->keys[i].secret != NULL)
			sodium_free(e->keys[i].secret);
		e->keys[i].secret = NULL;
	}
	e->n_keys = 0;
}

/* A copy in libsodium's guarded memory, or NULL (none, or no memory). */
static char *
guarded_copy(const char *s)
{
	size_t	 n;
	char	*p;

	if (s == NULL || *s == '\0')
		return NULL;
	n = strlen(s) + 1;
	if ((p = sodium_malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

static void
wipe_free(void *p)
{
	if (p != NULL) {
		sodium_memzero(p, strlen(p));
		free(p);
	}
}

/* The webhook secret of the kind, or NULL. */
static char *
secret_of(const char *kind, const struct channel_secrets *s)
{
	if (strcmp(kind, "twilio") == 0)
		return s->twilio_auth_token;
	if (strcmp(kind, "meta") == 0)
		return s->meta_app_secret;
	if (strcmp(kind, "kapso") == 0)
		return s->kapso_webhook_secret;
	return NULL;
}

/* Copies an entry out to the request (caller holds mu). */
static void
fill(struct req *r, const struct entry *e, struct channel *ch, char **secret)
{
	memset(ch, 0, sizeof(*ch));
	ch->id = e->id;
	ch->org_id = e->org_id;
	ch->default_agent_id = e->default_agent_id;
	ch->kind = arena_strdup(r->arena, e->kind);
	ch->name = arena_strdup(r->arena, e->name);
	ch->status = arena_strdup(r->arena, e->status);
	ch->environment = arena_strdup(r->arena, e->environment);
	ch->phone_number = arena_strdup(r->arena, e->phone_number);
	ch->phone_number_id = arena_strdup(r->arena, e->phone_number_id);
	ch->default_agent_name = arena_strdup(r->arena, "");
	ch->credential_hints = arena_strdup(r->arena, "{}");
	ch->created_at = arena_strdup(r->arena, "");
	*secret = NULL;
	if (e->secret != NULL) {
		*secret = xstrdup(e->secret);
		arena_defer(r->arena, wipe_free, *secret);
	}
}

/* The entry's shared keys copied out to the request (caller holds mu). */
static void
fill_keys(struct req *r, const struct entry *e, struct chancache_key **keys,
    int *n_keys)
{
	*keys = NULL;
	*n_keys = 0;
	if (e->n_keys == 0)
		return;
	*keys = arena_alloc(r->arena, sizeof(**keys) * (size_t)e->n_keys);
	for (int i = 0; i < e->n_keys; i++) {
		char	*sec = xstrdup(e->keys[i].secret);

		arena_defer(r->arena, wipe_free, sec);
		(*keys)[i].key_id = arena_strdup(r->arena, e->keys[i].key_id);
		(*keys)[i].secret = sec;
	}
	*n_keys = e->n_keys;
}

enum db_status
chancache_get(struct req *r, const char *kind, const char *key,
    struct channel *ch, char **secret)
{
	return lookup(r, kind, key, ch, secret, NULL, NULL);
}

enum db_status
chancache_get_twilio(struct req *r, const char *number, struct channel *ch,
    char **token, struct chancache_key **keys, int *n_keys)
{
	*keys = NULL;
	*n_keys = 0;
	return lookup(r, "twilio", number, ch, token, keys, n_keys);
}

/* chancache_get, and the shared keys when keys is not NULL. */
static enum db_status
lookup(struct req *r, const char *kind, const char *key, struct channel *ch,
    char **secret, struct chancache_key **keys, int *n_keys)
{
	struct channel_secrets	 sec;
	struct channel_key_secret *ks = NULL;
	struct channel		 fresh;
	struct entry		*e, *victim;
	const char		*s;
	int64_t			 now = time_mono_ms(), last_mark = 0;
	int			 n_ks = 0;
	enum db_status		 st;

	if (strlen(kind) >= sizeof(table[0].kind) ||
	    strlen(key) >= sizeof(table[0].key))
		return DB_NOT_FOUND;
	pthread_mutex_lock(&mu);
	e = find(kind, key);
	if (e != NULL && e->expires_ms > now) {
		fill(r, e, ch, secret);
		if (keys != NULL)
			fill_keys(r, e, keys, n_keys);
		pthread_mutex_unlock(&mu);
		return DB_OK;
	}
	if (e != NULL)
		last_mark = e->last_mark_ms;
	pthread_mutex_unlock(&mu);

	/* A miss: the two lookups, outside the lock. */
	if (req_db(r) == NULL)
		return DB_UNAVAILABLE;
	if (strcmp(kind, "twilio") == 0)
		st = channel_find_twilio_any_org(r->db, r->arena, key, &fresh);
	else
		st = channel_find_by_number_id_any_org(r->db, r->arena, kind,
		    key, &fresh);
	if (st != DB_OK)
		return st;
	memset(&sec, 0, sizeof(sec));
	st = channel_get_secrets(r->db, r->app->key, fresh.org_id, fresh.id,
	    &sec);
	if (st != DB_OK) {
		channel_secrets_free(&sec);
		return DB_UNAVAILABLE;
	}
	s = secret_of(kind, &sec);
	if (strcmp(kind, "twilio") == 0 &&
	    channel_key_secrets(r->db, r->app->key, fresh.org_id, fresh.id,
	    &ks, &n_ks) != DB_OK) {
		channel_secrets_free(&sec);
		return DB_UNAVAILABLE;
	}
	if (n_ks > N_KEYS)
		log_warn("webhook", "msg=\"more shared keys than kept\" "
		    "channel=%lld keys=%d", (long long)fresh.id, n_ks);

	pthread_mutex_lock(&mu);
	if ((victim = find(kind, key)) == NULL) {
		victim = &table[0];
		for (int i = 0; i < N_ENTRIES; i++) {
			if (!table[i].used) {
				victim = &table[i];
				break;
			}
			if (table[i].expires_ms < victim->expires_ms)
				victim = &table[i];
		}
	}
	drop_secret(victim);
	memset(victim, 0, sizeof(*victim));
	victim->used = true;
	str_copy(victim->kind, kind, sizeof(victim->kind));
	str_copy(victim->key, key, sizeof(victim->key));
	victim->expires_ms = now + CHANCACHE_TTL_MS;
	victim->last_mark_ms = last_mark;
	victim->id = fresh.id;
	victim->org_id = fresh.org_id;
	victim->default_agent_id = fresh.default_agent_id;
	str_copy(victim->name, fresh.name ? fresh.name : "",
	    sizeof(victim->name));
	str_copy(victim->status, fresh.status ? fresh.status : "",
	    sizeof(victim->status));
	str_copy(victim->environment, fresh.environment ?
	    fresh.environment : "", sizeof(victim->environment));
	str_copy(victim->phone_number, fresh.phone_number ?
	    fresh.phone_number : "", sizeof(victim->phone_number));
	str_copy(victim->phone_number_id, fresh.phone_number_id ?
	    fresh.phone_number_id : "", sizeof(victim->phone_number_id));
	victim->secret = guarded_copy(s);
	for (int i = 0; i < n_ks && victim->n_keys < N_KEYS; i++) {
		struct key	*k = &victim->keys[victim->n_keys];

		if ((k->secret = guarded_copy(ks[i].secret)) == NULL)
			continue;
		str_copy(k->key_id, ks[i].key_id, sizeof(k->key_id));
		victim->n_keys++;
	}
	fill(r, victim, ch, secret);
	if (keys != NULL)
		fill_keys(r, victim, keys, n_keys);
	pthread_mutex_unlock(&mu);
	channel_secrets_free(&sec);
	channel_key_secrets_free(ks, n_ks);
	return DB_OK;
}

void
chancache_verified(struct req *r, const struct channel *ch)
{
	struct entry	*e;
	int64_t		 now = time_mono_ms();
	bool		 due = true;

	pthread_mutex_lock(&mu);
	for (int i = 0; i < N_ENTRIES; i++) {
		e = &table[i];
		if (!e->used || e->id != ch->id)
			continue;
		if (e->last_mark_ms != 0 &&
		    now - e->last_mark_ms < MARK_INTERVAL_MS)
			due = false;
		else
			e->last_mark_ms = now;
	}
	pthread_mutex_unlock(&mu);
	if (!due)
		return;
	/* Health panel: best effort, the delivery goes on regardless. */
	if (req_db(r) == NULL ||
	    channel_mark_verified(r->db, ch->org_id, ch->id) != DB_OK)
		log_warn("webhook", "msg=\"last_verified_at not updated\" "
		    "channel=%lld", (long long)ch->id);
}

void
chancache_clear(void)
{
	pthread_mutex_lock(&mu);
	for (int i = 0; i < N_ENTRIES; i++) {
		drop_secret(&table[i]);
		table[i].used = false;
	}
	pthread_mutex_unlock(&mu);
}
