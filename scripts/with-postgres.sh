#!/usr/bin/env bash
# Start a throw-away PostgreSQL 15 cluster on a private port, run the given command with
# TEST_DATABASE_URL pointing at it, then stop and remove the cluster.
set -euo pipefail
PGBIN=/usr/lib/postgresql/15/bin
PORT=${PGPORT_TEST:-54329}
DIR=$(mktemp -d /tmp/dingkao-pg.XXXXXX)
chown postgres:postgres "$DIR" 2>/dev/null || true
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
as_pg "$PGBIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off" -w -l "$DIR/log" start >/dev/null
cleanup() { as_pg "$PGBIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$DIR"; }
trap cleanup EXIT
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres dingkao_test
export TEST_DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:$PORT/dingkao_test"
"$@"
