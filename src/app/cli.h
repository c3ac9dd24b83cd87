/*
 * cli: command-line commands beyond serve/migrate (main.c's table calls
 * these). Each returns the process exit status: 0 done, 2 a usage error,
 * 1 anything else. Each audits what it changes as actor "cli".
 */
#ifndef PARLEY_APP_CLI_H
#define PARLEY_APP_CLI_H

#include <stdbool.h>

struct app;
struct db;

/* parley key rotate: re-encrypt every secret under a new master key. */
int	 cli_key(int argc, char **argv);
/* parley token create --email E --name N [--role R]: print a new token. */
int	 cli_token(int argc, char **argv);
/* parley user create | reset-password (cli_user.c). */
int	 cli_user(int argc, char **argv);
/* The argument after the option `name` ("--email"), or NULL. */
const char *cli_opt(int argc, char **argv, const char *name);
/*
 * Loads the configuration, opens (and migrates) the database and takes
 * a connection into *db; false having said why. app_close(app) and
 * db_release(*db) when not NULL undo it, on failure too.
 */
bool	 cli_open(struct app *app, struct db **db);
/* parley media migrate --to s3|db [--batch N]: move stored media. */
int	 cli_media(int argc, char **argv);
/* parley extract …: the document reader process (chat/extract.h). */
int	 cli_extract(int argc, char **argv);

#endif
