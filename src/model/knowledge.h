/*
 * knowledge: an agent's knowledge base (owns table `knowledge_entries`):
 * titled texts, pasted or uploaded (.txt/.md) or sent by the API, searched
 * with PostgreSQL full-text search (title weighted above body).
 */
#ifndef PARLEY_MODEL_KNOWLEDGE_H
#define PARLEY_MODEL_KNOWLEDGE_H

#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define KNOWLEDGE_BODY_MAX	200000	/* characters */

struct knowledge_entry {
	int64_t	 id;
	int64_t	 agent_id;
	char	*title;
	char	*body;
	char	*source;	/* "paste" | "upload" | "api" */
	char	*filename;	/* uploads, else NULL */
	char	*created_at;
	char	*updated_at;
};

struct knowledge_hit {
	int64_t	 id;
	char	*title;
	char	*passage;	/* the best-matching part of the body */
	double	 rank;		/* ts_rank_cd, higher is better */
};

enum db_status	 knowledge_list(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id,
		    struct knowledge_entry **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 knowledge_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t agent_id, int64_t id, struct knowledge_entry *out)
		    __attribute__((warn_unused_result));
/* DB_NOT_FOUND when the agent is not the org's; DB_INVALID + errs. */
enum db_status	 knowledge_create(struct db *db, int64_t org_id,
		    int64_t agent_id, const char *title, const char *body,
		    const char *source, const char *filename,
		    struct field_errors *errs, int64_t *id)
		    __attribute__((warn_unused_result));
enum db_status	 knowledge_update(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t id, const char *title,
		    const char *body, struct field_errors *errs)
		    __attribute__((warn_unused_result));
enum db_status	 knowledge_delete(struct db *db, int64_t org_id,
		    int64_t agent_id, int64_t id)
		    __attribute__((warn_unused_result));
/* The best `limit` passages for query (plain words, any punctuation). */
enum db_status	 knowledge_search(struct db *db, struct arena *a,
		    int64_t org_id, int64_t agent_id, const char *query,
		    int limit, struct knowledge_hit **out, int *n)
		    __attribute__((warn_unused_result));

#endif
