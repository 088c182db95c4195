#!/usr/bin/env bash
# Start a single-node KRaft Kafka 3.9.1 on 127.0.0.1:9092 from the jars that
# fetch.sh caches (Java 17 + Maven, no Docker needed). Idempotent:
#   - KAFKA_BROKERS set and reachable  -> external broker, nothing started;
#   - a Kafka already answers on :9092 -> exit 0;
#   - otherwise format storage once (cluster id kept in .data/kafka/cluster.id),
#     launch the broker in the background and wait until it serves metadata.
# Env: KAFKA_HEAP_OPTS (default -Xms256m -Xmx512m), KAFKA_WAIT_SECONDS (90).
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# ---- 1. an external broker? ------------------------------------------------
if [[ -n "${KAFKA_BROKERS:-}" ]]; then
  reachable=0
  if [[ -f "$KAFKA_LIBS/.complete" ]] && command -v java >/dev/null 2>&1; then
    kafka_answers "$KAFKA_BROKERS" && reachable=1
  else
    first="${KAFKA_BROKERS%%,*}"
    tcp_open "${first%:*}" "${first##*:}" && reachable=1
  fi
  if ((reachable)); then
    echo "KAFKA_BROKERS=$KAFKA_BROKERS is reachable: using that broker, not starting one"
    exit 0
  fi
  case "$KAFKA_BROKERS" in
    "$KAFKA_LOCAL_BOOTSTRAP" | "localhost:$KAFKA_PORT")
      echo "KAFKA_BROKERS=$KAFKA_BROKERS is the local broker and not up yet: starting it" ;;
    *)
      echo "start.sh: KAFKA_BROKERS=$KAFKA_BROKERS is set but not reachable." >&2
      echo "  Unset it to run a local broker on $KAFKA_LOCAL_BOOTSTRAP, or fix the external one." >&2
      exit 1 ;;
  esac
fi

# ---- 2. jars ---------------------------------------------------------------
"$KAFKA_INFRA_DIR/fetch.sh"

mkdir -p "$KAFKA_DATA" "$KAFKA_LOG_DIRS" "$KAFKA_LOGS"

# Fast path, no lock needed: a Kafka already answers locally.
if kafka_answers "$KAFKA_LOCAL_BOOTSTRAP"; then
  pid="$(kafka_pid || true)"
  echo "kafka already running on $KAFKA_LOCAL_BOOTSTRAP${pid:+ (pid $pid)}; log: $KAFKA_LOGS/server.log"
  exit 0
fi

# Serialise concurrent start.sh runs (several test runners may call it at once).
exec 9>"$KAFKA_DATA/start.lock"
if ! flock -w 120 9; then
  echo "start.sh: another start.sh holds $KAFKA_DATA/start.lock for >120s" >&2
  exit 1
fi

# ---- 3. already running? ---------------------------------------------------
if tcp_open "$KAFKA_HOST" "$KAFKA_PORT"; then
  if kafka_answers "$KAFKA_LOCAL_BOOTSTRAP"; then
    pid="$(kafka_pid || true)"
    echo "kafka already running on $KAFKA_LOCAL_BOOTSTRAP${pid:+ (pid $pid)}; log: $KAFKA_LOGS/server.log"
    exit 0
  fi
  if ! kafka_pid >/dev/null; then
    echo "start.sh: something that is not Kafka is listening on $KAFKA_LOCAL_BOOTSTRAP" >&2
    exit 1
  fi
fi
if pid="$(kafka_pid)"; then
  echo "kafka (pid $pid) is starting; waiting for it"
  "$KAFKA_INFRA_DIR/wait.sh" "$KAFKA_LOCAL_BOOTSTRAP"
  echo "log: $KAFKA_LOGS/server.log"
  exit 0
fi
rm -f "$KAFKA_PID_FILE"

# ---- 4. config + storage ---------------------------------------------------
# The checked-in server.properties with log.dirs pointing into .data/kafka.
sed -e "s|^log\.dirs=.*|log.dirs=$KAFKA_LOG_DIRS|" "$KAFKA_INFRA_DIR/server.properties" >"$KAFKA_PROPS.tmp"
mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"

if [[ -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
  cluster_id="$(tr -d '[:space:]' <"$KAFKA_CLUSTER_ID_FILE")"
elif [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]]; then
  # Storage formatted earlier but cluster.id lost: keep the formatted id.
  cluster_id="$(sed -n 's/^cluster\.id=//p' "$KAFKA_LOG_DIRS/meta.properties")"
  echo "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
else
  cluster_id="$(kafka_tool kafka.tools.StorageTool random-uuid | tail -n 1 | tr -d '[:space:]')"
  echo "$cluster_id" >"$KAFKA_CLUSTER_ID_FILE"
  echo "generated cluster id $cluster_id ($KAFKA_CLUSTER_ID_FILE)"
fi

if [[ -f "$KAFKA_LOG_DIRS/meta.properties" ]]; then
  echo "reusing storage in $KAFKA_LOG_DIRS (cluster id $cluster_id)"
else
  echo "formatting storage in $KAFKA_LOG_DIRS (cluster id $cluster_id)"
fi
kafka_tool kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_PROPS" --ignore-formatted >/dev/null

# ---- 5. launch -------------------------------------------------------------
read -r -a heap_opts <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
jvm_opts=(
  "${heap_opts[@]}"
  -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
  -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_INFRA_DIR/log4j.properties"
  "-Dkafka.logs.dir=$KAFKA_LOGS"
)

echo "starting kafka $KAFKA_VERSION on $KAFKA_LOCAL_BOOTSTRAP ..."
launched=$SECONDS
# setsid: own session, so the broker outlives the shell/CI step that started
# it; the inner shell writes its own pid, then execs java (same pid).
{ echo "==== $(date -u +%FT%TZ) start.sh"; } >>"$KAFKA_LOGS/kafka.out"
setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$KAFKA_PID_FILE" \
  java "${jvm_opts[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
  >>"$KAFKA_LOGS/kafka.out" 2>&1 </dev/null 9>&- &

for _ in $(seq 50); do [[ -s "$KAFKA_PID_FILE" ]] && break; sleep 0.1; done
echo "kafka pid $(cat "$KAFKA_PID_FILE" 2>/dev/null || echo '?')"

"$KAFKA_INFRA_DIR/wait.sh" "$KAFKA_LOCAL_BOOTSTRAP"
echo "kafka started in $((SECONDS - launched))s; logs: $KAFKA_LOGS/server.log (stdout/stderr: $KAFKA_LOGS/kafka.out)"
