#!/usr/bin/env bash
# What the rebuild's COPYs wait on (BENCHMARKS.md, "Fifth session: what the rebuild waits on"):
# runs `carelog bench --only projections` and, while its rebuild runs, samples the wait events
# of the active COPY statements every 50 ms; prints how often each (wait type, wait event,
# statement) was seen. Sampling costs a little CPU itself, so the rebuild's own figure from this
# run reads low. Needs `make up` (PostgreSQL at DATABASE_URL) and a release build:
#   cargo build --release -p carelog && infra/microbench/rebuild_waits.sh
#
# The per-statement times quoted beside it come from pg_stat_statements, which needs the
# library preloaded: start our cluster with `-c shared_preload_libraries=pg_stat_statements`
# (pg_ctl restart -o "…"), `CREATE EXTENSION pg_stat_statements` as postgres, call
# `pg_stat_statements_reset()` once the bench prints "commits in", and after "(e)" read
# `SELECT total_exec_time, calls, rows, query FROM pg_stat_statements ORDER BY 1 DESC`.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATABASE_URL="${DATABASE_URL:-postgres://carelog:carelog@127.0.0.1:5432/carelog}"
export DATABASE_URL
out="$(mktemp)"
samples="$(mktemp)"
trap 'rm -f "$out" "$samples"' EXIT

target/release/carelog bench --only projections --lag-seconds 1 >"$out" 2>&1 &
bench=$!
until grep -q 'commits in' "$out"; do
    kill -0 "$bench" 2>/dev/null || { cat "$out"; exit 1; }
    sleep 0.2
done
# Past the first (one row per message) baseline, into the rebuild.
until grep -q 'COPY raw_baseline' <(psql "$DATABASE_URL" -tAc "SELECT query FROM pg_stat_activity") ; do sleep 0.05; done
while grep -q 'COPY raw_baseline' <(psql "$DATABASE_URL" -tAc "SELECT query FROM pg_stat_activity"); do sleep 0.05; done
while ! grep -q '^(e)' "$out"; do
    psql "$DATABASE_URL" -tAc "SELECT coalesce(wait_event_type, 'CPU') || ':' ||
        coalesce(wait_event, '-') || ':' || left(query, 20)
        FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY entr%'" >>"$samples"
    sleep 0.05
done
wait "$bench"
grep '^(e)' "$out"
sort "$samples" | uniq -c | sort -rn
