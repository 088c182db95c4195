#!/usr/bin/env bash
# Make sure PostgreSQL is up and the shenguan databases exist. Idempotent.
#   DATABASE_URL  server to use (default postgres://postgres@127.0.0.1:5432/postgres);
#                 its database is created too if missing.
#   PG_WAIT_SECONDS  bound on waiting for the server (default 30)
# If the server is down and the URL is local: start the Debian cluster with
# pg_ctlcluster; if PostgreSQL is not installed and we are root on Debian:
# apt-get install it first (that fresh cluster gets trust auth on 127.0.0.1,
# i.e. a throwaway dev/CI database; never done to an existing installation).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
limit="${PG_WAIT_SECONDS:-30}"
databases=(shenguan shenguan_test)

say() { echo "postgres: $*"; }
die() { echo "ensure.sh: $*" >&2; exit 1; }

# ---- parse the URL ----------------------------------------------------------
# scheme://[user[:pass]@]host[:port][/db][?params]
re='^(postgres(ql)?://(([^@/]*)@)?([^/:?]*|\[[^]/]*\])(:([0-9]+))?)(/([^?]*))?(\?.*)?$'
[[ "$url" =~ $re ]] || die "DATABASE_URL is not a postgres:// URL: $url"
server_part="${BASH_REMATCH[1]}"
host="${BASH_REMATCH[5]}"
port="${BASH_REMATCH[7]:-5432}"
url_db="${BASH_REMATCH[9]}"
params="${BASH_REMATCH[10]}"
admin_url="$server_part/postgres$params"   # maintenance database, always exists
redacted="$(sed -E 's#//([^:@/]*):[^@/]*@#//\1:***@#' <<<"$url")"

case "$host" in
  "" | 127.0.0.1 | localhost | "[::1]") local_server=1 ;;
  *) local_server=0 ;;
esac

is_ready() { command -v pg_isready >/dev/null 2>&1 && pg_isready -q -d "$admin_url" -t 3; }

wait_ready() {
  local deadline=$((SECONDS + limit))
  until is_ready; do
    ((SECONDS < deadline)) || die "PostgreSQL at $host:$port not ready after ${limit}s"
    sleep 1
  done
}

cluster_version() { ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1; }

start_cluster() {
  local version
  version="$(cluster_version)"
  [[ -n "$version" ]] || die "no cluster under /etc/postgresql"
  say "starting cluster $version/main (pg_ctlcluster)"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true # 'already running' is fine
  wait_ready
}

# ---- 1. server up? --------------------------------------------------------------
if is_ready; then
  say "server at $host:$port is accepting connections"
elif ((local_server)) && command -v pg_ctlcluster >/dev/null 2>&1; then
  say "server at $host:$port is down"
  start_cluster
elif ((local_server)) && ! command -v pg_ctlcluster >/dev/null 2>&1 && ! command -v postgres >/dev/null 2>&1 \
  && [[ $EUID -eq 0 && -f /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1; then
  say "PostgreSQL is not installed: installing it with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
  version="$(cluster_version)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if [[ -f "$hba" ]] && ! grep -q 'shenguan: trust' "$hba"; then
    say "fresh cluster: trusting local TCP connections in $hba (dev/CI only)"
    sed -i '1i # shenguan: trust local TCP for dev/CI (added by infra/postgres/ensure.sh)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$version" main reload 2>/dev/null || true
  fi
  start_cluster
else
  if ((local_server)); then
    die "PostgreSQL at $host:$port is not running and cannot be started here (no pg_ctlcluster, not root on Debian). Start it yourself or set DATABASE_URL."
  fi
  die "PostgreSQL at $host:$port (from DATABASE_URL) is not reachable"
fi
command -v psql >/dev/null 2>&1 || die "psql is required"

# ---- 2. databases -------------------------------------------------------------
want=("${databases[@]}")
if [[ -n "$url_db" && "$url_db" != postgres ]]; then
  want+=("$url_db")
fi
declare -A seen=()
for db in "${want[@]}"; do
  [[ -n "${seen[$db]:-}" ]] && continue
  seen[$db]=1
  [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "refusing to create database with unusual name: $db"
  exists="$(psql "$admin_url" -X -tA -v ON_ERROR_STOP=1 -c "select 1 from pg_database where datname = '$db'")"
  if [[ "$exists" == 1 ]]; then
    say "database $db exists"
  else
    psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -c "create database \"$db\"" \
      || psql "$admin_url" -X -tA -c "select 1 from pg_database where datname = '$db'" | grep -q 1 # lost a race: fine
    say "created database $db"
  fi
done
say "ready: $redacted"
