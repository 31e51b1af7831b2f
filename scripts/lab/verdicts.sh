#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Exchanges whose verdict is not the plain "authenticated or not" of the other families:
#   webdav-ntlm-per-method.pcap          WebDAV behind NTLM, every method authenticated on its
#                                        own connection and answered 207/201/405/403/400/200/204
#   webdav-ntlm-one-connection.pcap      WebDAV behind NTLM on ONE connection, a full handshake
#                                        per method (207/405/400/200/204)
#   kerberos-success-then-500.pcap       the AP-REQ is accepted (AP-REP in the answer) but the
#                                        application fails: 500 + WWW-Authenticate: Negotiate
#   kerberos-token-too-large.pcap        the Authorization header is over LimitRequestFieldSize:
#                                        400 "Size of a request header field exceeds server limit"
#   kerberos-authz-denied.pcap           the AP-REQ is accepted (AP-REP in the answer) but
#                                        "Require user bob@LAB.TEST" refuses alice: 401
#   kerberos-short-name-host.pcap        Host: intranet, ticket for HTTP/intranet.lab.test
#   kerberos-by-ip.pcap                  Host: 127.0.0.15, ticket for HTTP/intranet.lab.test
#   bearer-bare-jwt.pcap                 "Authorization: <JWT>" without a scheme (401
#                                        invalid_request), then "Bearer <JWT>" (200)
#   ntlm-client-closes-after-challenge.pcap  the client closes after each Type 2 and sends
#                                        the Type 3 on a new connection (401), 3 rounds
#   ntlm-relay-target-mismatch.pcap      machine account WS01$ logs on to /certsrv/ with a
#                                        Type 3 whose target name is cifs/fileserver.lab.test
#   ntlm-relay-same-challenge.pcap       an NTLM relay: one server challenge on two connections
# Servers: apache2 + mod_dav + mod_auth_gssapi/gss-ntlmssp (dav.lab.test, ca.lab.test), the
# MIT KDC and apache2 + mod_auth_gssapi of kerberos.sh (intranet.lab.test), the pyspnego
# server of ntlm.sh (crm.lab.test; dav.lab.test in front of apache2 mod_dav for davconn),
# and the API and relay servers of verdicts.py.
#
#   scripts/lab/verdicts.sh [SCENARIO...]   dav davconn krb500 krbbig krbauthz shortname byip
#                                           jwt pool target relay (default: all, in that order)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ntlm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/kerberos.sh"
# a command that fails outside lab_fail (set -e) still says what and where
set -E
trap 'printf "\n*** LAB FAILURE: verdicts.sh line %s: \"%s\" failed\n\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

VD_DAV_ADDR=127.0.0.21
VD_DAV_HOST=dav.lab.test
VD_RELAY_ADDR=127.0.0.22
VD_RELAY_HOST=relay.lab.test
VD_API_ADDR=127.0.0.23
VD_API_HOST=api.lab.test
VD_POOL_ADDR=127.0.0.24
VD_POOL_HOST=crm.lab.test
VD_CA_ADDR=127.0.0.25
VD_CA_HOST=ca.lab.test
VD_PORT=80
# the host named in the relayed machine account's Type 3; no server runs there
VD_FILESERVER=fileserver.lab.test
VD_MACHINE="WS01\$"
VD_MACHINE_PASS="Ws01-Machine-Account-Pw"
# The JWTs of bearer-bare-jwt.pcap are fixed (verdicts.py JWT_CLAIMS, lab key): their
# signatures are listed in scenarios.tsv so that tests can check no output repeats them.
VD_JWT_SIG_EXPIRED="XiQjCW6OGhpM1opTt0AvKQrlM5UZwM2SrU5910gdcyY"
VD_JWT_SIG_VALID="5Kxa2umh1BmCwRWU4YCH-6HYOPZ1-SVphUHpaG9etdw"

_vd_py() { "$LAB_PY" "$LAB_DIR/verdicts.py" --source "$LAB_CLIENT_ADDR" "$@"; }

# _vd_answers FILE FILTER: the status codes of the responses to the requests matching FILTER,
# one line each, in order (a response names its request in http.request_in).
_vd_answers() {
    local frames
    frames="$(lab_fields "$1" "http.request && ($2)" frame.number | paste -sd,)"
    [ -n "$frames" ] || return 0
    lab_fields "$1" "http.response && http.request_in in {$frames}" http.response.code
}

# _vd_expect_answers FILE FILTER REGEX N WHAT: N requests match FILTER, each got an answer,
# and every answer matches REGEX (status codes such as "200|207").
_vd_expect_answers() {
    local file="$1" filter="$2" re="$3" n="$4" what="$5" reqs got bad
    reqs="$(lab_count "$file" "http.request && ($filter)")"
    got="$(_vd_answers "$file" "$filter")"
    if [ "$reqs" != "$n" ] || [ "$(grep -c . <<<"$got")" != "$n" ]; then
        lab_fail "$(basename "$file"): $what: expected $n requests matching '$filter' and $n answers, found $reqs requests answered by: $(paste -sd' ' <<<"$got")"
    fi
    bad="$(grep -Ev "^($re)\$" <<<"$got" || true)"
    [ -z "$bad" ] || lab_fail "$(basename "$file"): $what: the answers to '$filter' were $(paste -sd' ' <<<"$got")"
    lab_log "ok $(basename "$file"): $what ($(paste -sd' ' <<<"$got"))"
}

# _vd_complete FILE: every TCP connection in FILE is there from its SYN to a FIN from each
# end, with no segment missing (lab_capture_gaps). tcpdump on this sandbox's loopback now and
# then loses a few packets (about one capture in a hundred); such a capture is recorded
# again rather than kept or failed: _vd_complete then sets VD_RETRY=1 and returns 1.
_vd_complete() {
    local bad
    bad="$(lab_capture_gaps "$1")"
    [ -n "$bad" ] || return 0
    lab_log "$(basename "$1"): the capture lost packets ($bad); recording it again"
    VD_RETRY=1
    return 1
}

# _vd_ntlm_users DIR: alice (ntlm.sh) and the machine account, for gss-ntlmssp.
_vd_ntlm_users() {
    _ntlm_users "$1"
    printf '%s:%s:%s\n' "$NTLM_DOMAIN" "$VD_MACHINE" "$VD_MACHINE_PASS" >>"$1/ntlm-users"
}

# --- 1. WebDAV behind NTLM ------------------------------------------------------------------

vd_dav_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$VD_DAV_ADDR" "$VD_PORT" "$VD_DAV_HOST" auth_gssapi authz_user dav dav_fs
    mkdir -p "$d/htdocs/dav" "$d/davlock"
    echo "minutes of the weekly meeting" >"$d/htdocs/dav/minutes.txt"
    chown -R www-data:www-data "$d/htdocs/dav" "$d/davlock"
    _vd_ntlm_users "$d"
    cat >>"$d/httpd.conf" <<CONF
DavLockDB $d/davlock/lockdb
<Directory $d/htdocs/dav>
    Dav On
    # Apache's default, written out: PROPFIND with Depth: infinity is refused with 403
    DavDepthInfinity Off
</Directory>
CONF
    lab_apache_gssapi /dav "Team files" ntlmssp >>"$d/httpd.conf"
    lab_hosts_add "$VD_DAV_ADDR" "$VD_DAV_HOST"
    lab_apache_start "$d" "$VD_DAV_ADDR" "$VD_PORT" NTLM_USER_FILE="$NTLM_USER_FILE_PATH"
}

vd_dav() {
    local f="$LAB_CAPTURES/webdav-ntlm-per-method.pcap" m
    vd_dav_start
    lab_capture_start "$f" "host $VD_DAV_ADDR and tcp port $VD_PORT"
    _vd_py dav "$(lab_url "$VD_DAV_HOST" "$VD_PORT" /dav/)" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    lab_capture_stop
    lab_stop apache2
    _vd_complete "$f" || return 0
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 9 "nine TCP connections (one per method)"
    lab_expect "$f" 'ntlmssp.messagetype == 1' eq 9 "nine NTLM Type 1"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 9 "nine 401 with NTLM Type 2"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 9 "nine NTLM Type 3 from $NTLM_USER"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3' '2[0-9][0-9]|40[035]' 9 "every Type 3 accepted (no 401)"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "PROPFIND" && http.request.line contains "Depth: 1"' 207 1 "PROPFIND Depth: 1 -> 207"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "PUT"' 201 1 "PUT -> 201"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "MKCOL"' 405 1 "MKCOL on the collection -> 405"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "PROPFIND" && http.request.line contains "Depth: infinity"' 403 1 "PROPFIND Depth: infinity -> 403"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "COPY"' 201 1 "COPY -> 201"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "MOVE" && !(http.request.line contains "Destination:")' 400 1 "MOVE without Destination -> 400"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "MOVE" && http.request.line contains "Destination:"' 201 1 "MOVE -> 201"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "LOCK"' 200 1 "LOCK -> 200"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3 && http.request.method == "UNLOCK"' 204 1 "UNLOCK -> 204"
    for m in 405 403 400; do
        lab_expect "$f" "http.response.code == $m" eq 1 "one $m"
    done
    lab_log "webdav-ntlm-per-method: $(lab_summary "$f")"
}

# --- 1b. WebDAV behind NTLM, one connection, a handshake per method -------------------------

# mod_auth_gssapi 1.6.4 cannot authenticate NTLM twice on one connection: a new Type 1 on
# an authenticated connection clears the connection's context (mag_conn_clear() zeroes
# it, is_preserved included), and the Type 1 is then answered by a 401 without a Type 2
# ("Mechanism needs continuation but neither GssapiConnectionBound nor GssapiUseSessions
# are configured"). So the front is the pyspnego server of ntlm.sh, which authenticates
# every request on its own (as IIS with authPersistSingleRequest) and passes the
# authenticated ones to apache2 mod_dav (no authentication, on port 8080 of the same
# address, out of the capture).
VD_DAV_BACKEND_PORT=8080

vd_davconn() {
    local f="$LAB_CAPTURES/webdav-ntlm-one-connection.pcap" d t3 s n
    lab_tmpdir d
    lab_apache_conf "$d" "$VD_DAV_ADDR" "$VD_DAV_BACKEND_PORT" "$VD_DAV_HOST" dav dav_fs
    mkdir -p "$d/htdocs/dav" "$d/davlock"
    echo "minutes of the weekly meeting" >"$d/htdocs/dav/minutes.txt"
    chown -R www-data:www-data "$d/htdocs/dav" "$d/davlock"
    cat >>"$d/httpd.conf" <<CONF
DavLockDB $d/davlock/lockdb
<Directory $d/htdocs/dav>
    Dav On
</Directory>
CONF
    lab_apache_start "$d" "$VD_DAV_ADDR" "$VD_DAV_BACKEND_PORT"
    _ntlm_users "$d"
    lab_port_free "$VD_DAV_ADDR" "$VD_PORT"
    lab_hosts_add "$VD_DAV_ADDR" "$VD_DAV_HOST"
    lab_bg ntlm_server.py "$d/front.log" env NTLM_USER_FILE="$NTLM_USER_FILE_PATH" "$LAB_PY" "$LAB_DIR/ntlm_server.py" \
        --addr "$VD_DAV_ADDR" --port "$VD_PORT" --mode ok --backend "http://$VD_DAV_ADDR:$VD_DAV_BACKEND_PORT"
    lab_wait_port "$VD_DAV_ADDR" "$VD_PORT" 15 "$LAB_LAST_PID"
    lab_capture_start "$f" "host $VD_DAV_ADDR and tcp port $VD_PORT"
    _vd_py dav-conn "$(lab_url "$VD_DAV_HOST" "$VD_PORT" /dav/)" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    lab_capture_stop
    lab_stop ntlm_server.py
    lab_stop apache2
    _vd_complete "$f" || return 0
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_expect "$f" 'http.request && !http.authorization' eq 0 "no request without Authorization"
    lab_expect "$f" 'ntlmssp.messagetype == 1' eq 5 "five NTLM Type 1 (one per method)"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 1' 401 5 "every Type 1 answered 401"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 5 "five 401 with NTLM Type 2"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 5 "five NTLM Type 3 from $NTLM_USER"
    lab_expect "$f" 'http.response.code == 401 && !ntlmssp' eq 0 "no 401 without a Type 2 (no Type 3 refused)"
    t3="$(_vd_answers "$f" 'ntlmssp.messagetype == 3' | paste -sd' ')"
    [ "$t3" = "207 405 400 200 204" ] ||
        lab_fail "webdav-ntlm-one-connection: the Type 3s were answered $t3, expected 207 405 400 200 204"
    lab_log "ok webdav-ntlm-one-connection.pcap: the Type 3s answered $t3, in that order"
    # each method: its Type 1 then its Type 3, in the order PROPFIND MKCOL MOVE LOCK UNLOCK
    s="$(lab_fields "$f" 'http.request' http.request.method ntlmssp.messagetype | paste -sd' ')"
    n="PROPFIND|0x00000001 PROPFIND|0x00000003 MKCOL|0x00000001 MKCOL|0x00000003 MOVE|0x00000001 MOVE|0x00000003"
    n="$n LOCK|0x00000001 LOCK|0x00000003 UNLOCK|0x00000001 UNLOCK|0x00000003"
    [ "$s" = "$n" ] || lab_fail "webdav-ntlm-one-connection: the requests were $s"
    lab_log "ok webdav-ntlm-one-connection.pcap: Type 1 then Type 3 for PROPFIND, MKCOL, MOVE, LOCK, UNLOCK in turn"
    lab_expect "$f" 'http.request.method == "MOVE" && http.request.line contains "Destination:"' eq 0 "MOVE without Destination"
    lab_expect "$f" 'http.request.method == "UNLOCK" && ntlmssp.messagetype == 3 && http.request.line contains "Lock-Token:"' eq 1 "UNLOCK with the Lock-Token of the LOCK"
    lab_expect "$f" 'http.response && http.connection == "close"' eq 0 "no Connection: close (the 400 included)"
    s="$(lab_fields "$f" "tcp.flags.fin == 1" frame.number ip.src | sed -n 1p)"
    [ "${s#*|}" = "$LAB_CLIENT_ADDR" ] || lab_fail "webdav-ntlm-one-connection: the first FIN ($s) is not the client's"
    lab_log "webdav-ntlm-one-connection: $(lab_summary "$f")"
}

# --- 2-4. Kerberos --------------------------------------------------------------------------

# _vd_krb_client_conf NAME RDNS: a client krb5.conf that canonicalises host names the way
# MIT's default does (forward lookup; with RDNS=true also a reverse lookup of the address).
_vd_krb_client_conf() {
    sed -e "s/dns_canonicalize_hostname = false/dns_canonicalize_hostname = true/" \
        -e "s/rdns = false/rdns = $2/" "$KRB_DIR/krb5.conf" >"$KRB_DIR/$1"
    grep -q "dns_canonicalize_hostname = true" "$KRB_DIR/$1" || lab_fail "could not write $KRB_DIR/$1"
}

vd_krb_start() {
    [ -z "${KRB_DIR:-}" ] || return 0
    krb_kdc_start
    # one /etc/hosts line for the web server: the short name resolves to the full one
    # first (getaddrinfo's canonical name), and the address back to it (the reverse lookup)
    lab_hosts_add "$KRB_WEB_ADDR" "$KRB_WEB_HOST" intranet
    KRB_WEB_HOSTS_ADDED=1
}

vd_krb500() {
    local d f="$LAB_CAPTURES/kerberos-success-then-500.pcap" code
    vd_krb_start
    lab_tmpdir d
    lab_apache_conf "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" "$KRB_WEB_HOST" auth_gssapi authz_user cgid alias
    mkdir -p "$d/cgi-bin"
    # an application that dies before writing its headers: apache answers 500
    cat >"$d/cgi-bin/report" <<'SH'
#!/bin/sh
echo "report: cannot connect to the database" >&2
exit 1
SH
    chmod 755 "$d/cgi-bin/report"
    cat >>"$d/httpd.conf" <<CONF
ScriptSock $d/run/cgid.sock
ScriptAlias /app/ $d/cgi-bin/
<Directory $d/cgi-bin>
    Require all granted
</Directory>
CONF
    lab_apache_gssapi /app Intranet krb5 >>"$d/httpd.conf"
    lab_apache_start "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" KRB5_CONFIG="$KRB_DIR/krb5.conf" \
        KRB5_KTNAME="FILE:$KRB_DIR/http.keytab"
    lab_capture_start "$f" "$(_krb_filter)"
    krb_kinit
    code=$(KRB5CCNAME="FILE:$KRB_DIR/ccache" lab_curl --anyauth -u : "$(lab_url "$KRB_WEB_HOST" "$KRB_WEB_PORT" /app/report)")
    lab_capture_stop
    lab_stop apache2
    _vd_complete "$f" || return 0
    [ "$code" = 500 ] || lab_fail "kerberos-success-then-500: curl --negotiate got HTTP $code, expected 500"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP (kinit)"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Negotiate"' eq 1 "anonymous probe answered 401 Negotiate"
    lab_expect "$f" 'http.authorization contains "Negotiate" && kerberos.msg_type == 14' eq 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 500 && http.www_authenticate contains "Negotiate " && kerberos.msg_type == 15' eq 1 "500 whose WWW-Authenticate: Negotiate holds an AP-REP"
    lab_expect "$f" 'http.response.code == 500 && spnego.negResult == 0' eq 1 "500 with SPNEGO negResult accept-completed"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "kerberos-success-then-500: $(lab_summary "$f")"
}

# _vd_krb_apache EXTRA REQUIRE: apache2 with /secure/ behind mod_auth_gssapi (krb5), the
# server-wide directives EXTRA added, "Require valid-user" replaced by REQUIRE. Sets VD_KRB_URL.
_vd_krb_apache() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" "$KRB_WEB_HOST" auth_gssapi authz_user
    mkdir -p "$d/htdocs/secure"
    echo "<html><body>intranet home</body></html>" >"$d/htdocs/secure/index.html"
    printf '%s\n' "$1" >>"$d/httpd.conf"
    lab_apache_gssapi /secure Intranet krb5 | sed "s/Require valid-user/$2/" >>"$d/httpd.conf"
    grep -q "^    $2\$" "$d/httpd.conf" || lab_fail "could not write '$2' into $d/httpd.conf"
    lab_apache_start "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" KRB5_CONFIG="$KRB_DIR/krb5.conf" \
        KRB5_KTNAME="FILE:$KRB_DIR/http.keytab"
    VD_KRB_URL="$(lab_url "$KRB_WEB_HOST" "$KRB_WEB_PORT" /secure/index.html)"
    VD_KRB_APACHE_DIR="$d"
}

# _vd_krb_curl FILE: capture kinit + curl --negotiate -u : against VD_KRB_URL into FILE.
_vd_krb_curl() {
    lab_capture_start "$1" "$(_krb_filter)"
    krb_kinit
    VD_KRB_CODE=$(KRB5CCNAME="FILE:$KRB_DIR/ccache" lab_curl --negotiate -u : "$VD_KRB_URL")
    lab_capture_stop
    lab_stop apache2
}

# The limit on one request header line (name, colon and value) in kerberos-token-too-large:
# below the ~1030 bytes of curl's "Authorization: Negotiate <SPNEGO AP-REQ>" line here (an
# MIT ticket for alice with a PAC, aes256), well above every other header.
VD_FIELD_LIMIT=800

vd_krbbig() {
    local f="$LAB_CAPTURES/kerberos-token-too-large.pcap" len
    vd_krb_start
    _vd_krb_apache "LimitRequestFieldSize $VD_FIELD_LIMIT" "Require valid-user"
    _vd_krb_curl "$f"
    _vd_complete "$f" || return 0
    [ "$VD_KRB_CODE" = 400 ] || lab_fail "kerberos-token-too-large: curl --negotiate got HTTP $VD_KRB_CODE, expected 400"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP (kinit)"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 1 "one TGS-REP"
    # curl --negotiate (not --anyauth) sends its token in the first request, without a probe
    lab_expect "$f" 'http.request' eq 1 "one request"
    lab_expect "$f" 'http.authorization contains "Negotiate" && kerberos.msg_type == 14' eq 1 "Negotiate with an AP-REQ"
    len="$(lab_fields "$f" 'http.authorization && kerberos.msg_type == 14' http.authorization | awk '{print length("Authorization: " $0)}')"
    [ "$len" -gt "$VD_FIELD_LIMIT" ] ||
        lab_fail "kerberos-token-too-large: the Authorization line is $len bytes, not over LimitRequestFieldSize $VD_FIELD_LIMIT"
    lab_log "ok kerberos-token-too-large.pcap: the Authorization line is $len bytes, LimitRequestFieldSize $VD_FIELD_LIMIT"
    _vd_expect_answers "$f" 'kerberos.msg_type == 14' 400 1 "the AP-REQ answered 400"
    lab_expect "$f" 'http.response.code == 400 && http.file_data contains "Size of a request header field exceeds server limit"' eq 1 "400 page: Size of a request header field exceeds server limit"
    lab_expect "$f" 'http.response.code == 400 && http.connection == "close"' eq 1 "the 400 closes the connection"
    lab_expect "$f" 'http.response.code == 400 && http.www_authenticate' eq 0 "no WWW-Authenticate on the 400"
    lab_expect "$f" 'http && (kerberos.msg_type == 15 || kerberos.msg_type == 30)' eq 0 "no AP-REP and no KRB-ERROR in HTTP (the token never reached GSS-API)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "kerberos-token-too-large: $(lab_summary "$f")"
}

# Authentication succeeds, authorization refuses: "Require user bob@LAB.TEST" while alice
# logs on. Apache (authz_core) answers 401, and the 401 keeps mod_auth_gssapi's
# WWW-Authenticate: Negotiate with SPNEGO accept-completed and the AP-REP, and offers
# nothing else (no bare "Negotiate"). AuthzSendForbiddenOnFailure On would make it a 403
# carrying the same token; Apache's default, the 401, is what is recorded.
vd_krbauthz() {
    local f="$LAB_CAPTURES/kerberos-authz-denied.pcap" d
    vd_krb_start
    _vd_krb_apache "" "Require user bob@$KRB_REALM"
    d="$VD_KRB_APACHE_DIR"
    _vd_krb_curl "$f"
    _vd_complete "$f" || return 0
    [ "$VD_KRB_CODE" = 401 ] || lab_fail "kerberos-authz-denied: curl --negotiate got HTTP $VD_KRB_CODE, expected 401"
    # what apache itself says: alice authenticated, then refused by authz_core
    grep -q "^$LAB_CLIENT_ADDR $KRB_USER@$KRB_REALM \"GET /secure/index.html HTTP/1.1\" 401 " "$d/access.log" ||
        lab_fail "kerberos-authz-denied: apache's access log has no 401 for the user $KRB_USER@$KRB_REALM: $(cat "$d/access.log")"
    grep -q "AH01631: user $KRB_USER@$KRB_REALM: authorization failure" "$d/error.log" ||
        lab_fail "kerberos-authz-denied: apache's error log has no authorization failure for $KRB_USER@$KRB_REALM"
    lab_log "ok kerberos-authz-denied: apache logged $KRB_USER@$KRB_REALM as authenticated (access log) and refused (AH01631)"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP (kinit)"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'http.request' eq 1 "one request (curl --negotiate sends its token at once)"
    lab_expect "$f" 'http.authorization contains "Negotiate" && kerberos.msg_type == 14' eq 1 "Negotiate with an AP-REQ"
    _vd_expect_answers "$f" 'kerberos.msg_type == 14' 401 1 "the AP-REQ answered 401"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "Negotiate " && kerberos.msg_type == 15' eq 1 "401 whose WWW-Authenticate: Negotiate holds an AP-REP"
    lab_expect "$f" 'http.response.code == 401 && spnego.negResult == 0' eq 1 "401 with SPNEGO negResult accept-completed"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Negotiate"' eq 0 "no bare Negotiate offered on the 401"
    lab_expect "$f" 'http.response.code == 200 || http.response.code == 403' eq 0 "no 200 and no 403"
    lab_log "kerberos-authz-denied: $(lab_summary "$f")"
}

# _vd_krb_run NAME HOST RDNS: kinit + curl --anyauth against krb_web_start's /secure/, the
# URL naming HOST, the client canonicalising host names (RDNS: with a reverse lookup too).
_vd_krb_run() {
    local name="$1" host="$2" rdns="$3"
    vd_krb_start
    _vd_krb_client_conf "client-$name.conf" "$rdns"
    KRB5_CONFIG="$KRB_DIR/client-$name.conf" _krb_run "$name" "$KRB_DIR/http.keytab" krb5 "$host"
    _vd_complete "$KRB_FILE" || return 0
    [ "$KRB_CODE" = 200 ] || lab_fail "$name: curl --negotiate got HTTP $KRB_CODE, expected 200"
}

vd_shortname() {
    local f
    _vd_krb_run kerberos-short-name-host intranet false
    [ "$VD_RETRY" = 0 ] || return 0
    f="$KRB_FILE"
    lab_expect "$f" 'http.request && http.host == "intranet"' eq 2 "two requests with Host: intranet (probe and AP-REQ)"
    lab_expect "$f" 'http.request && http.host contains "."' eq 0 "no request names a dotted host"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN (the short name canonicalised)"
    lab_expect "$f" "http.host == \"intranet\" && kerberos.msg_type == 14 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "AP-REQ with a ticket for $KRB_SPN under Host: intranet"
    lab_expect "$f" 'http.response.code == 200 && kerberos.msg_type == 15' eq 1 "200 with an AP-REP"
    lab_log "kerberos-short-name-host: $(lab_summary "$f")"
}

vd_byip() {
    local f
    _vd_krb_run kerberos-by-ip "$KRB_WEB_ADDR" true
    [ "$VD_RETRY" = 0 ] || return 0
    f="$KRB_FILE"
    lab_expect "$f" "http.request && http.host == \"$KRB_WEB_ADDR\"" eq 2 "two requests with Host: $KRB_WEB_ADDR"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN (the address looked up backwards)"
    lab_expect "$f" "http.host == \"$KRB_WEB_ADDR\" && kerberos.msg_type == 14 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "AP-REQ with a ticket for $KRB_SPN under Host: $KRB_WEB_ADDR"
    lab_expect "$f" "kerberos.SNameString == \"$KRB_WEB_ADDR\"" eq 0 "no ticket asked for the address"
    lab_expect "$f" 'http.response.code == 200 && kerberos.msg_type == 15' eq 1 "200 with an AP-REP"
    lab_log "kerberos-by-ip: $(lab_summary "$f")"
}

# --- 5. a JWT without a scheme ----------------------------------------------------------------

vd_jwt() {
    local d f="$LAB_CAPTURES/bearer-bare-jwt.pcap" toks
    toks="$("$LAB_PY" "$LAB_DIR/verdicts.py" jwt-tokens | cut -f3 | tr '\n' ' ')"
    [ "$toks" = "$VD_JWT_SIG_EXPIRED $VD_JWT_SIG_VALID " ] ||
        lab_fail "verdicts.py signs other JWTs than the ones listed here and in scenarios.tsv (signatures: $toks)"
    lab_tmpdir d
    lab_port_free "$VD_API_ADDR" "$VD_PORT"
    lab_hosts_add "$VD_API_ADDR" "$VD_API_HOST"
    lab_bg jwt-server "$d/server.log" "$LAB_PY" "$LAB_DIR/verdicts.py" jwt-server --addr "$VD_API_ADDR" --port "$VD_PORT"
    lab_wait_port "$VD_API_ADDR" "$VD_PORT" 15 "$LAB_LAST_PID"
    lab_capture_start "$f" "host $VD_API_ADDR and tcp port $VD_PORT"
    _vd_py jwt-client "$(lab_url "$VD_API_HOST" "$VD_PORT" /api/v1/orders)"
    lab_capture_stop
    lab_stop jwt-server
    _vd_complete "$f" || return 0
    lab_expect "$f" 'http.request' eq 2 "two requests"
    lab_expect "$f" 'http.authorization matches "^eyJ[A-Za-z0-9_-]+\\.eyJ[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$"' eq 1 "a bare JWT as the whole Authorization value"
    lab_expect "$f" "http.authorization contains \"$VD_JWT_SIG_EXPIRED\"" eq 1 "the expired JWT's signature"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Bearer realm=\"api\", error=\"invalid_request\""' eq 1 "401 Bearer error=invalid_request"
    lab_expect "$f" "http.authorization matches \"^Bearer eyJ\" && http.authorization contains \"$VD_JWT_SIG_VALID\"" eq 1 "the valid JWT as a Bearer token"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_log "bearer-bare-jwt: $(lab_summary "$f")"
}

# --- 6. the client closes after the challenge -------------------------------------------------

vd_pool() {
    local f="$LAB_CAPTURES/ntlm-client-closes-after-challenge.pcap" n s port fin t2 t3
    NTLM_PY_ADDR="$VD_POOL_ADDR" NTLM_PY_HOST="$VD_POOL_HOST" NTLM_PY_PORT="$VD_PORT"
    ntlm_py_start ok
    lab_capture_start "$f" "host $VD_POOL_ADDR and tcp port $VD_PORT"
    _vd_py ntlm "$NTLM_PY_URL" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS" --close-after-challenge --rounds 3
    lab_capture_stop
    # not ntlm_py_stop: it would also drop the /etc/hosts lines of the other servers
    lab_stop ntlm_server.py
    _vd_complete "$f" || return 0
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 6 "six TCP connections"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 3 "three 401 with NTLM Type 2"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2 && http.connection == "close"' eq 0 "no Connection: close from the server"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 3 "three NTLM Type 3"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3' 401 3 "every Type 3 refused (its challenge was on the closed connection)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    while IFS='|' read -r n s port; do
        fin="$(lab_fields "$f" "tcp.stream == $s && tcp.flags.fin == 1 && frame.number > $n" frame.number ip.src tcp.srcport | sed -n 1p)"
        [ "${fin#*|}" = "$LAB_CLIENT_ADDR|$port" ] ||
            lab_fail "ntlm-client-closes-after-challenge: the first FIN after the Type 2 of frame $n (stream $s) is '$fin', not from the client $LAB_CLIENT_ADDR:$port"
        lab_log "ok ntlm-client-closes-after-challenge.pcap: Type 2 in frame $n, then the client's FIN in frame ${fin%%|*}"
    done < <(lab_fields "$f" 'ntlmssp.messagetype == 2' frame.number tcp.stream tcp.dstport)
    t2="$(lab_fields "$f" 'ntlmssp.messagetype == 2' tcp.stream | tr '\n' ' ')"
    t3="$(lab_fields "$f" 'ntlmssp.messagetype == 3' tcp.stream | tr '\n' ' ')"
    for s in $t3; do
        case " $t2 " in *" $s "*) lab_fail "ntlm-client-closes-after-challenge: a Type 3 travelled on the connection of a Type 2 (streams T2: $t2, T3: $t3)" ;; esac
    done
    lab_log "ntlm-client-closes-after-challenge: $(lab_summary "$f")"
}

# --- 7-8. AD CS web enrollment and a relay ----------------------------------------------------

# vd_ca_start: apache2 imitating AD CS web enrollment (ca.lab.test): /certsrv/ behind NTLM
# (gss-ntlmssp), certfnsh.asp a CGI that "issues" a certificate on POST.
vd_ca_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$VD_CA_ADDR" "$VD_PORT" "$VD_CA_HOST" auth_gssapi authz_user cgid
    mkdir -p "$d/htdocs/certsrv"
    cat >"$d/htdocs/certsrv/certfnsh.asp" <<'SH'
#!/bin/sh
printf 'Content-Type: text/html\r\n\r\n'
printf '<html><head><title>Microsoft Active Directory Certificate Services</title></head><body>\n'
printf '<p>Microsoft Active Directory Certificate Services -- LAB-CA</p>\n'
if [ "$REQUEST_METHOD" = POST ]; then
    cat >/dev/null
    printf '<h3>Certificate Issued</h3>\n<p>The certificate you requested was issued to you.</p>\n'
    printf '<a href="certnew.cer?ReqID=42&amp;Enc=b64">Download certificate</a>\n'
else
    printf '<h3>Submit a Certificate Request or Renewal Request</h3>\n'
fi
printf '</body></html>\n'
SH
    chmod 755 "$d/htdocs/certsrv/certfnsh.asp"
    _vd_ntlm_users "$d"
    cat >>"$d/httpd.conf" <<CONF
ScriptSock $d/run/cgid.sock
<Directory $d/htdocs/certsrv>
    Options +ExecCGI
    AddHandler cgi-script .asp
</Directory>
CONF
    lab_apache_gssapi /certsrv "LAB-CA" ntlmssp >>"$d/httpd.conf"
    lab_hosts_add "$VD_CA_ADDR" "$VD_CA_HOST"
    lab_apache_start "$d" "$VD_CA_ADDR" "$VD_PORT" NTLM_USER_FILE="$NTLM_USER_FILE_PATH"
    VD_CA_URL="$(lab_url "$VD_CA_HOST" "$VD_PORT" /certsrv/certfnsh.asp)"
    VD_CA_DIR="$d"
}

vd_target() {
    local f="$LAB_CAPTURES/ntlm-relay-target-mismatch.pcap" csr form
    vd_ca_start
    # a real certificate request for the machine, as a relaying tool would submit
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout /dev/null \
        -subj "/CN=WS01.lab.test" -out "$VD_CA_DIR/ws01.csr" 2>"$VD_CA_DIR/openssl.log" ||
        { cat "$VD_CA_DIR/openssl.log" >&2; lab_fail "openssl req failed"; }
    csr="$("$LAB_PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(open(sys.argv[1]).read(), safe=""))' "$VD_CA_DIR/ws01.csr")"
    form="Mode=newreq&CertRequest=$csr&CertAttrib=CertificateTemplate%3AMachine&TargetStoreFlags=0&SaveCert=yes"
    lab_capture_start "$f" "host $VD_CA_ADDR and tcp port $VD_PORT"
    _vd_py ntlm "$VD_CA_URL" "$NTLM_DOMAIN\\$VD_MACHINE" "$VD_MACHINE_PASS" --probe \
        --service cifs --target-host "$VD_FILESERVER" --then-post "$form"
    lab_capture_stop
    lab_stop apache2
    _vd_complete "$f" || return 0
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_expect "$f" 'http.request && !(http.request.uri contains "/certsrv/certfnsh.asp")' eq 0 "no request for another path than /certsrv/certfnsh.asp"
    lab_expect "$f" 'http.response.code == 401 && !ntlmssp' eq 1 "anonymous 401 (NTLM offered)"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 1 "401 with NTLM Type 2"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$VD_MACHINE\" && ntlmssp.auth.domain == \"$NTLM_DOMAIN\"" eq 1 "NTLM Type 3 from the machine account $NTLM_DOMAIN\\$VD_MACHINE"
    lab_expect "$f" 'ntlmssp.messagetype == 3 && ntlmssp.auth.username matches "\\$$"' eq 1 "user name ending in \$"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ntlmssp.ntlmv2_response.target_name == \"cifs/$VD_FILESERVER\"" eq 1 "MsvAvTargetName cifs/$VD_FILESERVER"
    lab_expect "$f" 'ntlmssp.ntlmv2_response.target_name contains "HTTP/" || ntlmssp.ntlmv2_response.target_name contains "http/"' eq 0 "no HTTP/ target name"
    _vd_expect_answers "$f" 'ntlmssp.messagetype == 3' 200 1 "the Type 3 accepted (200)"
    _vd_expect_answers "$f" 'http.request.method == "POST" && !http.authorization' 200 1 "the certificate request POSTed on the authenticated connection (200)"
    lab_log "ntlm-relay-target-mismatch: $(lab_summary "$f")"
}

vd_relay() {
    local f="$LAB_CAPTURES/ntlm-relay-same-challenge.pcap" d t2 chal
    vd_ca_start
    lab_tmpdir d
    lab_port_free "$VD_RELAY_ADDR" "$VD_PORT"
    lab_hosts_add "$VD_RELAY_ADDR" "$VD_RELAY_HOST"
    lab_bg relay "$d/relay.log" "$LAB_PY" "$LAB_DIR/verdicts.py" --source "$VD_RELAY_ADDR" relay \
        --addr "$VD_RELAY_ADDR" --port "$VD_PORT" --target "$VD_CA_URL"
    lab_wait_port "$VD_RELAY_ADDR" "$VD_PORT" 15 "$LAB_LAST_PID"
    lab_capture_start "$f" "(host $VD_RELAY_ADDR or host $VD_CA_ADDR) and tcp port $VD_PORT"
    _vd_py ntlm "$(lab_url "$VD_RELAY_HOST" "$VD_PORT" /)" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS" --probe
    lab_capture_stop
    lab_stop relay
    lab_stop apache2
    _vd_complete "$f" || return 0
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 2 "two TCP connections (victim-relay, relay-target)"
    lab_expect "$f" "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == $LAB_CLIENT_ADDR && ip.dst == $VD_RELAY_ADDR" eq 1 "the victim connects to the relay"
    lab_expect "$f" "tcp.flags.syn == 1 && tcp.flags.ack == 0 && ip.src == $VD_RELAY_ADDR && ip.dst == $VD_CA_ADDR" eq 1 "the relay connects to the target"
    lab_expect "$f" 'ntlmssp.messagetype == 1' eq 2 "the Type 1 twice"
    lab_expect "$f" 'ntlmssp.messagetype == 3' eq 2 "the Type 3 twice"
    t2="$(lab_fields "$f" 'ntlmssp.messagetype == 2' ntlmssp.ntlmserverchallenge ip.src ip.dst)"
    [ "$(grep -c . <<<"$t2")" = 2 ] || lab_fail "ntlm-relay-same-challenge: expected two Type 2, found: $t2"
    chal="$(cut -d'|' -f1 <<<"$t2" | sort -u)"
    [ "$(grep -c . <<<"$chal")" = 1 ] || lab_fail "ntlm-relay-same-challenge: the two Type 2 carry different challenges: $t2"
    if ! grep -qx "$chal|$VD_CA_ADDR|$VD_RELAY_ADDR" <<<"$t2" || ! grep -qx "$chal|$VD_RELAY_ADDR|$LAB_CLIENT_ADDR" <<<"$t2"; then
        lab_fail "ntlm-relay-same-challenge: the Type 2 should go target -> relay and relay -> victim: $t2"
    fi
    lab_log "ok ntlm-relay-same-challenge.pcap: server challenge $chal in both Type 2 (target -> relay, relay -> victim)"
    _vd_expect_answers "$f" "ntlmssp.messagetype == 3 && ip.dst == $VD_CA_ADDR" 200 1 "the target accepts the relayed Type 3"
    _vd_expect_answers "$f" "ntlmssp.messagetype == 3 && ip.dst == $VD_RELAY_ADDR" 200 1 "the relay answers the victim's Type 3 with 200"
    lab_log "ntlm-relay-same-challenge: $(lab_summary "$f")"
}

verdicts_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl openssl krb5kdc kdb5_util kadmin.local kinit
    [ -x "$LAB_PY" ] || lab_fail "no Python venv at $LAB_VENV (run scripts/lab/all.sh, which makes it)"
    local all=(dav davconn krb500 krbbig krbauthz shortname byip jwt pool target relay) s try
    [ $# -gt 0 ] || set -- "${all[@]}"
    for s in "$@"; do
        [[ " ${all[*]} " == *" $s "* ]] || lab_fail "unknown scenario '$s' (scenarios: ${all[*]})"
    done
    for s in "$@"; do
        for try in 1 2 3; do
            VD_RETRY=0
            "vd_$s"
            [ "$VD_RETRY" = 1 ] || break
            [ "$try" -lt 3 ] || lab_fail "scenario $s: the capture lost packets three times in a row"
        done
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then verdicts_main "$@"; fi
