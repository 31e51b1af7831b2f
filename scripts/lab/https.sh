#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# HTTPS: the servers of basic.sh, digest.sh, ntlm.sh and kerberos.sh (same addresses, names,
# realms and accounts; the MIT KDC too) behind mod_ssl on port 443, with a lab CA and server
# certificates that lib.sh makes afresh on every run (test keys, never committed). Every
# client writes its TLS secrets to a key log (SSLKEYLOGFILE), kept beside its capture as
# captures/<name>.keylog; the checks read each capture with it (lab_tshark).
#   https-basic-success.pcap, https-basic-wrong-password.pcap      curl --anyauth
#   https-digest-success.pcap, https-digest-wrong-password.pcap    curl --digest
#   https-ntlm-success.pcap, https-ntlm-wrong-password.pcap        requests-ntlm (the key log
#                                                                  written by urllib3)
#   https-negotiate-ntlm-success.pcap                              curl --negotiate, SPNEGO
#                                                                  picking NTLM (no ticket)
#   https-kerberos-success.pcap                                    kinit + curl --anyauth -u :
#   https-kerberos-wrong-password.pcap                             kinit with a wrong password
#                                                                  (KDC_ERR_PREAUTH_FAILED), so
#                                                                  no ticket: 401 Negotiate twice,
#                                                                  no token
#   https-ntlm-success-<cipher>.pcap                               requests-ntlm against a server
#                                                                  allowing one protocol and suite
#   https-ntlm-success-dsb.pcapng                                  https-ntlm-success.pcap with its
#                                                                  key log inside (editcap
#                                                                  --inject-secrets), no .keylog
#   https-tls-alert-unknown-ca.pcap                                curl --tls-max 1.2 without the
#                                                                  lab CA: the client's alert
#   https-tls-alert-handshake-failure.pcap                         no cipher suite in common: the
#                                                                  server's handshake_failure
#   https-tls-alert-protocol-version.pcap                          a TLS 1.3 server, a TLS 1.2
#                                                                  client: protocol_version
#                                                                  (these three write no key log:
#                                                                  no TLS session was made)
#   https-ntlm-epa-bound.pcap                                      requests-ntlm (channel bindings)
#                                                                  to the pyspnego server requiring
#                                                                  them (legacy.lab.test:443): 200
#   https-ntlm-epa-no-bindings.pcap                                curl --ntlm (no bindings) to it:
#                                                                  401
#   https-ntlm-epa-proxy.pcap                                      requests-ntlm through a TLS-ending
#                                                                  proxy with its own certificate
#                                                                  (tls_proxy.py, gateway.lab.test):
#                                                                  the bindings name the proxy's
#                                                                  certificate, the server refuses
#   https-h2-ntlm-downgrade.pcap                                   curl --http2 --ntlm to h2_server.py
#                                                                  (http.sys imitated, iis.lab.test):
#                                                                  RST_STREAM HTTP_1_1_REQUIRED to
#                                                                  the Type 1 over HTTP/2, curl's
#                                                                  retry over HTTP/1.1 logs on: 200
#   https-h2-ntlm-no-retry.pcap                                    h2_client.py (HTTP/2 only) with an
#                                                                  NTLM Type 1 (from pyspnego): reset,
#                                                                  no retry
#   https-h2-ntlm-goaway.pcap                                      curl --http2 --ntlm to h2_server.py
#                                                                  --refuse goaway: GOAWAY
#                                                                  HTTP_1_1_REQUIRED to the Type 1;
#                                                                  curl 7.88 gives up (no retry)
#   https-h2-basic-success.pcap                                    curl --http2 --anyauth: 401 Basic
#                                                                  then 200, all over HTTP/2
# Without options both ends pick TLS 1.3 with TLS_AES_256_GCM_SHA384 (OpenSSL 3.0's first
# choice); the checks fail on any other protocol or suite than the one named.
#
#   scripts/lab/https.sh [SCENARIO...]   basic digest ntlm kerberos ciphers dsb alerts epa h2 h2goaway (default: all;
#                                        dsb needs https-ntlm-success.pcap and its key log)
set -euo pipefail
# the family scripts read the port as they are sourced
LAB_PORT="${LAB_PORT:-443}"
. "$(dirname "${BASH_SOURCE[0]}")/basic.sh"
. "$(dirname "${BASH_SOURCE[0]}")/digest.sh"
. "$(dirname "${BASH_SOURCE[0]}")/ntlm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/kerberos.sh"
LAB_TLS=1
# a command that fails outside lab_fail (set -e) still says what and where
set -E
# (not for the exit of lab_fail, which has said why)
trap '[[ "$BASH_COMMAND" == exit* ]] || printf "\n*** LAB FAILURE: https.sh line %s: \"%s\" failed\n\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

HTTPS_TRIES=3

# _https_record NAME FILTER CMD...: record NAME.pcap (tcpdump FILTER) while CMD runs, with
# SSLKEYLOGFILE naming a fresh key log, then keep the key log as NAME.keylog beside the
# capture. CMD's standard output (curl's status code) is left in HTTPS_OUT, the capture's
# path in HTTPS_FILE. A capture that lost a packet (lab_capture_gaps) cannot be decrypted
# past the gap: it is recorded again, up to HTTPS_TRIES times.
_https_record() {
    local name="$1" filter="$2" try gaps keylog
    shift 2
    [ -n "${HTTPS_TMP:-}" ] || lab_tmpdir HTTPS_TMP
    HTTPS_FILE="$LAB_CAPTURES/$name.pcap"
    keylog="$LAB_CAPTURES/$name.keylog"
    for try in $(seq 1 "$HTTPS_TRIES"); do
        rm -f "$keylog" "$HTTPS_TMP/keylog"
        lab_capture_start "$HTTPS_FILE" "$filter"
        SSLKEYLOGFILE="$HTTPS_TMP/keylog" "$@" >"$HTTPS_TMP/out"
        lab_capture_stop
        HTTPS_OUT="$(cat "$HTTPS_TMP/out")"
        if [ "${HTTPS_NO_SESSION:-0}" = 1 ]; then
            # a handshake refused before its keys were made: nothing to log
            [ ! -s "$HTTPS_TMP/keylog" ] || lab_fail "$name: the client logged TLS secrets of a refused handshake"
        else
            [ -s "$HTTPS_TMP/keylog" ] || lab_fail "$name: the client wrote no TLS key log"
            install -m 644 "$HTTPS_TMP/keylog" "$keylog"
            chown --reference="$LAB_CAPTURES" "$keylog"
        fi
        gaps="$(lab_capture_gaps "$HTTPS_FILE" tls)"
        [ -n "$gaps" ] || return 0
        lab_log "$name.pcap: the capture lost packets ($gaps); recording it again (try $try of $HTTPS_TRIES)"
    done
    lab_fail "$name.pcap: lost packets in $HTTPS_TRIES recordings in a row ($gaps)"
}

# _https_expect_tls FILE N VERSION SUITE [ETM]: N TLS connections (ClientHellos), each
# ServerHello choosing VERSION (1.2 or 1.3) and SUITE (its IANA number, 0x1302); for TLS 1.2
# ETM says whether encrypt_then_mac (RFC 7366) was agreed (yes/no). No alert but
# close_notify before the peer closed; the key log holds the secrets of exactly these connections, and without it
# tshark sees no HTTP at all. (One tshark pass for the hellos: the family runs 17 captures.)
_https_expect_tls() {
    local f="$1" n="$2" ver="$3" suite="$4" etm="${5:-}" name bad want got
    name="$(basename "$f")"
    bad="$(lab_fields "$f" 'tls.handshake.type == 1 || tls.handshake.type == 2' tls.handshake.type \
        tls.handshake.ciphersuite tls.handshake.extensions.supported_version tls.handshake.version \
        tls.handshake.extension.type |
        awk -F'|' -v n="$n" -v ver="$ver" -v suite="$suite" -v etm="$etm" '
            ("," $1 ",") ~ /,1,/ { ch++; next }
            {
                sh++
                split($2, c, ","); if (c[1] != suite) bad = bad ", suite " c[1]
                split($3 != "" ? $3 : $4, v, ",")
                if (v[1] != (ver == "1.3" ? "0x0304" : "0x0303")) bad = bad ", version " v[1]
                e = ("," $5 ",") ~ /,22,/
                if (etm == "yes" && !e) bad = bad ", no encrypt_then_mac"
                if (etm == "no" && e) bad = bad ", encrypt_then_mac"
            }
            END {
                if (ch != n) bad = bad ", " ch + 0 " ClientHello"
                if (sh != n) bad = bad ", " sh + 0 " ServerHello"
                print substr(bad, 3)
            }')"
    [ -z "$bad" ] || lab_fail "$name: expected $n TLS connection(s), TLS $ver, suite $suite${etm:+, encrypt_then_mac $etm}; found: $bad"
    lab_log "ok $name: $n TLS connection(s), TLS $ver, suite $suite${etm:+, encrypt_then_mac $etm}"
    # An alert after the peer's FIN answers a close without close_notify: OpenSSL servers
    # answer an unexpected EOF with decode_error (requests closes that way).
    bad="$(lab_fields "$f" 'tcp.flags.fin == 1 || (tls.alert_message && !(tls.alert_message.desc == 0))' \
        tcp.stream ip.src tcp.flags.fin tls.alert_message.desc |
        awk -F'|' '
            $4 != "" { closed = 0; for (k in fin) { split(k, p, SUBSEP); if (p[1] == $1 && p[2] != $2) closed = 1 }
                       if (!closed) n++ }
            $3 == "1" || $3 == "True" { fin[$1, $2] = 1 }
            END { print n + 0 }')"
    [ "$bad" = 0 ] || lab_fail "$name: expected no TLS alert but close_notify before the peer's FIN, found $bad"
    lab_log "ok $name: no TLS alert but close_notify before the peer's FIN"
    LAB_TSHARK_NO_KEYLOG=1 lab_expect "$f" 'http || ntlmssp || spnego' eq 0 "no HTTP without the key log"
    # the key log's client randoms are those of the ClientHellos, no more, no fewer (OpenSSL
    # adds an "RSA <encrypted pre-master prefix> <pre-master>" line for RSA key exchange)
    want="$(lab_fields "$f" 'tls.handshake.type == 1' tls.handshake.random | tr -d ':' | sort -u)"
    got="$(awk '!/^#/ && NF == 3 && $1 != "RSA" {print $2}' "$(lab_keylog "$f")" | tr 'A-F' 'a-f' | sort -u)"
    [ "$want" = "$got" ] || lab_fail "$name: the key log's client randoms ($(paste -sd' ' <<<"$got")) are not the capture's ($(paste -sd' ' <<<"$want"))"
    lab_log "ok $name: the key log holds the secrets of its $n TLS connection(s) and no other"
}

# --- Basic and Digest (curl) --------------------------------------------------------------

https_basic() {
    local filter="host $BASIC_ADDR and tcp port $BASIC_PORT" f
    basic_server_start

    _https_record https-basic-success "$filter" lab_curl --anyauth -u "$BASIC_USER:$BASIC_PASS" "$BASIC_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-basic-success: curl got HTTP $HTTPS_OUT, expected 200"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "Basic"' eq 1 "one 401 with WWW-Authenticate: Basic"
    lab_expect "$f" "http.authorization contains \"Basic\" && http.authbasic == \"$BASIC_USER:$BASIC_PASS\"" eq 1 "one request with Authorization: Basic for $BASIC_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_log "https-basic-success: $(lab_summary "$f")"

    _https_record https-basic-wrong-password "$filter" lab_curl --anyauth -u "$BASIC_USER:Winter2023" "$BASIC_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 401 ] || lab_fail "https-basic-wrong-password: curl got HTTP $HTTPS_OUT, expected 401"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'http.response.code == 401' eq 2 "two 401s (probe and rejected credential)"
    lab_expect "$f" "http.authbasic == \"$BASIC_USER:Winter2023\"" eq 1 "one request with Authorization: Basic, the wrong password"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "https-basic-wrong-password: $(lab_summary "$f")"
    lab_stop apache2
}

https_digest() {
    local filter="host $DIGEST_ADDR and tcp port $DIGEST_PORT" f
    digest_server_start

    _https_record https-digest-success "$filter" lab_curl --digest -u "$DIGEST_USER:$DIGEST_PASS" "$DIGEST_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-digest-success: curl --digest got HTTP $HTTPS_OUT, expected 200"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "nonce="' eq 1 "one 401 Digest challenge"
    lab_expect "$f" "http.authorization contains \"Digest username=\\\"$DIGEST_USER\\\"\"" eq 1 "one Digest response from $DIGEST_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_log "https-digest-success: $(lab_summary "$f")"

    _https_record https-digest-wrong-password "$filter" lab_curl --digest -u "$DIGEST_USER:Spring2023" "$DIGEST_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 401 ] || lab_fail "https-digest-wrong-password: curl --digest got HTTP $HTTPS_OUT, expected 401"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'http.authorization contains "Digest"' eq 1 "one Digest response"
    lab_expect "$f" 'http.response.code == 401' eq 2 "two 401s"
    lab_expect "$f" 'http.www_authenticate contains "stale=true"' eq 0 "no stale=true"
    lab_log "https-digest-wrong-password: $(lab_summary "$f")"
    lab_stop apache2
}

# --- NTLM (requests-ntlm; curl --negotiate) ----------------------------------------------------

# _https_expect_ntlm FILE USER OUTCOME: one connection, anonymous 401, Type 1, 401 Type 2,
# Type 3 from USER answered OUTCOME (200 or 401).
_https_expect_ntlm() {
    local f="$1" user="$2" outcome="$3"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "all legs on one TCP connection"
    lab_expect "$f" 'http.request && !http.authorization' eq 1 "one anonymous request"
    lab_expect "$f" 'http.www_authenticate == "NTLM"' ge 1 "WWW-Authenticate: NTLM offered"
    lab_expect "$f" 'http.authorization contains "NTLM " && ntlmssp.messagetype == 1' eq 1 "one NTLM Type 1"
    lab_expect "$f" 'http.response.code == 401 && ntlmssp.messagetype == 2' eq 1 "one 401 with NTLM Type 2"
    lab_expect "$f" "http.authorization contains \"NTLM \" && ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$user\"" eq 1 "one NTLM Type 3 from $user"
    # requests-ntlm binds its Type 3 to the TLS channel (MsvAvChannelBindings, the hash of
    # tls-server-end-point); gss-ntlmssp behind mod_auth_gssapi does not check it
    lab_expect "$f" 'ntlmssp.messagetype == 3 && ntlmssp.ntlmv2_response.channel_bindings' eq 1 "the Type 3 carries channel bindings"
    if [ "$outcome" = 200 ]; then
        lab_expect "$f" 'http.response.code == 401 && !ntlmssp' eq 1 "one 401 without NTLM token (the anonymous probe)"
        lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    else
        lab_expect "$f" 'http.response.code == 401' eq 3 "three 401s (probe, challenge, rejected Type 3)"
        lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    fi
}

https_ntlm() {
    local filter="host $NTLM_APACHE_ADDR and tcp port $NTLM_APACHE_PORT" f
    ntlm_apache_start

    _https_record https-ntlm-success "$filter" lab_pyclient ntlm "$NTLM_APACHE_URL" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    f="$HTTPS_FILE"
    _https_expect_tls "$f" 1 1.3 0x1302
    _https_expect_ntlm "$f" "$NTLM_USER" 200
    lab_log "https-ntlm-success: $(lab_summary "$f")"

    _https_record https-ntlm-wrong-password "$filter" lab_pyclient ntlm "$NTLM_APACHE_URL" "$NTLM_DOMAIN\\$NTLM_USER" "Winter2023"
    f="$HTTPS_FILE"
    _https_expect_tls "$f" 1 1.3 0x1302
    _https_expect_ntlm "$f" "$NTLM_USER" 401
    lab_log "https-ntlm-wrong-password: $(lab_summary "$f")"

    # curl --ntlm cannot talk to gss-ntlmssp (LAB-NOTES); curl --negotiate can, SPNEGO
    # picking NTLM with no Kerberos ticket (as negotiate-ntlm-success.pcap)
    _https_record https-negotiate-ntlm-success "$filter" _https_curl_negotiate_ntlm "$NTLM_APACHE_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-negotiate-ntlm-success: curl --negotiate got HTTP $HTTPS_OUT, expected 200"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 1' eq 1 "Negotiate token carrying NTLM Type 1"
    lab_expect "$f" 'spnego && ntlmssp.messagetype == 2' eq 1 "SPNEGO NegTokenResp carrying NTLM Type 2"
    lab_expect "$f" "http.authorization contains \"Negotiate\" && ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$NTLM_USER\"" eq 1 "Negotiate token carrying NTLM Type 3 from $NTLM_USER"
    lab_expect "$f" 'ntlmssp.messagetype == 3 && ntlmssp.ntlmv2_response.channel_bindings' eq 0 "no channel bindings (curl 7.88 sends none)"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_expect "$f" 'tcp.flags.syn == 1 && tcp.flags.ack == 0' eq 1 "one TCP connection"
    lab_log "https-negotiate-ntlm-success: $(lab_summary "$f")"
    lab_stop apache2
}

_https_curl_negotiate_ntlm() {
    NTLM_USER_FILE="$NTLM_USER_FILE_PATH" KRB5_CONFIG=/dev/null KRB5CCNAME="FILE:/nonexistent/ccache" \
        lab_curl --negotiate -u : "$1"
}

# The cipher variants: NTLM (three legs that must share one TLS connection) against a server
# allowing one protocol and one suite (SSLProtocol, SSLCipherSuite); the client offers
# OpenSSL's DEFAULT list for TLS 1.2, since Python's own leaves out the SHA-1 CBC and the
# RSA key exchange suites. Each row: name suffix, protocol, suite (IANA), encrypt_then_mac
# agreed (TLS 1.2), mod_ssl directives.
HTTPS_CIPHERS=(
    "tls12-aes128-gcm|1.2|0xc02f||SSLProtocol -all +TLSv1.2|SSLCipherSuite ECDHE-RSA-AES128-GCM-SHA256"
    "tls12-aes256-gcm|1.2|0xc030||SSLProtocol -all +TLSv1.2|SSLCipherSuite ECDHE-RSA-AES256-GCM-SHA384"
    "tls12-aes128-cbc|1.2|0xc013|yes|SSLProtocol -all +TLSv1.2|SSLCipherSuite ECDHE-RSA-AES128-SHA"
    # static RSA key exchange, and MAC-then-encrypt as from servers without RFC 7366 (Schannel)
    "tls12-aes256-cbc-sha256-mte|1.2|0x003d|no|SSLProtocol -all +TLSv1.2|SSLCipherSuite AES256-SHA256|SSLOpenSSLConfCmd Options -EncryptThenMac"
    "tls12-chacha20|1.2|0xcca8||SSLProtocol -all +TLSv1.2|SSLCipherSuite ECDHE-RSA-CHACHA20-POLY1305"
    "tls13-aes128-gcm|1.3|0x1301||SSLProtocol -all +TLSv1.3|SSLCipherSuite TLSv1.3 TLS_AES_128_GCM_SHA256"
    "tls13-chacha20|1.3|0x1303||SSLProtocol -all +TLSv1.3|SSLCipherSuite TLSv1.3 TLS_CHACHA20_POLY1305_SHA256"
)

https_ciphers() {
    local filter="host $NTLM_APACHE_ADDR and tcp port $NTLM_APACHE_PORT" row name ver suite etm f
    for row in "${HTTPS_CIPHERS[@]}"; do
        IFS='|' read -r name ver suite etm _ <<<"$row"
        IFS='|' read -ra LAB_TLS_SERVER_CONF <<<"${row#*|*|*|*|}"
        ntlm_apache_start
        _https_record "https-ntlm-success-$name" "$filter" \
            lab_pyclient --ciphers DEFAULT ntlm "$NTLM_APACHE_URL" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
        f="$HTTPS_FILE"
        _https_expect_tls "$f" 1 "$ver" "$suite" "$etm"
        _https_expect_ntlm "$f" "$NTLM_USER" 200
        lab_log "https-ntlm-success-$name: $(lab_summary "$f")"
        lab_stop apache2
        lab_hosts_remove
    done
    LAB_TLS_SERVER_CONF=()
}

# --- Kerberos -------------------------------------------------------------------------------

# _https_krb_client PASSWORD URL: kinit alice with PASSWORD (a wrong one leaves no ticket),
# then curl --anyauth -u : as kerberos.sh does.
_https_krb_client() {
    rm -f "$KRB_DIR/ccache"
    printf '%s\n' "$1" | KRB5CCNAME="FILE:$KRB_DIR/ccache" kinit "$KRB_USER@$KRB_REALM" >"$KRB_DIR/kinit.log" 2>&1 || true
    KRB5CCNAME="FILE:$KRB_DIR/ccache" lab_curl --anyauth -u : "$2"
}

https_kerberos() {
    local f
    krb_kdc_start
    krb_web_start "$KRB_DIR/http.keytab" krb5

    _https_record https-kerberos-success "$(_krb_filter)" _https_krb_client "$KRB_PASS" "$KRB_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-kerberos-success: curl --negotiate got HTTP $HTTPS_OUT, expected 200 ($(cat "$KRB_DIR/kinit.log"))"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'kerberos.msg_type == 10' eq 2 "two AS-REQ (kinit, with pre-authentication the second time)"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 25' eq 1 "KDC_ERR_PREAUTH_REQUIRED (25)"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 1 "one TGS-REP"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Negotiate"' eq 1 "anonymous probe answered 401 Negotiate"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' eq 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 200 && kerberos.msg_type == 15' eq 1 "200 with an AP-REP (mutual auth)"
    lab_log "https-kerberos-success: $(lab_summary "$f")"

    _https_record https-kerberos-wrong-password "$(_krb_filter)" _https_krb_client "Winter2023" "$KRB_URL"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 401 ] || lab_fail "https-kerberos-wrong-password: curl --negotiate got HTTP $HTTPS_OUT, expected 401"
    grep -qi "preauthentication failed\|password incorrect" "$KRB_DIR/kinit.log" ||
        lab_fail "https-kerberos-wrong-password: kinit did not fail on the password: $(cat "$KRB_DIR/kinit.log")"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'kerberos.msg_type == 10' eq 2 "two AS-REQ"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 24' eq 1 "KDC_ERR_PREAUTH_FAILED (24)"
    lab_expect "$f" 'kerberos.msg_type == 11 || kerberos.msg_type == 12' eq 0 "no AS-REP, no TGS-REQ (no ticket)"
    # curl --anyauth picks Negotiate, cannot make a token without a ticket, and asks again
    # without credentials before giving up
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Negotiate"' eq 2 "two 401 Negotiate"
    lab_expect "$f" 'http.authorization' eq 0 "no Authorization (curl has no credential to send)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "https-kerberos-wrong-password: $(lab_summary "$f")"
    lab_stop apache2
    lab_stop krb5kdc
}

# --- the key log inside a pcapng --------------------------------------------------------------

https_dsb() {
    local src="$LAB_CAPTURES/https-ntlm-success.pcap" f="$LAB_CAPTURES/https-ntlm-success-dsb.pcapng"
    if [ ! -f "$src" ] || [ -z "$(lab_keylog "$src")" ]; then
        lab_fail "https-ntlm-success-dsb: no https-ntlm-success.pcap and key log to start from"
    fi
    rm -f "$f"
    editcap --inject-secrets "tls,$(lab_keylog "$src")" "$src" "$f" || lab_fail "editcap --inject-secrets failed"
    chown --reference="$LAB_CAPTURES" "$f"
    # no key log beside it: tshark decrypts with the secrets the file holds
    [ -z "$(lab_keylog "$f")" ] || lab_fail "$(lab_keylog "$f") must not exist: the secrets are in the pcapng"
    lab_expect "$f" 'tls.handshake.type == 2 && tls.handshake.extensions.supported_version == 0x0304 && tls.handshake.ciphersuite == 0x1302' eq 1 "TLS 1.3 TLS_AES_256_GCM_SHA384"
    _https_expect_ntlm "$f" "$NTLM_USER" 200
    [ "$(lab_summary "$f")" = "$(lab_summary "$src")" ] || lab_fail "https-ntlm-success-dsb.pcapng does not read as https-ntlm-success.pcap with its key log"
    lab_log "https-ntlm-success-dsb: $(lab_summary "$f")"
}

# --- TLS refused before any HTTP ------------------------------------------------------------

# _https_expect_alert FILE BY DESC NAME: one TLS connection, one alert in clear, from BY
# (client or server), description DESC (RFC 5246 7.2), and no HTTP even for tshark.
_https_expect_alert() {
    local f="$1" by="$2" desc="$3" what="$4" src
    src="$LAB_CLIENT_ADDR"
    [ "$by" = client ] || src="$BASIC_ADDR"
    lab_expect "$f" 'tls.handshake.type == 1' eq 1 "one ClientHello"
    lab_expect "$f" 'tls.alert_message' eq 1 "one TLS alert"
    lab_expect "$f" "tls.alert_message.desc == $desc && ip.src == $src" eq 1 "the $by's alert $what ($desc)"
    lab_expect "$f" 'http' eq 0 "no HTTP"
}

# Each row: capture name, who sends the alert, its number and name, the client's curl
# options, then the server's mod_ssl directives. TLS 1.2 at most: a TLS 1.3 alert after the
# ServerHello is encrypted. unknown_ca: curl is not given the lab CA.
HTTPS_ALERTS=(
    "https-tls-alert-unknown-ca|client|48|unknown_ca|--tls-max 1.2"
    "https-tls-alert-handshake-failure|server|40|handshake_failure|--tls-max 1.2 --ciphers ECDHE-RSA-AES128-GCM-SHA256|SSLProtocol -all +TLSv1.2|SSLCipherSuite ECDHE-RSA-AES256-GCM-SHA384"
    "https-tls-alert-protocol-version|server|70|protocol_version|--tls-max 1.2|SSLProtocol -all +TLSv1.3"
)

https_alerts() {
    local filter="host $BASIC_ADDR and tcp port $BASIC_PORT" row name by desc what opts tls f
    for row in "${HTTPS_ALERTS[@]}"; do
        IFS='|' read -r name by desc what opts _ <<<"$row"
        IFS='|' read -ra LAB_TLS_SERVER_CONF <<<"$(cut -d'|' -f6- <<<"$row")"
        tls=1
        [ "$what" != unknown_ca ] || tls=0
        basic_server_start
        # shellcheck disable=SC2086 # the options are words
        LAB_TLS="$tls" HTTPS_NO_SESSION=1 _https_record "$name" "$filter" \
            lab_curl $opts -u "$BASIC_USER:$BASIC_PASS" "$BASIC_URL"
        f="$HTTPS_FILE"
        [ "$HTTPS_OUT" = 000 ] || lab_fail "$name: curl got HTTP $HTTPS_OUT, expected no answer"
        _https_expect_alert "$f" "$by" "$desc" "$what"
        lab_log "$name: $(lab_summary "$f")"
        lab_stop apache2
    done
    LAB_TLS_SERVER_CONF=()
}

# --- Extended Protection: NTLM bound to the TLS channel ------------------------------------

EPA_PROXY_ADDR=127.0.0.26
EPA_PROXY_HOST=gateway.lab.test

# _https_epa_via_proxy: requests-ntlm through tls_proxy.py, which writes the secrets of its
# own connections to the server to the same key log as the client.
_https_epa_via_proxy() {
    local d
    lab_tmpdir d
    lab_tls_cert "$EPA_PROXY_HOST"
    lab_bg tls_proxy.py "$d/proxy.log" "$LAB_PY" "$LAB_DIR/tls_proxy.py" \
        --listen "$EPA_PROXY_ADDR:443" --cert "$LAB_TLS_DIR/$EPA_PROXY_HOST.crt" \
        --key "$LAB_TLS_DIR/$EPA_PROXY_HOST.key" --upstream "$NTLM_PY_HOST:443" \
        --cafile "$LAB_TLS_DIR/ca.crt" --source "$EPA_PROXY_ADDR"
    lab_wait_port "$EPA_PROXY_ADDR" 443 15 "$LAB_LAST_PID"
    lab_pyclient ntlm "https://$EPA_PROXY_HOST/" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    lab_stop tls_proxy.py
}

https_epa() {
    local d f filter="host $NTLM_PY_ADDR and tcp port 443"
    lab_tmpdir d
    _ntlm_users "$d"
    lab_tls_cert "$NTLM_PY_HOST"
    lab_port_free "$NTLM_PY_ADDR" 443
    lab_hosts_add "$NTLM_PY_ADDR" "$NTLM_PY_HOST"
    lab_hosts_add "$EPA_PROXY_ADDR" "$EPA_PROXY_HOST"
    lab_bg "ntlm_server.py" "$d/server.log" env NTLM_USER_FILE="$NTLM_USER_FILE_PATH" \
        "$LAB_PY" "$LAB_DIR/ntlm_server.py" --addr "$NTLM_PY_ADDR" --port 443 \
        --tls-cert "$LAB_TLS_DIR/$NTLM_PY_HOST.crt" --tls-key "$LAB_TLS_DIR/$NTLM_PY_HOST.key" \
        --require-bindings
    lab_wait_port "$NTLM_PY_ADDR" 443 15 "$LAB_LAST_PID"
    local url="https://$NTLM_PY_HOST/"

    _https_record https-ntlm-epa-bound "$filter" \
        lab_pyclient ntlm "$url" "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS"
    f="$HTTPS_FILE"
    [[ "$HTTPS_OUT" == *": 200 "* ]] || lab_fail "https-ntlm-epa-bound: requests-ntlm got $HTTPS_OUT, expected 200"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'ntlmssp.messagetype == 3 && ntlmssp.ntlmv2_response.channel_bindings' eq 1 "a Type 3 with channel bindings"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "https-ntlm-epa-bound: $(lab_summary "$f")"

    _https_record https-ntlm-epa-no-bindings "$filter" \
        lab_curl --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$url"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 401 ] || lab_fail "https-ntlm-epa-no-bindings: curl --ntlm got HTTP $HTTPS_OUT, expected 401"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'ntlmssp.messagetype == 3' eq 1 "one Type 3"
    lab_expect "$f" 'ntlmssp.messagetype == 3 && ntlmssp.ntlmv2_response.channel_bindings' eq 0 "no channel bindings in it"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    grep -q "BadBindings\|bindings" "$d/server.log" || lab_fail "https-ntlm-epa-no-bindings: the server did not refuse the bindings: $(tail -3 "$d/server.log")"
    lab_log "https-ntlm-epa-no-bindings: $(lab_summary "$f")"

    _https_record https-ntlm-epa-proxy "(host $NTLM_PY_ADDR or host $EPA_PROXY_ADDR) and tcp port 443" \
        _https_epa_via_proxy
    f="$HTTPS_FILE"
    [[ "$HTTPS_OUT" == *": 401 "* ]] || lab_fail "https-ntlm-epa-proxy: requests-ntlm got $HTTPS_OUT, expected 401"
    lab_expect "$f" 'tls.handshake.type == 1' eq 2 "two TLS connections (client to proxy, proxy to server)"
    lab_expect "$f" "ntlmssp.messagetype == 3 && ip.dst == $NTLM_PY_ADDR" eq 1 "the Type 3 passed on to the server"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "https-ntlm-epa-proxy: $(lab_summary "$f")"
    lab_stop ntlm_server.py
}

# --- HTTP/2: http.sys refusing Windows authentication ---------------------------------------

H2_ADDR=127.0.0.27
H2_HOST=iis.lab.test

# _https_h2_setup DIR: the lab's NTLM users in DIR, iis.lab.test's certificate and its name.
_https_h2_setup() {
    _ntlm_users "$1"
    lab_tls_cert "$H2_HOST"
    lab_hosts_add "$H2_ADDR" "$H2_HOST"
}

# _https_h2_server LOG [OPTION...]: h2_server.py on $H2_ADDR:443 with the lab's NTLM users.
_https_h2_server() {
    local log="$1"
    shift
    lab_port_free "$H2_ADDR" 443
    lab_bg h2_server.py "$log" env NTLM_USER_FILE="$NTLM_USER_FILE_PATH" \
        "$LAB_PY" "$LAB_DIR/h2_server.py" --addr "$H2_ADDR" --port 443 \
        --tls-cert "$LAB_TLS_DIR/$H2_HOST.crt" --tls-key "$LAB_TLS_DIR/$H2_HOST.key" "$@"
    lab_wait_port "$H2_ADDR" 443 15 "$LAB_LAST_PID"
}

https_h2() {
    local d f filter="host $H2_ADDR and tcp port 443" url="https://$H2_HOST/"
    lab_tmpdir d
    _https_h2_setup "$d"
    _https_h2_server "$d/server.log"

    _https_record https-h2-ntlm-downgrade "$filter" \
        lab_curl --http2 --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$url"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-h2-ntlm-downgrade: curl --http2 --ntlm got HTTP $HTTPS_OUT, expected 200 after its retry over HTTP/1.1"
    lab_expect "$f" 'tls.handshake.type == 1' eq 2 "two TLS connections (HTTP/2, then the retry)"
    lab_expect "$f" 'tls.handshake.type == 2 && tls.handshake.extensions_alpn_str == "h2"' eq 1 "ALPN h2 chosen on the first"
    lab_expect "$f" 'tls.handshake.type == 2 && tls.handshake.extensions_alpn_str == "http/1.1"' eq 1 "ALPN http/1.1 on the retry"
    lab_expect "$f" 'http2.type == 3 && http2.rst_stream.error == 13' eq 1 "RST_STREAM HTTP_1_1_REQUIRED"
    lab_expect "$f" 'http2.header.value contains "NTLM TlRMTVNTUAAB"' eq 1 "the Type 1 over HTTP/2"
    lab_expect "$f" 'ntlmssp.messagetype == 3' eq 1 "one Type 3 (over HTTP/1.1)"
    lab_expect "$f" 'http.response.code == 200' eq 1 "200 over HTTP/1.1"
    lab_log "https-h2-ntlm-downgrade: $(lab_summary "$f")"

    _https_record https-h2-ntlm-no-retry "$filter" "$LAB_PY" "$LAB_DIR/h2_client.py" "$url" \
        "$NTLM_DOMAIN\\$NTLM_USER" "$NTLM_PASS" --cafile "$LAB_TLS_DIR/ca.crt" --source "$LAB_CLIENT_ADDR"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = "reset HTTP_1_1_REQUIRED" ] || lab_fail "https-h2-ntlm-no-retry: h2_client.py saw '$HTTPS_OUT', expected reset HTTP_1_1_REQUIRED"
    lab_expect "$f" 'tls.handshake.type == 1' eq 1 "one TLS connection"
    lab_expect "$f" 'http2.type == 3 && http2.rst_stream.error == 13' eq 1 "RST_STREAM HTTP_1_1_REQUIRED"
    lab_expect "$f" 'http2.header.value contains "NTLM TlRMTVNTUAAB"' eq 1 "the Type 1 over HTTP/2"
    lab_expect "$f" 'http' eq 0 "no HTTP/1.1"
    lab_log "https-h2-ntlm-no-retry: $(lab_summary "$f")"
    lab_stop h2_server.py

    _https_h2_server "$d/server-basic.log" --basic "$BASIC_USER:$BASIC_PASS"
    _https_record https-h2-basic-success "$filter" \
        lab_curl --http2 --anyauth -u "$BASIC_USER:$BASIC_PASS" "$url"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 200 ] || lab_fail "https-h2-basic-success: curl --http2 --anyauth got HTTP $HTTPS_OUT, expected 200"
    lab_expect "$f" 'tls.handshake.type == 1' eq 1 "one TLS connection"
    lab_expect "$f" 'http2.type == 1 && http2.header.name == ":status" && http2.header.value == "401"' eq 1 "401 over HTTP/2"
    lab_expect "$f" 'http2.type == 1 && http2.header.name == ":status" && http2.header.value == "200"' eq 1 "200 over HTTP/2"
    lab_expect "$f" 'http2.type == 3' eq 0 "no RST_STREAM"
    lab_log "https-h2-basic-success: $(lab_summary "$f")"
    lab_stop h2_server.py
}

# The GOAWAY form of the refusal: http.sys may end the whole connection with GOAWAY
# HTTP_1_1_REQUIRED (last stream 0: the request was not processed) instead of resetting the
# stream. curl 7.88 (nghttp2 1.52) does not retry after it: it fails with "Error in the HTTP2
# framing layer" (exit 16), so there is no HTTP/1.1 connection.
https_h2goaway() {
    local d f filter="host $H2_ADDR and tcp port 443" url="https://$H2_HOST/"
    lab_tmpdir d
    _https_h2_setup "$d"
    _https_h2_server "$d/server.log" --refuse goaway

    _https_record https-h2-ntlm-goaway "$filter" \
        lab_curl --http2 --ntlm -u "$NTLM_DOMAIN\\$NTLM_USER:$NTLM_PASS" "$url"
    f="$HTTPS_FILE"
    [ "$HTTPS_OUT" = 000 ] || lab_fail "https-h2-ntlm-goaway: curl --http2 --ntlm got HTTP $HTTPS_OUT, expected no answer (no retry after the GOAWAY)"
    _https_expect_tls "$f" 1 1.3 0x1302
    lab_expect "$f" 'tls.handshake.type == 2 && tls.handshake.extensions_alpn_str == "h2"' eq 1 "ALPN h2 chosen"
    lab_expect "$f" 'http2.header.value contains "NTLM TlRMTVNTUAAB"' eq 1 "the Type 1 over HTTP/2"
    lab_expect "$f" 'http2.type == 7 && http2.goaway.error == 13 && http2.goaway.last_stream_id == 0' eq 1 "GOAWAY HTTP_1_1_REQUIRED, last stream 0"
    lab_expect "$f" 'http2.type == 3' eq 0 "no RST_STREAM"
    lab_expect "$f" 'http' eq 0 "no HTTP/1.1 (curl does not retry)"
    lab_log "https-h2-ntlm-goaway: $(lab_summary "$f")"
    lab_stop h2_server.py
}

https_main() {
    lab_need_root
    lab_need apache2 htpasswd openssl tcpdump tshark editcap curl krb5kdc kdb5_util kadmin.local kinit
    [ -x "$LAB_PY" ] || lab_fail "no Python venv at $LAB_VENV (run scripts/lab/all.sh, which makes it)"
    local all=(basic digest ntlm kerberos ciphers dsb alerts epa h2 h2goaway) s
    [ $# -gt 0 ] || set -- "${all[@]}"
    for s in "$@"; do
        [[ " ${all[*]} " == *" $s "* ]] || lab_fail "unknown https scenario '$s' (${all[*]})"
    done
    for s in "$@"; do
        lab_log "--- https $s"
        "https_$s"
        lab_hosts_remove
    done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then https_main "$@"; fi
