/*
 * orgmodel: the models an organisation offers its agents and API clients
 * (owns table `org_models`): a provider plus the upstream model name, a
 * display name and capabilities. Exactly one may be the default. A model
 * with no provider is built in and answered in-process: "parley/faq".
 */
#ifndef PARLEY_MODEL_ORGMODEL_H
#define PARLEY_MODEL_ORGMODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "model/fielderr.h"

struct arena;

#define ORGMODEL_BUILTIN_FAQ	"parley/faq"

struct org_model {
	int64_t	 id;
	int64_t	 provider_id;	/* 0: built in */
	char	*provider_name;	/* "" for built in */
	char	*name;		/* sent upstream; unique in the org */
	char	*display_name;
	bool	 supports_vision;
	bool	 supports_tools;
	bool	 is_default;
	bool	 is_builtin;
	int	 n_agents;	/* agents that name it */
	char	*created_at;
};

struct org_model_input {
	int64_t		 provider_id;	/* must be one of the org's */
	const char	*name;
	const char	*display_name;	/* "" → name */
	bool		 supports_vision;
	bool		 supports_tools;
	bool		 is_default;
};

enum db_status	 orgmodel_list(struct db *db, struct arena *a, int64_t org_id,
		    struct org_model **out, int *n)
		    __attribute__((warn_unused_result));
enum db_status	 orgmodel_get(struct db *db, struct arena *a, int64_t org_id,
		    int64_t id, struct org_model *out)
		    __attribute__((warn_unused_result));
enum db_status	 orgmodel_get_by_name(struct db *db, struct arena *a,
		    int64_t org_id, const char *name, struct org_model *out)
		    __attribute__((warn_unused_result));
/* DB_NOT_FOUND when the organisation has no default model. */
enum db_status	 orgmodel_get_default(struct db *db, struct arena *a,
		    int64_t org_id, struct org_model *out)
		    __attribute__((warn_unused_result));
enum db_status	 orgmodel_create(struct db *db, int64_t org_id,
		    const struct org_model_input *in, struct field_errors *errs,
		    int64_t *id) __attribute__((warn_unused_result));
/*
 * A model input in one line for the audit log: "Display (name, vision,
 * tools), provider #N, default" (arena string).
 */
const char	*orgmodel_describe(struct arena *a,
		    const struct org_model_input *in);
/* Built-in models accept only display name and default changes. */
enum db_status	 orgmodel_update(struct db *db, int64_t org_id, int64_t id,
		    const struct org_model_input *in, struct field_errors *errs)
		    __attribute__((warn_unused_result));
/* DB_INVALID while an agent uses it, or for the built-in model. */
enum db_status	 orgmodel_delete(struct db *db, int64_t org_id, int64_t id)
		    __attribute__((warn_unused_result));
enum db_status	 orgmodel_set_default(struct db *db, int64_t org_id,
		    int64_t id) __attribute__((warn_unused_result));
/* Adds parley/faq to a new organisation (default when it has none). */
enum db_status	 orgmodel_ensure_builtin(struct db *db, int64_t org_id)
		    __attribute__((warn_unused_result));

#endif
