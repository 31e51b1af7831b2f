#!/usr/bin/env bash
# The HTTPS benchmark capture: the benchmark's kind of traffic (ordinary requests of 500 B to
# 1 MB, chunked bodies, uploads, HTTP/1.0, IPv4 and IPv6, with NTLM, Negotiate, Basic and Digest
# handshakes among them; NTLM failing after the Type 3 or closed after the Type 2) with every
# connection over TLS: TLS 1.2 with ECDHE and AES-GCM, AES-CBC and ChaCha20-Poly1305, TLS 1.3
# with AES-256-GCM, AES-128-GCM and ChaCha20-Poly1305 (weights in scripts/https_traffic.py).
#
#   sudo scripts/make-https-capture.sh OUT.pcap TARGET_BYTES [SEED]
#   e.g. sudo scripts/make-https-capture.sh /tmp/authscope-bench/https1g.pcap 1000000000 1
#
# Writes OUT.pcap, OUT.keylog (the clients' TLS secrets, NSS key log format), OUT.stats.json
# (what the clients did: connections, requests, handshakes by kind, connections by TLS
# profile) and OUT.tcpdump.log. Real TLS (Python's ssl module, OpenSSL) between a server and
# concurrent clients inside a private network namespace whose loopback has MTU 1500 and
# TSO/GSO/GRO off, so TCP segments look like Ethernet ones; a fresh self-signed RSA server
# certificate per run (test key, deleted at the end). Fails when tcpdump dropped packets (a
# lost segment cannot be decrypted past).
#
# Needs root, tcpdump, ethtool, iproute2, openssl, capinfos (Debian: tcpdump ethtool iproute2
# openssl tshark) and python3 with pyspnego: the lab's venv ($AUTHSCOPE_LAB_VENV, default
# /opt/authscope-lab/venv) when it has pyspnego, else a venv made under $VENV (default
# /tmp/authscope-bench-venv). CONC (default 64) is the number of concurrent clients.
set -euo pipefail
OUT=${1:?usage: make-https-capture.sh OUT.pcap TARGET_BYTES [SEED]}
TARGET=${2:?usage: make-https-capture.sh OUT.pcap TARGET_BYTES [SEED]}
SEED=${3:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=authscope-https-bench
KEYLOG="${OUT%.pcap}.keylog"

[ "$(id -u)" = 0 ] || { echo "make-https-capture: run as root (network namespace, tcpdump)" >&2; exit 2; }
for c in tcpdump ethtool ip openssl capinfos; do
  command -v "$c" >/dev/null || { echo "make-https-capture: $c is missing" >&2; exit 2; }
done

PY=""
for v in "${AUTHSCOPE_LAB_VENV:-/opt/authscope-lab/venv}" "${VENV:-/tmp/authscope-bench-venv}"; do
  if [ -x "$v/bin/python" ] && "$v/bin/python" -c 'import spnego' 2>/dev/null; then PY=$v/bin/python; break; fi
done
if [ -z "$PY" ]; then
  VENV=${VENV:-/tmp/authscope-bench-venv}
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check pyspnego
  PY=$VENV/bin/python
fi

mkdir -p "$(dirname "$OUT")"
WORK=$(mktemp -d /tmp/authscope-https-bench.XXXXXX)
PIDS=()
cleanup() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[$i]}" 2>/dev/null || true
    wait "${PIDS[$i]}" 2>/dev/null || true
  done
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
  -subj "/CN=intranet.corp.example.com" \
  -addext "subjectAltName=DNS:intranet.corp.example.com,IP:127.0.0.10" 2>/dev/null
# Each TLS 1.3 suite other than OpenSSL's first choice gets a server of its own that allows
# only it (Python's ssl module cannot set TLS 1.3 suites per context).
suite_conf() {
  printf '%s\n' 'openssl_conf = init' '[init]' 'ssl_conf = ssl_sect' '[ssl_sect]' \
    'system_default = sys_sect' '[sys_sect]' "Ciphersuites = $1" > "$2"
}
suite_conf TLS_AES_128_GCM_SHA256 "$WORK/aes128.cnf"
suite_conf TLS_CHACHA20_POLY1305_SHA256 "$WORK/chacha.cnf"
"$PY" "$HERE/https_traffic.py" tokens "$WORK/tokens.json" 64

ip netns list | grep -qw "$NS" && ip netns del "$NS"
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo mtu 1500
ip netns exec "$NS" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
# Started straight from this shell (no function or subshell between), so that $! is the
# process itself: ip netns exec execs it.
ns="ip netns exec $NS"

rm -f "$OUT" "$KEYLOG"
$ns tcpdump -i lo -s 0 -B 262144 -w "$OUT" 'tcp port 443 or tcp port 8443 or tcp port 9443' \
  2> "$OUT.tcpdump.log" &
PIDS+=($!)
sleep 1
$ns "$PY" "$HERE/https_traffic.py" server "$WORK/tokens.json" "$WORK/cert.pem" "$WORK/key.pem" 443 &
PIDS+=($!)
OPENSSL_CONF=$WORK/aes128.cnf $ns "$PY" "$HERE/https_traffic.py" server "$WORK/tokens.json" \
  "$WORK/cert.pem" "$WORK/key.pem" 9443 &
PIDS+=($!)
OPENSSL_CONF=$WORK/chacha.cnf $ns "$PY" "$HERE/https_traffic.py" server "$WORK/tokens.json" \
  "$WORK/cert.pem" "$WORK/key.pem" 8443 &
PIDS+=($!)
sleep 1
mkdir "$WORK/keys"
$ns "$PY" "$HERE/https_traffic.py" client "$WORK/tokens.json" --pcap "$OUT" \
  --target-bytes "$TARGET" --seed "$SEED" --conc "${CONC:-64}" --keylog-dir "$WORK/keys" \
  > "$OUT.stats.json"
cat "$OUT.stats.json"
cat "$WORK"/keys/*.keylog > "$KEYLOG"
sleep 1
cleanup
trap - EXIT
cat "$OUT.tcpdump.log"
grep -q '^0 packets dropped by kernel' "$OUT.tcpdump.log" \
  || { echo "make-https-capture: tcpdump dropped packets; make the capture again" >&2; exit 1; }
capinfos -c -s -u "$OUT"
