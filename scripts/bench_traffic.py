#!/usr/bin/env python3
"""Traffic for the benchmark captures (scripts/make-bench-capture.sh): an IIS-like HTTP/1.1
server and concurrent clients, in clear or with every connection over TLS (the clients' TLS
secrets then written to key logs, SSLContext.keylog_filename, the NSS format SSLKEYLOGFILE
writes).

  bench_traffic.py tokens OUT.json [N]      a pool of NTLM, Negotiate and Kerberos handshakes
  bench_traffic.py server TOKENS.json [--tls CERT KEY] PORT...
  bench_traffic.py client TOKENS.json --pcap FILE --target-bytes N [--keylog-dir DIR]
                   [--seed S] [--conc C] [--port P] [--port13-chacha P] [--port13-aes128 P]

A client with --keylog-dir speaks TLS, one without speaks clear HTTP.

What the connections carry (by path on the server):
  /ntlm/...    NTLM: 401 offering Negotiate and NTLM, Type 1, 401 Type 2, Type 3, 200;
               /ntlm/fail/ answers the Type 3 with 401 (wrong password), /ntlm/close/ closes
               the connection after the Type 2 (the handshake breaks)
  /neg/...     Negotiate with SPNEGO-wrapped NTLM, the final 200 carrying the mechListMIC
  /krb/...     Negotiate with a Kerberos AP-REQ, the 200 carrying the AP-REP (mutual
               authentication)
  /basic/...   Basic, /digest/... Digest (RFC 7616, MD5, qop=auth)
  anything else: 200 with ?s= bytes of body (chunked with ?c=1); POST /api/upload: 201
After an authenticated request a connection may go on with ordinary requests (NTLM
authenticates the connection). The TLS side, per connection, is picked by weight from
PROFILES (TLS only): TLS 1.2 with ECDHE and AES-GCM (Schannel's first choice), AES-CBC with SHA-1 or
SHA-384 (encrypt-then-MAC, as OpenSSL negotiates it), ChaCha20-Poly1305, and TLS 1.3 with
AES-256-GCM, AES-128-GCM or ChaCha20-Poly1305. Python's ssl module cannot choose TLS 1.3
suites per context, so each TLS 1.3 suite other than the default has its own server process
and port, started with an OpenSSL configuration that allows only that suite.
"""
import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import signal
import ssl
import sys
import tempfile

SERVER_V4 = "127.0.0.10"
SERVER_V6 = "::1"
# Each concurrent client is a workstation of its own: its own address, as logins are joined
# across connections by client address (make-bench-capture.sh adds the IPv6 ones to lo).
CLIENT_V4 = "127.0.%d.%d"
CLIENT_V6 = "fd00:a5::%x"
HOST = "intranet.corp.example.com"
REALM = "CORP"
KRB_REALM = "CORP.EXAMPLE.COM"
USERS = ["alice", "bob", "carol.jones", "svc_report", "d.smith", "frank", "grace.k", "ivan"]
PASSWORD = "Winter2026!"

# (name, weight, maximum TLS version, TLS 1.2 cipher string, port key)
PROFILES = [
    ("tls12-ecdhe-aes256-gcm", 30, "1.2", "ECDHE-RSA-AES256-GCM-SHA384", "main"),
    ("tls12-ecdhe-aes128-gcm", 10, "1.2", "ECDHE-RSA-AES128-GCM-SHA256", "main"),
    ("tls12-ecdhe-aes256-cbc-sha384", 6, "1.2", "ECDHE-RSA-AES256-SHA384", "main"),
    ("tls12-ecdhe-aes128-cbc-sha", 4, "1.2", "ECDHE-RSA-AES128-SHA", "main"),
    ("tls12-ecdhe-chacha20", 5, "1.2", "ECDHE-RSA-CHACHA20-POLY1305", "main"),
    ("tls13-aes256-gcm", 30, "1.3", None, "main"),
    ("tls13-aes128-gcm", 8, "1.3", None, "aes128"),
    ("tls13-chacha20", 7, "1.3", None, "chacha"),
]

# (kind, weight)
KINDS = [("plain", 60), ("ntlm", 14), ("ntlm_fail", 1), ("ntlm_close", 1), ("negotiate", 10),
         ("kerberos", 8), ("basic", 9), ("digest", 5)]

WORDS = ("quarterly report invoice portal sharepoint employee ticket budget intranet "
         "document library calendar meeting review approved pending").split()


def filler(n):
    r = random.Random(3)
    out = bytearray()
    while len(out) < n:
        out += (" ".join(r.choice(WORDS) for _ in range(10)) + "<br/>\n").encode()
    return bytes(out[:n])


BODY = filler(1 << 20)
PAGE_401 = (b"<!DOCTYPE html><html><head><title>401 - Unauthorized: Access is denied due to "
            b"invalid credentials.</title></head><body><h2>401 - Unauthorized</h2><h3>You do "
            b"not have permission to view this directory or page using the credentials that "
            b"you supplied.</h3></body></html>\r\n")


def b64(b):
    return base64.b64encode(b).decode()


# --- tokens ----------------------------------------------------------------------------

def make_tokens(out, n):
    """Real NTLM and Negotiate exchanges between pyspnego's client and server."""
    import spnego
    with tempfile.NamedTemporaryFile("w", delete=False) as f:
        for u in USERS:
            f.write("%s:%s:%s\n" % (REALM, u, PASSWORD))
    os.environ["NTLM_USER_FILE"] = f.name
    pool = {"ntlm": [], "negotiate": []}
    try:
        for proto in pool:
            for i in range(n):
                user = USERS[i % len(USERS)]
                c = spnego.client("%s\\%s" % (REALM, user), PASSWORD, hostname=HOST,
                                  service="HTTP", protocol=proto)
                s = spnego.server(protocol=proto)
                t1 = c.step()
                t2 = s.step(t1)
                t3 = c.step(t2)
                t4 = s.step(t3)
                pool[proto].append({"t1": b64(t1), "t2": b64(t2), "t3": b64(t3),
                                    "t4": b64(t4) if t4 else None})
    finally:
        os.unlink(f.name)
    r = random.Random(5)
    pool["kerberos"] = [kerberos_pair(r, USERS[i % len(USERS)]) for i in range(n)]
    with open(out, "w") as f:
        json.dump(pool, f)


# Kerberos tokens are built rather than asked of a KDC: authscope reads their structure, never
# their ciphertext, so random ciphertext of a real ticket's size does. DER by hand (X.690)
# keeps the generator's only dependency pyspnego.

def der(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    ln = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(ln)]) + ln + body


def der_int(v, tag=0x02):
    return der(tag, v.to_bytes((v.bit_length() + 8) // 8, "big"))


def seq(*fields):
    return der(0x30, b"".join(fields))


def field(n, value):
    return der(0xa0 + n, value)


OID_KRB5 = bytes.fromhex("06092a864886f712010202")       # 1.2.840.113554.1.2.2
OID_MS_KRB5 = bytes.fromhex("06092a864882f712010202")    # 1.2.840.48018.1.2.2
OID_SPNEGO = bytes.fromhex("06062b0601050502")           # 1.3.6.1.5.5.2


def encrypted(r, etype, size, kvno=None):
    # RFC 4120 5.2.9 EncryptedData
    parts = [field(0, der_int(etype))]
    if kvno is not None:
        parts.append(field(1, der_int(kvno)))
    parts.append(field(2, der(0x04, r.randbytes(size))))
    return seq(*parts)


def kerberos_pair(r, user):
    """A Negotiate token carrying an AP-REQ (RFC 4120 5.5.1 in RFC 4121 4.1 framing, in an
    RFC 4178 NegTokenInit) and the server's NegTokenResp with the AP-REP."""
    sname = seq(field(0, der_int(2)), field(1, seq(der(0x1b, b"HTTP"), der(0x1b, HOST.encode()))))
    ticket = der(0x61, seq(field(0, der_int(5)), field(1, der(0x1b, KRB_REALM.encode())),
                           field(2, sname), field(3, encrypted(r, 18, r.randint(1100, 1500), 3))))
    ap_req = der(0x6e, seq(field(0, der_int(5)), field(1, der_int(14)),
                           field(2, der(0x03, b"\x00\x20\x00\x00\x00")), field(3, ticket),
                           field(4, encrypted(r, 18, 180 + len(user)))))
    init = der(0x60, OID_SPNEGO + field(0, seq(field(0, seq(OID_MS_KRB5, OID_KRB5)),
                                               field(2, der(0x04, der(0x60, OID_KRB5 + b"\x01\x00" + ap_req))))))
    ap_rep = der(0x6f, seq(field(0, der_int(5)), field(1, der_int(15)), field(2, encrypted(r, 18, 120))))
    resp = field(1, seq(field(0, der_int(0, 0x0a)), field(1, OID_MS_KRB5),
                        field(2, der(0x04, der(0x60, OID_KRB5 + b"\x02\x00" + ap_rep)))))
    return {"t1": b64(init), "t4": b64(resp)}


# --- HTTP helpers ----------------------------------------------------------------------

async def read_head(reader):
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
        return None, None
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs.setdefault(k.strip().lower(), v.strip())
    return lines[0], hdrs


async def read_body(reader, hdrs):
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return bytes(out)
            out += await reader.readexactly(size + 2)
    n = int(hdrs.get("content-length", "0"))
    return await reader.readexactly(n) if n else b""


def query_int(path, key, default):
    if "?" in path:
        for kv in path.split("?", 1)[1].split("&"):
            k, _, v = kv.partition("=")
            if k == key and v.isdigit():
                return int(v)
    return default


def response(status, reason, extra, body, close=False, chunked=False):
    h = ["HTTP/1.1 %d %s" % (status, reason), "Content-Type: text/html",
         "Server: Microsoft-IIS/10.0", "X-Powered-By: ASP.NET"]
    h += extra
    if close:
        h.append("Connection: close")
    if chunked:
        h.append("Transfer-Encoding: chunked")
        parts = []
        for i in range(0, len(body), 8192):
            c = body[i:i + 8192]
            parts.append(b"%x\r\n%s\r\n" % (len(c), c))
        parts.append(b"0\r\n\r\n")
        payload = b"".join(parts)
    else:
        h.append("Content-Length: %d" % len(body))
        payload = body
    return ("\r\n".join(h) + "\r\n\r\n").encode() + payload


# --- server ----------------------------------------------------------------------------

class Server:
    def __init__(self, pool):
        self.krb = {e["t1"]: e["t4"] for e in pool.pop("kerberos", [])}
        self.by_t1 = {}
        for proto, entries in pool.items():
            for e in entries:
                self.by_t1.setdefault((proto, e["t1"]), []).append(e)
        self.t3 = {(p, e["t3"]): e for p, es in pool.items() for e in es}
        self.nonce = 0

    async def handle(self, reader, writer):
        # NTLM and Negotiate authenticate the connection, not the request.
        authed = False
        try:
            while True:
                first, hdrs = await read_head(reader)
                if first is None:
                    break
                method, path, version = first.split(" ", 2)
                body = await read_body(reader, hdrs)
                close = version == "HTTP/1.0" or hdrs.get("connection", "").lower() == "close"
                out, close2, authed = self.route(method, path, hdrs, body, close, authed)
                writer.write(out)
                await writer.drain()
                if close or close2:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    def ok(self, path, close, extra=()):
        return response(200, "OK", list(extra), BODY[:query_int(path, "s", 2048)], close,
                        query_int(path, "c", 0) == 1)

    def unauthorized(self, offers, close=False):
        return response(401, "Unauthorized", ["WWW-Authenticate: " + o for o in offers],
                        PAGE_401, close)

    def route(self, method, path, hdrs, body, close, authed):
        """The response, whether to close after it, and whether the connection is authenticated."""
        auth = hdrs.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if method == "POST":
            return response(201, "Created", [], b'{"stored": %d}' % len(body), close), False, authed
        for prefix, proto, word in (("/ntlm/", "ntlm", "NTLM"), ("/neg/", "negotiate", "Negotiate")):
            if not path.startswith(prefix):
                continue
            if not auth:
                if authed:
                    return self.ok(path, close), False, True
                return self.unauthorized(["Negotiate", "NTLM"], close), False, False
            e = self.by_t1.get((proto, token))
            if e:
                e = random.choice(e)
                brk = path.startswith("/ntlm/close/")
                return self.unauthorized(["%s %s" % (word, e["t2"])], brk), brk, False
            e = self.t3.get((proto, token))
            # /ntlm/fail/ refuses a Type 3 that would do, as for a wrong password.
            if e and not path.startswith("/ntlm/fail/"):
                extra = ["WWW-Authenticate: Negotiate " + e["t4"]] if e["t4"] else []
                return self.ok(path, close, extra), False, True
            return self.unauthorized(["Negotiate", "NTLM"], close), False, False
        if path.startswith("/krb/"):
            if scheme == "Negotiate" and token in self.krb:
                return self.ok(path, close, ["WWW-Authenticate: Negotiate " + self.krb[token]]), False, True
            if authed and not auth:
                return self.ok(path, close), False, True
            return self.unauthorized(["Negotiate"], close), False, False
        if path.startswith("/basic/"):
            if scheme == "Basic":
                return self.ok(path, close), False, authed
            return self.unauthorized(['Basic realm="%s"' % HOST], close), False, authed
        if path.startswith("/digest/"):
            if scheme == "Digest":
                return self.ok(path, close), False, authed
            self.nonce += 1
            nonce = hashlib.md5(b"n%d" % self.nonce).hexdigest()
            return self.unauthorized(['Digest realm="%s", qop="auth", algorithm=MD5, nonce="%s"'
                                      % (HOST, nonce)], close), False, authed
        return self.ok(path, close), False, authed


def server_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    # TLS 1.2 suites as the client orders them; every ECDHE one the client may ask for.
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES")
    ctx.options |= ssl.OP_NO_TICKET
    return ctx


async def server_main(args):
    with open(args.tokens) as f:
        srv = Server(json.load(f))
    ctx = server_context(*args.tls) if args.tls else None
    servers = []
    for port in args.ports:
        for addr in (SERVER_V4, SERVER_V6):
            servers.append(await asyncio.start_server(srv.handle, addr, port, ssl=ctx,
                                                      backlog=1024))
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, stop.set)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


# --- client ----------------------------------------------------------------------------

def body_size(r):
    x = r.random()
    if x < 0.005:
        return 1 << 20
    if x < 0.045:
        return r.randint(50_000, 150_000)
    return int(10 ** r.uniform(2.5, 4.2))


class Client:
    def __init__(self, pool, args):
        self.pool = pool
        self.t2 = {(p, e["t2"]): e for p, es in pool.items() if p != "kerberos" for e in es}
        self.args = args
        self.rnd = random.Random(args.seed)
        self.stats = {}
        self.done = False
        self.ports = {"main": args.port, "aes128": args.port13_aes128,
                      "chacha": args.port13_chacha}
        self.contexts = {}
        for name, _, ver, ciphers, _ in PROFILES if args.keylog_dir else ():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            if ver == "1.2":
                ctx.maximum_version = ssl.TLSVersion.TLSv1_2
                ctx.set_ciphers(ciphers)
            else:
                ctx.minimum_version = ssl.TLSVersion.TLSv1_3
            # One key log per context: contexts do not share a file handle.
            ctx.keylog_filename = os.path.join(args.keylog_dir, name + ".keylog")
            self.contexts[name] = ctx

    def inc(self, k, n=1):
        self.stats[k] = self.stats.get(k, 0) + n

    def pick(self, table, r):
        x = r.uniform(0, sum(t[1] for t in table))
        for t in table:
            x -= t[1]
            if x <= 0:
                return t
        return table[-1]

    def request(self, method, path, auth=None, close=False, body=None, version="HTTP/1.1"):
        h = ["%s %s %s" % (method, path, version), "Host: " + HOST,
             "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
             "Accept: text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language: en-US"]
        if auth:
            h.append("Authorization: " + auth)
        if close:
            h.append("Connection: close")
        if body is not None:
            h.append("Content-Type: application/octet-stream")
            h.append("Content-Length: %d" % len(body))
        return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")

    async def exchange(self, reader, writer, data):
        writer.write(data)
        await writer.drain()
        self.inc("requests")
        first, hdrs = await read_head(reader)
        if first is None:
            raise ConnectionError("closed")
        await read_body(reader, hdrs)
        return int(first.split(" ")[1]), hdrs

    def plain_path(self, r):
        return "/portal/%s/%d.aspx?s=%d%s" % (r.choice(WORDS), r.randint(1, 9999), body_size(r),
                                              "&c=1" if r.random() < 0.15 else "")

    async def session(self, r, wid):
        prof = self.pick(PROFILES, r) if self.contexts else None
        kind = self.pick(KINDS, r)[0]
        v6 = r.random() < 0.1
        addr = SERVER_V6 if v6 else SERVER_V4
        local = (CLIENT_V6 % (wid + 1) if v6 else CLIENT_V4 % (1 + wid // 250, 1 + wid % 250), 0)
        if prof:
            reader, writer = await asyncio.open_connection(
                addr, self.ports[prof[4]], ssl=self.contexts[prof[0]], server_hostname=HOST,
                local_addr=local)
            self.inc("tls_" + prof[0])
        else:
            reader, writer = await asyncio.open_connection(addr, self.ports["main"],
                                                           local_addr=local)
        self.inc("connections")
        if v6:
            self.inc("connections_v6")
        try:
            await self.converse(r, kind, reader, writer)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError, OSError):
                pass

    async def converse(self, r, kind, reader, writer):
        more = r.randint(1, 5) if kind == "plain" else r.randint(0, 3)
        if kind != "plain":
            sub = {"ntlm_fail": "ntlm/fail", "ntlm_close": "ntlm/close", "negotiate": "neg",
                   "kerberos": "krb"}
            path = "/%s/%s/default.aspx?s=%d" % (sub.get(kind, kind), r.choice(WORDS), body_size(r))
            status, hdrs = await self.exchange(reader, writer, self.request("GET", path))
            assert status == 401, status
            user = r.choice(USERS)
            if kind in ("ntlm", "ntlm_fail", "ntlm_close", "negotiate"):
                proto = "negotiate" if kind == "negotiate" else "ntlm"
                word = "Negotiate" if proto == "negotiate" else "NTLM"
                e = r.choice(self.pool[proto])
                status, hdrs = await self.exchange(reader, writer,
                                                   self.request("GET", path, "%s %s" % (word, e["t1"])))
                t2 = hdrs.get("www-authenticate", "").partition(" ")[2]
                e2 = self.t2.get((proto, t2))
                if kind == "ntlm_close" or e2 is None:
                    self.inc("hs_ntlm_broken_close")
                    return
                status, hdrs = await self.exchange(reader, writer,
                                                   self.request("GET", path, "%s %s" % (word, e2["t3"])))
                # hs_ntlm counts every three-leg NTLM handshake, the refused ones too.
                self.inc({"negotiate": "hs_negotiate_ntlm"}.get(kind, "hs_ntlm"))
                if kind == "ntlm_fail":
                    self.inc("hs_ntlm_fail")
            elif kind == "kerberos":
                e = r.choice(self.pool["kerberos"])
                status, hdrs = await self.exchange(reader, writer,
                                                   self.request("GET", path, "Negotiate " + e["t1"]))
                self.inc("hs_kerberos")
            elif kind == "basic":
                cred = b64(("%s\\%s:%s" % (REALM, user, PASSWORD)).encode())
                status, hdrs = await self.exchange(reader, writer, self.request("GET", path, "Basic " + cred))
                self.inc("hs_basic")
            else:
                ch = dict(kv.strip().split("=", 1) for kv in
                          hdrs["www-authenticate"].partition(" ")[2].split(","))
                nonce = ch["nonce"].strip('"')
                uri = path
                ha1 = hashlib.md5(("%s:%s:%s" % (user, HOST, PASSWORD)).encode()).hexdigest()
                ha2 = hashlib.md5(("GET:%s" % uri).encode()).hexdigest()
                cnonce = "%016x" % r.getrandbits(64)
                resp = hashlib.md5(("%s:%s:00000001:%s:auth:%s" % (ha1, nonce, cnonce, ha2)).encode()).hexdigest()
                auth = ('Digest username="%s", realm="%s", nonce="%s", uri="%s", qop=auth, '
                        'nc=00000001, cnonce="%s", response="%s", algorithm=MD5'
                        % (user, HOST, nonce, uri, cnonce, resp))
                status, hdrs = await self.exchange(reader, writer, self.request("GET", path, auth))
                self.inc("hs_digest")
            if status != 200:
                return
        for i in range(more):
            last = i == more - 1
            close = last and r.random() < 0.2
            if r.random() < 0.08:
                body = BODY[:r.randint(2_000, 64_000)]
                await self.exchange(reader, writer, self.request("POST", "/api/upload", close=close,
                                                                 body=body))
            elif last and r.random() < 0.05:
                await self.exchange(reader, writer, self.request("GET", self.plain_path(r),
                                                                 version="HTTP/1.0"))
            else:
                await self.exchange(reader, writer, self.request("GET", self.plain_path(r),
                                                                 close=close))

    async def worker(self, wid):
        r = random.Random(self.args.seed * 100003 + wid)
        while not self.done:
            try:
                await self.session(r, wid)
            except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError) as e:
                self.inc("errors")
                print("session error: %r" % e, file=sys.stderr)

    async def watch(self):
        while not self.done:
            await asyncio.sleep(0.2)
            try:
                if os.path.getsize(self.args.pcap) >= self.args.target_bytes:
                    self.done = True
            except OSError:
                pass

    async def main(self):
        await asyncio.gather(self.watch(), *(self.worker(i) for i in range(self.args.conc)))
        print(json.dumps(dict(sorted(self.stats.items()))))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("tokens")
    t.add_argument("out")
    t.add_argument("n", type=int, nargs="?", default=64)
    s = sub.add_parser("server")
    s.add_argument("tokens")
    s.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    s.add_argument("ports", type=int, nargs="+")
    c = sub.add_parser("client")
    c.add_argument("tokens")
    c.add_argument("--pcap", required=True)
    c.add_argument("--target-bytes", type=int, required=True)
    c.add_argument("--keylog-dir")
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("--conc", type=int, default=64)
    c.add_argument("--port", type=int)
    c.add_argument("--port13-aes128", type=int, default=9443)
    c.add_argument("--port13-chacha", type=int, default=8443)
    a = ap.parse_args()
    if a.mode == "tokens":
        make_tokens(a.out, a.n)
    elif a.mode == "server":
        asyncio.run(server_main(a))
    else:
        with open(a.tokens) as f:
            pool = json.load(f)
        if a.port is None:
            a.port = 443 if a.keylog_dir else 80
        asyncio.run(Client(pool, a).main())


if __name__ == "__main__":
    main()
