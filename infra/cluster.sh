#!/usr/bin/env bash
# Start or stop the 3-node JetStream cluster on loopback (`make cluster-up`, `make cluster-down`).
#
#   infra/cluster.sh up     start the nodes that are not running, wait for a JetStream leader
#   infra/cluster.sh down   stop the nodes this script started (by their pid files)
#
# Ports and store dirs are listed in infra/nats/cluster.conf; state lives in .data/nats-cluster/.
# Clients connect to any node, e.g. NATS_URL=nats://127.0.0.1:14222, and learn the others from it.
set -euo pipefail

# shellcheck source=infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CLUSTER_DIR="$DATA_DIR/nats-cluster"
NODES=(1 2 3)

client_port() { echo $((14221 + $1)); }
monitor_port() { echo $((18221 + $1)); }

node_running() {
    local pidfile="$CLUSTER_DIR/n$1.pid"
    pid_alive "$pidfile" &&
        tr '\0' ' ' <"/proc/$(tr -dc '0-9' <"$pidfile")/cmdline" 2>/dev/null | grep -q nats-server
}

# http_get PORT PATH: the body of a GET on the loopback monitoring port (no curl needed).
http_get() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" "$1" >&3
        cat <&3
    ' "$1" "$2" 2>/dev/null | sed '1,/^\r\{0,1\}$/d'
}

cluster_up() {
    local bin n pid started=0
    bin="$(find_nats_server)"
    if [[ -z "$bin" ]]; then
        echo "nats-cluster: nats-server not found; installing it with apt (log in .data/apt.log)"
        apt_install nats-server
        bin="$(find_nats_server)"
        [[ -n "$bin" ]] || die "nats-cluster: apt installed nats-server but no binary was found"
    fi
    mkdir -p "$CLUSTER_DIR"
    for n in "${NODES[@]}"; do
        if node_running "$n"; then
            continue
        fi
        if nats_info 127.0.0.1 "$(client_port "$n")" >/dev/null; then
            die "nats-cluster: something not started by infra/cluster.sh already answers at 127.0.0.1:$(client_port "$n")"
        fi
        mkdir -p "$CLUSTER_DIR/n$n"
        printf '\n=== %s infra/cluster.sh: %s -c infra/nats/cluster-n%s.conf\n' "$(date -Is)" "$bin" "$n" \
            >>"$CLUSTER_DIR/n$n.log"
        CARELOG_NATS_STORE_DIR="$CLUSTER_DIR/n$n" setsid "$bin" -c "$REPO_ROOT/infra/nats/cluster-n$n.conf" \
            </dev/null >>"$CLUSTER_DIR/n$n.log" 2>&1 &
        echo "$!" >"$CLUSTER_DIR/n$n.pid"
        started=$((started + 1))
    done

    # Each node answers on its client port first; JetStream is usable once the nodes have
    # elected a meta leader, which /healthz reports as {"status":"ok"}.
    for _ in $(seq 300); do
        local ready=0
        for n in "${NODES[@]}"; do
            if ! node_running "$n"; then
                rm -f "$CLUSTER_DIR/n$n.pid"
                die "nats-cluster: node n$n exited during startup; last lines of .data/nats-cluster/n$n.log:
$(tail -n 20 "$CLUSTER_DIR/n$n.log")"
            fi
            if http_get "$(monitor_port "$n")" /healthz | grep -q '"ok"'; then
                ready=$((ready + 1))
            fi
        done
        if [[ $ready -eq ${#NODES[@]} ]]; then
            local leader
            leader="$(http_get "$(monitor_port 1)" /jsz | grep -o '"leader": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
            if [[ $started -eq 0 ]]; then
                echo "nats-cluster: already running on 127.0.0.1:14222-14224 (JetStream leader ${leader:-unknown}, data in .data/nats-cluster)"
            else
                echo "nats-cluster: started $started node(s); 3 nodes on 127.0.0.1:14222-14224 (JetStream leader ${leader:-unknown}, data in .data/nats-cluster)"
            fi
            return
        fi
        sleep 0.1
    done
    die "nats-cluster: the nodes did not report healthy JetStream within 30 s; see .data/nats-cluster/n*.log"
}

cluster_down() {
    local n stopped=0
    for n in "${NODES[@]}"; do
        if node_running "$n"; then
            stop_pid "nats-cluster n$n" "$CLUSTER_DIR/n$n.pid"
            stopped=$((stopped + 1))
        else
            rm -f "$CLUSTER_DIR/n$n.pid"
        fi
    done
    echo "nats-cluster: stopped $stopped node(s) (data kept in .data/nats-cluster)"
}

case "${1:-}" in
up) cluster_up ;;
down) cluster_down ;;
*) die "usage: infra/cluster.sh up|down" ;;
esac
