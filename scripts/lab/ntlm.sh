#!/usr/bin/env bash
# NTLM over HTTP, two real acceptors:
#  - apache2 + mod_auth_gssapi + gss-ntlmssp (sharepoint.lab.test), offers Negotiate and NTLM
#  - scripts/lab/ntlm_server.py, pyspnego as the acceptor (legacy.lab.test), which can be
#    told to close or reset the connection at a chosen leg
# Clients: requests-ntlm (PyPI), curl --ntlm, curl --negotiate (gss-ntlmssp on the client).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NTLM_APACHE_ADDR="${LAB_ADDR:-127.0.0.13}"
NTLM_APACHE_PORT="${LAB_PORT:-80}"
NTLM_APACHE_HOST="sharepoint.lab.test"
NTLM_PY_ADDR="${LAB_ADDR:-127.0.0.14}"
NTLM_PY_PORT="${LAB_PORT:-80}"
NTLM_PY_HOST="legacy.lab.test"
NTLM_DOMAIN="LAB"
NTLM_USER="alice"
NTLM_PASS="Summer2024!"

# _ntlm_users DIR: the user file read by gss-ntlmssp and pyspnego (NTLM_USER_FILE).
_ntlm_users() {
    printf '%s:%s:%s\n' "$NTLM_DOMAIN" "$NTLM_USER" "$NTLM_PASS" >"$1/ntlm-users"
    chmod 644 "$1/ntlm-users"
    NTLM_USER_FILE_PATH="$1/ntlm-users"
}

# ntlm_apache_start: apache2 with /secure/ behind mod_auth_gssapi (NTLMSSP only). Sets NTLM_APACHE_URL.
ntlm_apache_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$NTLM_APACHE_ADDR" "$NTLM_APACHE_PORT" "$NTLM_APACHE_HOST" auth_gssapi authz_user
    mkdir -p "$d/htdocs/secure"
    echo "<html><body>team site of $NTLM_DOMAIN</body></html>" >"$d/htdocs/secure/index.html"
    _ntlm_users "$d"
    lab_apache_gssapi /secure SharePoint ntlmssp >>"$d/httpd.conf"
    lab_hosts_add "$NTLM_APACHE_ADDR" "$NTLM_APACHE_HOST"
    lab_apache_start "$d" "$NTLM_APACHE_ADDR" "$NTLM_APACHE_PORT" NTLM_USER_FILE="$NTLM_USER_FILE_PATH"
    NTLM_APACHE_URL="$(lab_url "$NTLM_APACHE_HOST" "$NTLM_APACHE_PORT" /secure/index.html)"
}

# ntlm_py_start MODE: the pyspnego server in MODE (see ntlm_server.py). Sets NTLM_PY_URL.
ntlm_py_start() {
    local mode="$1" d
    lab_tmpdir d
    _ntlm_users "$d"
    lab_port_free "$NTLM_PY_ADDR" "$NTLM_PY_PORT"
    lab_hosts_add "$NTLM_PY_ADDR" "$NTLM_PY_HOST"
    lab_bg "ntlm_server.py" "$d/server.log" env NTLM_USER_FILE="$NTLM_USER_FILE_PATH" \
        "$LAB_PY" "$LAB_DIR/ntlm_server.py" --addr "$NTLM_PY_ADDR" --port "$NTLM_PY_PORT" --mode "$mode"
    lab_wait_port "$NTLM_PY_ADDR" "$NTLM_PY_PORT" 15 "$LAB_LAST_PID"
    NTLM_PY_URL="$(lab_url "$NTLM_PY_HOST" "$NTLM_PY_PORT" /)"
}

ntlm_py_stop() {
    lab_stop "ntlm_server.py"
    lab_hosts_remove
}

_ntlm_apache_scenarios() {
    local filter="host $NTLM_APACHE_ADDR and tcp port $NTLM_APACHE_PORT" f code

    f="$LAB_CAPTURES/ntlm-success.pcap"
    lab_capture_start "$f" "$filter"
    lab_pyclient ntlm "$NTLM_APACHE_URL" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    lab_capture_stop
    lab_expect "$f" 'http.response.code == 401 && !ntlmssp' eq 1 "one anonymous 401 (Negotiate, NTLM offered)"
    lab_expect "$f" 'http.www_authenticate == "NTLM"' ge 1 "WWW-Authenticate: NTLM offered"
    lab_expect "$f" 'ntlmssp.messagetype == 1' eq 1 "one NTLM Type 1"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 1 "one 401 with NTLM Type 2"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 1 "one NTLM Type 3 from $NTLM_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "all legs on one TCP connection"
    lab_log "ntlm-success: $(lab_summary "$f")"

    f="$LAB_CAPTURES/ntlm-wrong-password.pcap"
    lab_capture_start "$f" "$filter"
    lab_pyclient ntlm "$NTLM_APACHE_URL" "$NTLM_DOMAIN\\$NTLM_USER" "Winter2023"
    lab_capture_stop
    lab_expect "$f" 'ntlmssp.messagetype == 3' eq 1 "one NTLM Type 3"
    lab_expect "$f" 'http.response.code == 401' eq 3 "three 401s (probe, challenge, rejected Type 3)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "ntlm-wrong-password: $(lab_summary "$f")"

    f="$LAB_CAPTURES/ntlm-curl-interop-failure.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$NTLM_APACHE_URL")
    lab_capture_stop
    [ "$code" = 401 ] || lab_fail "ntlm-curl-interop-failure: curl --ntlm got HTTP $code, expected 401 (gss-ntlmssp rejecting curl's Type 1)"
    lab_expect "$f" 'ntlmssp.messagetype == 1' ge 1 "curl's NTLM Type 1"
    lab_expect "$f" 'ntlmssp.messagetype == 1 && ntlmssp.version' eq 0 "Type 1 without a version field"
    lab_expect "$f" 'ntlmssp.messagetype == 2' eq 0 "no Type 2 (the server rejects the Type 1)"
    lab_expect "$f" 'http.response.code == 401' ge 2 "401 answers to the Type 1"
    lab_log "ntlm-curl-interop-failure: $(lab_summary "$f")"

    f="$LAB_CAPTURES/negotiate-ntlm-success.pcap"
    lab_capture_start "$f" "$filter"
    # No Kerberos ticket: SPNEGO in curl's GSSAPI picks the NTLMSSP mechanism (gss-ntlmssp,
    # credentials from NTLM_USER_FILE) - the "Kerberos was not used" case.
    code=$(NTLM_USER_FILE="$NTLM_USER_FILE_PATH" KRB5_CONFIG=/dev/null KRB5CCNAME="FILE:/nonexistent/ccache" \
        lab_curl --negotiate -u : "$NTLM_APACHE_URL")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "negotiate-ntlm-success: curl --negotiate got HTTP $code, expected 200"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 1' eq 1 "Negotiate token carrying NTLM Type 1"
    lab_expect "$f" 'spnego && ntlmssp.messagetype == 2' eq 1 "SPNEGO NegTokenResp carrying NTLM Type 2"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 3' eq 1 "Negotiate token carrying NTLM Type 3"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "negotiate-ntlm-success: $(lab_summary "$f")"
}

_ntlm_py_scenarios() {
    local filter="host $NTLM_PY_ADDR and tcp port $NTLM_PY_PORT" f code

    ntlm_py_start ok
    f="$LAB_CAPTURES/ntlm-success-curl.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$NTLM_PY_URL")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "ntlm-success-curl: curl --ntlm got HTTP $code, expected 200"
    lab_expect "$f" 'ntlmssp.messagetype == 1' eq 1 "one NTLM Type 1"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 1 "one 401 with NTLM Type 2"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 1 "one NTLM Type 3 from $NTLM_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "ntlm-success-curl: $(lab_summary "$f")"
    ntlm_py_stop

    ntlm_py_start close-after-challenge
    f="$LAB_CAPTURES/ntlm-keepalive-broken.pcap"
    lab_capture_start "$f" "$filter"
    # three attempts, as a browser retries: each time the Type 2 comes with Connection:
    # close, requests-ntlm sends the Type 3 on a new connection and gets a fresh 401.
    lab_pyclient ntlm "$NTLM_PY_URL" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS" --attempts 3
    lab_capture_stop
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2 && http.connection == "close"' eq 3 "three 401 Type 2 with Connection: close"
    lab_expect "$f" 'ntlmssp.messagetype == 3' eq 3 "three NTLM Type 3"
    lab_expect "$f" 'http.response.code == 401' eq 9 "nine 401s (probe, challenge, Type 3 rejected, x3)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 6 "six TCP connections (Type 3 always on a new one)"
    local t2 t3
    t2="$(lab_fields "$f" 'ntlmssp.messagetype == 2' tcp.stream | tr '\n' ' ')"
    t3="$(lab_fields "$f" 'ntlmssp.messagetype == 3' tcp.stream | tr '\n' ' ')"
    [ -n "$t3" ] && for s in $t3; do
        case " $t2 " in *" $s "*) lab_fail "ntlm-keepalive-broken: a Type 3 travelled on the connection of a Type 2 (streams T2: $t2, T3: $t3)" ;; esac
    done
    lab_log "ok ntlm-keepalive-broken.pcap: Type 2 on streams $t2, Type 3 on streams $t3"
    lab_log "ntlm-keepalive-broken: $(lab_summary "$f")"
    ntlm_py_stop

    ntlm_py_start reset-after-challenge
    f="$LAB_CAPTURES/ntlm-reset-after-challenge.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$NTLM_PY_URL")
    lab_capture_stop
    lab_expect "$f" 'ntlmssp.messagetype == 2' ge 2 "repeated NTLM Type 2 (curl retries)"
    lab_expect "$f" "tcp.flags.reset == 1 && ip.src == $NTLM_PY_ADDR" ge 2 "RSTs from the server after the Type 2"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "ntlm-reset-after-challenge: $(lab_summary "$f") (curl said $code)"
    ntlm_py_stop

    ntlm_py_start reset-on-authenticate
    f="$LAB_CAPTURES/ntlm-reset-on-authenticate.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$NTLM_PY_URL")
    lab_capture_stop
    lab_expect "$f" 'ntlmssp.messagetype == 3' ge 2 "repeated NTLM Type 3 (curl retries)"
    lab_expect "$f" "tcp.flags.reset == 1 && ip.src == $NTLM_PY_ADDR" ge 2 "RSTs from the server"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_expect "$f" 'http.response.code == 401 && !ntlmssp' eq 0 "no HTTP answer to any Type 3"
    lab_log "ntlm-reset-on-authenticate: $(lab_summary "$f") (curl said $code)"
    ntlm_py_stop
}

ntlm_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl
    [ -x "$LAB_PY" ] || lab_fail "no Python venv at $LAB_VENV (run scripts/lab/all.sh, which makes it)"
    local only="${1:-all}"
    if [ "$only" = all ] || [ "$only" = apache ]; then
        ntlm_apache_start
        _ntlm_apache_scenarios
        lab_stop apache2
    fi
    if [ "$only" = all ] || [ "$only" = pyspnego ]; then
        _ntlm_py_scenarios
    fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then ntlm_main "$@"; fi
