#!/usr/bin/env bash
# Wait (bounded) until a Kafka broker answers a metadata (ApiVersions) request.
#   usage: infra/kafka/wait.sh [bootstrap]   default 127.0.0.1:9092
#   KAFKA_WAIT_SECONDS   upper bound, default 90
# Fails fast, with the tail of the broker log, if the local broker started by
# start.sh dies while we wait.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

bootstrap="${1:-$KAFKA_LOCAL_BOOTSTRAP}"
limit="${KAFKA_WAIT_SECONDS:-90}"
deadline=$((SECONDS + limit))

show_log_tail() {
  [[ "$bootstrap" == "$KAFKA_LOCAL_BOOTSTRAP" ]] || return 0 # not our broker: its log isn't here
  local f
  for f in "$KAFKA_LOGS/kafka.out" "$KAFKA_LOGS/server.log"; do
    if [[ -s "$f" ]]; then
      echo "---- last 40 lines of $f ----" >&2
      tail -n 40 "$f" >&2
    fi
  done
}

if [[ ! -f "$KAFKA_LIBS/.complete" ]]; then
  "$KAFKA_INFRA_DIR/fetch.sh" # the readiness probe needs the Kafka CLI jars
fi

# Was a local broker launched by start.sh? Then watch its pid too.
watch_pid=""
if [[ "$bootstrap" == "$KAFKA_LOCAL_BOOTSTRAP" ]]; then
  watch_pid="$(kafka_pid || true)"
fi

start=$SECONDS
while :; do
  if kafka_answers "$bootstrap"; then
    echo "kafka is ready on $bootstrap (waited $((SECONDS - start))s)"
    exit 0
  fi
  if [[ -n "$watch_pid" ]] && ! kill -0 "$watch_pid" 2>/dev/null; then
    echo "wait.sh: the kafka process (pid $watch_pid) exited before becoming ready" >&2
    show_log_tail
    exit 1
  fi
  if ((SECONDS >= deadline)); then
    echo "wait.sh: kafka did not answer on $bootstrap within ${limit}s" >&2
    show_log_tail
    exit 1
  fi
  sleep 1
done
