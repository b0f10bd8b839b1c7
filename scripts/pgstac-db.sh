#!/usr/bin/env bash
# A local PostgreSQL + PostGIS + pgstac for devscore, in a folder of its own.
#
#   scripts/pgstac-db.sh start DIR   install Debian's PostgreSQL/PostGIS if absent, initialise a
#                                    cluster in DIR (reused when it exists), start it on a free
#                                    127.0.0.1 port (its unix socket in DIR too), run
#                                    `pypgstac migrate`; the last line printed is the DSN
#   scripts/pgstac-db.sh stop DIR    stop the cluster in DIR (nothing to do when it is not running)
#   scripts/pgstac-db.sh dsn DIR     print the DSN of the running cluster in DIR
#
# PostgreSQL refuses to run as root: as root the server runs as the `postgres` user (DIR is handed
# to it), otherwise as the caller. `pypgstac` runs with $PYTHON (default: the repository's .venv).
set -euo pipefail

PG_MAJOR=15
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin
POSTGIS_CONTROL=/usr/share/postgresql/$PG_MAJOR/extension/postgis.control
DATABASE=devscore
HERE=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$HERE/.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3

die() { echo "pgstac-db: $*" >&2; exit 1; }

usage() { die "usage: $0 start|stop|dsn DIR"; }

[ $# -eq 2 ] || usage
command=$1
dir=$(realpath -m "$2")
data=$dir/data

as_owner() {  # run a command as the cluster's owner
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

install_packages() {
    [ -x "$PGBIN/initdb" ] && [ -f "$POSTGIS_CONTROL" ] && return 0
    [ "$(id -u)" -eq 0 ] || die "PostgreSQL $PG_MAJOR with PostGIS is not installed; as root: apt-get install postgresql-$PG_MAJOR-postgis-3"
    echo "pgstac-db: installing postgresql-$PG_MAJOR-postgis-3" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt_install() { apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "postgresql-$PG_MAJOR-postgis-3" >&2; }
    apt_install || { apt-get update -qq -o DPkg::Lock::Timeout=600 >&2 && apt_install; } \
        || die "could not install postgresql-$PG_MAJOR-postgis-3"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

running() { [ -f "$data/PG_VERSION" ] && as_owner "$PGBIN/pg_ctl" -D "$data" status >/dev/null 2>&1; }

dsn() { echo "postgresql://postgres@127.0.0.1:$(cat "$dir/port")/$DATABASE"; }

start() {
    install_packages
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        chown postgres: "$dir"
        runuser -u postgres -- test -x "$dir" \
            || die "user postgres cannot reach $dir: choose a folder whose parents others may enter (e.g. under /tmp)"
    fi
    if [ ! -f "$data/PG_VERSION" ]; then
        as_owner "$PGBIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
            || die "initdb failed: see $dir/initdb.log"
    fi
    if ! running; then
        rm -f "$data/postmaster.pid"  # left by a killed server; pg_ctl status said none runs
        free_port >"$dir/port"
        as_owner "$PGBIN/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $(cat "$dir/port") -c unix_socket_directories=$dir -c fsync=off" \
            start >/dev/null || die "the server did not start: see $dir/server.log"
    fi
    local port; port=$(cat "$dir/port")
    if ! as_owner "$PGBIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
            "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'" | grep -q 1; then
        as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DATABASE"
    fi
    "$PYTHON" -c 'from pypgstac.pypgstac import cli; cli()' migrate --dsn "$(dsn)" >"$dir/migrate.log" 2>&1 \
        || die "pypgstac migrate failed (is the pgstac extra installed?): see $dir/migrate.log"
    dsn
}

stop() {
    if running; then
        as_owner "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
}

case $command in
    start) start ;;
    stop) stop ;;
    dsn) running || die "no server runs in $dir"; dsn ;;
    *) usage ;;
esac
