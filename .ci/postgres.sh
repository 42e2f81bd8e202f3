#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on 127.0.0.1 only.
#   .ci/postgres.sh start    start (or reuse) it; prints the URL of database `booking` on stdout
#   .ci/postgres.sh stop     stop it if running
#   .ci/postgres.sh restart  pg_ctl restart -m fast
#   .ci/postgres.sh env      prints PG_CTL=, PGDATA=, PG_RUN_AS=, PG_LOG= for tests that restart it
# Everything but the URL and `env`'s lines goes to stderr, so `$(.ci/postgres.sh start)` works.
set -euo pipefail

BASE=${PG_TEST_DIR:-/tmp/booking-monitor-pg}
PORT=${PG_TEST_PORT:-55432}
PGDATA=$BASE/data
LOG=$BASE/postgres.log
URL="postgres://booking:booking@127.0.0.1:$PORT/booking"

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Newest Debian-packaged server that has both pg_ctl and initdb.
find_bin() {
    local d
    BIN=
    for d in $(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V); do
        [[ -x $d/pg_ctl && -x $d/initdb ]] && BIN=$d
    done
    [[ -n $BIN ]]
}

ensure_installed() {
    find_bin && return
    [[ $(id -u) == 0 ]] || die "PostgreSQL server not found under /usr/lib/postgresql/*/bin; install Debian's 'postgresql' package (as root) and retry"
    log "installing Debian's postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    find_bin || die "postgresql installed but no pg_ctl/initdb under /usr/lib/postgresql/*/bin"
}

# The server refuses to run as root, so root runs it as the data dir's owner (`postgres` for a new one).
run_as() {
    RUN_AS=
    if [[ $(id -u) == 0 ]]; then
        RUN_AS=postgres
        [[ -d $PGDATA ]] && RUN_AS=$(stat -c %U "$PGDATA")
        [[ $RUN_AS != root ]] || die "$PGDATA is owned by root; remove it and retry"
    fi
}
as_pg() {
    # cd /: the postgres user cannot always read the caller's working directory.
    if [[ -n $RUN_AS ]]; then (cd / && runuser -u "$RUN_AS" -- "$@"); else "$@"; fi
}

running() { [[ -f $PGDATA/PG_VERSION ]] && as_pg "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

init_cluster() {
    [[ -f $PGDATA/PG_VERSION ]] && return
    log "initdb $PGDATA"
    mkdir -p "$BASE"
    rm -rf "$PGDATA" # a half-made one from an interrupted initdb
    [[ -z $RUN_AS ]] || chown "$RUN_AS": "$BASE"
    as_pg "$BIN/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C >&2
    # Kept in a file of its own, rewritten on each start, so a changed PG_TEST_PORT takes effect.
    echo "include_if_exists = 'booking-monitor.conf'" >>"$PGDATA/postgresql.conf"
}

write_conf() {
    as_pg tee "$PGDATA/booking-monitor.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PGDATA'
max_connections = 300
shared_buffers = 128MB
EOF
}

wait_ready() {
    for _ in $(seq 60); do
        "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres && return
        sleep 0.5
    done
    die "server not accepting connections on 127.0.0.1:$PORT after 30 s; see $LOG"
}

start() {
    ensure_installed
    run_as
    if running; then
        local actual
        actual=$(sed -n 4p "$PGDATA/postmaster.pid")
        [[ $actual == "$PORT" ]] || die "server in $PGDATA already runs on port $actual, not $PORT; stop it first"
        log "reusing the server already running from $PGDATA"
    else
        init_cluster
        write_conf
        log "starting server on 127.0.0.1:$PORT (log: $LOG)"
        as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -w -t 60 start >&2 || die "pg_ctl start failed; see $LOG"
    fi
    wait_ready
    # Tests create and drop a database each, hence SUPERUSER. Trust auth ignores the password,
    # but it is set so the URL also works against a server that checks it.
    "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres >&2 <<'SQL'
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'booking') THEN CREATE ROLE booking; END IF;
END $$;
ALTER ROLE booking LOGIN SUPERUSER PASSWORD 'booking';
SELECT 'CREATE DATABASE booking OWNER booking'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'booking') \gexec
SQL
    echo "$URL"
}

stop() {
    find_bin || return 0
    run_as
    if running; then as_pg "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >&2; else log "not running"; fi
}

restart() {
    ensure_installed
    run_as
    [[ -f $PGDATA/PG_VERSION ]] || die "no cluster in $PGDATA; run '$0 start' first"
    write_conf
    # -l matters: without it the server keeps the caller's stdout/stderr open.
    as_pg "$BIN/pg_ctl" -D "$PGDATA" -l "$LOG" -m fast -w -t 60 restart >&2
    wait_ready
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    env)
        ensure_installed
        run_as
        printf 'PG_CTL=%s\nPGDATA=%s\nPG_RUN_AS=%s\nPG_LOG=%s\n' "$BIN/pg_ctl" "$PGDATA" "$RUN_AS" "$LOG"
        ;;
    *) die "usage: $0 start|stop|restart|env" ;;
esac
