#!/usr/bin/env bash
# Basic authentication: apache2 mod_auth_basic + htpasswd, curl as the client.
#   basic-success.pcap         anonymous probe -> 401 Basic, then credentials -> 200
#   basic-wrong-password.pcap  anonymous probe -> 401, wrong password -> 401
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BASIC_ADDR="${LAB_ADDR:-127.0.0.11}"
BASIC_PORT="${LAB_PORT:-80}"
BASIC_HOST="portal.lab.test"
BASIC_USER="alice"
BASIC_PASS="Summer2024!"

# basic_server_start: apache2 with /secure/ behind Basic (user alice). Sets BASIC_URL.
basic_server_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$BASIC_ADDR" "$BASIC_PORT" "$BASIC_HOST" authn_file auth_basic authz_user
    mkdir -p "$d/htdocs/secure"
    echo "<html><body>secret report for $BASIC_USER</body></html>" >"$d/htdocs/secure/index.html"
    htpasswd -cbB "$d/htpasswd" "$BASIC_USER" "$BASIC_PASS" 2>/dev/null
    chmod 644 "$d/htpasswd"
    cat >>"$d/httpd.conf" <<CONF
DirectoryIndex index.html
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
<Directory $d/htdocs/secure>
    AuthType Basic
    AuthName "Portal"
    AuthBasicProvider file
    AuthUserFile $d/htpasswd
    Require valid-user
</Directory>
CONF
    lab_hosts_add "$BASIC_ADDR" "$BASIC_HOST"
    lab_apache_start "$d" "$BASIC_ADDR" "$BASIC_PORT"
    BASIC_URL="$(lab_url "$BASIC_HOST" "$BASIC_PORT" /secure/)"
}

basic_main() {
    lab_need_root
    lab_need apache2 htpasswd tcpdump tshark curl
    basic_server_start
    local filter="host $BASIC_ADDR and tcp port $BASIC_PORT" f code

    f="$LAB_CAPTURES/basic-success.pcap"
    lab_capture_start "$f" "$filter"
    # --anyauth: probe anonymously, read the 401's WWW-Authenticate, then send Basic.
    code=$(lab_curl --anyauth -u "$BASIC_USER:$BASIC_PASS" "$BASIC_URL")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "basic-success: curl got HTTP $code, expected 200"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "Basic"' eq 1 "one 401 with WWW-Authenticate: Basic"
    lab_expect "$f" 'http.authorization contains "Basic"' eq 1 "one request with Authorization: Basic"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "basic-success: $(lab_summary "$f")"

    f="$LAB_CAPTURES/basic-wrong-password.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --anyauth -u "$BASIC_USER:Winter2023" "$BASIC_URL")
    lab_capture_stop
    [ "$code" = 401 ] || lab_fail "basic-wrong-password: curl got HTTP $code, expected 401"
    lab_expect "$f" 'http.response.code == 401' eq 2 "two 401s (probe and rejected credential)"
    lab_expect "$f" 'http.authorization contains "Basic"' eq 1 "one request with Authorization: Basic"
    lab_expect "$f" 'http.response.code == 200' eq 0 "no 200"
    lab_log "basic-wrong-password: $(lab_summary "$f")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then basic_main "$@"; fi
