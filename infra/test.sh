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
# vitest also writes a JSON report, so the run ends with the plain
# "N passed, N failed, N skipped" line that CI reads.
report="$REPO_ROOT/.data/vitest-report.json"
mkdir -p "$(dirname "$report")"
rm -f "$report"
status=0
pnpm test --reporter=default --reporter=json --outputFile.json="$report" || status=$?
if [[ -f "$report" ]]; then
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const skipped = r.numPendingTests + r.numTodoTests;
    console.log(`\n${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
  ' "$report"
fi
exit "$status"
