#!/usr/bin/env bash
# Stop the local broker started by start.sh (by pid file): SIGTERM for a
# clean shutdown, SIGKILL if it is still alive after KAFKA_STOP_SECONDS (30).
# Idempotent: nothing running is not an error.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

limit="${KAFKA_STOP_SECONDS:-30}"

if ! pid="$(kafka_pid)"; then
  if [[ -f "$KAFKA_PID_FILE" ]]; then
    echo "kafka is not running (removing stale pid file $KAFKA_PID_FILE)"
    rm -f "$KAFKA_PID_FILE"
  else
    echo "kafka is not running (no pid file at $KAFKA_PID_FILE)"
  fi
  exit 0
fi

echo "stopping kafka (pid $pid) ..."
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + limit))
while kill -0 "$pid" 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "kafka still running after ${limit}s: sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
    sleep 1
    break
  fi
  sleep 0.5
done
rm -f "$KAFKA_PID_FILE"
echo "kafka stopped"
