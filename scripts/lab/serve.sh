#!/usr/bin/env bash
# Start one of the lab's real authenticating servers on loopback and leave it running,
# without recording anything, until this script is killed (SIGTERM or SIGINT); then the
# server is stopped by its PID and the /etc/hosts entries are removed.
#
#   scripts/lab/serve.sh FAMILY
#
# FAMILY: basic        apache2 + mod_auth_basic              (curl --basic / --anyauth)
#         digest       apache2 + mod_auth_digest             (curl --digest)
#         ntlm         pyspnego NTLM server (ntlm_server.py) (curl --ntlm, requests-ntlm)
#         ntlm-apache  apache2 + mod_auth_gssapi + gss-ntlmssp (requests-ntlm, curl --negotiate
#                      with NTLM_USER_FILE; NOT curl --ntlm, see captures/README.md)
#         kerberos     MIT KDC + apache2 + mod_auth_gssapi, with a TGT for alice already in
#                      KRB5CCNAME (curl --negotiate -u : with the printed KRB5_* variables)
#         nomethod     apache2 answering 401 without WWW-Authenticate
#
# Once ready it prints KEY=VALUE lines, then a line READY, on stdout:
#   URL=... ADDR=... PORT=... HOST=... USER=... PASSWORD=... SERVER_PID=... SERVE_PID=...
#   (kerberos also KRB5_CONFIG=... KRB5CCNAME=...; ntlm-apache also NTLM_USER_FILE=...)
# Environment: LAB_ADDR, LAB_PORT choose the listening address and port (default: the
# family's 127.0.0.x and port 80); LAB_NO_HOSTS=1 leaves /etc/hosts alone and puts the
# address in URL. The ntlm family needs the venv made by all.sh (AUTHSCOPE_LAB_VENV).
# LAB_TLS=1 serves the apache families over HTTPS (port 443 by default) with a certificate
# from a lab CA made for the run, printed as CA=... (curl --cacert, requests' verify=); the
# client's SSLKEYLOGFILE gives the key log (not for ntlm, whose pyspnego server has no TLS).
# Example (a live-capture test):
#   scripts/lab/serve.sh ntlm > serve.out & pid=$!
#   until grep -q READY serve.out; do kill -0 $pid || exit 1; sleep 0.1; done
#   while IFS='=' read -r k v; do [ -n "$v" ] && printf -v "LAB_$k" '%s' "$v"; done < serve.out
#   curl --ntlm -u "$LAB_USER:$LAB_PASSWORD" "$LAB_URL"; kill $pid; wait $pid
# Values are raw (USER holds a backslash): read them as text, never eval them.
set -euo pipefail
LAB_SERVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
family="${1:-}"

if [ "${LAB_TLS:-0}" = 1 ]; then
    [ "$family" != ntlm ] || { echo "serve.sh: the ntlm family (the pyspnego server) has no HTTPS" >&2; exit 2; }
    LAB_PORT="${LAB_PORT:-443}"
fi

_say() { printf '%s=%s\n' "$1" "$2"; }
_url() { # HOST ADDR PORT PATH
    if [ "${LAB_NO_HOSTS:-0}" = 1 ]; then lab_url "$2" "$3" "$4"; else lab_url "$1" "$3" "$4"; fi
}

case "$family" in
basic)
    . "$LAB_SERVE_DIR/basic.sh"
    basic_server_start
    _say URL "$(_url "$BASIC_HOST" "$BASIC_ADDR" "$BASIC_PORT" /secure/)"
    _say ADDR "$BASIC_ADDR"; _say PORT "$BASIC_PORT"; _say HOST "$BASIC_HOST"
    _say USER "$BASIC_USER"; _say PASSWORD "$BASIC_PASS"
    ;;
digest)
    . "$LAB_SERVE_DIR/digest.sh"
    digest_server_start
    _say URL "$(_url "$DIGEST_HOST" "$DIGEST_ADDR" "$DIGEST_PORT" /docs/index.html)"
    _say ADDR "$DIGEST_ADDR"; _say PORT "$DIGEST_PORT"; _say HOST "$DIGEST_HOST"
    _say USER "$DIGEST_USER"; _say PASSWORD "$DIGEST_PASS"
    ;;
ntlm)
    . "$LAB_SERVE_DIR/ntlm.sh"
    [ -x "$LAB_PY" ] || lab_fail "no Python venv at $LAB_VENV (run scripts/lab/all.sh once, or set AUTHSCOPE_LAB_VENV)"
    ntlm_py_start "${LAB_NTLM_MODE:-ok}"
    _say URL "$(_url "$NTLM_PY_HOST" "$NTLM_PY_ADDR" "$NTLM_PY_PORT" /)"
    _say ADDR "$NTLM_PY_ADDR"; _say PORT "$NTLM_PY_PORT"; _say HOST "$NTLM_PY_HOST"
    _say USER "$NTLM_DOMAIN\\$NTLM_USER"; _say PASSWORD "$NTLM_PASS"
    ;;
ntlm-apache)
    . "$LAB_SERVE_DIR/ntlm.sh"
    ntlm_apache_start
    _say URL "$(_url "$NTLM_APACHE_HOST" "$NTLM_APACHE_ADDR" "$NTLM_APACHE_PORT" /secure/index.html)"
    _say ADDR "$NTLM_APACHE_ADDR"; _say PORT "$NTLM_APACHE_PORT"; _say HOST "$NTLM_APACHE_HOST"
    _say USER "$NTLM_DOMAIN\\$NTLM_USER"; _say PASSWORD "$NTLM_PASS"
    _say NTLM_USER_FILE "$NTLM_USER_FILE_PATH"
    ;;
kerberos)
    . "$LAB_SERVE_DIR/kerberos.sh"
    [ "${LAB_NO_HOSTS:-0}" != 1 ] || lab_fail "kerberos needs its host names in /etc/hosts (the SPN is HTTP/intranet.lab.test); unset LAB_NO_HOSTS"
    krb_kdc_start
    krb_web_start "$KRB_DIR/http.keytab" krb5
    krb_kinit
    _say URL "$(_url "$KRB_WEB_HOST" "$KRB_WEB_ADDR" "$KRB_WEB_PORT" /secure/index.html)"
    _say ADDR "$KRB_WEB_ADDR"; _say PORT "$KRB_WEB_PORT"; _say HOST "$KRB_WEB_HOST"
    _say KDC_ADDR "$KRB_KDC_ADDR"
    _say USER "$KRB_USER@$KRB_REALM"; _say PASSWORD "$KRB_PASS"
    _say KRB5_CONFIG "$KRB_DIR/krb5.conf"; _say KRB5CCNAME "FILE:$KRB_DIR/ccache"
    ;;
nomethod)
    . "$LAB_SERVE_DIR/nomethod.sh"
    nomethod_server_start
    _say URL "$(_url "$NOMETHOD_HOST" "$NOMETHOD_ADDR" "$NOMETHOD_PORT" /reports/q3.html)"
    _say ADDR "$NOMETHOD_ADDR"; _say PORT "$NOMETHOD_PORT"; _say HOST "$NOMETHOD_HOST"
    ;;
*)
    echo "usage: $0 basic|digest|ntlm|ntlm-apache|kerberos|nomethod" >&2
    exit 2
    ;;
esac

[ "$LAB_TLS" != 1 ] || _say CA "$LAB_TLS_DIR/ca.crt"
# the server is the last process started
SERVER_PID="$LAB_LAST_PID"
_say SERVER_PID "$SERVER_PID"
_say SERVE_PID "$$"
echo READY

# wait for the server; a signal to this script runs the traps of lib.sh (stop by PID, clean up)
while kill -0 "$SERVER_PID" 2>/dev/null; do
    sleep 1 &
    wait $! || true
done
lab_fail "the $family server (pid $SERVER_PID) exited on its own"
