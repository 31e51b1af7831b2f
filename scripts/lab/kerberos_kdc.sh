# shellcheck shell=bash
# shellcheck disable=SC2030,SC2031 # _kdc_client sets the client's Kerberos variables in a subshell on purpose
# The Kerberos around the HTTP (sourced by kerberos.sh, run with its family): what the client's
# KDC and DNS traffic shows when Negotiate cannot use Kerberos. The MIT KDC and apache2 +
# mod_auth_gssapi of kerberos.sh, a dnsmasq on loopback for the CNAME cases, libfaketime for
# the client's and the web server's clocks.
#
#   kerberos-wrong-password.pcap          kinit with a wrong password: KDC_ERR_PREAUTH_FAILED (24)
#   kerberos-clock-skew.pcap              the client's clock 10 minutes ahead after kinit: the
#                                         TGS-REQ gets KRB_AP_ERR_SKEW (37)
#   kerberos-server-clock-skew.pcap       the web server's clock 10 minutes ahead: its 401 carries
#                                         KRB_AP_ERR_SKEW, its Date header its clock
#   kerberos-ntlm-server-clock-skew.pcap  the web server's clock 10 minutes ahead, no ticket:
#                                         SPNEGO picks NTLM, the Type 2's MsvAvTimestamp shows
#                                         the server's clock; the login works
#   kerberos-etype-nosupp.pcap            the client offers RC4 only, the account has AES keys:
#                                         KDC_ERR_ETYPE_NOSUPP (14)
#   kerberos-cname-spn-on-canonical.pcap  apps.lab.test is a CNAME of web01.lab.test, the SPN is
#                                         on web01 only and the client asks for HTTP/apps: NTLM
#   kerberos-cname-spn-on-alias.pcap      the reverse: the SPN is on apps only and the client
#                                         asks for the canonical name's: NTLM
#   kerberos-kdc-unreachable.pcap         the KDC stopped after kinit: the TGS-REQ over UDP draws
#                                         an ICMP port unreachable, over TCP an RST; NTLM

KDC_DNS_ADDR="${LAB_DNS_ADDR:-127.0.0.28}"
KDC_ALIAS="apps.lab.test"
KDC_CANON="web01.lab.test"
KDC_WRONG_PASS="Winter2023"

# _kdc_client_conf NAME LINES...: a krb5.conf for the client only: the KDC's, with LINES
# first in [libdefaults] (MIT's profile takes the first value of a name).
_kdc_client_conf() {
    local name="$1" out="$KRB_DIR/client-$1.conf"
    shift
    {
        echo "[libdefaults]"
        printf '    %s\n' "$@"
        sed '1d' "$KRB_DIR/krb5.conf"
    } >"$out"
    echo "$out"
}

# _kdc_client CONF CMD...: the client (a command or a function), with its own krb5.conf,
# alice's ccache and her NTLM credentials for gss-ntlmssp.
_kdc_client() {
    (
        export KRB5_CONFIG="$1" KRB5CCNAME="FILE:$KRB_DIR/ccache" NTLM_USER_FILE="$KRB_NTLM_USERS"
        shift
        "$@"
    )
}

_kdc_filter() {
    echo "$(_krb_filter) or (host $KDC_DNS_ADDR and port 53) or (icmp and host $KRB_KDC_ADDR)"
}

# _kdc_curl [WRAPPER...] HOST: curl --anyauth -u : to /secure/ on HOST (run under WRAPPER,
# faketime or unshare); prints the final HTTP status.
_kdc_curl() {
    local host="${*: -1}"
    "${@:1:$#-1}" curl --interface "$LAB_CLIENT_ADDR" -s -o /dev/null -w '%{http_code}' --max-time 20 \
        --anyauth -u : "$(lab_url "$host" "$KRB_WEB_PORT" /secure/index.html)" || true
}

# kinit that may fail; its status in KDC_KINIT (0 = a ticket).
_kdc_kinit() {
    local conf="$1" pass="$2"
    rm -f "$KRB_DIR/ccache"
    KDC_KINIT=0
    printf '%s\n' "$pass" | _kdc_client "$conf" "${@:3}" kinit "$KRB_USER@$KRB_REALM" >"$KRB_DIR/kinit.log" 2>&1 || KDC_KINIT=$?
}

# _kdc_login NAME CONF PASS HOST MECHS [WRAPPER...]: records NAME.pcap: apache2 with
# KDC_KEYTAB (default http.keytab) allowing MECHS, kinit with PASS, then curl to HOST under
# WRAPPER, all with the client's CONF; KDC_BETWEEN (a command) runs between kinit and curl.
# Sets KDC_FILE, KDC_CODE (curl's final status) and KDC_KINIT.
_kdc_login() {
    local name="$1" conf="$2" pass="$3" host="$4" mechs="$5"
    shift 5
    KDC_FILE="$LAB_CAPTURES/$name.pcap"
    krb_web_start "${KDC_KEYTAB:-$KRB_DIR/http.keytab}" "$mechs"
    lab_capture_start "$KDC_FILE" "$(_kdc_filter)"
    _kdc_kinit "$conf" "$pass"
    [ -z "${KDC_BETWEEN:-}" ] || "$KDC_BETWEEN"
    KDC_CODE=$(_kdc_client "$conf" _kdc_curl "$@" "$host")
    lab_capture_stop
    lab_stop apache2
}

# kinit must have got a ticket.
_kdc_kinit_ok() {
    [ "$KDC_KINIT" = 0 ] || { cat "$KRB_DIR/kinit.log" >&2; lab_fail "$1: kinit failed"; }
}

kdc_wrong_password() {
    local f code
    _kdc_login kerberos-wrong-password "$KRB5_CONFIG" "$KDC_WRONG_PASS" "$KRB_WEB_HOST" krb5
    f="$KDC_FILE" code="$KDC_CODE"
    [ "$KDC_KINIT" != 0 ] || lab_fail "kerberos-wrong-password: kinit with a wrong password got a ticket"
    [ "$code" = 401 ] || lab_fail "kerberos-wrong-password: curl got HTTP $code, expected 401"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 24' eq 1 "KDC_ERR_PREAUTH_FAILED (24)"
    lab_expect "$f" 'kerberos.msg_type == 11 || kerberos.msg_type == 12' eq 0 "no AS-REP, no TGS-REQ"
    # no ticket: SPNEGO offers gss-ntlmssp's NTLM, which this krb5-only server refuses
    lab_expect "$f" 'kerberos.msg_type == 14' eq 0 "no AP-REQ sent to the server"
    lab_log "kerberos-wrong-password: $(lab_summary "$f")"
}

kdc_clock_skew() {
    local f code
    # The TGT is got with the right time: MIT's kinit would otherwise pre-authenticate with
    # the KDC's time (from KDC_ERR_PREAUTH_REQUIRED) and keep the offset in the ccache. Then
    # the client's clock is 10 minutes ahead when it asks for the service ticket.
    _kdc_login kerberos-clock-skew "$KRB5_CONFIG" "$KRB_PASS" "$KRB_WEB_HOST" krb5 faketime -f +10m
    f="$KDC_FILE" code="$KDC_CODE"
    _kdc_kinit_ok kerberos-clock-skew
    [ "$code" = 401 ] || lab_fail "kerberos-clock-skew: curl got HTTP $code, expected 401"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" ge 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 37' ge 1 "KRB_AP_ERR_SKEW (37) from the KDC"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 0 "no TGS-REP"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' eq 0 "no AP-REQ sent to the server"
    lab_log "kerberos-clock-skew: $(lab_summary "$f")"
}

kdc_etype_nosupp() {
    local f conf code
    conf="$(_kdc_client_conf rc4 "permitted_enctypes = rc4-hmac" "default_tkt_enctypes = rc4-hmac" "default_tgs_enctypes = rc4-hmac" "allow_weak_crypto = true")"
    _kdc_login kerberos-etype-nosupp "$conf" "$KRB_PASS" "$KRB_WEB_HOST" krb5
    f="$KDC_FILE" code="$KDC_CODE"
    [ "$KDC_KINIT" != 0 ] || lab_fail "kerberos-etype-nosupp: kinit offering RC4 only got a ticket"
    [ "$code" = 401 ] || lab_fail "kerberos-etype-nosupp: curl got HTTP $code, expected 401"
    lab_expect "$f" 'kerberos.msg_type == 10 && kerberos.ENCTYPE == 23' ge 1 "an AS-REQ offering rc4-hmac (23)"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 14' ge 1 "KDC_ERR_ETYPE_NOSUPP (14)"
    lab_log "kerberos-etype-nosupp: $(lab_summary "$f")"
}

# The names of the CNAME cases, served by dnsmasq only (not in /etc/hosts): apps is an alias
# of web01, which is the web server's address.
kdc_dns_start() {
    local d
    lab_tmpdir d
    lab_route_from_client "$KDC_DNS_ADDR"
    lab_port_free "$KDC_DNS_ADDR" 53
    lab_bg dnsmasq "$d/dnsmasq.log" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
        --no-hosts --no-poll --pid-file= --listen-address="$KDC_DNS_ADDR" --bind-interfaces --port=53 \
        --host-record="$KDC_CANON,$KRB_WEB_ADDR" --cname="$KDC_ALIAS,$KDC_CANON" --local-ttl=60 \
        --log-queries --log-facility=-
    lab_wait_port "$KDC_DNS_ADDR" 53 15 "$LAB_LAST_PID"
    printf 'nameserver %s\noptions attempts:2 timeout:1\n' "$KDC_DNS_ADDR" >"$d/resolv.conf"
    KDC_RESOLV="$d/resolv.conf"
}


# _kdc_cname NAME SPN-HOST CANONICALIZE ASKED: SPN-HOST's SPN registered (and in the server's
# keytab); the client reaches http://apps.lab.test/ and asks for HTTP/ASKED.
_kdc_cname() {
    local name="$1" spn_host="$2" canon="$3" asked="$4" f conf code
    conf="$(_kdc_client_conf "$name" "dns_canonicalize_hostname = $canon" "rdns = false")"
    _kadmin "addprinc -randkey HTTP/$spn_host"
    _kadmin "ktadd -k $KRB_DIR/$name.keytab HTTP/$spn_host"
    chmod 644 "$KRB_DIR/$name.keytab"
    # the lab's DNS server as the client's resolver: a private mount namespace whose
    # /etc/resolv.conf is the lab's (the machine's stays as it is)
    # shellcheck disable=SC2016 # expanded by the inner bash
    KDC_KEYTAB="$KRB_DIR/$name.keytab" _kdc_login "$name" "$conf" "$KRB_PASS" "$KDC_ALIAS" "krb5 ntlmssp" \
        unshare -m bash -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$KDC_RESOLV"
    f="$KDC_FILE" code="$KDC_CODE"
    _kdc_kinit_ok "$name"
    _kadmin "delprinc -force HTTP/$spn_host"
    [ "$code" = 200 ] || lab_fail "$name: curl got HTTP $code, expected 200 (through NTLM)"
    lab_expect "$f" "dns.flags.response == 1 && dns.resp.type == 5 && dns.cname == \"$KDC_CANON\"" ge 1 "a DNS answer: $KDC_ALIAS is a CNAME of $KDC_CANON"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$asked\"" ge 1 "TGS-REQ for HTTP/$asked"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 7' ge 1 "KDC_ERR_S_PRINCIPAL_UNKNOWN (7)"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 3' eq 1 "Negotiate carrying NTLM Type 3 (fallback)"
    lab_log "$name: $(lab_summary "$f")"
}

# The web server's clock 10 minutes ahead (libfaketime preloaded into apache2): the KDC and
# the client agree, the server refuses the AP-REQ, and its Date header shows its clock.
kdc_server_skew() {
    local f code lib
    lib="$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime.so.1$' | head -1)"
    [ -n "$lib" ] || lab_fail "libfaketime.so.1 not found (package libfaketime)"
    # shellcheck disable=SC2034 # read by krb_web_start
    KRB_WEB_ENV=(LD_PRELOAD="$lib" FAKETIME=+10m)
    _kdc_login kerberos-server-clock-skew "$KRB5_CONFIG" "$KRB_PASS" "$KRB_WEB_HOST" krb5
    # shellcheck disable=SC2034 # read by krb_web_start
    KRB_WEB_ENV=()
    f="$KDC_FILE" code="$KDC_CODE"
    _kdc_kinit_ok kerberos-server-clock-skew
    [ "$code" = 401 ] || lab_fail "kerberos-server-clock-skew: curl got HTTP $code, expected 401"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 1 "one TGS-REP (the KDC's clock is right)"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' ge 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 401 && kerberos.error_code == 37' ge 1 "401 carrying KRB-ERROR KRB_AP_ERR_SKEW (37)"
    lab_log "kerberos-server-clock-skew: $(lab_summary "$f")"
}

# The web server's clock 10 minutes ahead again, and a client with no Kerberos ticket (an
# empty ccache), so SPNEGO picks NTLM: the server's NTLM Type 2 carries its clock
# (MsvAvTimestamp, MS-NLMP 2.2.2.1), which is what the finding reads. gss-ntlmssp takes the
# server's timestamp into its NTLMv2 response, so the login works; Kerberos would not.
kdc_ntlm_server_skew() {
    local f lib
    lib="$(dpkg -L libfaketime 2>/dev/null | grep '/libfaketime.so.1$' | head -1)"
    [ -n "$lib" ] || lab_fail "libfaketime.so.1 not found (package libfaketime)"
    # shellcheck disable=SC2034 # read by krb_web_start
    KRB_WEB_ENV=(LD_PRELOAD="$lib" FAKETIME=+10m)
    krb_web_start "$KRB_DIR/http.keytab" "krb5 ntlmssp"
    # shellcheck disable=SC2034 # read by krb_web_start
    KRB_WEB_ENV=()
    f="$LAB_CAPTURES/kerberos-ntlm-server-clock-skew.pcap"
    rm -f "$KRB_DIR/ccache"
    lab_capture_start "$f" "$(_kdc_filter)"
    KDC_CODE=$(_kdc_client "$KRB5_CONFIG" _kdc_curl "$KRB_WEB_HOST")
    lab_capture_stop
    lab_stop apache2
    [ "$KDC_CODE" = 200 ] || lab_fail "kerberos-ntlm-server-clock-skew: curl got HTTP $KDC_CODE, expected 200 (through NTLM)"
    lab_expect "$f" 'kerberos' eq 0 "no Kerberos (no ticket, no KDC request)"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 1' eq 1 "Negotiate carrying NTLM Type 1"
    lab_expect "$f" 'ntlmssp.messagetype == 2 && ntlmssp.challenge.target_info.timestamp' eq 1 "a Type 2 with MsvAvTimestamp"
    lab_expect "$f" "http.authorization contains \"Negotiate\" && ntlmssp.messagetype == 3 && ntlmssp.auth.username == \"$KRB_USER\"" eq 1 "Negotiate carrying NTLM Type 3 from $KRB_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "kerberos-ntlm-server-clock-skew: $(lab_summary "$f")"
}

_kdc_stop_kdc() {
    _kdc_kinit_ok kerberos-kdc-unreachable
    lab_stop krb5kdc
}

# kdc_unreachable: the last scenario (it stops the KDC). kinit while the KDC runs, then the
# KDC stops and curl asks it for the service ticket.
kdc_unreachable() {
    local f code
    KDC_BETWEEN=_kdc_stop_kdc _kdc_login kerberos-kdc-unreachable "$KRB5_CONFIG" "$KRB_PASS" "$KRB_WEB_HOST" "krb5 ntlmssp"
    f="$KDC_FILE" code="$KDC_CODE"
    [ "$code" = 200 ] || lab_fail "kerberos-kdc-unreachable: curl got HTTP $code, expected 200 (through NTLM)"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP (kinit, before the KDC stopped)"
    lab_expect "$f" 'icmp.type == 3 && icmp.code == 3 && udp.dstport == 88' ge 1 "ICMP port unreachable quoting a datagram to port 88"
    lab_expect "$f" 'tcp.dstport == 88 && tcp.flags.syn == 1' ge 1 "a TCP SYN to port 88"
    lab_expect "$f" 'tcp.srcport == 88 && tcp.flags.reset == 1' ge 1 "an RST from port 88"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 0 "no TGS-REP"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 3' eq 1 "Negotiate carrying NTLM Type 3 (fallback)"
    lab_log "kerberos-kdc-unreachable: $(lab_summary "$f")"
}

kdc_main() {
    lab_need dnsmasq faketime unshare dpkg
    kdc_wrong_password
    kdc_clock_skew
    kdc_server_skew
    kdc_ntlm_server_skew
    kdc_etype_nosupp
    kdc_dns_start
    _kdc_cname kerberos-cname-spn-on-canonical "$KDC_CANON" false "$KDC_ALIAS"
    _kdc_cname kerberos-cname-spn-on-alias "$KDC_ALIAS" true "$KDC_CANON"
    kdc_unreachable
}
