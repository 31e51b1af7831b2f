# shellcheck shell=bash
# Shared helpers for the authscope capture lab.
#
# Source this file from a scenario script (`. "$(dirname "$0")/lib.sh"`). It sets
# `set -euo pipefail`, installs an EXIT/INT/TERM trap that stops every process that was
# started through `lab_bg` (by PID, newest first), removes the /etc/hosts entries added by
# `lab_hosts_add` and deletes the temporary directories made by `lab_tmpdir`.
#
# Nothing here edits files under /etc except the marked lines in /etc/hosts; every server
# runs in the foreground on a configuration written into a temporary directory.

set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LAB_REPO="$(cd "$LAB_DIR/../.." && pwd)"
LAB_CAPTURES="${LAB_CAPTURES:-$LAB_REPO/captures}"
LAB_VENV="${AUTHSCOPE_LAB_VENV:-/opt/authscope-lab/venv}"
LAB_PY="$LAB_VENV/bin/python"
LAB_HOSTS_FILE="${LAB_HOSTS_FILE:-/etc/hosts}"
LAB_HOSTS_MARK="# authscope-lab pid="

LAB_PIDS=()     # processes to stop, in start order
LAB_PIDNAMES=() # their names, for messages
LAB_TMPDIRS=()
LAB_HOSTS_ADDED=0
LAB_TCPDUMP_PID=""

lab_log() { printf '[lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# Fail loudly: a clear message on stderr and a non-zero exit (the EXIT trap cleans up).
lab_fail() {
    printf '\n*** LAB FAILURE: %s\n\n' "$*" >&2
    exit 1
}

lab_need() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || lab_fail "command '$c' is missing (run scripts/lab/all.sh, which installs it)"
    done
}

lab_need_root() {
    [ "$(id -u)" = 0 ] || lab_fail "the lab must run as root (it binds loopback ports, runs tcpdump and edits /etc/hosts)"
}

# --- temporary directories -------------------------------------------------------------

# lab_tmpdir VAR: make a temporary directory (readable by the servers' unprivileged
# users) and store its path in VAR; it is removed on exit.
lab_tmpdir() {
    local __d
    __d="$(mktemp -d /tmp/authscope-lab.XXXXXX)"
    chmod 755 "$__d"
    LAB_TMPDIRS+=("$__d")
    printf -v "$1" '%s' "$__d"
}

# --- processes ---------------------------------------------------------------------------

# lab_bg NAME LOGFILE CMD...: start CMD in the background, remember its PID in LAB_LAST_PID.
lab_bg() {
    local name="$1" log="$2"
    shift 2
    "$@" >"$log" 2>&1 </dev/null &
    LAB_LAST_PID=$!
    LAB_PIDS+=("$LAB_LAST_PID")
    LAB_PIDNAMES+=("$name")
    lab_log "started $name (pid $LAB_LAST_PID)"
}

# lab_stop_pid PID [NAME]: SIGTERM, wait up to 5 s, then SIGKILL. Only ever this PID.
lab_stop_pid() {
    local pid="$1" name="${2:-process}" i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        lab_log "$name (pid $pid) ignored SIGTERM; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# lab_stop_all: stop every process started with lab_bg, newest first.
lab_stop_all() {
    local i
    for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
        [ -n "${LAB_PIDS[$i]}" ] || continue
        lab_stop_pid "${LAB_PIDS[$i]}" "${LAB_PIDNAMES[$i]}"
        LAB_PIDS[i]=""
    done
}

# lab_stop NAME: stop the processes started under NAME.
lab_stop() {
    local i
    for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
        if [ "${LAB_PIDNAMES[$i]}" = "$1" ] && [ -n "${LAB_PIDS[$i]}" ]; then
            lab_stop_pid "${LAB_PIDS[$i]}" "$1"
            LAB_PIDS[i]=""
        fi
    done
}

# lab_port_free ADDR PORT: fail clearly when something already listens there (a serve.sh
# or another lab run), instead of recording someone else's server.
lab_port_free() {
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then
        lab_fail "$1:$2 is already in use (is a scripts/lab/serve.sh or another lab run still up?)"
    fi
}

# lab_wait_port ADDR PORT [SECONDS] [PID]: wait until a TCP connect succeeds; fail if PID died.
lab_wait_port() {
    local addr="$1" port="$2" secs="${3:-15}" pid="${4:-}" i
    for i in $(seq 1 $((secs * 10))); do
        if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
            return 0
        fi
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            lab_fail "server (pid $pid) exited before listening on $addr:$port"
        fi
        sleep 0.1
    done
    lab_fail "nothing listens on $addr:$port after ${secs}s"
}

# --- /etc/hosts --------------------------------------------------------------------------

# Rewrite /etc/hosts in place (it may be a bind mount, so never replace the file).
_lab_hosts_rewrite() {
    local filter="$1" tmp
    tmp="$(mktemp)"
    awk "$filter" "$LAB_HOSTS_FILE" >"$tmp"
    cat "$tmp" >"$LAB_HOSTS_FILE"
    rm -f "$tmp"
}

# Drop entries left behind by lab runs whose process no longer exists (a SIGKILLed run).
lab_hosts_purge_stale() {
    local pids p keep=""
    pids="$(grep -o "${LAB_HOSTS_MARK}[0-9]*" "$LAB_HOSTS_FILE" 2>/dev/null | sed "s/.*pid=//" | sort -u || true)"
    [ -n "$pids" ] || return 0
    for p in $pids; do
        if [ "$p" != "$$" ] && ! kill -0 "$p" 2>/dev/null; then
            keep="$keep $p"
        fi
    done
    [ -n "$keep" ] || return 0
    lab_log "removing stale /etc/hosts entries of dead lab runs:$keep"
    for p in $keep; do
        _lab_hosts_rewrite "index(\$0, \"$LAB_HOSTS_MARK$p\") == 0"
    done
}

# lab_hosts_add ADDR NAME...: add "ADDR NAME..." to /etc/hosts, marked with this PID.
# With LAB_NO_HOSTS=1 nothing is written (URLs then use the address, see serve.sh).
lab_hosts_add() {
    local addr="$1"
    shift
    [ "${LAB_NO_HOSTS:-0}" != 1 ] || return 0
    lab_hosts_purge_stale
    printf '%s\t%s\t%s%s\n' "$addr" "$*" "$LAB_HOSTS_MARK" "$$" >>"$LAB_HOSTS_FILE"
    LAB_HOSTS_ADDED=1
}

lab_hosts_remove() {
    [ "$LAB_HOSTS_ADDED" = 1 ] || return 0
    _lab_hosts_rewrite "index(\$0, \"$LAB_HOSTS_MARK$$\") == 0"
    LAB_HOSTS_ADDED=0
}

# --- capture -----------------------------------------------------------------------------

# lab_capture_start FILE FILTER: tcpdump on lo, returns once tcpdump says "listening on".
lab_capture_start() {
    local file="$1" filter="$2" log i
    mkdir -p "$(dirname "$file")"
    rm -f "$file"
    [ -n "${LAB_CAP_TMP:-}" ] || lab_tmpdir LAB_CAP_TMP
    log="$LAB_CAP_TMP/tcpdump.log"
    tcpdump -i lo --immediate-mode -U -s 0 -n -w "$file" "$filter" >"$log" 2>&1 </dev/null &
    LAB_TCPDUMP_PID=$!
    LAB_TCPDUMP_LOG="$log"
    LAB_TCPDUMP_FILE="$file"
    LAB_PIDS+=("$LAB_TCPDUMP_PID")
    LAB_PIDNAMES+=("tcpdump")
    for i in $(seq 1 100); do
        grep -q "listening on" "$log" 2>/dev/null && return 0
        kill -0 "$LAB_TCPDUMP_PID" 2>/dev/null || { cat "$log" >&2; lab_fail "tcpdump exited at start"; }
        sleep 0.1
    done
    cat "$log" >&2
    lab_fail "tcpdump did not say 'listening on' within 10s"
}

# lab_capture_stop: give the last packets half a second, then SIGINT tcpdump and wait.
lab_capture_stop() {
    local i
    [ -n "$LAB_TCPDUMP_PID" ] || return 0
    sleep 0.5
    kill -INT "$LAB_TCPDUMP_PID" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$LAB_TCPDUMP_PID" 2>/dev/null || break
        sleep 0.1
    done
    lab_stop_pid "$LAB_TCPDUMP_PID" tcpdump
    for i in "${!LAB_PIDS[@]}"; do
        [ "${LAB_PIDS[$i]}" = "$LAB_TCPDUMP_PID" ] && LAB_PIDS[i]=""
    done
    grep -E "packets (captured|received)" "$LAB_TCPDUMP_LOG" | tr '\n' ' ' | sed 's/^/[tcpdump] /' >&2 || true
    echo >&2
    rm -f "$LAB_TCPDUMP_LOG"
    LAB_TCPDUMP_PID=""
    [ -s "$LAB_TCPDUMP_FILE" ] || lab_fail "capture $LAB_TCPDUMP_FILE is empty"
    # tcpdump hands the file to its own user: give it the owner of the folder it is in
    chown --reference="$(dirname "$LAB_TCPDUMP_FILE")" "$LAB_TCPDUMP_FILE"
    local size
    size=$(stat -c %s "$LAB_TCPDUMP_FILE")
    [ "$size" -lt 1000000 ] || lab_fail "capture $LAB_TCPDUMP_FILE is $size bytes (limit 1 MB)"
}

# --- checks with tshark -------------------------------------------------------------------

# Extra tshark options (e.g. "-d tcp.port==3128,http") for the checks of a scenario.
LAB_TSHARK_OPTS=()

# lab_keylog FILE: the TLS key log of an HTTPS capture, written beside it under the same
# name (captures/X.keylog for captures/X.pcap); nothing when there is none.
lab_keylog() {
    local k="${1%.*}.keylog"
    [ ! -f "$k" ] || printf '%s\n' "$k"
}

# lab_tshark FILE ARGS...: tshark -n -r FILE with LAB_TSHARK_OPTS and, when FILE has a key
# log beside it, -o tls.keylog_file:KEYLOG, so that every check (and the README's "what
# tshark sees") reads the decrypted HTTP of an HTTPS capture. With LAB_TSHARK_NO_KEYLOG=1 the
# key log is left out (to check that without it nothing of the HTTP shows).
lab_tshark() {
    local file="$1" k opts=("${LAB_TSHARK_OPTS[@]}")
    shift
    k="$(lab_keylog "$file")"
    if [ -n "$k" ] && [ "${LAB_TSHARK_NO_KEYLOG:-0}" != 1 ]; then opts+=(-o "tls.keylog_file:$k"); fi
    tshark -n -r "$file" "${opts[@]}" "$@"
}

# lab_count FILE FILTER: number of frames matching the display filter.
# A filter tshark rejects (a misspelt field) is a failure, never a count of 0.
lab_count() {
    local out
    out="$(lab_tshark "$1" -Y "$2" -T fields -e frame.number 2>&1)" ||
        lab_fail "tshark could not apply '$2' to $1: $out"
    grep -c '^[0-9]' <<<"$out" || true
}

# lab_fields FILE FILTER FIELD...: print fields of matching frames (one line per frame).
lab_fields() {
    local file="$1" filter="$2" f args=()
    shift 2
    for f in "$@"; do args+=(-e "$f"); done
    local out
    out="$(lab_tshark "$file" -Y "$filter" -T fields -E separator='|' "${args[@]}" 2>/dev/null)" ||
        lab_fail "tshark could not apply '$filter' (fields $*) to $file"
    [ -z "$out" ] || printf '%s\n' "$out"
}

# lab_expect FILE FILTER OP N WHAT: check the count of frames matching FILTER (OP: eq ge le).
lab_expect() {
    local file="$1" filter="$2" op="$3" n="$4" what="$5" got
    got="$(lab_count "$file" "$filter")"
    if ! test "$got" "-$op" "$n"; then
        lab_fail "$(basename "$file"): expected $what ($op $n frames matching '$filter'), found $got"
    fi
    lab_log "ok $(basename "$file"): $what ($got)"
}

# lab_expect_text FILE FILTER FIELD REGEX WHAT: some matching frame's FIELD matches REGEX.
lab_expect_text() {
    local file="$1" filter="$2" field="$3" re="$4" what="$5" got
    got="$(lab_fields "$file" "$filter" "$field")"
    if ! grep -Eq -- "$re" <<<"$got"; then
        lab_fail "$(basename "$file"): expected $what ($field of '$filter' matching /$re/), found: ${got:-nothing}"
    fi
    lab_log "ok $(basename "$file"): $what"
}

# lab_capture_gaps FILE [tls]: print what is missing from FILE, nothing when every TCP
# connection in it is there from its SYN to a FIN from each end with no segment lost (no
# gap, no ACK of an unseen segment). tcpdump on this sandbox's loopback now and then loses a
# few packets (about one capture in a hundred): the families record such a capture again.
# With "tls" a connection's end is one FIN or RST from either side: a TLS client sends
# close_notify and closes, and the server's close_notify, which crosses it, makes the
# client's kernel answer with a RST, so one FIN or none comes (curl, requests).
lab_capture_gaps() {
    local bad
    bad="$(lab_fields "$1" 'tcp.flags.syn == 1 || tcp.flags.fin == 1 || tcp.flags.reset == 1 || tcp.analysis.lost_segment || tcp.analysis.ack_lost_segment' \
        tcp.stream tcp.flags.syn tcp.flags.ack tcp.flags.fin ip.src tcp.analysis.lost_segment tcp.analysis.ack_lost_segment tcp.flags.reset |
        awk -F'|' -v tls="$([ "${2:-}" = tls ] && echo 1 || echo 0)" '
            $6 != "" || $7 != "" { lost[$1] = 1 }
            $2 == 1 && $3 == 0 { opened[$1] = 1 }
            $4 == 1 && !(($1, $5) in fin) { fin[$1, $5] = 1; fins[$1]++ }
            $4 == 1 || $8 == 1 { ends[$1]++ }
            END {
                for (s in lost) printf "stream %s misses a segment; ", s
                for (s in opened) {
                    if (tls && !ends[s]) printf "stream %s has no FIN or RST; ", s
                    if (!tls && fins[s] < 2) printf "stream %s has %d of its 2 FINs; ", s, fins[s]
                }
            }')"
    [ -z "$bad" ] || printf '%s\n' "${bad%; }"
}

# lab_summary FILE: one line of what tshark sees (for logs and the README), in one pass; an
# HTTPS capture is read with its key log (lab_tshark), and its TLS connections are counted
# by the protocol and suite of their ServerHello.
lab_summary() {
    lab_tshark "$1" -T fields -E separator='|' -E occurrence=a -E aggregator=',' \
        -e http.request.method -e http.response.code -e tcp.flags.syn -e tcp.flags.ack -e tcp.flags.reset \
        -e ntlmssp.messagetype -e ntlmssp.auth.domain -e ntlmssp.auth.username \
        -e kerberos.msg_type -e kerberos.error_code \
        -e tls.handshake.type -e tls.handshake.ciphersuite -e tls.handshake.extensions.supported_version \
        -e tls.handshake.version 2>/dev/null | awk -F'|' '
        function bump(arr, list,   n, i, parts) { n = split(list, parts, ","); for (i = 1; i <= n; i++) if (parts[i] != "") { sub(/^0x0*/, "", parts[i]); arr[parts[i]]++ } }
        function krbname(n) { return n==10?"AS-REQ":n==11?"AS-REP":n==12?"TGS-REQ":n==13?"TGS-REP":n==14?"AP-REQ":n==15?"AP-REP":n==30?"KRB-ERROR":"msg" n }
        function tlsver(v) { return v=="0x0304"?"TLS 1.3":v=="0x0303"?"TLS 1.2":v=="0x0302"?"TLS 1.1":v=="0x0301"?"TLS 1.0":"TLS " v }
        function suite(c) {
            return c=="0x1301"?"TLS_AES_128_GCM_SHA256":c=="0x1302"?"TLS_AES_256_GCM_SHA384":c=="0x1303"?"TLS_CHACHA20_POLY1305_SHA256": \
                c=="0xc02f"?"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256":c=="0xc030"?"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": \
                c=="0xc013"?"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA":c=="0xc014"?"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": \
                c=="0xc027"?"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256":c=="0xc028"?"TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384": \
                c=="0x003c"?"TLS_RSA_WITH_AES_128_CBC_SHA256":c=="0x003d"?"TLS_RSA_WITH_AES_256_CBC_SHA256": \
                c=="0xcca8"?"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256":"suite " c
        }
        {
            if ($1 != "") req += split($1, m, ",")
            bump(code, $2)
            if ($3 == "1" && $4 == "0") conns++
            if ($5 == "1") rst++
            bump(ntlm, $6)
            if ($8 != "" || $7 != "") { u = $7 "\\" $8; users[u] = 1 }
            bump(krb, $9)
            bump(err, $10)
            # a ServerHello (type 2, in a frame that is no ClientHello): its suite and version
            if (("," $11 ",") ~ /,2,/ && ("," $11 ",") !~ /,1,/) {
                split($12, cs, ","); split($13 != "" ? $13 : $14, vs, ",")
                t = tlsver(vs[1]) " " suite(cs[1])
                if (!(t in tls)) tlsorder[++ntls] = t
                tls[t]++
            }
        }
        END {
            out = "requests " req+0
            for (c = 100; c < 600; c++) if (c in code) out = out ", " c "x" code[c]
            out = out ", TCP connections " conns+0
            if (rst) out = out ", RST " rst
            for (i = 1; i <= ntls; i++) out = out ", " tlsorder[i] " x" tls[tlsorder[i]]
            s = ""; for (t = 1; t <= 3; t++) if (t in ntlm) s = s " T" t "x" ntlm[t]
            if (s != "") out = out ", NTLM" s
            s = ""; for (u in users) s = s (s == "" ? "" : " ") u
            if (s != "") out = out " (user " s ")"
            s = ""; for (t = 0; t < 40; t++) if (t in krb) s = s (s == "" ? "" : " ") krbname(t) "x" krb[t]
            if (s != "") out = out ", Kerberos " s
            s = ""; for (t = 0; t < 100; t++) if (t in err) s = s (s == "" ? "" : " ") t
            if (s != "") out = out " (error codes " s ")"
            print out
        }'
}

# --- clients ---------------------------------------------------------------------------

# The "workstation": every client binds this address, so captures show client != server.
LAB_CLIENT_ADDR="${LAB_CLIENT_ADDR:-127.0.0.100}"

# lab_curl ARGS...: curl from the workstation address; prints the final HTTP status code.
# A curl error (not an HTTP error) is reported and yields "000" rather than aborting.
# With LAB_TLS=1 it trusts the lab CA (and writes the TLS secrets to $SSLKEYLOGFILE if set).
lab_curl() {
    local tls=()
    if [ "$LAB_TLS" = 1 ]; then tls=(--cacert "$LAB_TLS_DIR/ca.crt"); fi
    curl --interface "$LAB_CLIENT_ADDR" -s -o /dev/null -w '%{http_code}' --max-time 20 "${tls[@]}" "$@" || true
}

# lab_route_from_client ADDR: traffic from this machine to ADDR leaves from LAB_CLIENT_ADDR
# (for clients that cannot bind an address, such as libkrb5 talking to the KDC). It is a
# /32 route in the "local" table, removed on exit.
LAB_ROUTES=()
lab_route_from_client() {
    ip route replace local "$1/32" dev lo src "$LAB_CLIENT_ADDR" table local ||
        lab_fail "could not add a loopback route for $1 with source $LAB_CLIENT_ADDR"
    LAB_ROUTES+=("$1")
}

# lab_routes_purge_stale: remove the /32 loopback routes with the workstation as source
# left by a lab run that was killed with SIGKILL (all.sh calls it before any scenario).
lab_routes_purge_stale() {
    local r
    ip route show table local 2>/dev/null | awk -v src="$LAB_CLIENT_ADDR" '$1 == "local" && $2 ~ /^127\./ && $0 ~ ("src " src " ") {print $2}' |
        while read -r r; do
            lab_log "removing stale loopback route $r (source $LAB_CLIENT_ADDR)"
            ip route del local "${r%/32}/32" dev lo table local 2>/dev/null || true
        done
}

lab_routes_remove() {
    local a
    for a in "${LAB_ROUTES[@]}"; do
        ip route del local "$a/32" dev lo table local 2>/dev/null || true
    done
    LAB_ROUTES=()
}

# lab_pyclient ARGS...: scripts/lab/client.py (python-requests, requests-ntlm) in the venv.
# With LAB_TLS=1 it trusts the lab CA (urllib3 writes the TLS secrets to $SSLKEYLOGFILE).
lab_pyclient() {
    local tls=()
    if [ "$LAB_TLS" = 1 ]; then tls=(--cacert "$LAB_TLS_DIR/ca.crt"); fi
    "$LAB_PY" "$LAB_DIR/client.py" --source "$LAB_CLIENT_ADDR" "${tls[@]}" "$@"
}

# lab_url HOST PORT PATH: http://HOST[:PORT]PATH (https://HOST[:PORT]PATH with LAB_TLS=1)
lab_url() {
    local scheme=http default=80
    if [ "$LAB_TLS" = 1 ]; then scheme=https default=443; fi
    if [ "$2" = "$default" ]; then printf '%s://%s%s' "$scheme" "$1" "$3"; else printf '%s://%s:%s%s' "$scheme" "$1" "$2" "$3"; fi
}

# --- TLS ---------------------------------------------------------------------------------

# With LAB_TLS=1 (the https family), lab_apache_conf makes an HTTPS server: mod_ssl with a
# certificate for its ServerName issued by the lab CA; lab_url gives https:// URLs, and
# lab_curl and lab_pyclient trust the lab CA. The CA and the server keys are test keys made
# afresh in a temporary directory on every run (never committed); what is committed is the
# key log the clients write (SSLKEYLOGFILE), beside each capture.
LAB_TLS="${LAB_TLS:-0}"
LAB_TLS_DIR=""
# mod_ssl directives for the next lab_apache_conf (SSLProtocol, SSLCipherSuite, ...), one an item.
LAB_TLS_SERVER_CONF=()

# lab_tls_ca: the lab CA ($LAB_TLS_DIR/ca.crt and ca.key), made once per script.
lab_tls_ca() {
    [ -z "$LAB_TLS_DIR" ] || return 0
    lab_tmpdir LAB_TLS_DIR
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/O=authscope lab/CN=authscope lab CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -keyout "$LAB_TLS_DIR/ca.key" -out "$LAB_TLS_DIR/ca.crt" >"$LAB_TLS_DIR/openssl.log" 2>&1 ||
        { cat "$LAB_TLS_DIR/openssl.log" >&2; lab_fail "openssl could not make the lab CA"; }
}

# lab_tls_cert NAME: $LAB_TLS_DIR/NAME.crt and NAME.key, an RSA 2048 server certificate for
# NAME (subjectAltName DNS:NAME) issued by the lab CA. RSA, for the ECDHE-RSA suites.
lab_tls_cert() {
    local name="$1"
    lab_tls_ca
    [ ! -f "$LAB_TLS_DIR/$name.crt" ] || return 0
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj "/O=authscope lab/CN=$name" \
        -addext "subjectAltName=DNS:$name" -addext "basicConstraints=critical,CA:FALSE" \
        -addext "keyUsage=critical,digitalSignature,keyEncipherment" -addext "extendedKeyUsage=serverAuth" \
        -CA "$LAB_TLS_DIR/ca.crt" -CAkey "$LAB_TLS_DIR/ca.key" \
        -keyout "$LAB_TLS_DIR/$name.key" -out "$LAB_TLS_DIR/$name.crt" >>"$LAB_TLS_DIR/openssl.log" 2>&1 ||
        { cat "$LAB_TLS_DIR/openssl.log" >&2; lab_fail "openssl could not make a certificate for $name"; }
}

# lab_apache_tls DIR NAME: print the mod_ssl part of an httpd.conf serving NAME over TLS,
# with the directives of LAB_TLS_SERVER_CONF (lab_apache_conf appends it when LAB_TLS=1).
lab_apache_tls() {
    local dir="$1" name="$2" line
    lab_tls_cert "$name"
    echo "LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so"
    echo "LoadModule socache_shmcb_module /usr/lib/apache2/modules/mod_socache_shmcb.so"
    echo "SSLEngine on"
    echo "SSLCertificateFile $LAB_TLS_DIR/$name.crt"
    echo "SSLCertificateKeyFile $LAB_TLS_DIR/$name.key"
    echo "SSLSessionCache shmcb:$dir/run/ssl_scache(512000)"
    for line in "${LAB_TLS_SERVER_CONF[@]}"; do echo "$line"; done
}

# --- Apache ------------------------------------------------------------------------------

# lab_apache_conf DIR ADDR PORT SERVERNAME MODULE...: write DIR/httpd.conf (base part).
# The caller appends its own directives. Modules are names under /usr/lib/apache2/modules
# without "mod_" and ".so" (mpm_event, authz_core, authn_core and mime are always loaded).
# With LAB_TLS=1 the server speaks HTTPS (lab_apache_tls).
lab_apache_conf() {
    local dir="$1" addr="$2" port="$3" name="$4" m
    shift 4
    mkdir -p "$dir/htdocs" "$dir/run"
    chown www-data:www-data "$dir/run"
    {
        echo "ServerRoot /etc/apache2"
        echo "DefaultRuntimeDir $dir/run"
        echo "PidFile $dir/run/apache2.pid"
        echo "Mutex file:$dir/run default"
        for m in mpm_event authz_core authn_core mime "$@"; do
            echo "LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so"
        done
        echo "User www-data"
        echo "Group www-data"
        echo "Listen $addr:$port"
        echo "ServerName $name"
        echo "ServerAdmin webmaster@$name"
        echo "ServerTokens Prod"
        echo "KeepAlive On"
        echo "MaxKeepAliveRequests 100"
        echo "KeepAliveTimeout 5"
        echo "StartServers 1"
        echo "ServerLimit 1"
        echo "ThreadsPerChild 4"
        echo "MaxRequestWorkers 4"
        echo "ErrorLog $dir/error.log"
        echo "LogLevel warn"
        echo 'LogFormat "%h %u \"%r\" %>s %b" lab'
        echo "CustomLog $dir/access.log lab"
        echo "TypesConfig /etc/mime.types"
        echo "DocumentRoot $dir/htdocs"
        echo "<Directory $dir/htdocs>"
        echo "    Require all granted"
        echo "</Directory>"
    } >"$dir/httpd.conf"
    printf '<html><body><h1>It works</h1><p>%s</p></body></html>\n' "$name" >"$dir/htdocs/index.html"
    if [ "$LAB_TLS" = 1 ]; then lab_apache_tls "$dir" "$name" >>"$dir/httpd.conf"; fi
}

# lab_apache_start DIR ADDR PORT [ENV=VALUE...]: run apache2 in the foreground on DIR/httpd.conf.
lab_apache_start() {
    local dir="$1" addr="$2" port="$3"
    shift 3
    lab_port_free "$addr" "$port"
    apache2 -t -f "$dir/httpd.conf" >"$dir/configtest.log" 2>&1 || {
        cat "$dir/configtest.log" >&2
        lab_fail "apache2 rejected $dir/httpd.conf"
    }
    lab_bg apache2 "$dir/apache2.out" env "$@" apache2 -f "$dir/httpd.conf" -DFOREGROUND
    lab_wait_port "$addr" "$port" 15 "$LAB_LAST_PID"
}

# lab_apache_gssapi LOCATION AUTHNAME MECH...: print the mod_auth_gssapi block that puts
# LOCATION behind the GSS-API mechanisms MECH... (krb5, ntlmssp), to append to an httpd.conf.
# The security context is kept on the connection: NTLM needs its three legs on one
# connection, and a connection that authenticated stays authenticated.
lab_apache_gssapi() {
    local loc="$1" name="$2" m
    shift 2
    echo "<Location $loc>"
    echo "    AuthType GSSAPI"
    echo "    AuthName \"$name\""
    for m in "$@"; do echo "    GssapiAllowedMech $m"; done
    echo "    GssapiConnectionBound On"
    echo "    GssapiBasicAuth Off"
    echo "    Require valid-user"
    echo "</Location>"
}

# --- cleanup -----------------------------------------------------------------------------

_lab_cleanup() {
    local rc=$?
    set +e
    # a second signal (timeout(1) and terminals signal the whole group) must not cut the
    # cleanup short
    trap '' INT TERM
    lab_stop_all
    lab_hosts_remove
    lab_routes_remove
    local d
    for d in "${LAB_TMPDIRS[@]}"; do
        if [ "$rc" != 0 ] && [ "${LAB_KEEP_ON_FAILURE:-0}" = 1 ]; then
            lab_log "keeping $d for inspection (LAB_KEEP_ON_FAILURE=1)"
        else
            rm -rf "$d"
        fi
    done
    return "$rc"
}
trap _lab_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
