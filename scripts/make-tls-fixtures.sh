#!/usr/bin/env bash
# Makes the TLS fixtures of tests/fixtures/tls/: small captures of real TLS connections on the
# loopback interface, each with the NSS key log that decrypts it (test keys of a throwaway
# certificate, made anew on each run). tests/it/tls.rs decrypts each and checks the plaintext
# against what the client sent (and tshark under AUTHSCOPE_FULL_TESTS=1).
#
#   scripts/make-tls-fixtures.sh [OUT_DIR]     (default: tests/fixtures/tls)
#
# Needs root (tcpdump on lo), openssl 3 (s_server, s_client) and tcpdump. The server is
# `openssl s_server -rev`: it answers each line with the line reversed, so the test knows the
# server's plaintext too. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/fixtures/tls}
mkdir -p "$out"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A throwaway self-signed certificate (RSA 2048, SHA-256), with DNS and IP SANs.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
  -days 3650 -subj /CN=tls-fixture.test \
  -addext subjectAltName=DNS:tls-fixture.test,IP:127.0.0.1 2>/dev/null
# Another one, the only CA a client of the unknown-CA case trusts.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/other-key.pem" -out "$work/other.pem" \
  -days 3650 -subj /CN=another-ca.test 2>/dev/null

# The request every client sends: an HTTP request, as a TLS client of authscope's would.
request=$'GET /fixture HTTP/1.1\r\nHost: tls-fixture.test\r\nUser-Agent: authscope-fixture\r\n\r\n'
port=45000

# capture NAME SERVER_OPTS CLIENT_OPTS [CONNECTIONS] [INPUT_SCRIPT]
# Runs one s_server for CONNECTIONS connections and as many s_client runs, each sending
# INPUT_SCRIPT's output (default: the request), all captured in NAME.pcap, keys in NAME.keylog.
capture() {
  local name=$1 server_opts=$2 client_opts=$3 conns=${4:-1} input=${5:-send_request}
  port=$((port + 1))
  rm -f "$out/$name.pcap" "$out/$name.keylog" "$work/sess"
  tcpdump -i lo -s 0 -U -w "$out/$name.pcap" "tcp port $port" 2>/dev/null &
  local dump=$!
  pids+=("$dump")
  sleep 1
  # shellcheck disable=SC2086
  openssl s_server -accept "127.0.0.1:$port" -cert "$work/cert.pem" -key "$work/key.pem" \
    -rev -naccept "$conns" -alpn http/1.1 $server_opts >"$work/server.log" 2>&1 &
  local server=$!
  pids+=("$server")
  sleep 0.5
  local i
  for ((i = 1; i <= conns; i++)); do
    local sess=""
    if [ "$conns" -gt 1 ]; then
      if [ "$i" -eq 1 ]; then sess="-sess_out $work/sess"; else sess="-sess_in $work/sess"; fi
    fi
    # shellcheck disable=SC2086
    "$input" | timeout 10 openssl s_client -connect "127.0.0.1:$port" \
      -servername tls-fixture.test -alpn http/1.1 -keylogfile "$out/$name.keylog" \
      $sess $client_opts >"$work/client.log" 2>&1 || true
  done
  wait "$server" 2>/dev/null || true
  sleep 0.5
  kill "$dump" 2>/dev/null || true
  wait "$dump" 2>/dev/null || true
  printf '%-40s %6s bytes, %s key log lines\n' "$name" "$(stat -c %s "$out/$name.pcap")" \
    "$(grep -c . "$out/$name.keylog" 2>/dev/null || echo 0)"
}

send_request() {
  printf '%s' "$request"
  sleep 0.5
}

# TLS 1.3 KeyUpdate: s_client's command `K` (a line of its own) sends a KeyUpdate that asks the
# server to update its keys too; then a second line goes under the new keys.
send_with_key_update() {
  printf '%s' "$request"
  sleep 0.3
  printf 'K\n'
  sleep 0.3
  printf 'after the key update\n'
  sleep 0.5
}

# TLS 1.2 (Schannel's defaults first: ECDHE with AES-GCM, then AES-CBC).
capture tls12-ecdhe-rsa-aes128-gcm-sha256 "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256" ""
capture tls12-rsa-aes256-gcm-sha384 "-tls1_2 -cipher AES256-GCM-SHA384" ""
capture tls12-ecdhe-rsa-chacha20-poly1305 "-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305" ""
capture tls12-ecdhe-rsa-aes128-sha-etm "-tls1_2 -cipher ECDHE-RSA-AES128-SHA" ""
capture tls12-ecdhe-rsa-aes128-sha-mte "-tls1_2 -cipher ECDHE-RSA-AES128-SHA" "-no_etm"
capture tls12-rsa-aes256-sha256 "-tls1_2 -cipher AES256-SHA256" "-no_etm"
# Resumption: the second connection offers the first one's ticket.
capture tls12-resumed "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256" "" 2
# TLS 1.0 and 1.1 (the MD5/SHA-1 PRF; TLS 1.0's IV chained from the record before).
capture tls10-ecdhe-rsa-aes256-sha "-tls1 -cipher ECDHE-RSA-AES256-SHA:@SECLEVEL=0" \
  "-cipher ECDHE-RSA-AES256-SHA:@SECLEVEL=0 -no_etm"
capture tls11-ecdhe-rsa-aes128-sha "-tls1_1 -cipher ECDHE-RSA-AES128-SHA:@SECLEVEL=0" \
  "-cipher ECDHE-RSA-AES128-SHA:@SECLEVEL=0"
# TLS 1.3.
capture tls13-aes128-gcm-sha256 "-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256" ""
capture tls13-aes256-gcm-sha384 "-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384" ""
capture tls13-chacha20-poly1305-sha256 "-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256" ""
capture tls13-key-update "-tls1_3" "" 1 send_with_key_update
# HelloRetryRequest: the client's key share is X25519, the server takes P-256 only.
capture tls13-hello-retry "-tls1_3 -groups P-256" "-groups X25519:P-256"
# An encrypted alert: the client does not trust the server's self-signed certificate; it
# says unknown_ca (48) under its handshake keys.
capture tls13-untrusted "-tls1_3" "-verify_return_error -CAfile $work/other.pem"
# The same in TLS 1.2: the alert is in clear (the client has not sent ChangeCipherSpec).
capture tls12-untrusted "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256" \
  "-verify_return_error -CAfile $work/other.pem"
