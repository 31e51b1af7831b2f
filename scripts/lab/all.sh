#!/usr/bin/env bash
# The capture lab: install what is missing, run the scenario families, check every capture
# with tshark, and write captures/README.md.
#
#   scripts/lab/all.sh                    every family
#   scripts/lab/all.sh ntlm kerberos      only these families
#   scripts/lab/all.sh --list             list the families
#
# Families: basic digest ntlm kerberos proxy nomethod plain verdicts https (one script each,
# beside this one; https puts the servers of the first four behind TLS and keeps the clients'
# key logs beside its captures).
# Environment:
#   LAB_CAPTURES=DIR        write the captures (and README.md) there instead of captures/
#   LAB_SKIP_INSTALL=1      do not install anything (fail if something is missing)
#   AUTHSCOPE_LAB_VENV=DIR  the Python venv (default /opt/authscope-lab/venv)
#   LAB_KEEP_ON_FAILURE=1   keep the temporary server directories of a failed family
# Exit status: 0 when every family produced what it should, 1 otherwise (each failure is
# named at the end), 2 on a usage error.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FAMILIES=(basic digest ntlm kerberos proxy nomethod plain verdicts https)
DEB_PACKAGES=(apache2 apache2-utils libapache2-mod-auth-gssapi gss-ntlmssp krb5-kdc krb5-admin-server
    krb5-user squid tcpdump tshark curl nghttp2-client python3-venv iproute2 openssl dnsmasq-base faketime)
# communityid and chdb are not the lab's: the ECS tests check Community IDs and query the
# documents in ClickHouse with them (tests/it/ecs.rs).
PY_PACKAGES=(pyspnego==0.12.4 requests-ntlm==1.3.0 requests==2.34.2 h2==4.4.1 communityid==1.5.0 chdb==4.4.0)

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

install_debian() {
    local missing=() p
    for p in "${DEB_PACKAGES[@]}"; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -gt 0 ] || { lab_log "Debian packages: all present"; return 0; }
    [ "${LAB_SKIP_INSTALL:-0}" != 1 ] || lab_fail "missing Debian packages: ${missing[*]} (LAB_SKIP_INSTALL=1)"
    lab_log "installing Debian packages: ${missing[*]}"
    # tshark asks whether non-root users may capture: keep the default (no) without a prompt
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null || lab_fail "apt-get update failed"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || lab_fail "apt-get install ${missing[*]} failed"
}

install_venv() {
    if [ -x "$LAB_PY" ] && "$LAB_PY" -c 'import spnego, requests_ntlm, requests, h2, communityid, chdb' 2>/dev/null; then
        lab_log "Python venv: $LAB_VENV ready"
        return 0
    fi
    [ "${LAB_SKIP_INSTALL:-0}" != 1 ] || lab_fail "no usable Python venv at $LAB_VENV (LAB_SKIP_INSTALL=1)"
    lab_log "making the Python venv $LAB_VENV (${PY_PACKAGES[*]})"
    # Debian's interpreter, which python3-venv belongs to (not whatever python3 is first in PATH)
    /usr/bin/python3 -m venv "$LAB_VENV" || lab_fail "python3 -m venv $LAB_VENV failed"
    "$LAB_VENV/bin/pip" install -q --disable-pip-version-check "${PY_PACKAGES[@]}" || lab_fail "pip install ${PY_PACKAGES[*]} failed"
}

# write_readme: the table of scenarios.tsv, with what tshark sees in each capture found.
write_readme() {
    local out="$LAB_CAPTURES/README.md" file scenario client server expected seen
    {
        cat <<'HEAD'
# Sample captures

Made by `scripts/lab/all.sh` (one script per family under `scripts/lab/`): real servers and
clients on loopback, recorded with `tcpdump -i lo` (pcap, link type Ethernet), filtered to
the scenario's address and port (and `port 88`, UDP and TCP, for the Kerberos captures).
After each capture the script checks it with tshark display filters and fails when the
exchange is not the one described here. Regenerate with `sudo scripts/lab/all.sh [FAMILY...]`;
every run makes new nonces, challenges, tickets and timestamps, so the bytes change but the
exchange does not.

The HTTPS captures (`https-*`, made by `scripts/lab/https.sh`) are the Basic, Digest, NTLM
and Kerberos servers above behind Apache mod_ssl on port 443 of the same addresses, with a
lab CA and server certificates (RSA 2048) that the script makes afresh on every run and
never keeps. Their HTTP is inside TLS: beside each `X.pcap` is `X.keylog`, the key log
(NSS format, `SSLKEYLOGFILE`) its client wrote during that recording, with the secrets of
its TLS connections and no other (checked). Read one with
`tshark -r captures/X.pcap -o tls.keylog_file:captures/X.keylog -Y http`. They are secrets
of lab test sessions only. `https-ntlm-success-dsb.pcapng` is `https-ntlm-success.pcap` with
its key log inside (a Decryption Secrets Block, `editcap --inject-secrets`), which tshark
uses without any option. Both ends choose TLS 1.3 with TLS_AES_256_GCM_SHA384 unless the
name says otherwise: the `https-ntlm-success-<protocol>-<cipher>` captures come from a server
that allows one protocol and one suite (SSLProtocol, SSLCipherSuite). The `https-h2-*`
captures are HTTP/2 (ALPN h2) to `h2_server.py`, which refuses NTLM and Negotiate over HTTP/2
with RST_STREAM HTTP_1_1_REQUIRED as IIS's http.sys does (GOAWAY HTTP_1_1_REQUIRED, the
other refusal http.sys may send, in `https-h2-ntlm-goaway.pcap`); read their HTTP/2 with
`-Y http2` (the "what tshark sees" column counts HTTP/1.x only).

Addresses: the client ("workstation") is 127.0.0.100; servers are on 127.0.0.11 to
127.0.0.27 under names in `lab.test` that the scripts add to /etc/hosts while they run
(portal 11, docs 12, sharepoint 13, legacy 14, intranet, intranet-alias and the short name
intranet 15, kdc 16, proxy 17, web 18, app 19, static 20, dav 21, relay 22, api 23, crm 24,
ca 25, gateway 26, iis 27; fileserver.lab.test only appears as a target name). The CNAME
captures resolve `apps.lab.test` (a CNAME of `web01.lab.test`, 127.0.0.15) through a dnsmasq
on 127.0.0.28, which only their client uses (a private mount namespace whose
/etc/resolv.conf names it); those two names are in no /etc/hosts. Lab accounts
(not secrets): `alice` / `Summer2024!` (NTLM domain LAB, Kerberos realm LAB.TEST), `bob` / `Autumn2024!`
(Digest realm Docs), `LAB\carol` (proxy; any password is accepted), the machine account
`LAB\WS01$` / `Ws01-Machine-Account-Pw`. Wrong passwords used: `Winter2023`, `Spring2023`.
The HTTPS servers listen on port 443 of the addresses of their plain counterparts.
The two JWTs of `bearer-bare-jwt.pcap` are fixed lab values (HS256 with the key
`authscope-lab-hs256-key`), the same on every run; their signatures are
`XiQjCW6OGhpM1opTt0AvKQrlM5UZwM2SrU5910gdcyY` (the expired one, sent without a scheme) and
`5Kxa2umh1BmCwRWU4YCH-6HYOPZ1-SVphUHpaG9etdw` (the valid one, sent as a Bearer token).

"What tshark sees" is computed from the file by `lab_summary` in `scripts/lab/lib.sh`:
requests (HTTP methods), response codes with counts, TCP connections (SYNs), RSTs, TLS
connections by the protocol and suite of their ServerHello, NTLM message types, NTLM Type 3
users, Kerberos message types and error codes (AP-REQ counts include the one inside each
TGS-REQ). An HTTPS capture is read with its key log (`-o tls.keylog_file:`), so its row is
the decrypted HTTP; without the key log tshark sees TLS records and no HTTP at all (checked).

| file | scenario | client | server | expected exchange | what tshark sees |
| --- | --- | --- | --- | --- | --- |
HEAD
        while IFS=$'\t' read -r file _ scenario client server expected; do
            case "$file" in '#'* | '') continue ;; esac
            if [ -f "$LAB_CAPTURES/$file" ]; then
                seen="$(lab_summary "$LAB_CAPTURES/$file")"
            else
                seen="(not made by the last run)"
            fi
            # shellcheck disable=SC2016 # the backquotes are Markdown
            printf '| `%s` | %s | %s | %s | %s | %s |\n' "$file" "$scenario" "$client" "$server" "$expected" "$seen"
        done <"$LAB_DIR/scenarios.tsv"
        cat <<'TAIL'


The server's side: `server-logs/<scenario>/` holds, for each failing capture an IIS server
could have answered, what an IIS 10 server on Windows would have written for it (the site's
W3C log `u_exYYMMDD.log`, `httperr1.log` when http.sys refused or dropped a request, the
Security events in `security.xml` as `wevtutil qe /f:xml` prints them). They are made for the
join (`authscope report X.pcap --server-log ... --events ...`) by `scripts/server_logs.py` from
the capture itself (addresses, ports, methods, URIs, statuses, times, users, with tshark);
the server's reason in them is the scenario's, as docs/server-logs.md lists.

## Known limits

- `curl --ntlm` (7.88) cannot authenticate against gss-ntlmssp 1.2 (its Type 1 has no version
  field and is refused); that failure is a capture of its own. curl --ntlm is used against
  the pyspnego server instead, and requests-ntlm against Apache.
- squid's `ntlm_fake_auth` accepts any password, so there is no proxy wrong-password capture.
- MIT Kerberos reports a ticket encrypted with another account's key as
  KRB_AP_ERR_BAD_INTEGRITY (31), where Windows reports KRB_AP_ERR_MODIFIED (41).
- The IIS error page in `no-auth-method-iis-body.pcap` is IIS's text served by Apache.
- HTTP pipelining comes from h2load (nghttp2-client) because curl no longer pipelines.
- gss-ntlmssp accepts a Type 3 whose MsvAvTargetName names another service or host, so the
  relayed logins (`ntlm-relay-*.pcap`) get 200; a Windows server with Extended Protection
  (service binding) would refuse them. The AD CS pages are a CGI served by apache, not IIS.
- The Kerberos 500 comes from a CGI that dies before writing its headers; apache keeps the
  mutual-authentication token (`WWW-Authenticate: Negotiate` with the AP-REP) on the 500.
- mod_auth_gssapi 1.6.4 cannot run a second NTLM handshake on a connection it has already
  authenticated (the new Type 1 gets a 401 without a Type 2: clearing the connection's
  context also forgets that it is connection-bound), so in `webdav-ntlm-one-connection.pcap`
  the NTLM server is the pyspnego one, which authenticates each request and hands it to
  apache2 mod_dav; its `Server: Microsoft-IIS/10.0` is the lab's imitation. It also keeps
  the connection after the 400, which apache itself would close.
- The lab's Kerberos tokens are small (an MIT ticket with a PAC for one user: an
  `Authorization` line of about 1 KB, where a Windows user in many groups sends 10 KB or
  more), so `kerberos-token-too-large.pcap` lowers `LimitRequestFieldSize` to 800 bytes
  instead of growing the ticket past apache's default 8190.
- When authorization refuses a user Kerberos authenticated, apache answers 401 and keeps
  the AP-REP on it (`kerberos-authz-denied.pcap`); with `AuthzSendForbiddenOnFailure On` it
  answers 403 with the same token instead (tried, not recorded).
- Every HTTPS capture ends with a RST from the client: it sends close_notify and closes, and
  the server's close_notify, which crosses it, meets a closed socket (now and then the
  server answers a late FIN with a RST of its own: "RST 2"). The TLS connections are whole
  all the same (the script records again a capture that lost a segment).
- requests-ntlm binds its NTLM Type 3 to the TLS channel (MsvAvChannelBindings, from the
  server certificate); gss-ntlmssp behind mod_auth_gssapi does not check it, so there is no
  Extended Protection failure to record. curl 7.88 (`--negotiate`) sends no channel bindings.
- A wrong Kerberos password fails at the KDC (KRB-ERROR 24 KDC_ERR_PREAUTH_FAILED): there is
  no ticket, so the web server only ever sees requests without credentials.
- MIT's kinit pre-authenticates with the KDC's time (taken from KDC_ERR_PREAUTH_REQUIRED) and
  keeps the offset in the credential cache, so a client whose clock is wrong from the start
  still gets its tickets; `kerberos-clock-skew.pcap` moves the client's clock (libfaketime)
  after kinit, and the TGS-REQ gets KRB_AP_ERR_SKEW. The KDC's time in that error agrees with
  the capture's clock: the client's is the one that is off.
- Linux quotes at most 576 bytes of a datagram in an ICMPv4 error, so the ICMP port
  unreachable of `kerberos-kdc-unreachable.pcap` holds the start of the TGS-REQ only (tshark
  reads what it can of it; authscope names the flow and does not decode a cut message).
- The TLS 1.2 CBC captures cover both MAC orders: `tls12-aes128-cbc` agrees encrypt_then_mac
  (RFC 7366, OpenSSL's default), `tls12-aes256-cbc-sha256-mte` is MAC-then-encrypt (the
  server sets `SSLOpenSSLConfCmd Options -EncryptThenMac`, as Schannel, which has no
  encrypt_then_mac) with static RSA key exchange, whose key log has an `RSA` line (the
  pre-master secret, keyed by the first bytes of its encrypted form) besides the
  `CLIENT_RANDOM` one. Python's default cipher list has neither suite: for the cipher
  variants requests-ntlm offers OpenSSL's `DEFAULT` list.
- curl 7.88 (nghttp2 1.52) retries over HTTP/1.1 after RST_STREAM HTTP_1_1_REQUIRED but not
  after GOAWAY HTTP_1_1_REQUIRED: it ends with "Error in the HTTP2 framing layer" (exit 16)
  when the GOAWAY's last stream is below its request, and with "stream 1 was not closed
  cleanly" (exit 18) when it is not (tried, not recorded), so `https-h2-ntlm-goaway.pcap` has
  no retry.
- The refused TLS handshakes (`https-tls-alert-*.pcap`) are TLS 1.2: in TLS 1.3 every alert
  after the ServerHello is encrypted, so a capture without keys would show none. They have
  no key log: the handshake stops before the client has secrets to write.
TAIL
    } >"$out"
    lab_log "wrote $out"
}

main() {
    local fams=() a
    for a in "$@"; do
        case "$a" in
        -h | --help) usage ;;
        --list) printf '%s\n' "${FAMILIES[@]}"; exit 0 ;;
        -*) echo "unknown option $a" >&2; usage ;;
        *)
            [[ " ${FAMILIES[*]} " == *" $a "* ]] || { echo "unknown family '$a' (families: ${FAMILIES[*]})" >&2; exit 2; }
            fams+=("$a")
            ;;
        esac
    done
    [ ${#fams[@]} -gt 0 ] || fams=("${FAMILIES[@]}")

    lab_need_root
    local t0=$SECONDS
    install_debian
    install_venv
    lab_hosts_purge_stale
    lab_routes_purge_stale
    mkdir -p "$LAB_CAPTURES"

    local failed=() f t
    for f in "${fams[@]}"; do
        t=$SECONDS
        lab_log "=== family $f"
        if LAB_CAPTURES="$LAB_CAPTURES" bash "$LAB_DIR/$f.sh"; then
            lab_log "=== family $f: ok ($((SECONDS - t)) s)"
        else
            lab_log "=== family $f: FAILED ($((SECONDS - t)) s)"
            failed+=("$f")
        fi
    done
    write_readme
    local big
    big="$(find "$LAB_CAPTURES" -name '*.pcap' -size +1000k)"
    [ -z "$big" ] || { lab_log "captures over 1 MB: $big"; failed+=("size"); }

    if [ ${#failed[@]} -gt 0 ]; then
        printf '\n*** LAB FAILURE: %s failed (see the messages above); took %d s\n' "${failed[*]}" "$((SECONDS - t0))" >&2
        exit 1
    fi
    printf '\nlab: %s: all captures made and checked in %d s\n' "${fams[*]}" "$((SECONDS - t0))" >&2
}

main "$@"
