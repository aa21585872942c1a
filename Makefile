# Entry points for developers and CI. `make up` installs (apt) and starts what is missing:
# nats-server with JetStream at NATS_URL and PostgreSQL at DATABASE_URL; servers that already
# answer there are used as they are. See infra/up.sh.

SHELL := /bin/bash

# The all-in-one process logs in as `carelog` (infra/nats/authorization.conf; development
# password, loopback only). A URL without a login connects without one (a server without users).
NATS_URL ?= nats://carelog:carelog-dev-only@127.0.0.1:4222
DATABASE_URL ?= postgres://carelog:carelog@127.0.0.1:5432/carelog
export NATS_URL
export DATABASE_URL
# Only passed on when set: the test harness otherwise finds nats-server on PATH, /usr/sbin, /usr/bin.
ifdef CARELOG_NATS_SERVER
export CARELOG_NATS_SERVER
endif

CARGO ?= cargo

.PHONY: up down run test bench lint cluster-up cluster-down

up:
	infra/up.sh

down:
	infra/down.sh

run: up
	$(CARGO) run --release -p carelog -- run

test: up
	$(CARGO) test --workspace --locked

bench: up
	$(CARGO) run --release -p carelog -- bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

cluster-up:
	infra/cluster.sh up

cluster-down:
	infra/cluster.sh down
