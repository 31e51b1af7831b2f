#!/usr/bin/env bash
# Digest authentication (RFC 7616, MD5): apache2 mod_auth_digest + htdigest.
#   digest-success.pcap         curl --digest: 401 (nonce, qop=auth) -> response -> 200
#   digest-wrong-password.pcap  curl --digest with a wrong password: 401, 401
#   digest-stale-nonce.pcap     python-requests reuses a nonce that has expired (lifetime 1 s):
#                               401 stale=true, then 200 with the new nonce
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DIGEST_ADDR="${LAB_ADDR:-127.0.0.12}"
DIGEST_PORT="${LAB_PORT:-80}"
DIGEST_HOST="docs.lab.test"
DIGEST_REALM="Docs"
DIGEST_USER="bob"
DIGEST_PASS="Autumn2024!"

# digest_server_start: /docs/ (nonce lifetime 300 s) and /short/ (1 s). Sets DIGEST_URL, DIGEST_SHORT_URL.
digest_server_start() {
    local d
    lab_tmpdir d
    lab_apache_conf "$d" "$DIGEST_ADDR" "$DIGEST_PORT" "$DIGEST_HOST" authn_file auth_digest authz_user
    mkdir -p "$d/htdocs/docs" "$d/htdocs/short"
    echo "<html><body>manuals</body></html>" >"$d/htdocs/docs/index.html"
    echo "<html><body>release notes</body></html>" >"$d/htdocs/short/index.html"
    # htdigest has no batch mode: write the line it would (user:realm:MD5(user:realm:password))
    printf '%s:%s:%s\n' "$DIGEST_USER" "$DIGEST_REALM" \
        "$(printf '%s' "$DIGEST_USER:$DIGEST_REALM:$DIGEST_PASS" | md5sum | cut -d' ' -f1)" >"$d/htdigest"
    chmod 644 "$d/htdigest"
    cat >>"$d/httpd.conf" <<CONF
<Location /docs/>
    AuthType Digest
    AuthName "$DIGEST_REALM"
    AuthDigestProvider file
    AuthUserFile $d/htdigest
    AuthDigestDomain /docs/ /short/
    AuthDigestNonceLifetime 300
    Require valid-user
</Location>
<Location /short/>
    AuthType Digest
    AuthName "$DIGEST_REALM"
    AuthDigestProvider file
    AuthUserFile $d/htdigest
    AuthDigestDomain /docs/ /short/
    AuthDigestNonceLifetime 1
    Require valid-user
</Location>
CONF
    lab_hosts_add "$DIGEST_ADDR" "$DIGEST_HOST"
    lab_apache_start "$d" "$DIGEST_ADDR" "$DIGEST_PORT"
    DIGEST_URL="$(lab_url "$DIGEST_HOST" "$DIGEST_PORT" /docs/index.html)"
    DIGEST_SHORT_URL="$(lab_url "$DIGEST_HOST" "$DIGEST_PORT" /short/index.html)"
}

digest_main() {
    lab_need_root
    lab_need apache2 tcpdump tshark curl md5sum
    [ -x "$LAB_PY" ] || lab_fail "no Python venv at $LAB_VENV (run scripts/lab/all.sh, which makes it)"
    digest_server_start
    local filter="host $DIGEST_ADDR and tcp port $DIGEST_PORT" f code

    f="$LAB_CAPTURES/digest-success.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --digest -u "$DIGEST_USER:$DIGEST_PASS" "$DIGEST_URL")
    lab_capture_stop
    [ "$code" = 200 ] || lab_fail "digest-success: curl --digest got HTTP $code, expected 200"
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "nonce="' eq 1 "one 401 Digest challenge"
    lab_expect "$f" "http.authorization contains \"Digest username=\\\"$DIGEST_USER\\\"\"" eq 1 "one Digest response from $DIGEST_USER"
    lab_expect "$f" 'http.response.code == 200' eq 1 "one 200"
    lab_log "digest-success: $(lab_summary "$f")"

    f="$LAB_CAPTURES/digest-wrong-password.pcap"
    lab_capture_start "$f" "$filter"
    code=$(lab_curl --digest -u "$DIGEST_USER:Spring2023" "$DIGEST_URL")
    lab_capture_stop
    [ "$code" = 401 ] || lab_fail "digest-wrong-password: curl --digest got HTTP $code, expected 401"
    lab_expect "$f" 'http.authorization contains "Digest"' eq 1 "one Digest response"
    lab_expect "$f" 'http.response.code == 401' eq 2 "two 401s"
    lab_expect "$f" 'http.www_authenticate contains "stale=true"' eq 0 "no stale=true"
    lab_log "digest-wrong-password: $(lab_summary "$f")"

    f="$LAB_CAPTURES/digest-stale-nonce.pcap"
    lab_capture_start "$f" "$filter"
    lab_pyclient digest "$DIGEST_SHORT_URL" "$DIGEST_USER" "$DIGEST_PASS" --repeat-after 2.5
    lab_capture_stop
    lab_expect "$f" 'http.response.code == 401 && http.www_authenticate contains "stale=true"' eq 1 "one 401 with stale=true"
    lab_expect "$f" 'http.authorization contains "Digest"' eq 3 "three Digest responses (first, stale, renewed)"
    lab_expect "$f" 'http.response.code == 200' eq 2 "two 200s"
    lab_log "digest-stale-nonce: $(lab_summary "$f")"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then digest_main "$@"; fi
