# Shared by infra/kafka/*.sh (sourced, not run). Callers set -euo pipefail.
# Resolves every path from this file's location, so scripts work from any cwd.

KAFKA_INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$KAFKA_INFRA_DIR/../.." && pwd)"
KAFKA_VERSION="3.9.1"
KAFKA_LIBS="$REPO_ROOT/infra/.cache/kafka-$KAFKA_VERSION/libs"
KAFKA_DATA="$REPO_ROOT/.data/kafka"        # everything mutable lives here
KAFKA_LOG_DIRS="$KAFKA_DATA/data"          # the broker's log.dirs (topic data + KRaft metadata)
KAFKA_LOGS="$KAFKA_DATA/logs"              # log4j output: server.log, controller.log, kafka.out
KAFKA_PID_FILE="$KAFKA_DATA/kafka.pid"
KAFKA_CLUSTER_ID_FILE="$KAFKA_DATA/cluster.id"
KAFKA_PROPS="$KAFKA_DATA/server.properties" # infra/kafka/server.properties with log.dirs filled in
KAFKA_HOST="127.0.0.1"
KAFKA_PORT="9092"
KAFKA_LOCAL_BOOTSTRAP="$KAFKA_HOST:$KAFKA_PORT"

# Small, fast-starting JVM for the command-line tools.
KAFKA_TOOL_JVM_OPTS=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true
  "-Dlog4j.configuration=file:$KAFKA_INFRA_DIR/tools-log4j.properties")

# kafka_tool <main-class> [args...]: run a Kafka CLI class from the cached jars.
kafka_tool() {
  local main="$1"
  shift
  java "${KAFKA_TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$main" "$@"
}

# tcp_open <host> <port>: true if something accepts a TCP connection (2 s max).
tcp_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

# kafka_answers <bootstrap>: true if a Kafka broker answers an ApiVersions
# (metadata) request there. Cheap TCP probe first, then the real protocol check.
kafka_answers() {
  local bootstrap="$1" first host port
  first="${bootstrap%%,*}"
  host="${first%:*}"
  port="${first##*:}"
  tcp_open "$host" "$port" || return 1
  timeout 30 java "${KAFKA_TOOL_JVM_OPTS[@]}" -cp "$KAFKA_LIBS/*" \
    kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$bootstrap" >/dev/null 2>&1
}

# kafka_pid: print the pid from the pid file if that process is alive and is
# our broker (kafka.Kafka); otherwise print nothing and return 1.
kafka_pid() {
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka'; then
    return 1 # pid was reused by something else
  fi
  echo "$pid"
}
