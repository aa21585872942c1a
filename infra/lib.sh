# Shared helpers for infra/up.sh, infra/down.sh and infra/cluster.sh. Sourced, not executed.
# shellcheck disable=SC2034 # variables set here are used by the scripts that source this file
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="$REPO_ROOT/.data"

NATS_URL="${NATS_URL:-nats://carelog:carelog-dev-only@127.0.0.1:4222}"
DATABASE_URL="${DATABASE_URL:-postgres://carelog:carelog@127.0.0.1:5432/carelog}"

die() {
    printf '%s\n' "$*" >&2
    exit 1
}

warn() {
    printf '%s\n' "$*" >&2
}

# Run a command as root: directly when we are root, through sudo otherwise.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run '$*' and sudo is not installed"
    fi
}

APT_UPDATED=0
# apt_install PACKAGE...: install Debian packages, running `apt-get update` once per script run.
# apt's chatter goes to .data/apt.log and is shown only when it fails.
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "apt-get not found: install $* yourself (this script only knows Debian/Ubuntu)"
    mkdir -p "$DATA_DIR"
    local apt_log="$DATA_DIR/apt.log"
    if [[ $APT_UPDATED -eq 0 ]]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$apt_log" 2>&1 ||
            die "apt-get update failed; the end of .data/apt.log:
$(tail -n 20 "$apt_log")"
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >>"$apt_log" 2>&1 ||
        die "apt-get install $* failed; the end of .data/apt.log:
$(tail -n 20 "$apt_log")"
}

# Print the path of the nats-server binary, or nothing. CARELOG_NATS_SERVER wins when set.
find_nats_server() {
    if [[ -n "${CARELOG_NATS_SERVER:-}" ]]; then
        [[ -x "$CARELOG_NATS_SERVER" ]] || die "CARELOG_NATS_SERVER=$CARELOG_NATS_SERVER is not an executable"
        printf '%s\n' "$CARELOG_NATS_SERVER"
        return
    fi
    local candidate
    for candidate in "$(command -v nats-server 2>/dev/null || true)" /usr/sbin/nats-server /usr/bin/nats-server; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return
        fi
    done
}

# Print the bin directory of the newest installed PostgreSQL (Debian layout), or nothing.
find_pg_bin() {
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$dir" && -x "$dir/initdb" ]]; then
        printf '%s\n' "$dir"
    elif command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}

# parse_url URL: set URL_USER, URL_PASSWORD, URL_HOST, URL_PORT and URL_PATH from
# scheme://[user[:password]@]host[:port][/path][?query]. Percent-escapes are not decoded.
parse_url() {
    local url="$1" rest authority userinfo hostport
    rest="${url#*://}"
    authority="${rest%%[/?]*}"
    URL_PATH=""
    if [[ "$rest" == "$authority"/* ]]; then
        URL_PATH="${rest#"$authority"/}"
        URL_PATH="${URL_PATH%%\?*}"
    fi
    URL_USER=""
    URL_PASSWORD=""
    if [[ "$authority" == *@* ]]; then
        userinfo="${authority%@*}"
        hostport="${authority##*@}"
        URL_USER="${userinfo%%:*}"
        if [[ "$userinfo" == *:* ]]; then
            URL_PASSWORD="${userinfo#*:}"
        fi
    else
        hostport="$authority"
    fi
    if [[ "$hostport" == \[*\]* ]]; then # [::1]:4222
        URL_HOST="${hostport%%]*}"
        URL_HOST="${URL_HOST#[}"
        URL_PORT="${hostport##*]}"
        URL_PORT="${URL_PORT#:}"
    elif [[ "$hostport" == *:* ]]; then
        URL_HOST="${hostport%%:*}"
        URL_PORT="${hostport##*:}"
    else
        URL_HOST="$hostport"
        URL_PORT=""
    fi
}

# The URL with its password replaced by '***', for messages.
redact_url() {
    printf '%s\n' "$1" | sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#'
}

is_loopback() {
    [[ "$1" == 127.* || "$1" == localhost || "$1" == ::1 ]]
}

# nats_info HOST PORT: print the server's INFO line if a NATS server answers there.
# A NATS server speaks first: "INFO {...}\r\n" right after the TCP connect.
nats_info() {
    local host="$1" port="$2" line
    line="$(
        # shellcheck disable=SC2016 # expanded by the inner bash
        timeout 3 bash -c '
            exec 3<>"/dev/tcp/$0/$1" || exit 1
            IFS= read -r -t 2 line <&3 || exit 1
            printf "%s\n" "$line"
        ' "$host" "$port" 2>/dev/null
    )" || return 1
    [[ "$line" == INFO\ * ]] || return 1
    printf '%s\n' "${line%$'\r'}"
}

# proc_alive PID: true while the process runs. An exited process nobody has reaped yet (a
# zombie: state Z in /proc/PID/stat) still passes `kill -0`, so it is checked for too.
proc_alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [[ "${stat:0:1}" != Z ]]
}

# pid_alive PIDFILE: true when the file names a live process.
pid_alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(tr -dc '0-9' <"$1")"
    [[ -n "$pid" ]] && proc_alive "$pid"
}

# stop_pid NAME PIDFILE: SIGTERM the process, wait up to 15 s, then SIGKILL. Removes the file.
stop_pid() {
    local name="$1" pidfile="$2" pid
    pid="$(tr -dc '0-9' <"$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do
        proc_alive "$pid" || break
        sleep 0.1
    done
    if proc_alive "$pid"; then
        warn "$name: pid $pid did not stop within 15 s of SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
}
