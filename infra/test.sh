#!/usr/bin/env bash
# Runs every test on real Kafka and PostgreSQL: installs what is missing,
# starts the local broker, makes sure PostgreSQL is up, then `pnpm test`.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
step "postgres"
bash infra/postgres/ensure.sh
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/shenguan_test}"
echo "KAFKA_BROKERS=$KAFKA_BROKERS"
echo "DATABASE_URL=$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$DATABASE_URL")"
echo "KURRENTDB_URL=${KURRENTDB_URL:-<unset: the KurrentDB conformance suite is not run on this machine>}"
step "test"
pnpm test
