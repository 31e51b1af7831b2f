#!/usr/bin/env bash
# A 401 with no WWW-Authenticate at all (IIS 401.2 "no authentication method enabled",
# AuthFlags=0): apache2 `Redirect 401`, curl --anyauth as the client (it has no scheme to
# answer with, so it stops after the 401).
#   no-auth-method.pcap           apache's own 401 page
#   no-auth-method-iis-body.pcap  the same 401 with an IIS 7 style detailed error page as
#                                 the body (ErrorDocument), naming "HTTP Error 401.2"
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NOMETHOD_ADDR="${LAB_ADDR:-127.0.0.19}"
NOMETHOD_PORT="${LAB_PORT:-80}"
NOMETHOD_HOST="app.lab.test"

nomethod_server_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$NOMETHOD_ADDR" "$NOMETHOD_PORT" "$NOMETHOD_HOST" alias
    mkdir -p "$d/htdocs/errors"
    cat >"$d/htdocs/errors/401-2.html" <<'HTML'
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<title>IIS 10.0 Detailed Error - 401.2 - Unauthorized</title>
</head>
<body>
<div id="content">
<div class="content-container">
  <h3>HTTP Error 401.2 - Unauthorized</h3>
  <h4>You are not authorized to view this page due to invalid authentication headers.</h4>
</div>
<div class="content-container">
  <fieldset><h4>Most likely causes:</h4>
  <ul><li>No authentication protocol (including anonymous) is selected in IIS.</li></ul>
  </fieldset>
</div>
<div class="content-container">
  <fieldset><h4>Detailed Error Information:</h4>
  <table>
    <tr><th>Module</th><td>IIS Web Core</td></tr>
    <tr><th>Notification</th><td>AuthenticateRequest</td></tr>
    <tr><th>Handler</th><td>StaticFile</td></tr>
    <tr><th>Error Code</th><td>0x80070005</td></tr>
    <tr><th>Logon Method</th><td>Not yet determined</td></tr>
    <tr><th>Logon User</th><td>Not yet determined</td></tr>
  </table>
  </fieldset>
</div>
</div>
</body>
</html>
HTML
    cat >>"$d/httpd.conf" <<CONF
Redirect 401 /reports/
<Location /iis/>
    ErrorDocument 401 /errors/401-2.html
</Location>
Redirect 401 /iis/
CONF
    lab_hosts_add "$NOMETHOD_ADDR" "$NOMETHOD_HOST"
    lab_apache_start "$d" "$NOMETHOD_ADDR" "$NOMETHOD_PORT"
}

nomethod_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl
    nomethod_server_start
    local filter="host $NOMETHOD_ADDR and tcp port $NOMETHOD_PORT" f code

    f="$LAB_CAPTURES/no-auth-method.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --anyauth -u 'LAB\dave:Spring2024!' "$(lab_url "$NOMETHOD_HOST" "$NOMETHOD_PORT" /reports/q3.html)")
    lab_capture_stop
    [ "$code" = 401 ] || lab_fail "no-auth-method: curl got HTTP $code, expected 401"
    lab_expect "$f" 'http.response.code == 401 && !http.www_authenticate' eq 1 "one 401 without WWW-Authenticate"
    lab_expect "$f" 'http.www_authenticate' eq 0 "no WWW-Authenticate anywhere"
    lab_expect "$f" 'http.authorization' eq 0 "no Authorization (the client has no scheme to use)"
    lab_log "no-auth-method: $(lab_summary "$f")"

    f="$LAB_CAPTURES/no-auth-method-iis-body.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --anyauth -u 'LAB\dave:Spring2024!' "$(lab_url "$NOMETHOD_HOST" "$NOMETHOD_PORT" /iis/default.aspx)")
    lab_capture_stop
    [ "$code" = 401 ] || lab_fail "no-auth-method-iis-body: curl got HTTP $code, expected 401"
    lab_expect "$f" 'http.response.code == 401 && !http.www_authenticate' eq 1 "one 401 without WWW-Authenticate"
    lab_expect "$f" 'http.response.code == 401 && http.file_data contains "HTTP Error 401.2"' eq 1 "the body names HTTP Error 401.2"
    lab_log "no-auth-method-iis-body: $(lab_summary "$f")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then nomethod_main "$@"; fi
