#!/usr/bin/env bash
# Runs the whole bus on this machine: approval, supervision, enforcement and
# linkage services, the relay and the Kafka consumers, with a seeded demo.
# Kafka is the local 3.9.1 broker (or KAFKA_BROKERS); the event store is
# PostgreSQL when DATABASE_URL is set, KurrentDB when KURRENTDB_URL is set,
# and otherwise embedded PostgreSQL (PGlite) under .data/pglite.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
if [[ -n "${DATABASE_URL:-}" ]]; then
  step "postgres"
  bash infra/postgres/ensure.sh
fi
step "bus"
exec pnpm --filter @shenguan/bus start
