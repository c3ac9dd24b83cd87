/*
 * rows: copying result columns into an arena, shared by chat/'s modules
 * (internal to chat/).
 */
#ifndef PARLEY_CHAT_ROWS_H
#define PARLEY_CHAT_ROWS_H

#include "db/db.h"
#include "util/arena.h"

/* Column col of row as a string in a ("" for NULL). */
static inline char *
chat_col(struct arena *a, const struct db_res *res, int row, int col)
{
	return arena_strdup(a, db_res_text(res, row, col));
}

/* Column col of row as a string in a, NULL for SQL NULL. */
static inline char *
chat_col_null(struct arena *a, const struct db_res *res, int row, int col)
{
	if (db_res_isnull(res, row, col))
		return NULL;
	return arena_strdup(a, db_res_text(res, row, col));
}

#endif
