#!/usr/bin/env bash
# Generates the TLS test fixtures of tests/fixtures/tls/, once; the PEM files are committed, so
# the tests never run openssl. Run it again only to change them (it overwrites every file).
#
#   ca.pem, ca.key.pem            the test CA (100 years)
#   member.pem, member.key.pem    a member certificate from that CA for 127.0.0.1, ::1 and
#                                 localhost, valid 100 years
#   rotated.pem, rotated.key.pem  a second one like it (another serial and subject), for the
#                                 SIGHUP reload tests: "the new certificate"
#   expired.pem, expired.key.pem  from the test CA, same names, valid only in 2000
#   wrong-name.pem, ...key.pem    from the test CA, valid, but for elsewhere.invalid only
#   other-ca.pem                  another CA (its key is thrown away)
#   other.pem, other.key.pem      from the other CA, same names, valid 100 years
#
# Keys are EC P-256 (PKCS#8 PEM), test-only and public: never use them for anything else.
# Usage: bash scripts/gen_test_certs.sh            (needs openssl 1.1.1 or later)
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/fixtures/tls
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

DAYS=36500 # 100 years: the fixtures outlive the project
SANS="subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# A self-signed CA: ca <name> <cert> <key> <subject>
ca() {
  key "$2"
  openssl req -x509 -new -key "$2" -out "$1" -days $DAYS -subj "$3" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
}

# A leaf: leaf <cert> <key> <subject> <ca cert> <ca key> <san> [startdate enddate]
leaf() {
  local cert=$1 k=$2 subj=$3 cacert=$4 cakey=$5 san=$6
  key "$k"
  openssl req -new -key "$k" -subj "$subj" -out "$work/req.csr"
  cat >"$work/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
$san
EXT
  if [ $# -ge 8 ]; then
    # `openssl ca` is the one 3.0-era command that takes explicit start and end dates.
    local db="$work/db"
    rm -rf "$db" && mkdir -p "$db/new" && : >"$db/index.txt" && echo 1000 >"$db/serial"
    cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
dir = $db
database = $db/index.txt
new_certs_dir = $db/new
serial = $db/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
CNF
    openssl ca -batch -config "$work/ca.cnf" -cert "$cacert" -keyfile "$cakey" \
      -in "$work/req.csr" -out "$work/leaf.pem" -startdate "$7" -enddate "$8" \
      -extfile "$work/ext.cnf" -notext 2>/dev/null
    openssl x509 -in "$work/leaf.pem" -out "$cert"
  else
    openssl x509 -req -in "$work/req.csr" -CA "$cacert" -CAkey "$cakey" -CAcreateserial \
      -CAserial "$work/ca.srl" -days $DAYS -sha256 -extfile "$work/ext.cnf" -out "$cert"
  fi
}

ca "$out/ca.pem" "$out/ca.key.pem" "/CN=herd test CA"
leaf "$out/member.pem" "$out/member.key.pem" "/CN=herd test member" \
  "$out/ca.pem" "$out/ca.key.pem" "$SANS"
leaf "$out/rotated.pem" "$out/rotated.key.pem" "/CN=herd test member rotated" \
  "$out/ca.pem" "$out/ca.key.pem" "$SANS"
leaf "$out/expired.pem" "$out/expired.key.pem" "/CN=herd test member expired" \
  "$out/ca.pem" "$out/ca.key.pem" "$SANS" 20000101000000Z 20001231000000Z
leaf "$out/wrong-name.pem" "$out/wrong-name.key.pem" "/CN=elsewhere.invalid" \
  "$out/ca.pem" "$out/ca.key.pem" "subjectAltName=DNS:elsewhere.invalid"
ca "$out/other-ca.pem" "$work/other-ca.key.pem" "/CN=another test CA"
leaf "$out/other.pem" "$out/other.key.pem" "/CN=herd test member other CA" \
  "$out/other-ca.pem" "$work/other-ca.key.pem" "$SANS"

for f in member rotated expired wrong-name other; do
  openssl verify -CAfile "$out/ca.pem" "$out/$f.pem" >/dev/null 2>&1 && v=yes || v=no
  echo "$f.pem: verifies against ca.pem: $v; $(openssl x509 -in "$out/$f.pem" -noout -enddate)"
done
