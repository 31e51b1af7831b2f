#!/usr/bin/env bash
# Proxy authentication (407): squid with the ntlm_fake_auth helper (accepts any password,
# so there is no wrong-password case) on proxy.lab.test:3128, python's http.server as the
# origin web.lab.test, curl --proxy-ntlm as the client. Only the client-proxy leg is recorded.
#   proxy-ntlm-success.pcap         Type 1 -> 407 + Type 2 -> Type 3 -> 200, one connection
#   proxy-407-no-credentials.pcap   no Proxy-Authorization -> 407 Proxy-Authenticate: NTLM
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROXY_ADDR="${LAB_PROXY_ADDR:-127.0.0.17}"
PROXY_PORT="${LAB_PROXY_PORT:-3128}"
PROXY_HOST="proxy.lab.test"
ORIGIN_ADDR="${LAB_ORIGIN_ADDR:-127.0.0.18}"
ORIGIN_PORT="${LAB_ORIGIN_PORT:-80}"
ORIGIN_HOST="web.lab.test"
PROXY_USER='LAB\carol'
PROXY_PASS="Winter2024!"

# proxy_start: origin server and squid. Sets PROXY_URL and ORIGIN_URL.
proxy_start() {
    local d
    lab_tmpdir d
    mkdir -p "$d/www" "$d/squid"
    echo "<html><body>public web page</body></html>" >"$d/www/index.html"
    chown proxy:proxy "$d/squid"
    cat >"$d/squid.conf" <<CONF
http_port $PROXY_ADDR:$PROXY_PORT
visible_hostname $PROXY_HOST
cache_effective_user proxy
pid_filename $d/squid/squid.pid
cache_log $d/squid/cache.log
access_log stdio:$d/squid/access.log
coredump_dir $d/squid
netdb_filename none
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
hosts_file $LAB_HOSTS_FILE
dns_nameservers 127.0.0.1
auth_param ntlm program /usr/lib/squid/ntlm_fake_auth
auth_param ntlm children 2 startup=1
auth_param ntlm keep_alive on
acl authed proxy_auth REQUIRED
http_access allow authed
http_access deny all
CONF
    lab_hosts_add "$PROXY_ADDR" "$PROXY_HOST"
    lab_hosts_add "$ORIGIN_ADDR" "$ORIGIN_HOST"
    lab_port_free "$ORIGIN_ADDR" "$ORIGIN_PORT"
    lab_port_free "$PROXY_ADDR" "$PROXY_PORT"
    lab_bg origin "$d/origin.log" /usr/bin/python3 -m http.server --bind "$ORIGIN_ADDR" --directory "$d/www" "$ORIGIN_PORT"
    lab_wait_port "$ORIGIN_ADDR" "$ORIGIN_PORT" 15 "$LAB_LAST_PID"
    squid -k parse -f "$d/squid.conf" >"$d/parse.log" 2>&1 || { cat "$d/parse.log" >&2; lab_fail "squid rejected its configuration"; }
    lab_bg squid "$d/squid.out" squid -N -f "$d/squid.conf"
    lab_wait_port "$PROXY_ADDR" "$PROXY_PORT" 30 "$LAB_LAST_PID"
    PROXY_URL="http://$PROXY_HOST:$PROXY_PORT"
    ORIGIN_URL="$(lab_url "$ORIGIN_HOST" "$ORIGIN_PORT" /index.html)"
}

proxy_main() {
    lab_need_root
    lab_need squid tcpdump tshark curl
    [ -x /usr/lib/squid/ntlm_fake_auth ] || lab_fail "squid's ntlm_fake_auth helper is missing"
    proxy_start
    LAB_TSHARK_OPTS=(-d "tcp.port==$PROXY_PORT,http")
    local filter="host $PROXY_ADDR and tcp port $PROXY_PORT" f code

    f="$LAB_CAPTURES/proxy-ntlm-success.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --proxy "$PROXY_URL" --proxy-ntlm --proxy-user "$PROXY_USER:$PROXY_PASS" "$ORIGIN_URL")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "proxy-ntlm-success: curl --proxy-ntlm got HTTP $code, expected 200"
    lab_expect "$f" 'http.proxy_authorization && ntlmssp.messagetype == 1' eq 1 "Proxy-Authorization with NTLM Type 1"
    lab_expect "$f" 'http.response.code == 407 && ntlmssp.messagetype == 2' eq 1 "407 with NTLM Type 2"
    lab_expect "$f" 'http.proxy_authorization && ntlmssp.messagetype == 3 && ntlmssp.auth.username == "carol"' eq 1 "Proxy-Authorization with NTLM Type 3 from carol"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_log "proxy-ntlm-success: $(lab_summary "$f")"

    f="$LAB_CAPTURES/proxy-407-no-credentials.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --proxy "$PROXY_URL" "$ORIGIN_URL")
    lab_capture_stop
    [ "$code" = 407 ] || lab_fail "proxy-407-no-credentials: curl got HTTP $code, expected 407"
    lab_expect "$f" 'http.response.code == 407 && http.proxy_authenticate == "NTLM"' eq 1 "407 with Proxy-Authenticate: NTLM"
    lab_expect "$f" 'http.proxy_authorization' eq 0 "no Proxy-Authorization"
    lab_log "proxy-407-no-credentials: $(lab_summary "$f")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then proxy_main "$@"; fi
