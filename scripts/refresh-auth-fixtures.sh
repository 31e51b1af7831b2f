#!/usr/bin/env bash
# Refreshes what the differential tests of the token decoders compare with, so that
# `cargo test` needs neither peer:
#   tests/fixtures/auth/tshark-http-auth.tsv  tshark's authentication headers, ntlmssp, spnego
#       and kerberos fields, and method, URI and status, for every frame with an HTTP
#       authentication header (src/auth/decode/tests.rs and tests/it/tshark_headers.rs read it);
#   tests/fixtures/auth/pyspnego/*.json       `python -m spnego --token` (PyPI pyspnego) on
#       every distinct NTLM, Negotiate and Kerberos token68 of those frames
#       (tests/it/differential.rs reads them).
# Captures: captures/*.pcap* and ../shared/captures/public/*.pcap*; unusual HTTP ports come
# from tests/truth/*.json `http_ports`. The lab's HTTPS captures are read decrypted: with
# the key log beside each (captures/X.keylog for captures/X.pcap), and a pcapng with its
# Decryption Secrets Block, which tshark uses by itself. Needs tshark and python3 (pyspnego is installed into
# a venv, $PYSPNEGO_VENV, default /tmp/pyspnego-venv).
# Usage, from anywhere:  scripts/refresh-auth-fixtures.sh [--test]
#   --test  then run the comparison tests on the refreshed fixtures (the token decoders with
#           tshark and pyspnego, and the pipeline's headers per frame with tshark).
set -euo pipefail
cd "$(dirname "$0")/.."
public=${PUBLIC_CAPTURES:-../shared/captures/public}
venv=${PYSPNEGO_VENV:-/tmp/pyspnego-venv}
pyspnego_version=0.12.4
fixtures=tests/fixtures/auth
command -v tshark >/dev/null || { echo "refresh-auth-fixtures: tshark is not installed" >&2; exit 2; }
[ -d "$public" ] || { echo "refresh-auth-fixtures: no public corpus at $public" >&2; exit 2; }

# 1. tshark. Multi-valued fields are joined by '|'.
fields="http.www_authenticate http.authorization http.proxy_authenticate http.proxy_authorization
ntlmssp.messagetype ntlmssp.auth.username ntlmssp.auth.domain ntlmssp.auth.hostname
ntlmssp.ntlmserverchallenge ntlmssp.negotiateflags ntlmssp.negotiate.domain
ntlmssp.negotiate.callingworkstation spnego.negResult spnego.supportedMech
kerberos.msg_type kerberos.error_code kerberos.realm kerberos.SNameString kerberos.etype
http.request.method http.request.uri http.response.code"
args=()
header="file	frame"
for f in $fields; do args+=(-e "$f"); header="$header	$f"; done
decode_as=()
for p in $(python3 -c '
import glob, json
ports = set()
for f in glob.glob("tests/truth/*.json"):
    ports.update(json.load(open(f)).get("http_ports", []))
print(" ".join(str(p) for p in sorted(ports)))'); do
  decode_as+=(-d "tcp.port==$p,http")
done
tsv=$(mktemp)
printf '%s\n' "$header" > "$tsv"
shopt -s nullglob
for cap in captures/*.pcap captures/*.pcapng "$public"/*.pcap "$public"/*.pcapng; do
  name=$(basename "$cap")
  keylog=()
  if [ -f "${cap%.*}.keylog" ]; then keylog=(-o "tls.keylog_file:${cap%.*}.keylog"); fi
  tshark -n -r "$cap" "${decode_as[@]}" "${keylog[@]}" \
    -Y 'http.www_authenticate || http.authorization || http.proxy_authenticate || http.proxy_authorization' \
    -T fields -E separator='	' -E occurrence=a -E aggregator='|' -e frame.number "${args[@]}" 2>/dev/null \
    | sed "s|^|$name	|" >> "$tsv"
done
mv "$tsv" "$fixtures/tshark-http-auth.tsv"
echo "tshark $(tshark --version 2>/dev/null | head -1 | cut -d" " -f3): $(($(wc -l < "$fixtures/tshark-http-auth.tsv") - 1)) frames"

# 2. pyspnego, in its own venv.
if ! "$venv/bin/python" -c "import sys, importlib.metadata as m; sys.exit(m.version('pyspnego') != '$pyspnego_version')" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "pyspnego==$pyspnego_version"
fi
"$venv/bin/python" scripts/auth_fixtures_pyspnego.py "$fixtures/tshark-http-auth.tsv" "$fixtures/pyspnego"

git --no-pager diff --stat -- "$fixtures" || true
if [ "${1:-}" = "--test" ]; then
  cargo test --all-features --lib --test it -- every_capture_header_matches_tshark differential tshark_headers
fi
