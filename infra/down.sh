#!/usr/bin/env bash
# Stop the servers infra/up.sh started: the nats-server named by .data/nats.pid and the
# PostgreSQL cluster in .data/postgres. Servers it did not start are never touched. Data stays
# in .data/ (delete that folder to start from scratch). Called by `make down`.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NATS_PIDFILE="$DATA_DIR/nats.pid"
PG_DIR="$DATA_DIR/postgres"

down_nats() {
    local pid
    if pid_alive "$NATS_PIDFILE"; then
        pid="$(tr -dc '0-9' <"$NATS_PIDFILE")"
        if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q nats-server; then
            stop_pid nats "$NATS_PIDFILE"
            echo "nats: stopped nats-server (pid $pid; data kept in .data/nats)"
            return
        fi
    fi
    rm -f "$NATS_PIDFILE"
    parse_url "${NATS_URL%%,*}"
    if nats_info "${URL_HOST:-127.0.0.1}" "${URL_PORT:-4222}" >/dev/null; then
        echo "nats: the server at $(redact_url "${NATS_URL%%,*}") was not started by infra/up.sh; leaving it alone"
    else
        echo "nats: no nats-server started by infra/up.sh is running; nothing to stop"
    fi
}

down_postgres() {
    local real pg_bin
    if [[ ! -f "$PG_DIR/PG_VERSION" || ! -f "$PG_DIR/postmaster.pid" ]]; then
        echo "postgres: our cluster (.data/postgres) is not running; nothing to stop"
        return
    fi
    real="$(readlink -f "$PG_DIR")"
    pg_bin="/usr/lib/postgresql/$(cat "$real/PG_VERSION")/bin"
    [[ -x "$pg_bin/pg_ctl" ]] || pg_bin="$(find_pg_bin)"
    local -a as_owner=()
    if [[ $EUID -eq 0 ]]; then
        as_owner=(runuser -u "$(stat -c %U "$real")" --)
        cd / # the postgres user may not be allowed into the current directory
    fi
    if ! "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$real" status >/dev/null 2>&1; then
        echo "postgres: our cluster (.data/postgres) is not running; nothing to stop"
        return
    fi
    "${as_owner[@]}" "$pg_bin/pg_ctl" -D "$real" -m fast -w -t 60 stop >/dev/null ||
        die "postgres: pg_ctl stop failed for .data/postgres"
    echo "postgres: stopped our cluster (data kept in .data/postgres)"
}

down_nats
down_postgres
