#!/usr/bin/env bash
# The bus's own certificate authority for department client certificates
# (mutual TLS at the gateway), on the openssl command line:
#
#   ca.sh init                  create the CA (and the gateway's server certificate)
#   ca.sh issue <DEPT-CODE>     a client certificate with CN=<DEPT-CODE>; prints its serial
#   ca.sh server [HOST]         (re)issue the gateway's server certificate (default localhost)
#   ca.sh revoke <serial>       revoke a certificate and rewrite the CRL
#   ca.sh crl                   rewrite the CRL; prints its path
#
# Files live under $PKI_DIR (default <repo>/.data/pki): ca.pem/ca.key, crl.pem,
# server.pem/server.key, and issued/<CODE>.pem/.key for each department.
#
# Curve: NIST P-256 (prime256v1). Node 20's TLS (OpenSSL 3.0) does not accept
# SM2 certificates in a TLS handshake (no RFC 8998 TLCP/TLS 1.3 SM suites), and
# P-256 is the one curve every TLS stack, browser and curl build verifies.
# The transport key only proves who connects; the evidence a department leaves
# on its events is still signed with SM2 (see @shenguan/evidence).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKI_DIR="${PKI_DIR:-$here/../../.data/pki}"
CA_DAYS="${CA_DAYS:-3650}"
CERT_DAYS="${CERT_DAYS:-365}"
CRL_DAYS="${CRL_DAYS:-30}"

die() { echo "ca.sh: $*" >&2; exit 1; }
# openssl chatters on stderr; show it only when a step fails.
quiet() { local log; log="$(mktemp)"; if ! "$@" 2>"$log"; then cat "$log" >&2; rm -f "$log"; return 1; fi; rm -f "$log"; }
# The server extension reads its subjectAltName from the environment; every use of the config needs it set.
export SAN="${SAN:-DNS:localhost}"

config() {
  cat <<CNF
[ ca ]
default_ca = bus_ca
[ bus_ca ]
dir = $PKI_DIR
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
crlnumber = \$dir/crlnumber
# Random 159-bit serials: unguessable, and no shared counter file to race on.
rand_serial = yes
default_md = sha256
default_days = $CERT_DAYS
default_crl_days = $CRL_DAYS
policy = policy_cn
unique_subject = no
copy_extensions = none
[ policy_cn ]
commonName = supplied
organizationName = optional
[ client_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ server_ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SAN
[ ca_ext ]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
CNF
}

need_ca() { [[ -f "$PKI_DIR/ca.pem" ]] || die "no CA in $PKI_DIR: run 'ca.sh init' first"; }

ca() { quiet openssl ca -config "$PKI_DIR/openssl.cnf" -batch "$@"; }

gencrl() {
  ca -gencrl -out "$PKI_DIR/crl.pem"
  echo "$PKI_DIR/crl.pem"
}

# Signs a fresh P-256 key for <CN> with extensions <ext>; leaves <out>.pem/.key; prints the serial.
sign() {
  local cn="$1" ext="$2" out="$3"
  quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.key"
  chmod 600 "$out.key"
  quiet openssl req -new -key "$out.key" -subj "/O=shenguan/CN=$cn" -out "$out.csr"
  ca -extensions "$ext" -in "$out.csr" -out "$out.pem" -notext
  rm -f "$out.csr"
  openssl x509 -in "$out.pem" -noout -serial | sed 's/^serial=//'
}

cmd="${1:-}"
case "$cmd" in
  init)
    [[ -f "$PKI_DIR/ca.pem" ]] && die "a CA already exists in $PKI_DIR"
    mkdir -p "$PKI_DIR/newcerts" "$PKI_DIR/issued"
    config > "$PKI_DIR/openssl.cnf"
    : > "$PKI_DIR/index.txt"
    echo 1000 > "$PKI_DIR/crlnumber"
    quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI_DIR/ca.key"
    chmod 600 "$PKI_DIR/ca.key"
    quiet openssl req -new -x509 -key "$PKI_DIR/ca.key" -days "$CA_DAYS" -subj "/O=shenguan/CN=shenguan bus CA" \
      -config "$PKI_DIR/openssl.cnf" -extensions ca_ext -out "$PKI_DIR/ca.pem"
    SAN="DNS:localhost,IP:127.0.0.1" sign "localhost" server_ext "$PKI_DIR/server" > /dev/null
    gencrl > /dev/null
    echo "$PKI_DIR/ca.pem"
    ;;
  issue)
    code="${2:-}"
    [[ "$code" =~ ^[A-Z0-9][A-Z0-9-]{1,39}$ ]] || die "issue: a department code is required (A-Z, 0-9, '-', 2-40 chars), got '${code}'"
    need_ca
    sign "$code" client_ext "$PKI_DIR/issued/$code"
    ;;
  server)
    host="${2:-localhost}"
    need_ca
    SAN="DNS:$host,IP:127.0.0.1" sign "$host" server_ext "$PKI_DIR/server"
    ;;
  revoke)
    serial="$(echo "${2:-}" | tr -d ':' | tr 'a-f' 'A-F')"
    [[ "$serial" =~ ^[0-9A-F]+$ ]] || die "revoke: a certificate serial in hex is required, got '${2:-}'"
    need_ca
    cert="$PKI_DIR/newcerts/$serial.pem"
    [[ -f "$cert" ]] || die "revoke: no certificate with serial $serial was issued by this CA"
    ca -revoke "$cert" -crl_reason "${REASON:-keyCompromise}" || die "revoke: openssl refused (already revoked?)"
    gencrl
    ;;
  crl)
    need_ca
    gencrl
    ;;
  *)
    die "usage: ca.sh init | issue <DEPT-CODE> | server [HOST] | revoke <serial> | crl"
    ;;
esac
