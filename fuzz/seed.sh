#!/bin/sh
# Seeds the fuzz corpora (fuzz/corpus/<target>/seed-*) with small files made from the public
# captures, the lab captures and the auth fixtures. Nothing it writes is committed (.gitignore
# has fuzz/corpus); run it again whenever, it only adds or overwrites seed-* files.
#
#   sh fuzz/seed.sh [CAPTURE_DIR ...]     (default: ../shared/captures/public and captures/)
#
# Needs python3 (standard library only).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
  set -- "$root/../shared/captures/public" "$root/captures"
fi
exec python3 - "$root" "$@" <<'PY'
import base64, glob, hashlib, os, random, struct, sys

root, dirs = sys.argv[1], sys.argv[2:]
corpus = os.path.join(root, "fuzz", "corpus")
fixtures = os.path.join(root, "tests", "fixtures", "auth")
written = {}

def put(target, data, tag):
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-%s-%s" % (tag, hashlib.sha1(data).hexdigest()[:12])
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    written[target] = written.get(target, 0) + 1
    # The slice's masking reads the same header values, picked by the same first byte.
    if target == "auth_header":
        put("token_mask", data, tag)

# --- capture files: cut at a record boundary, and their frames --------------------------

def pcap_records(b):
    """(header, [(record bytes, link, frame bytes)]) of a legacy pcap, or None."""
    if len(b) < 24:
        return None
    magic = b[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    link = struct.unpack(e + "I", b[20:24])[0] & 0xFFFF
    recs, at = [], 24
    while at + 16 <= len(b):
        caplen = struct.unpack(e + "I", b[at + 8:at + 12])[0]
        end = at + 16 + caplen
        if end > len(b):
            break
        recs.append((b[at:end], link, b[at + 16:end]))
        at = end
    return b[:24], recs

def pcapng_blocks(b):
    """[(block bytes, link or None, frame bytes or None)] of a little/big-endian pcapng."""
    out, at, e, links = [], 0, "<", []
    while at + 12 <= len(b):
        kind = struct.unpack("<I", b[at:at + 4])[0]
        if kind == 0x0A0D0D0A:
            e = "<" if b[at + 8:at + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack(e + "I", b[at + 4:at + 8])[0]
        if blen < 12 or at + blen > len(b):
            break
        block = b[at:at + blen]
        kind = struct.unpack(e + "I", block[:4])[0]
        link = frame = None
        if kind == 1:
            links.append(struct.unpack(e + "H", block[8:10])[0])
        elif kind == 6 and len(block) >= 32:
            iface, caplen = struct.unpack(e + "I", block[8:12])[0], struct.unpack(e + "I", block[20:24])[0]
            if iface < len(links):
                link, frame = links[iface], block[28:28 + caplen]
        out.append((block, link, frame))
        at += blen
    return out

def cut(b, limit):
    """The capture cut after the last whole record that fits in `limit` bytes."""
    p = pcap_records(b)
    if p:
        head, recs = p
        out = head
        for r, _, _ in recs:
            if len(out) + len(r) > limit:
                break
            out += r
        return out
    out = b""
    for blk, _, _ in pcapng_blocks(b):
        if out and len(out) + len(blk) > limit:
            break
        out += blk
    return out

def frames(b):
    p = pcap_records(b)
    if p:
        return [(link, f) for _, link, f in p[1]]
    return [(link, f) for _, link, f in pcapng_blocks(b) if f is not None]

# The link types of fuzz_targets/net.rs, in its order.
NET_LINKS = [1, 0, 108, 101, 12, 228, 229, 14, 113, 276, 104, 105, 127, 7, 129, 239, 147, 65535]

captures = []
for d in dirs:
    captures += sorted(glob.glob(os.path.join(d, "*.pcap")) + glob.glob(os.path.join(d, "*.pcapng")))
    captures += sorted(glob.glob(os.path.join(d, "*", "*.pcap")) + glob.glob(os.path.join(d, "*", "*.pcapng")))
for c in captures:
    b = open(c, "rb").read()
    base = os.path.basename(c).split(".")[0][:40]
    put("pcap_reader", cut(b, 8 << 10), base)
    # The same compressed (found by their magic bytes), and cut in the compressed stream.
    if captures.index(c) < 3:
        import gzip, lzma
        put("pcap_reader", gzip.compress(cut(b, 8 << 10)), base + "-gz")
        put("pcap_reader", lzma.compress(cut(b, 8 << 10))[:-40], base + "-xz-cut")
    put("pipeline", cut(b, 48 << 10), base)
    put("shards", cut(b, 48 << 10), base)
    put("files", cut(b, 48 << 10), base)
    # net: the first frames, 4 KiB of records at most per seed.
    rec = b""
    for link, f in frames(b)[:64]:
        if link not in NET_LINKS:
            continue
        r = bytes([NET_LINKS.index(link), 1]) + struct.pack("<H", len(f)) + f
        if rec and len(rec) + len(r) > 4096:
            put("net", rec, base)
            rec = b""
        rec += r
    if rec:
        put("net", rec, base)
# Tiny hand-made captures: headers alone, both byte orders, nanoseconds, pcapng SHB alone.
put("pcap_reader", struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), "hdr-le")
put("pcap_reader", struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 101), "hdr-be-ns")
shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
put("pcap_reader", struct.pack("<II", 0x0A0D0D0A, 12 + len(shb)) + shb + struct.pack("<I", 12 + len(shb)), "shb")

# --- authentication headers and tokens --------------------------------------------------

values = []  # (column, value)
with open(os.path.join(fixtures, "tshark-http-auth.tsv"), encoding="utf-8", errors="replace") as f:
    next(f)
    for line in f:
        cols = line.rstrip("\n").split("\t")
        for i, col in enumerate(cols[2:6]):
            for v in filter(None, col.split("|")):
                values.append((i, v))
KIND = {0: 0, 1: 2, 2: 1, 3: 3}  # TSV column -> auth_header kind byte (www, authz, proxy-auth, proxy-authz)

def b64(s):
    s = s.strip()
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4))
    except Exception:
        return None

tokens = []
for col, v in values:
    put("auth_header", bytes([KIND[col]]) + v.encode(), "tsv")
    scheme, _, rest = v.strip().partition(" ")
    if scheme.lower() == "digest":
        put("digest", v.encode(), "tsv")
    if scheme.lower() in ("ntlm", "negotiate", "kerberos") and rest.strip():
        t = b64(rest)
        if t:
            tokens.append((scheme.lower(), t))
for name in ("ntlm-sharepoint-erspan-type3.b64", "negotiate-kerberos-iis-ap-req.b64"):
    t = b64(open(os.path.join(fixtures, name)).read())
    tokens.append(("ntlm" if name.startswith("ntlm") else "negotiate", t))
    put("auth_header", b"\x02" + name.split("-")[0].replace("ntlm", "NTLM").replace("negotiate", "Negotiate").encode()
        + b" " + base64.b64encode(t), "fixture")
for scheme, t in tokens:
    put("spnego", t, scheme)
    at = t.find(b"NTLMSSP\0")
    if at >= 0:
        put("ntlm", t[at:], scheme)
    for i, byte in enumerate(t):
        if byte in (0x6E, 0x6F, 0x7E) and i + 1 < len(t) and t[i + 1] in (0x81, 0x82):
            put("kerberos", t[i:], scheme)
            if i >= 2:
                put("kerberos", t[i - 2:], "tokid")
for name in ("krb-error-badoption.hex", "krb-error-response-too-big.hex"):
    hx = "".join(open(os.path.join(fixtures, name)).read().split())
    t = bytes.fromhex(hx)
    put("kerberos", t, "fixture")
    put("spnego", t, "krb")
put("digest", b'Digest realm="r", nonce="n", qop="auth,auth-int", algorithm=SHA-256, opaque="o", stale=true, userhash=true', "hand")
put("digest", b'Digest username="u", realm="r", nonce="n", uri="/", response="00", qop=auth, nc=00000001, cnonce="c", algorithm=MD5-sess', "hand")

# Tokens and headers inside other protocols of the captures (SMB2, DCE-RPC, LDAP, SIP, KDC).
import re
HDR = re.compile(rb"(?im)^(www-authenticate|proxy-authenticate|authorization|proxy-authorization):[ \t]*([^\r\n]*)")
for c in captures:
    b = open(c, "rb").read()
    base = os.path.basename(c).split(".")[0][:40]
    for _, f in frames(b):
        at = f.find(b"NTLMSSP\0")
        if at >= 0:
            put("ntlm", f[at:at + 2048], base)
        for m in re.finditer(rb"[\x6e\x6f\x7e][\x81\x82]", f):
            i = m.start()
            hl = 3 if f[i + 1] == 0x81 else 4
            if f[i + hl:i + hl + 1] == b"\x30":
                put("kerberos", f[i:i + 4096], base)
        for m in re.finditer(rb"\x60[\x81\x82]", f):
            i = m.start()
            if b"\x06\x06\x2b\x06\x01\x05\x05\x02" in f[i:i + 16]:
                put("spnego", f[i:i + 4096], base)
        for m in re.finditer(rb"\xa1[\x81\x82]", f):
            i = m.start()
            hl = 3 if f[i + 1] == 0x81 else 4
            if f[i + hl:i + hl + 1] == b"\x30" and f[i + hl + 2:i + hl + 3] in (b"\xa0", b"\x81", b"\x82"):
                put("spnego", f[i:i + 4096], base)
        for m in HDR.finditer(f):
            name, value = m.group(1).lower(), m.group(2)
            kind = {b"www-authenticate": 0, b"authorization": 2, b"proxy-authenticate": 1, b"proxy-authorization": 3}[name]
            put("auth_header", bytes([kind]) + value, base)
            if value[:6].lower() == b"digest":
                put("digest", value, base)

# --- HTTP streams: conversations around the headers above --------------------------------

def rec(op, conn, arg, payload=b"", length=None):
    n = len(payload) if length is None else length
    return bytes([op, conn, arg]) + struct.pack("<H", n) + payload

def conversation(pairs, cfg=0, pieces=1):
    """Open, then each (request, response) cut in `pieces`, then FINs and close."""
    out = bytes([cfg]) + rec(0, 0, 0)
    for req, resp in pairs:
        for data, d in ((req, 0), (resp, 1)):
            step = max(1, len(data) // pieces)
            for i in range(0, len(data), step):
                out += rec(1, 0, d, data[i:i + step])
    return out + rec(5, 0, 0) + rec(5, 0, 1) + rec(7, 0, 0)

challenges = [v for c, v in values if c in (0, 2)]
credentials = [v for c, v in values if c in (1, 3)]
rng = random.Random(7)
for i, cred in enumerate(credentials):
    ch = challenges[i % len(challenges)] if challenges else "Basic realm=\"x\""
    hdr = "Proxy-" if i % 5 == 4 else ""
    code = b"407 Proxy Authentication Required" if hdr else b"401 Unauthorized"
    req1 = b"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
    resp1 = b"HTTP/1.1 " + code + b"\r\n" + hdr.encode() + b"WWW-Authenticate: " + ch.encode() + b"\r\nContent-Length: 12\r\n\r\n<html></html>"[:0] + b"401 message."
    req2 = b"GET /a HTTP/1.1\r\nHost: h\r\n" + hdr.encode() + b"Authorization: " + cred.encode() + b"\r\n\r\n"
    resp2 = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    put("http", conversation([(req1, resp1), (req2, resp2)], pieces=1 + i % 3), "auth")
put("http", conversation([(b"POST /u HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
                           b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")]), "continue")
put("http", conversation([(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
                           b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.0 200 OK\r\n\r\nuntil close")])
    , "pipelined")
put("http", conversation([(b"CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n",
                           b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01")]), "connect")
put("http", conversation([(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x00")]), "upgrade")
put("http", conversation([(b"GET / HTTP/1.1\r\n\r\n", b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM\r\n"
                           b"WWW-Authenticate: Negotiate\r\nContent-Length: 40\r\n\r\n")], cfg=16), "smallcaps")
gap = bytes([0]) + rec(0, 1, 2) + rec(1, 1, 1, b"tail of a body\r\nHTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n") \
    + rec(4, 1, 0, length=300) + rec(1, 1, 0, b"xx\r\nGET /b HTTP/1.1\r\n\r\n") + rec(6, 1, 1) + rec(7, 1, 0)
put("http", gap, "midstream-gap")

# --- TCP: arbitrary-shaped bytes (the target reads them with `arbitrary`) ----------------
for i in range(8):
    put("tcp", bytes(rng.randrange(256) for _ in range(64 << (i % 4))), "random")

# --- TLS: the fixtures' connections, with their key logs -------------------------------
# `[cfg][key log length u16 LE][key log][op][length u16 LE][bytes]...` (fuzz_targets/tls.rs):
# each TCP payload in capture order, op 0 from the client (the side of the first SYN).

def tcp_payloads(b):
    """[(from the client, payload)] of a pcap of one or more IPv4 TCP connections."""
    out, clients = [], set()
    for link, f in frames(b):
        if link != 1 or len(f) < 34 or f[12:14] != b"\x08\x00":
            continue
        ip = f[14:]
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        if ip[9] != 6:
            continue
        tcp = ip[ihl:total]
        sport, dport = struct.unpack(">HH", tcp[:4])
        flags, off = tcp[13], (tcp[12] >> 4) * 4
        if flags & 0x12 == 0x02:
            clients.add(sport)
        payload = tcp[off:]
        if payload:
            out.append((sport in clients, payload))
    return out

tls_fixtures = os.path.join(root, "tests", "fixtures", "tls")
for c in sorted(glob.glob(os.path.join(tls_fixtures, "*.pcap"))):
    base = os.path.basename(c)[:-5]
    keylog = c[:-5] + ".keylog"
    keys = open(keylog, "rb").read() if os.path.exists(keylog) else b""
    data = bytes([0]) + struct.pack("<H", len(keys)) + keys
    for from_client, payload in tcp_payloads(open(c, "rb").read()):
        data += bytes([0 if from_client else 1]) + struct.pack("<H", len(payload)) + payload
    put("tls", data, base)
    # The same without keys, and with a gap in the server's records.
    put("tls", bytes([0, 0, 0]) + data[3 + len(keys):], base + "-nokeys")
    put("tls", data + bytes([3]) + struct.pack("<H", 100) + bytes([1, 5, 0]) + b"\x17\x03\x03\x00\x00", base + "-gap")

# --- TLS streams: the same connections as stream events (fuzz_targets/tls_streams.rs):
# `[cfg]` then `[op][length u16 LE][bytes]`: open connection 0, the key log as the input's
# (op 7|0x20) before its bytes, or as a late key after them with keys waiting (cfg bit 0).
def op(o, b=b""):
    return bytes([o]) + struct.pack("<H", len(b)) + b

for c in sorted(glob.glob(os.path.join(tls_fixtures, "*.pcap"))):
    base = os.path.basename(c)[:-5]
    keylog = c[:-5] + ".keylog"
    keys = open(keylog, "rb").read() if os.path.exists(keylog) else b""
    body = b"".join(op(1 if fc else 2, p) for fc, p in tcp_payloads(open(c, "rb").read()))
    put("tls_streams", bytes([0]) + op(0) + op(0x27, keys) + body + op(6), base)
    put("tls_streams", bytes([1]) + op(0) + body + op(7, keys) + op(6), base + "-late")

# --- HTTP/2 (fuzz_targets/http2.rs): `[cfg][mode]` then `[op][length u16 LE][bytes]`, op 0
# the client's bytes, 1 the server's, 2 the client's one at a time. Header blocks use the
# static table and literals (RFC 7541 appendix C), so they decode without a peer's table.
def h2frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

def lit(name, value):
    return bytes([0x40, len(name)]) + name + bytes([len(value)]) + value

settings = h2frame(4, 0, 0, struct.pack(">HI", 3, 100) + struct.pack(">HI", 1, 4096))
get = bytes([0x82, 0x84, 0x87]) + lit(b":authority", b"iis.lab.test")
for i, cred in enumerate(credentials[:8]):
    req = get + lit(b"authorization", cred.encode("latin-1", "replace")[:120])
    client = settings + h2frame(1, 5, 1, req)
    rst = settings + h2frame(3, 0, 1, struct.pack(">I", 0xd))
    ok = settings + h2frame(1, 4, 1, bytes([0x88]) + lit(b"www-authenticate", b"NTLM")) + h2frame(0, 1, 1, b"ok")
    put("http2", bytes([0, 0]) + op(0, client) + op(1, rst), "rst-%d" % i)
    put("http2", bytes([0, i % 4]) + op(2, client) + op(1, ok), "ok-%d" % i)
    half = len(req) // 2
    cont = h2frame(1, 0x29, 3, bytes([1, 0, 0, 0, 0, 9]) + req[:half] + b"\0") + h2frame(9, 4, 3, req[half:])
    put("http2", bytes([0, 0]) + op(0, settings + cont) + op(1, settings + h2frame(7, 0, 0, struct.pack(">II", 3, 0xd))), "cont-%d" % i)

# --- server logs (fuzz_targets/server_log.rs): the first byte picks W3C (0), event XML (1)
# or EVTX (2); the lab's IIS logs and events, and the real EVTX files beside the repository.
for f in sorted(glob.glob(os.path.join(root, "captures", "server-logs", "*", "*"))):
    data = open(f, "rb").read()
    put("server_log", bytes([1 if f.endswith(".xml") else 0]) + data, os.path.basename(f))
for f in sorted(glob.glob(os.path.join(root, "..", "shared", "logs", "evtx", "*.evtx"))):
    data = open(f, "rb").read()
    if len(data) <= 1 << 17:
        put("server_log", bytes([2]) + data, os.path.basename(f))

# --- KDC and DNS (fuzz_targets/kdc.rs): the first byte picks a Kerberos message (0) or a
# DNS message (1); the UDP payloads to and from ports 88 and 53 of the captures, read by tshark
# when it is there.
import shutil, subprocess
if shutil.which("tshark"):
    caps = sorted(glob.glob(os.path.join(root, "captures", "*.pcap*")))
    caps += sorted(glob.glob(os.path.join(root, "..", "shared", "captures", "public", "*.pcap*")))
    n = 0
    for f in caps:
        out = subprocess.run(["tshark", "-r", f, "-Y", "udp.port == 88 || udp.port == 53",
                              "-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "udp.payload"],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 3 or not parts[2]:
                continue
            # An ICMP error quoting a datagram gives two values per field (outer, quoted).
            kind = 0 if "88" in ",".join(parts[:2]).split(",") else 1
            try:
                payload = bytes.fromhex(parts[2].split(",")[-1].replace(":", ""))
            except ValueError:
                continue
            put("kdc", bytes([kind]) + payload, "udp-%d" % n)
            put("kdc", bytes([2]) + payload, "stream-%d" % n)
            n += 1
            if n >= 200:
                break
        if n >= 200:
            break

for t in sorted(written):
    print("%-12s %d seeds" % (t, written[t]))
PY
