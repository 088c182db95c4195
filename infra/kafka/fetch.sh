#!/usr/bin/env bash
# Download the Kafka 3.9.1 broker jars (plus a log4j binding) from Maven
# Central into infra/.cache/kafka-3.9.1/libs. Runs Maven once; later calls
# are a no-op while the jars are present. FORCE=1 re-downloads.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
KAFKA_VERSION="3.9.1"
LIBS_DIR="$REPO_ROOT/infra/.cache/kafka-$KAFKA_VERSION/libs"
MARKER="$LIBS_DIR/.complete"

if [[ "${FORCE:-0}" != "1" && -f "$MARKER" ]] \
  && compgen -G "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
  echo "kafka $KAFKA_VERSION jars already in $LIBS_DIR"
  exit 0
fi

command -v mvn >/dev/null 2>&1 || { echo "fetch.sh: mvn (Maven 3) is required" >&2; exit 1; }
command -v java >/dev/null 2>&1 || { echo "fetch.sh: java (17+) is required" >&2; exit 1; }

echo "fetching kafka $KAFKA_VERSION jars from Maven Central into $LIBS_DIR ..."
start=$SECONDS
rm -rf "$LIBS_DIR"
mkdir -p "$LIBS_DIR"
# -B: no colour / progress noise; runtime scope = what the broker needs to run.
mvn -B -q -Dstyle.color=never -f "$SCRIPT_DIR/pom.xml" \
  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$LIBS_DIR" 2>&1 \
  | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^$/d' # Debian's mvn 3.8 emits colour codes even with -B

if ! compgen -G "$LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null; then
  echo "fetch.sh: Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing in $LIBS_DIR" >&2
  exit 1
fi
touch "$MARKER"
echo "fetched $(ls "$LIBS_DIR"/*.jar | wc -l) jars in $((SECONDS - start))s"
