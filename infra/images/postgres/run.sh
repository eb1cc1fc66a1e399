#!/bin/sh
# First start: initdb with the official image's variables, the init scripts on a socket-only
# server; then the server on every interface of the container (the host publishes it on loopback).
set -eu
BIN=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
USER_NAME=${POSTGRES_USER:-postgres}
METHOD=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  PWFILE=""
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    PWFILE=$(mktemp); printf '%s' "$POSTGRES_PASSWORD" > "$PWFILE"
  elif [ "$METHOD" != "trust" ]; then
    echo "POSTGRES_PASSWORD is required unless POSTGRES_HOST_AUTH_METHOD=trust" >&2; exit 1
  fi
  "$BIN/initdb" -D "$PGDATA" -U "$USER_NAME" -E UTF8 --auth-local=trust --auth-host="$METHOD" \
    ${PWFILE:+--pwfile="$PWFILE"} --no-instructions >/dev/null
  [ -z "$PWFILE" ] || rm -f "$PWFILE"
  echo "host all all all $METHOD" >> "$PGDATA/pg_hba.conf"
  "$BIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
  for f in /docker-entrypoint-initdb.d/*.sql; do
    [ -e "$f" ] && psql -q -v ON_ERROR_STOP=1 -h /var/run/postgresql -U "$USER_NAME" -d postgres -f "$f"
  done
  "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
fi
[ "${1:-}" = "postgres" ] && shift
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql "$@"
