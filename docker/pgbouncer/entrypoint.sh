#!/bin/sh
# Writes PgBouncer's auth file from POSTGRES_PASSWORD (a double quote in it
# is doubled, as the auth file's syntax wants), then runs PgBouncer in the
# foreground, logging to stderr.
set -eu
: "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
dir=/tmp/pgbouncer
mkdir -p "$dir"
umask 077
pw=$(printf '%s' "$POSTGRES_PASSWORD" | sed 's/"/""/g')
printf '"parley" "%s"\n' "$pw" > "$dir/userlist.txt"
exec pgbouncer /etc/pgbouncer/parley.ini
