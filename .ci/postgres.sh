#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on 127.0.0.1 for the tests that run the catalogue on it.
# Prints the admin URL on stdout; installs the server from Debian's packages when it is missing.
set -euo pipefail
PORT="${MAILLAGE_PG_PORT:-55432}"
DIR="${MAILLAGE_PG_DIR:-/tmp/maillage-pg}"
find_bin() {
    local b
    for b in /usr/lib/postgresql/*/bin; do [ -x "$b/initdb" ] && { echo "$b"; return; }; done
}
BIN="$(find_bin || true)"
if [ -z "$BIN" ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    BIN="$(find_bin)"
fi
id postgres >/dev/null 2>&1 || useradd --system --home "$DIR" postgres
if [ -f "$DIR/postmaster.pid" ]; then
    runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR" stop -m immediate >&2 || true
fi
rm -rf "$DIR"
mkdir -p "$DIR"
chown postgres "$DIR"
runuser -u postgres -- "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 >/dev/null
runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
