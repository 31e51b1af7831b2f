#!/usr/bin/env bash
# Refreshes tests/fixtures/kdc/tshark-kdc.tsv: tshark's reading of the KDC (port 88) and DNS
# (port 53) messages of the lab's captures (captures/) and of the public corpus
# (../shared/captures/public, read in place), one line per frame with such a message in it,
# multi-valued fields joined by '|'. tests/it/tshark_kdc.rs compares authscope's KDC and DNS
# stage with it, and under AUTHSCOPE_FULL_TESTS=1 runs this script again to check the fixture
# is tshark's.
# Usage, from anywhere:  scripts/refresh-kdc-fixtures.sh [OUT]   (default: the fixture)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/fixtures/kdc/tshark-kdc.tsv}
command -v tshark >/dev/null || { echo "refresh-kdc-fixtures: tshark is not installed" >&2; exit 2; }
fields="kerberos.msg_type kerberos.error_code kerberos.CNameString kerberos.SNameString
kerberos.realm kerberos.ENCTYPE kerberos.padata_type kerberos.kdc_options kerberos.etype
kerberos.kvno kerberos.nonce kerberos.e_text kerberos.susec
dns.id dns.flags.response dns.flags.rcode dns.qry.name dns.qry.type dns.count.answers
dns.resp.name dns.resp.type dns.resp.ttl"
args=()
header="file	frame"
for f in $fields; do args+=(-e "$f"); header="$header	$f"; done
filter='((udp.port == 88 || tcp.port == 88) && kerberos) || ((udp.port == 53 || tcp.port == 53) && dns)'
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
printf '%s\n' "$header" >"$tmp"
public=../shared/captures/public
for pcap in captures/*.pcap captures/*.pcapng "$public"/*.pcap "$public"/*.pcapng; do
    [ -f "$pcap" ] || continue
    case "$pcap" in
        "$public"/*) name="public/$(basename "$pcap")" ;;
        *) name="$(basename "$pcap")" ;;
    esac
    tshark -r "$pcap" -Y "$filter" -T fields -E separator=$'\t' \
        -E occurrence=a -E aggregator='|' -e frame.number "${args[@]}" 2>/dev/null |
        sed "s|^|$name\t|" >>"$tmp"
done
mkdir -p "$(dirname "$out")"
mv "$tmp" "$out"
trap - EXIT
