# Sourced by infra/up.sh and infra/test.sh: everything a fresh machine with
# only Node, Java 17 and Maven needs before the bus or its tests can run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
PNPM_VERSION="10.34.9"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
node --version
if ! command -v pnpm >/dev/null 2>&1 || [[ "$(pnpm --version)" != "$PNPM_VERSION" ]]; then
  npm i -g "pnpm@$PNPM_VERSION"
fi
echo "pnpm $(pnpm --version)"

# The SM2 interoperability tests check our signatures with the openssl command line.
if ! command -v openssl >/dev/null 2>&1; then
  step "openssl"
  apt-get update && apt-get install -y openssl
fi

# The gateway's Schema Registry tests consume topics with kcat (Debian's build has no Avro
# support, so the frames it reads are decoded by an independent registry client).
if ! command -v kcat >/dev/null 2>&1; then
  step "kcat"
  apt-get update && apt-get install -y kcat
fi

step "dependencies"
pnpm install --frozen-lockfile

step "kafka"
bash infra/kafka/start.sh
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
