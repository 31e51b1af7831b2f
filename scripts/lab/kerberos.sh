#!/usr/bin/env bash
# Negotiate / Kerberos: an MIT KDC for the realm LAB.TEST on kdc.lab.test:88 (UDP and TCP),
# apache2 + mod_auth_gssapi on intranet.lab.test, kinit + curl --negotiate as the client.
# Each capture holds the KDC exchange (port 88) and the HTTP exchange.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/kerberos_kdc.sh"

KRB_REALM="LAB.TEST"
KRB_KDC_ADDR="${LAB_KDC_ADDR:-127.0.0.16}"
KRB_KDC_HOST="kdc.lab.test"
KRB_WEB_ADDR="${LAB_ADDR:-127.0.0.15}"
KRB_WEB_PORT="${LAB_PORT:-80}"
KRB_WEB_HOST="intranet.lab.test"
KRB_ALIAS_HOST="intranet-alias.lab.test" # same server, no SPN registered for this name
KRB_USER="alice"
KRB_PASS="Summer2024!"
KRB_SPN="HTTP/$KRB_WEB_HOST"

_krb_env() {
    export KRB5_CONFIG="$KRB_DIR/krb5.conf" KRB5_KDC_PROFILE="$KRB_DIR/kdc.conf"
}

_kadmin() { kadmin.local -r "$KRB_REALM" -q "$1" >>"$KRB_DIR/kadmin.log" 2>&1 || lab_fail "kadmin.local '$1' failed (see above)"; }

# krb_kdc_start: realm database, principals and keytabs in a temp dir; krb5kdc in the foreground.
# Keytabs made (all for HTTP/intranet.lab.test):
#   http.keytab   the current key (kvno 3)                          -> success
#   old.keytab    the previous key (kvno 2)                         -> KRB_AP_ERR_BADKEYVER
#   other.keytab  kvno 3 but the key of a since-deleted account     -> ticket cannot be decrypted
#   wrongspn.keytab  only HTTP/www.lab.test                         -> KRB_AP_ERR_NOT_US
krb_kdc_start() {
    lab_tmpdir KRB_DIR
    mkdir -p "$KRB_DIR/db"
    cat >"$KRB_DIR/krb5.conf" <<CONF
[libdefaults]
    default_realm = $KRB_REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    dns_canonicalize_hostname = false
    rdns = false
    forwardable = true
    default_ccache_name = FILE:$KRB_DIR/ccache
[realms]
    $KRB_REALM = {
        kdc = $KRB_KDC_ADDR:88
        admin_server = $KRB_KDC_ADDR:749
    }
[domain_realm]
    .lab.test = $KRB_REALM
    lab.test = $KRB_REALM
CONF
    cat >"$KRB_DIR/kdc.conf" <<CONF
[kdcdefaults]
    kdc_listen = $KRB_KDC_ADDR:88
    kdc_tcp_listen = $KRB_KDC_ADDR:88
[realms]
    $KRB_REALM = {
        database_name = $KRB_DIR/db/principal
        key_stash_file = $KRB_DIR/db/stash
        acl_file = $KRB_DIR/kadm5.acl
        kdc_listen = $KRB_KDC_ADDR:88
        kdc_tcp_listen = $KRB_KDC_ADDR:88
        max_life = 10h 0m 0s
        supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
    }
[logging]
    kdc = FILE:$KRB_DIR/kdc.log
CONF
    : >"$KRB_DIR/kadm5.acl"
    _krb_env
    kdb5_util create -s -r "$KRB_REALM" -P "lab-master-key" >"$KRB_DIR/kdb5_util.log" 2>&1 ||
        { cat "$KRB_DIR/kdb5_util.log" >&2; lab_fail "kdb5_util create failed"; }
    # pre-authentication required, as in Active Directory (AS-REQ, KRB-ERROR 25, AS-REQ)
    _kadmin "addprinc +requires_preauth -pw $KRB_PASS $KRB_USER"
    # an account that held the SPN once: its key, kvno 3
    _kadmin "addprinc -randkey $KRB_SPN"
    _kadmin "ktadd -k $KRB_DIR/scratch.keytab $KRB_SPN"
    _kadmin "ktadd -k $KRB_DIR/other.keytab $KRB_SPN"
    _kadmin "delprinc -force $KRB_SPN"
    # the account that holds it now: kvno 2 then 3 (a password change after old.keytab)
    _kadmin "addprinc -randkey $KRB_SPN"
    _kadmin "ktadd -k $KRB_DIR/old.keytab $KRB_SPN"
    _kadmin "ktadd -k $KRB_DIR/http.keytab $KRB_SPN"
    _kadmin "addprinc -randkey HTTP/www.lab.test"
    _kadmin "ktadd -k $KRB_DIR/wrongspn.keytab HTTP/www.lab.test"
    chmod 644 "$KRB_DIR"/*.keytab
    lab_hosts_add "$KRB_KDC_ADDR" "$KRB_KDC_HOST"
    # libkrb5 does not bind a source address: route the KDC traffic from the workstation
    lab_route_from_client "$KRB_KDC_ADDR"
    lab_port_free "$KRB_KDC_ADDR" 88
    lab_bg krb5kdc "$KRB_DIR/krb5kdc.out" env KRB5_CONFIG="$KRB5_CONFIG" KRB5_KDC_PROFILE="$KRB5_KDC_PROFILE" \
        krb5kdc -n -r "$KRB_REALM"
    lab_wait_port "$KRB_KDC_ADDR" 88 15 "$LAB_LAST_PID"
}

# krb_web_start KEYTAB [MECHS]: apache2 with /secure/ behind mod_auth_gssapi using KEYTAB
# (given through KRB5_KTNAME, see LAB-NOTES). MECHS defaults to "krb5"; "krb5 ntlmssp"
# also lets SPNEGO pick NTLM. KRB_WEB_ENV (an array of NAME=VALUE) adds to apache2's
# environment. Sets KRB_URL.
krb_web_start() {
    local keytab="$1" mech_list=() d
    read -ra mech_list <<<"${2:-krb5}"
    lab_tmpdir d
    lab_apache_conf "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" "$KRB_WEB_HOST" auth_gssapi authz_user
    mkdir -p "$d/htdocs/secure"
    echo "<html><body>intranet home</body></html>" >"$d/htdocs/secure/index.html"
    printf 'LAB:%s:%s\n' "$KRB_USER" "$KRB_PASS" >"$d/ntlm-users"
    chmod 644 "$d/ntlm-users"
    lab_apache_gssapi /secure Intranet "${mech_list[@]}" >>"$d/httpd.conf"
    if [ "${KRB_WEB_HOSTS_ADDED:-0}" = 0 ]; then
        lab_hosts_add "$KRB_WEB_ADDR" "$KRB_WEB_HOST" "$KRB_ALIAS_HOST"
        KRB_WEB_HOSTS_ADDED=1
    fi
    lab_apache_start "$d" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" KRB5_CONFIG="$KRB_DIR/krb5.conf" \
        KRB5_KTNAME="FILE:$keytab" NTLM_USER_FILE="$d/ntlm-users" ${KRB_WEB_ENV[@]+"${KRB_WEB_ENV[@]}"}
    # shellcheck disable=SC2034 # for the scripts that source this file
    KRB_URL="$(lab_url "$KRB_WEB_HOST" "$KRB_WEB_PORT" /secure/index.html)"
    KRB_NTLM_USERS="$d/ntlm-users"
}

# krb_kinit: a fresh TGT for alice in a fresh ccache (the AS exchange lands in the capture).
krb_kinit() {
    rm -f "$KRB_DIR/ccache"
    printf '%s\n' "$KRB_PASS" | KRB5CCNAME="FILE:$KRB_DIR/ccache" kinit "$KRB_USER@$KRB_REALM" >"$KRB_DIR/kinit.log" 2>&1 ||
        { cat "$KRB_DIR/kinit.log" >&2; lab_fail "kinit $KRB_USER failed"; }
}

_krb_filter() { echo "(host $KRB_WEB_ADDR and tcp port $KRB_WEB_PORT) or (host $KRB_KDC_ADDR and port 88)"; }

# _krb_run NAME KEYTAB MECHS HOST: capture kinit + curl against apache using KEYTAB. curl
# --anyauth probes anonymously first, as a browser does, then answers the 401 with Negotiate.
_krb_run() {
    local name="$1" keytab="$2" mechs="$3" host="$4" f
    krb_web_start "$keytab" "$mechs"
    f="$LAB_CAPTURES/$name.pcap"
    lab_capture_start "$f" "$(_krb_filter)"
    krb_kinit
    KRB_CODE=$(KRB5CCNAME="FILE:$KRB_DIR/ccache" NTLM_USER_FILE="$KRB_NTLM_USERS" \
        lab_curl --anyauth -u : "$(lab_url "$host" "$KRB_WEB_PORT" /secure/index.html)")
    lab_capture_stop
    lab_stop apache2
    KRB_FILE="$f"
}

# krb_main [kdc]: every scenario, or (kdc) only those of kerberos_kdc.sh.
krb_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl krb5kdc kdb5_util kadmin.local kinit
    krb_kdc_start
    if [ "${1:-}" = kdc ]; then
        kdc_main
        return
    fi
    local f

    _krb_run kerberos-success "$KRB_DIR/http.keytab" krb5 "$KRB_WEB_HOST"
    f="$KRB_FILE"
    [ "$KRB_CODE" = 200 ] || lab_fail "kerberos-success: curl --negotiate got HTTP $KRB_CODE, expected 200"
    lab_expect "$f" 'kerberos.msg_type == 10' eq 2 "two AS-REQ (kinit, with pre-authentication the second time)"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 25' eq 1 "KDC_ERR_PREAUTH_REQUIRED (25)"
    lab_expect "$f" 'kerberos.msg_type == 11' eq 1 "one AS-REP"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_WEB_HOST\"" eq 1 "TGS-REQ for $KRB_SPN"
    lab_expect "$f" 'kerberos.msg_type == 13' eq 1 "one TGS-REP"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' eq 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 200 && kerberos.msg_type == 15' eq 1 "200 with an AP-REP (mutual auth)"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate == "Negotiate"' eq 1 "anonymous probe answered 401 Negotiate"
    lab_log "kerberos-success: $(lab_summary "$f")"

    _krb_run kerberos-badkeyver "$KRB_DIR/old.keytab" krb5 "$KRB_WEB_HOST"
    f="$KRB_FILE"
    [ "$KRB_CODE" = 401 ] || lab_fail "kerberos-badkeyver: curl --negotiate got HTTP $KRB_CODE, expected 401"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' ge 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 401 && kerberos.error_code == 44' ge 1 "401 carrying KRB-ERROR KRB_AP_ERR_BADKEYVER (44)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "kerberos-badkeyver: $(lab_summary "$f")"

    _krb_run kerberos-wrong-key "$KRB_DIR/other.keytab" krb5 "$KRB_WEB_HOST"
    f="$KRB_FILE"
    [ "$KRB_CODE" = 401 ] || lab_fail "kerberos-wrong-key: curl --negotiate got HTTP $KRB_CODE, expected 401"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' ge 1 "Negotiate with an AP-REQ"
    # MIT reports the failed decryption as KRB_AP_ERR_BAD_INTEGRITY (31); Windows says
    # KRB_AP_ERR_MODIFIED (41) in the same situation
    lab_expect "$f" 'http.response.code == 401 && kerberos.error_code == 31' ge 1 "401 carrying KRB-ERROR KRB_AP_ERR_BAD_INTEGRITY (31)"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "kerberos-wrong-key: $(lab_summary "$f")"

    _krb_run kerberos-wrong-spn "$KRB_DIR/wrongspn.keytab" krb5 "$KRB_WEB_HOST"
    f="$KRB_FILE"
    [ "$KRB_CODE" = 401 ] || lab_fail "kerberos-wrong-spn: curl --negotiate got HTTP $KRB_CODE, expected 401"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' ge 1 "Negotiate with an AP-REQ"
    lab_expect "$f" 'http.response.code == 401 && kerberos.error_code == 35' ge 1 "401 carrying KRB-ERROR KRB_AP_ERR_NOT_US (35)"
    lab_log "kerberos-wrong-spn: $(lab_summary "$f")"

    _krb_run kerberos-unknown-spn-ntlm-fallback "$KRB_DIR/http.keytab" "krb5 ntlmssp" "$KRB_ALIAS_HOST"
    f="$KRB_FILE"
    [ "$KRB_CODE" = 200 ] || lab_fail "kerberos-unknown-spn-ntlm-fallback: curl --negotiate got HTTP $KRB_CODE, expected 200 (through NTLM)"
    lab_expect "$f" "kerberos.msg_type == 12 && kerberos.SNameString == \"$KRB_ALIAS_HOST\"" ge 1 "TGS-REQ for HTTP/$KRB_ALIAS_HOST"
    lab_expect "$f" 'kerberos.msg_type == 30 && kerberos.error_code == 7' ge 1 "KDC_ERR_S_PRINCIPAL_UNKNOWN (7)"
    lab_expect "$f" 'http.authorization && kerberos.msg_type == 14' eq 0 "no AP-REQ sent to the server"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 1' eq 1 "Negotiate carrying NTLM Type 1 (fallback)"
    lab_expect "$f" 'http.authorization contains "Negotiate" && ntlmssp.messagetype == 3' eq 1 "Negotiate carrying NTLM Type 3"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "kerberos-unknown-spn-ntlm-fallback: $(lab_summary "$f") (curl said $KRB_CODE)"

    kdc_main
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then krb_main "$@"; fi
