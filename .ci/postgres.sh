#!/usr/bin/env bash
# A throw-away PostgreSQL for the outbox tests (tests/test_outbox_postgres.py).
#
# Installs the Debian `postgresql` package when missing, starts a private cluster listening on
# 127.0.0.1 only (port 5433 or the next free one; data in $SEGUR_RIS_PG_DIR, default
# /var/tmp/segur-ris-pg), creates the role and database `segur_ris`, then prints
#     export SEGUR_RIS_PG_DSN='postgresql://segur_ris:segur_ris@127.0.0.1:PORT/segur_ris'
# on stdout (also written to $SEGUR_RIS_PG_DIR/dsn). Idempotent: a second run reuses the
# running cluster. Use it as:  eval "$(.ci/postgres.sh)"
set -euo pipefail

DIR="${SEGUR_RIS_PG_DIR:-/var/tmp/segur-ris-pg}"
ROLE=segur_ris
DB=segur_ris
log() { echo "postgres.sh: $*" >&2; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ -z "$(pg_bin)" ] || [ ! -x "$(pg_bin)/initdb" ]; then
    log "installing the Debian postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
fi
BIN="$(pg_bin)"

# The cluster runs as `postgres` when we are root (PostgreSQL refuses to run as root).
if [ "$(id -u)" = 0 ]; then
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown "$OWNER" "$DIR"
chmod 700 "$DIR"
DATA="$DIR/data"

if [ ! -f "$DATA/PG_VERSION" ]; then
    log "initdb in $DATA"
    init() { as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth-local=peer \
        --auth-host=scram-sha-256 -E UTF8 "$@" >&2; }
    init --locale=C.UTF-8 || { rm -rf "$DATA"; init; }  # C.UTF-8 missing: default locale
fi

port_free() { ! (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    PORT="$(cat "$DIR/port")"
    log "cluster already running on 127.0.0.1:$PORT"
else
    PORT="${SEGUR_RIS_PG_PORT:-5433}"
    while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
    echo "$PORT" >"$DIR/port"
    log "starting the cluster on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR" >&2
fi

psql_admin() { as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -qAt "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
    psql_admin -c "CREATE ROLE $ROLE LOGIN PASSWORD '$ROLE'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE"
fi

DSN="postgresql://$ROLE:$ROLE@127.0.0.1:$PORT/$DB"
echo "$DSN" >"$DIR/dsn"
chmod 644 "$DIR/dsn"
echo "export SEGUR_RIS_PG_DSN='$DSN'"
