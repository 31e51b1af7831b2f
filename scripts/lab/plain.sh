#!/usr/bin/env bash
# Plain HTTP without authentication, for the HTTP layer of the analyzer:
#   plain-pipelining.pcap  h2load --h1 with 4 requests in flight on one connection
#                          (HTTP/1.1 pipelining; curl no longer pipelines)
#   plain-chunked.pcap     curl: a GET answered with a chunked body (server-side include),
#                          then a POST with a chunked request body to a CGI that echoes it
#                          back chunked
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PLAIN_ADDR="${LAB_ADDR:-127.0.0.20}"
PLAIN_PORT="${LAB_PORT:-80}"
PLAIN_HOST="static.lab.test"

plain_server_start() {
    local d i
    lab_tmpdir d
    lab_apache_conf "$d" "$PLAIN_ADDR" "$PLAIN_PORT" "$PLAIN_HOST" include cgid alias
    for i in 1 2 3 4; do
        printf '<html><body><p>page %s</p></body></html>\n' "$i" >"$d/htdocs/page$i.html"
    done
    cat >"$d/htdocs/news.shtml" <<'HTML'
<html><body>
<h1>News</h1>
<!--#include virtual="/page1.html" -->
<!--#include virtual="/page2.html" -->
<p>Served by <!--#echo var="SERVER_SOFTWARE" --> on <!--#echo var="DATE_GMT" --></p>
</body></html>
HTML
    mkdir -p "$d/cgi-bin"
    cat >"$d/cgi-bin/echo" <<'SH'
#!/bin/sh
# echo the request body back; no Content-Length, so apache sends it chunked
printf 'Content-Type: text/plain\r\n\r\n'
printf 'you sent:\n'
cat
SH
    chmod 755 "$d/cgi-bin/echo"
    cat >>"$d/httpd.conf" <<CONF
ScriptSock $d/run/cgid.sock
ScriptAlias /cgi-bin/ $d/cgi-bin/
<Directory $d/cgi-bin>
    Require all granted
</Directory>
<Directory $d/htdocs>
    Options +Includes
    AddType text/html .shtml
    AddOutputFilter INCLUDES .shtml
</Directory>
CONF
    lab_hosts_add "$PLAIN_ADDR" "$PLAIN_HOST"
    lab_apache_start "$d" "$PLAIN_ADDR" "$PLAIN_PORT"
    PLAIN_DIR="$d"
}

plain_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl h2load
    plain_server_start
    local filter="host $PLAIN_ADDR and tcp port $PLAIN_PORT" f code base
    base="$(lab_url "$PLAIN_HOST" "$PLAIN_PORT" /)"

    f="$LAB_CAPTURES/plain-pipelining.pcap"
    # h2load cannot bind an address: route the server's address from the workstation's
    lab_route_from_client "$PLAIN_ADDR"
    lab_capture_start "$f" "$filter"
    h2load --h1 -c 1 -m 4 -n 4 "${base}page1.html" "${base}page2.html" "${base}page3.html" "${base}page4.html" \
        >"$PLAIN_DIR/h2load.log" 2>&1 || { cat "$PLAIN_DIR/h2load.log" >&2; lab_fail "h2load failed"; }
    lab_capture_stop
    lab_routes_remove
    grep -q "4 succeeded" "$PLAIN_DIR/h2load.log" || { cat "$PLAIN_DIR/h2load.log" >&2; lab_fail "plain-pipelining: h2load did not get 4 answers"; }
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    local reqs first_resp last_req
    reqs="$(lab_fields "$f" 'http.request' http.request.uri | tr ',' '\n' | grep -c page || true)"
    [ "$reqs" = 4 ] || lab_fail "plain-pipelining: expected 4 requests, tshark shows $reqs"
    last_req="$(lab_fields "$f" 'http.request' frame.number | tail -1)"
    first_resp="$(lab_fields "$f" 'http.response' frame.number | head -1)"
    [ -n "$first_resp" ] && [ "$last_req" -lt "$first_resp" ] ||
        lab_fail "plain-pipelining: requests were not pipelined (last request frame $last_req, first response frame $first_resp)"
    lab_expect "$f" 'http.response.code == 200' ge 1 "200 responses"
    lab_log "ok plain-pipelining.pcap: 4 requests sent before the first response (frames <= $last_req < $first_resp)"
    lab_log "plain-pipelining: $(lab_summary "$f")"

    f="$LAB_CAPTURES/plain-chunked.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl "${base}news.shtml")
    [ "$code" = 200 ] || lab_fail "plain-chunked: GET news.shtml got HTTP $code"
    # -T - reads the body from stdin, of unknown length: curl sends it chunked
    code=$(printf 'first line of the upload\nsecond line\n' | lab_curl -X POST -T - -H 'Content-Type: text/plain' "${base}cgi-bin/echo")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "plain-chunked: POST cgi-bin/echo got HTTP $code"
    lab_expect "$f" 'http.response && http.transfer_encoding == "chunked"' eq 2 "two chunked responses"
    lab_expect "$f" 'http.request && http.transfer_encoding == "chunked"' eq 1 "one chunked request body"
    lab_expect "$f" 'http.chunk_size' ge 3 "chunk headers decoded"
    lab_log "plain-chunked: $(lab_summary "$f")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then plain_main "$@"; fi
