/*
 * cli: command-line commands beyond serve/migrate/user (main.c's table
 * calls these). Each returns the process exit status.
 */
#ifndef PARLEY_APP_CLI_H
#define PARLEY_APP_CLI_H

/* parley key rotate: re-encrypt every secret under a new master key. */
int	 cli_key(int argc, char **argv);
/* parley token create --email E --name N [--role R]: print a new token. */
int	 cli_token(int argc, char **argv);
/* parley media migrate --to s3|db [--batch N]: move stored media. */
int	 cli_media(int argc, char **argv);
/* parley extract …: the document reader process (chat/extract.h). */
int	 cli_extract(int argc, char **argv);

#endif
