#!/usr/bin/env bash
# The benchmark captures: HTTP/1.1 between an IIS-like server and concurrent clients on
# loopback (scripts/bench_traffic.py). About four connections in ten carry a login: NTLM
# (some refused after the Type 3, some closed after the Type 2), Negotiate with SPNEGO-wrapped
# NTLM, Negotiate with a Kerberos AP-REQ answered with an AP-REP, Basic and Digest; the rest
# are ordinary requests of 300 B to 1 MB, chunked bodies, uploads, HTTP/1.0, keep-alive, IPv4
# and IPv6.
#
#   sudo scripts/make-bench-capture.sh OUT.pcap TARGET_BYTES [SEED]           in clear (port 80)
#   sudo scripts/make-bench-capture.sh --https OUT.pcap TARGET_BYTES [SEED]   over TLS
#   e.g. sudo scripts/make-bench-capture.sh /tmp/authscope-bench/cap1g.pcap 1000000000 1
#
# In clear it writes OUT.pcap, a pcapng copy beside it (OUT.pcapng), OUT.stats.json (what the
# clients did: connections, requests, handshakes by kind, which the benchmark test compares
# with the report) and OUT.tcpdump.log. With --https every connection is TLS: TLS 1.2 with
# ECDHE and AES-GCM, AES-CBC and ChaCha20-Poly1305, TLS 1.3 with AES-256-GCM, AES-128-GCM and
# ChaCha20-Poly1305 (weights in scripts/bench_traffic.py), a fresh self-signed RSA server
# certificate per run (test key, deleted at the end), and OUT.keylog holds the clients' TLS
# secrets (NSS key log format) instead of the pcapng copy. The traffic runs inside a private
# network namespace whose loopback has MTU 1500 and TSO/GSO/GRO off, so TCP segments look like
# Ethernet ones. The same seed gives the same mix, not the same bytes. Fails when tcpdump
# dropped packets (a lost segment cannot be decrypted past, nor counted right).
#
# Needs root, tcpdump, ethtool, iproute2, capinfos and editcap (Debian: tcpdump ethtool
# iproute2 tshark), openssl for --https, and python3 with pyspnego: the lab's venv
# ($AUTHSCOPE_LAB_VENV, default /opt/authscope-lab/venv) when it has pyspnego, else a venv made
# under $VENV (default /tmp/authscope-bench-venv). CONC is the number of concurrent clients
# (default 128 in clear, 64 over TLS).
set -euo pipefail
HTTPS=0
if [ "${1:-}" = --https ]; then
  HTTPS=1
  shift
fi
usage="usage: make-bench-capture.sh [--https] OUT.pcap TARGET_BYTES [SEED]"
OUT=${1:?$usage}
TARGET=${2:?$usage}
SEED=${3:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
NS=authscope-bench-$$
KEYLOG="${OUT%.pcap}.keylog"

[ "$(id -u)" = 0 ] || { echo "make-bench-capture: run as root (network namespace, tcpdump)" >&2; exit 2; }
need=(tcpdump ethtool ip capinfos editcap)
[ $HTTPS = 0 ] || need+=(openssl)
for c in "${need[@]}"; do
  command -v "$c" >/dev/null || { echo "make-bench-capture: $c is missing" >&2; exit 2; }
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
WORK=$(mktemp -d /tmp/authscope-bench.XXXXXX)
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

"$PY" "$HERE/bench_traffic.py" tokens "$WORK/tokens.json" 64
ip netns add "$NS"
ip netns exec "$NS" ip link set lo up
ip netns exec "$NS" ip link set lo mtu 1500
ip netns exec "$NS" ethtool -K lo tso off gso off gro off >/dev/null 2>&1 || true
# One IPv6 address per client (bench_traffic.py's CLIENT_V6); IPv4 has all of 127/8 on lo.
for ((i = 1; i <= ${CONC:-128}; i++)); do
  printf 'address add fd00:a5::%x/128 dev lo nodad\n' "$i"
done | ip -n "$NS" -batch -
# Started straight from this shell (no function or subshell between), so that $! is the
# process itself: ip netns exec execs it.
ns="ip netns exec $NS"
rm -f "$OUT" "$KEYLOG"

if [ $HTTPS = 0 ]; then
  $ns tcpdump -i lo -s 0 -B 262144 -w "$OUT" 'tcp port 80' 2> "$OUT.tcpdump.log" &
  PIDS+=($!)
  sleep 1
  $ns "$PY" "$HERE/bench_traffic.py" server "$WORK/tokens.json" 80 &
  PIDS+=($!)
  sleep 1
  $ns "$PY" "$HERE/bench_traffic.py" client "$WORK/tokens.json" --pcap "$OUT" \
    --target-bytes "$TARGET" --seed "$SEED" --conc "${CONC:-128}" > "$OUT.stats.json"
else
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
  tls=(--tls "$WORK/cert.pem" "$WORK/key.pem")
  $ns tcpdump -i lo -s 0 -B 262144 -w "$OUT" 'tcp port 443 or tcp port 8443 or tcp port 9443' \
    2> "$OUT.tcpdump.log" &
  PIDS+=($!)
  sleep 1
  $ns "$PY" "$HERE/bench_traffic.py" server "$WORK/tokens.json" "${tls[@]}" 443 &
  PIDS+=($!)
  OPENSSL_CONF=$WORK/aes128.cnf $ns "$PY" "$HERE/bench_traffic.py" server "$WORK/tokens.json" \
    "${tls[@]}" 9443 &
  PIDS+=($!)
  OPENSSL_CONF=$WORK/chacha.cnf $ns "$PY" "$HERE/bench_traffic.py" server "$WORK/tokens.json" \
    "${tls[@]}" 8443 &
  PIDS+=($!)
  sleep 1
  mkdir "$WORK/keys"
  $ns "$PY" "$HERE/bench_traffic.py" client "$WORK/tokens.json" --pcap "$OUT" \
    --target-bytes "$TARGET" --seed "$SEED" --conc "${CONC:-64}" --keylog-dir "$WORK/keys" \
    > "$OUT.stats.json"
  cat "$WORK"/keys/*.keylog > "$KEYLOG"
fi
cat "$OUT.stats.json"
sleep 1
cleanup
trap - EXIT
cat "$OUT.tcpdump.log"
grep -q '^0 packets dropped by kernel' "$OUT.tcpdump.log" \
  || { echo "make-bench-capture: tcpdump dropped packets; make the capture again" >&2; exit 1; }
if [ $HTTPS = 0 ]; then
  editcap -F pcapng "$OUT" "${OUT%.pcap}.pcapng"
  capinfos -c -s -u "$OUT" "${OUT%.pcap}.pcapng"
else
  capinfos -c -s -u "$OUT"
fi
