/*
 * cli_media: `parley media migrate --to s3|db [--batch N]` and the
 * extraction process `parley extract …` (chat/extract.h).
 *
 * migrate moves every stored media item's bytes (and what was made of
 * them) into the S3-compatible store configured with PARLEY_MEDIA_S3_*,
 * or back into the database, batch items at a time, each item in one
 * statement (chat/media.h media_migrate): safe to interrupt and to run
 * again, and safe beside a running server. Progress goes to standard
 * error; the last line says what was moved and what was left. Exit
 * status 0 when everything is where it was asked to be, 1 when items
 * were left behind (their reasons are in the log) or the database or
 * store failed, 2 for a usage error.
 */
#include "app/cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "app/app.h"
#include "chat/extract.h"
#include "chat/media.h"
#include "util/str.h"

#define BATCH_DEFAULT	100
#define BATCH_MAX	10000

static void	 progress(void *, const struct media_migrate_report *);
static int	 usage(void);

static int
usage(void)
{
	fprintf(stderr, "usage: parley media migrate --to s3|db "
	    "[--batch N]\n");
	return 2;
}

static void
progress(void *ctx, const struct media_migrate_report *r)
{
	(void)ctx;
	fprintf(stderr, "parley: %" PRId64 " media items moved so far, %"
	    PRId64 " not moved.\n", r->moved, r->failed);
}

int
cli_media(int argc, char **argv)
{
	struct media_migrate_report	 rep;
	struct app			 app;
	char				 err[512];
	const char			*to = NULL, *batch_s = NULL;
	int64_t				 batch = BATCH_DEFAULT;
	int				 rc = 1;
	bool				 to_store;

	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--to") == 0)
			to = argv[i + 1];
		else if (strcmp(argv[i], "--batch") == 0)
			batch_s = argv[i + 1];
		else
			return usage();
	}
	if (argc < 2 || strcmp(argv[1], "migrate") != 0 || to == NULL ||
	    (argc % 2) != 0)
		return usage();
	if (!str_eq(to, "s3") && !str_eq(to, "db"))
		return usage();
	if (batch_s != NULL && (!str_to_i64(batch_s, &batch) || batch < 1 ||
	    batch > BATCH_MAX)) {
		fprintf(stderr, "parley: --batch must be a whole number from 1 "
		    "to %d.\n", BATCH_MAX);
		return 2;
	}
	to_store = str_eq(to, "s3");

	memset(&app, 0, sizeof(app));
	if (!config_load(&app.cfg, err, sizeof(err))) {
		fprintf(stderr, "parley: %s\n", err);
		config_free(&app.cfg);
		return 2;
	}
	if (!app.cfg.s3_enabled) {
		fprintf(stderr, "parley: media migrate needs the S3 store "
		    "(PARLEY_MEDIA_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and "
		    "_SECRET_KEY): to move media %s it.\n", to_store ? "into" :
		    "out of");
		config_free(&app.cfg);
		return 2;
	}
	if (!app_open(&app, true))
		goto out;
	if (!media_migrate(&app, to_store, (int)batch, progress, NULL, &rep)) {
		fprintf(stderr, "parley: the database is unavailable: %" PRId64
		    " media items were moved before it went.\n", rep.moved);
		goto out;
	}
	printf("Moved %" PRId64 " media items to %s; %" PRId64 " not moved "
	    "(see the log); %" PRId64 " still %s; %" PRId64 " objects still "
	    "to delete from the store.\n", rep.moved, to_store ? "S3" :
	    "the database", rep.failed, rep.left, to_store ?
	    "in the database" : "in S3", rep.orphans);
	rc = rep.failed == 0 && rep.left == 0 ? 0 : 1;
out:
	app_close(&app);
	return rc;
}

int
cli_extract(int argc, char **argv)
{
	return extract_child_main(argc, argv);
}
