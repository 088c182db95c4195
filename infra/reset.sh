#!/usr/bin/env bash
# Starts the local bus over from nothing: stops the local Kafka broker and
# deletes its topics, the embedded store (.data/pglite), the custody keys
# (.data/keys), the SM4 keys and the bus CA (.data/pki). The store and Kafka
# go together: a fresh store beside old topics would have its consumers replay
# another store's events into its read models. A PostgreSQL named by
# DATABASE_URL is not touched (drop its schema yourself). Stop the bus first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if pgrep -f "services/bus|bus/src/main.ts" >/dev/null 2>&1; then
  echo "the bus is running: stop it first (Ctrl-C in its terminal)" >&2
  exit 1
fi
bash "$root/infra/kafka/stop.sh"
rm -rf "$root/.data/kafka" "$root/.data/pglite" "$root/.data/keys" "$root/.data/pii-keys.json" "$root/.data/pki" "$root/.data/gateway"
echo "reset: local Kafka topics, embedded store and keys deleted; 'bash infra/up.sh' starts afresh"
