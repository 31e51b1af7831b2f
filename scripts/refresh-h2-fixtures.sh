#!/usr/bin/env bash
# Refreshes tests/fixtures/h2/tshark-http2.tsv: tshark's reading of the HTTP/2 frames of the
# lab's HTTP/2 captures (captures/https-h2-*.pcap, decrypted with the key log beside each),
# one line per frame with HTTP/2 in it, multi-valued fields joined by '|'. tests/it/tshark_h2.rs
# compares authscope's streams, header fields, RST_STREAM, GOAWAY and SETTINGS with it, and
# under AUTHSCOPE_FULL_TESTS=1 runs this script again to check the fixture is tshark's.
# Usage, from anywhere:  scripts/refresh-h2-fixtures.sh [OUT]   (default: the fixture)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/fixtures/h2/tshark-http2.tsv}
command -v tshark >/dev/null || { echo "refresh-h2-fixtures: tshark is not installed" >&2; exit 2; }
fields="http2.streamid http2.type http2.rst_stream.error http2.goaway.error
http2.goaway.last_stream_id http2.settings.id http2.header.name http2.header.value"
args=()
header="file	frame"
for f in $fields; do args+=(-e "$f"); header="$header	$f"; done
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$header" >"$tmp"
for pcap in captures/https-h2-*.pcap; do
    keylog="${pcap%.pcap}.keylog"
    [ -f "$keylog" ] || { echo "refresh-h2-fixtures: $pcap has no key log" >&2; exit 2; }
    tshark -r "$pcap" -o "tls.keylog_file:$keylog" -Y http2 -T fields -E separator=$'\t' \
        -E occurrence=a -E aggregator='|' -e frame.number "${args[@]}" 2>/dev/null |
        sed "s|^|$(basename "$pcap")\t|" >>"$tmp"
done
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
