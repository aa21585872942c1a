#!/usr/bin/env bash
# Make sure a NATS server (JetStream) answers at NATS_URL and a PostgreSQL server accepts
# DATABASE_URL, installing and starting local ones when nothing answers. Called by `make up`.
#
# - A server that already answers is used and never stopped, restarted or reconfigured.
# - Servers this script starts keep all their state under .data/ (git-ignored):
#     .data/nats/        JetStream file store      .data/nats.pid  .data/nats.log
#     .data/postgres/    our own PostgreSQL cluster (also its unix socket)  .data/postgres.log
#   infra/down.sh stops exactly those, nothing else.
# - Idempotent: a second run only reports what is already up.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NATS_CONFIG="$REPO_ROOT/infra/nats/single.conf"
NATS_STORE="$DATA_DIR/nats"
NATS_PIDFILE="$DATA_DIR/nats.pid"
NATS_LOG="$DATA_DIR/nats.log"

PG_DIR="$DATA_DIR/postgres"
PG_LOG="$DATA_DIR/postgres.log"
# Where PostgreSQL keeps our cluster when root runs this script but the postgres system user
# cannot reach .data/ (a checkout under /root, say): .data/postgres then links there.
PG_FALLBACK_DIR="/var/tmp/carelog-postgres-$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c1-12)"

# ---------------------------------------------------------------------------------------------
# NATS

nats_pid_is_ours() {
    pid_alive "$NATS_PIDFILE" &&
        tr '\0' ' ' <"/proc/$(tr -dc '0-9' <"$NATS_PIDFILE")/cmdline" 2>/dev/null | grep -q nats-server
}

up_nats() {
    local first_url="${NATS_URL%%,*}" info bin pid shown_url
    shown_url="$(redact_url "$first_url")"
    parse_url "$first_url"
    local host="${URL_HOST:-127.0.0.1}" port="${URL_PORT:-4222}"

    if nats_pid_is_ours; then
        pid="$(tr -dc '0-9' <"$NATS_PIDFILE")"
        nats_info "$host" "$port" >/dev/null ||
            die "nats: our nats-server (pid $pid) runs but does not answer at $shown_url; run \`make down\` and try again"
        echo "nats: already running at $shown_url (pid $pid, data in .data/nats)"
        if [[ "$(nats_info "$host" "$port")" != *'"auth_required":true'* ]]; then
            warn "nats: warning: our nats-server was started before infra/nats/authorization.conf existed and lets anyone in; \`make down && make up\` restarts it with the users and permissions"
        fi
        return
    fi
    rm -f "$NATS_PIDFILE"

    if info="$(nats_info "$host" "$port")"; then
        echo "nats: using existing server at $shown_url (not started by infra/up.sh; left alone)"
        if [[ "$info" != *'"auth_required":true'* && -n "$URL_USER" ]]; then
            echo "nats: it does not ask for a login; the one in NATS_URL ($URL_USER) is sent and ignored, and every client may use every subject"
        fi
        if [[ "$info" != *'"jetstream":true'* ]]; then
            warn "nats: warning: the server at $shown_url does not advertise JetStream; carelog needs it (nats-server -js)"
        fi
        return
    fi

    is_loopback "$host" ||
        die "nats: nothing answers at $shown_url and infra/up.sh only starts servers on loopback; start one there or set NATS_URL"

    bin="$(find_nats_server)"
    if [[ -z "$bin" ]]; then
        echo "nats: nats-server not found; installing it with apt (log in .data/apt.log)"
        apt_install nats-server
        bin="$(find_nats_server)"
        [[ -n "$bin" ]] || die "nats: apt installed nats-server but no binary was found on PATH, /usr/sbin or /usr/bin"
        # On a machine with systemd the package also starts its own service on 127.0.0.1:4222,
        # without JetStream. It did not exist before this install, so nobody relies on it.
        if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nats-server 2>/dev/null; then
            as_root systemctl disable --now nats-server >/dev/null 2>&1 || true
            echo "nats: stopped and disabled nats-server.service, which the package just started (no JetStream)"
        fi
    fi

    # Monitoring sits 4000 above the client port (8222 for 4222), so a second checkout with
    # another NATS_URL port gets its own.
    local monitor_port=$((port + 4000))
    ((monitor_port <= 65535)) || monitor_port=0
    local -a args=(-c "$NATS_CONFIG" --addr "$host" --port "$port" --http_port "$monitor_port")
    mkdir -p "$NATS_STORE"
    printf '\n=== %s infra/up.sh: %s %s\n' "$(date -Is)" "$bin" "${args[*]}" >>"$NATS_LOG"
    # setsid: the server outlives `make` and is not hit by a Ctrl-C aimed at it.
    CARELOG_NATS_STORE_DIR="$NATS_STORE" setsid "$bin" "${args[@]}" </dev/null >>"$NATS_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$NATS_PIDFILE"

    for _ in $(seq 100); do
        if ! proc_alive "$pid"; then
            rm -f "$NATS_PIDFILE"
            die "nats: nats-server exited during startup; last lines of .data/nats.log:
$(tail -n 20 "$NATS_LOG")"
        fi
        if info="$(nats_info "$host" "$port")"; then
            echo "nats: started nats-server $("$bin" --version 2>/dev/null | grep -o 'v[0-9][0-9.]*' || true) at $shown_url (pid $pid, data in .data/nats, log .data/nats.log)"
            return
        fi
        sleep 0.1
    done
    die "nats: nats-server (pid $pid) did not answer at $shown_url within 10 s; last lines of .data/nats.log:
$(tail -n 20 "$NATS_LOG")"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

PG_BIN=""

# Run a command as the owner of our private cluster: the postgres system user when we are
# root (initdb and postgres refuse to run as root), ourselves otherwise.
as_pg_owner() {
    if [[ $EUID -eq 0 ]]; then
        # From /, since the postgres user may not be allowed into the current directory.
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

pg_real_dir() {
    readlink -f "$PG_DIR"
}

own_cluster_running() {
    [[ -f "$PG_DIR/PG_VERSION" && -f "$PG_DIR/postmaster.pid" && -n "$PG_BIN" ]] &&
        as_pg_owner "$PG_BIN/pg_ctl" -D "$(pg_real_dir)" status >/dev/null 2>&1
}

# Port our running cluster listens on (line 4 of postmaster.pid).
own_cluster_port() {
    sed -n 4p "$PG_DIR/postmaster.pid"
}

url_works() {
    PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -XAtqc 'select 1' >/dev/null 2>&1
}

# ensure_role_and_database WHERE PSQL...: create the DATABASE_URL role (LOGIN CREATEDB, the
# URL's password) and database through an administrator connection given as a psql command,
# when they are missing. Existing roles and databases are left exactly as they are.
ensure_role_and_database() {
    local where="$1"
    shift
    local -a admin_psql=("$@")
    local role="$URL_USER" password="$URL_PASSWORD" database="$URL_PATH" exists

    exists="$(printf '%s\n' "SELECT 1 FROM pg_roles WHERE rolname = :'role';" |
        "${admin_psql[@]}" -XAtq -v ON_ERROR_STOP=1 -v role="$role" -d postgres)"
    if [[ -z "$exists" ]]; then
        printf '%s\n' "SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'password') \\gexec" |
            "${admin_psql[@]}" -XAtq -v ON_ERROR_STOP=1 -v role="$role" -v password="$password" -d postgres >/dev/null
        echo "postgres: created role $role (LOGIN CREATEDB, password from DATABASE_URL) on $where"
    fi

    exists="$(printf '%s\n' "SELECT 1 FROM pg_database WHERE datname = :'database';" |
        "${admin_psql[@]}" -XAtq -v ON_ERROR_STOP=1 -v database="$database" -d postgres)"
    if [[ -z "$exists" ]]; then
        printf '%s\n' "SELECT format('CREATE DATABASE %I OWNER %I', :'database', :'role') \\gexec" |
            "${admin_psql[@]}" -XAtq -v ON_ERROR_STOP=1 -v role="$role" -v database="$database" -d postgres >/dev/null
        echo "postgres: created database $database owned by $role on $where"
    fi
}

# Tests create a fresh database each; warn early when the role may not.
check_createdb() {
    local can
    can="$(PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -XAtqc \
        'select rolcreatedb or rolsuper from pg_roles where rolname = current_user' 2>/dev/null || true)"
    if [[ "$can" != t ]]; then
        warn "postgres: warning: role $URL_USER cannot create databases; the tests need CREATEDB (ALTER ROLE $URL_USER CREATEDB)"
    fi
}

# A server we did not start answers at host:port but rejects DATABASE_URL. When it is a local
# Debian cluster we may administer (root, or sudo), add the missing role and database through
# peer authentication as the cluster's owner; otherwise say what to do.
repair_foreign_server() {
    local host="$1" port="$2" shown_url cluster owner
    shown_url="$(redact_url "$DATABASE_URL")"
    local why
    why="$(PGCONNECT_TIMEOUT=5 psql "$DATABASE_URL" -XAtqc 'select 1' 2>&1 >/dev/null | head -n 1 || true)"
    local advice="create the role and database yourself, e.g. as a superuser:
  CREATE ROLE \"$URL_USER\" LOGIN CREATEDB PASSWORD '...';  CREATE DATABASE \"$URL_PATH\" OWNER \"$URL_USER\";
or point DATABASE_URL at a server you control (infra/up.sh starts its own when nothing answers at the URL's host:port)."

    cluster=""
    if is_loopback "$host" && command -v pg_lsclusters >/dev/null 2>&1; then
        # "15 main 5432 online postgres /var/lib/postgresql/15/main /var/log/..."
        cluster="$(pg_lsclusters -h 2>/dev/null | awk -v port="$port" '$3 == port && $4 ~ /^online/ { print $1 "/" $2, $5; exit }')"
    fi
    if [[ -z "$cluster" ]]; then
        die "postgres: a server answers at $host:$port but rejects $shown_url ($why), and it is not a local Debian cluster infra/up.sh may administer; $advice"
    fi
    owner="${cluster#* }"
    cluster="${cluster%% *}"
    if [[ $EUID -ne 0 ]] && ! command -v sudo >/dev/null 2>&1; then
        die "postgres: the local cluster $cluster at $host:$port rejects $shown_url and administering it needs root or sudo; $advice"
    fi
    echo "postgres: the local cluster $cluster (not started by infra/up.sh) rejects $shown_url ($why); adding what is missing as $owner via peer authentication"
    local -a admin_psql
    if [[ $EUID -eq 0 ]]; then
        admin_psql=(runuser -u "$owner" -- psql --cluster "$cluster")
    else
        admin_psql=(sudo -u "$owner" psql --cluster "$cluster")
    fi
    ensure_role_and_database "cluster $cluster" "${admin_psql[@]}" ||
        die "postgres: could not administer cluster $cluster as $owner; $advice"
    url_works || die "postgres: cluster $cluster still rejects $shown_url after adding the role and database.
The role may already exist with another password (infra/up.sh does not change existing roles), or
pg_hba.conf may refuse password logins over TCP; fix that by hand or $advice"
}

# Create .data/postgres owned by whoever will run the server, reachable by that user.
prepare_pg_dir() {
    mkdir -p "$DATA_DIR"
    if [[ $EUID -ne 0 ]]; then
        mkdir -p "$PG_DIR"
        chmod 700 "$PG_DIR"
        return
    fi
    id postgres >/dev/null 2>&1 || die "postgres: there is no postgres system user to run the server as (is the postgresql package installed?)"
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    if ! runuser -u postgres -- test -w "$PG_DIR"; then
        # An ancestor of the checkout is closed to other users (e.g. /root is 0700).
        rmdir "$PG_DIR"
        mkdir -p "$PG_FALLBACK_DIR"
        chown postgres:postgres "$PG_FALLBACK_DIR"
        chmod 700 "$PG_FALLBACK_DIR"
        ln -sfn "$PG_FALLBACK_DIR" "$PG_DIR"
        echo "postgres: the postgres user cannot reach $DATA_DIR; keeping the cluster in $PG_FALLBACK_DIR (linked from .data/postgres)"
    fi
}

init_own_cluster() {
    local host="$1" port="$2" real listen
    prepare_pg_dir
    real="$(pg_real_dir)"
    # Bootstrap superuser "postgres" logs in over the unix socket only; that socket lives in the
    # 0700 data directory, so "trust" there admits nobody but the cluster's owner (and root).
    # TCP logins need a password (scram).
    as_pg_owner "$PG_BIN/initdb" -D "$real" -U postgres -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >>"$PG_LOG" 2>&1 ||
        die "postgres: initdb failed; last lines of .data/postgres.log:
$(tail -n 20 "$PG_LOG")"
    case "$host" in
    localhost) listen=localhost ;;
    *) listen="$host" ;;
    esac
    cat >>"$real/postgresql.conf" <<EOF

# --- carelog (written by infra/up.sh) ---
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$real'
# Every test creates its own database and pool.
max_connections = 200
# Durability stays real: benchmarks measure committed, flushed writes.
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
}

# Settings for a cluster of ours that writes the read models in bulk (given at every start, so
# clusters made before them get them too; a server someone else runs is never touched):
# shared buffers a quarter of the memory (the container's limit, if lower), between 128 MB and
# 2 GB, so a rebuild's indexes stay in memory; checkpoints rarer (every 30 min or 8 GB of WAL),
# so a page's first change after one is not logged whole as often. The price: a longer crash
# recovery, and up to 8 GB of WAL on disk under heavy writing.
pg_tuning() {
    local kb mb limit
    kb="$(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 0)"
    # In a container, /proc/meminfo shows the host: its cgroup's limit counts if lower.
    limit="$(cat /sys/fs/cgroup/memory.max 2>/dev/null || echo max)"
    if [[ "$limit" =~ ^[0-9]+$ ]] && ((limit / 1024 < kb)); then
        kb=$((limit / 1024))
    fi
    mb=$((kb / 4096))
    ((mb < 128)) && mb=128
    ((mb > 2048)) && mb=2048
    echo "-c shared_buffers=${mb}MB -c max_wal_size=8GB -c checkpoint_timeout=30min"
}

up_postgres() {
    local shown_url host port rc real
    shown_url="$(redact_url "$DATABASE_URL")"
    parse_url "$DATABASE_URL"
    host="${URL_HOST:-127.0.0.1}"
    port="${URL_PORT:-5432}"
    [[ -n "$URL_USER" && -n "$URL_PATH" ]] ||
        die "postgres: DATABASE_URL must name a user and a database: postgres://user:password@host:port/database"

    if ! command -v psql >/dev/null 2>&1 || ! command -v pg_isready >/dev/null 2>&1 || [[ -z "$(find_pg_bin)" ]]; then
        echo "postgres: PostgreSQL not (fully) installed; installing it with apt (log in .data/apt.log)"
        apt_install postgresql postgresql-client
    fi
    PG_BIN="$(find_pg_bin)"
    [[ -n "$PG_BIN" ]] || die "postgres: no initdb found under /usr/lib/postgresql/*/bin or on PATH"

    if own_cluster_running; then
        [[ "$(own_cluster_port)" == "$port" ]] ||
            die "postgres: our cluster (.data/postgres) runs on port $(own_cluster_port), but DATABASE_URL says $port; run \`make down\` and try again"
        real="$(pg_real_dir)"
        url_works || ensure_role_and_database "our cluster (.data/postgres)" \
            as_pg_owner psql -h "$real" -p "$port" -U postgres
        url_works || die "postgres: our cluster rejects $shown_url; see .data/postgres.log"
        echo "postgres: already running at $host:$port (cluster in .data/postgres)"
        return
    fi

    # pg_isready: 0 accepting, 1 starting up or shutting down, 2 no answer, 3 bad parameters.
    rc=0
    pg_isready -q -h "$host" -p "$port" -t 3 || rc=$?
    for _ in $(seq 30); do
        [[ $rc -eq 1 ]] || break
        sleep 1
        rc=0
        pg_isready -q -h "$host" -p "$port" -t 3 || rc=$?
    done
    if [[ $rc -eq 0 || $rc -eq 1 ]]; then
        if url_works; then
            echo "postgres: using existing server at $host:$port (not started by infra/up.sh; left alone)"
        else
            repair_foreign_server "$host" "$port"
            echo "postgres: using existing server at $host:$port (not started by infra/up.sh; left running as it was)"
        fi
        check_createdb
        return
    fi

    is_loopback "$host" ||
        die "postgres: nothing answers at $host:$port and infra/up.sh only starts servers on loopback; start one there or set DATABASE_URL"

    local cluster_note="cluster in .data/postgres"
    if [[ ! -f "$PG_DIR/PG_VERSION" ]]; then
        init_own_cluster "$host" "$port"
        cluster_note="new cluster in .data/postgres"
    fi
    real="$(pg_real_dir)"
    local version
    version="$(cat "$real/PG_VERSION")"
    if [[ -x "/usr/lib/postgresql/$version/bin/pg_ctl" ]]; then
        PG_BIN="/usr/lib/postgresql/$version/bin"
    fi
    # Without -l, the server writes to pg_ctl's stdout: the log file is opened here, by us, so
    # the postgres user needs no access to .data/.
    as_pg_owner "$PG_BIN/pg_ctl" -D "$real" -o "-p $port $(pg_tuning)" -w -t 60 start >>"$PG_LOG" 2>&1 ||
        die "postgres: pg_ctl start failed; last lines of .data/postgres.log:
$(tail -n 20 "$PG_LOG")"
    ensure_role_and_database "our cluster (.data/postgres)" as_pg_owner psql -h "$real" -p "$port" -U postgres
    url_works || die "postgres: our cluster started but rejects $shown_url; see .data/postgres.log"
    echo "postgres: started PostgreSQL $version at $host:$port ($cluster_note, log .data/postgres.log)"
}

mkdir -p "$DATA_DIR"
up_nats
up_postgres
