#!/usr/bin/env python3
"""Clients and small servers of the `verdicts` lab family (scripts/lab/verdicts.sh).

The authentication work is done by real libraries (requests-ntlm and pyspnego for NTLM,
hmac/hashlib for the HS256 JWTs); this file only drives them into the exchanges the
family records. Clients bind the workstation address (--source) so that captures show a
client address distinct from the servers'.

  verdicts.py dav URL USER PASSWORD
      WebDAV methods against URL (a collection), each on a new requests Session (so a new
      TCP connection) authenticated with requests-ntlm: PROPFIND, PUT, MKCOL on the
      existing collection, PROPFIND Depth: infinity, COPY, MOVE without Destination, MOVE,
      LOCK, UNLOCK.
  verdicts.py dav-conn URL USER PASSWORD
      WebDAV methods against URL (a collection) on ONE keep-alive connection, each with a
      full NTLM handshake of its own (a fresh Type 1, the 401 Type 2, the Type 3), as the
      Windows WebDAV mini-redirector does when the server authenticates every request
      (pyspnego + http.client): PROPFIND, MKCOL on the existing collection, MOVE without
      Destination, LOCK and UNLOCK of minutes.txt. Fails if the server closes the
      connection before the last answer.
  verdicts.py ntlm URL USER PASSWORD [--service S] [--target-host H] [--probe]
                   [--close-after-challenge] [--rounds N] [--then-post DATA]
      pyspnego's NTLM client over http.client, one message per request. --service and
      --target-host set the SPN put in the Type 3 (MsvAvTargetName, default
      HTTP/<URL host>). --close-after-challenge closes the connection once the Type 2 is
      read and sends the Type 3 on a new one. --then-post sends DATA in a POST without
      Authorization on the authenticated connection.
  verdicts.py --source S relay --addr A --port P --target URL
      An NTLM relay: answers NTLM to its clients and passes every message unchanged to
      and from URL, on one target connection per client connection, bound to S.
  verdicts.py jwt-server --addr A --port P
      An API that accepts "Authorization: Bearer <HS256 JWT>" only.
  verdicts.py jwt-client URL
      Sends the expired JWT with no scheme, then the valid one as a Bearer token.
  verdicts.py jwt-tokens
      Prints both JWTs and their signatures (the values are fixed, see JWT_CLAIMS).

Clients print one line per request and exit 0 whatever the HTTP outcome (the lab's checks
read the capture); non-zero on a protocol surprise they cannot go on from.
"""

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import sys
import time
from urllib.parse import urlsplit

# client.py beside this file is imported, without leaving a __pycache__ in the work tree
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# --- NTLM ----------------------------------------------------------------------------------


def b64(data):
    return base64.b64encode(data).decode()


def ntlm_token(resp, scheme="NTLM"):
    """The token of "WWW-Authenticate: NTLM <token>" in resp, or None."""
    for value in resp.headers.get_all("WWW-Authenticate") or []:
        name, _, tok = value.partition(" ")
        if name.lower() == scheme.lower() and tok.strip():
            return base64.b64decode(tok.strip())
    return None


def split_url(url):
    u = urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    return u.hostname, u.port or 80, path


def show(label, resp):
    print("%s: %d %s" % (label, resp.status, resp.reason), flush=True)


class NtlmClient:
    def __init__(self, a):
        self.a = a
        self.host, self.port, self.path = split_url(a.url)
        self.conn = None

    def connect(self):
        if self.conn is not None:
            self.conn.close()
        src = (self.a.source, 0) if self.a.source else None
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10, source_address=src)
        self.conn.connect()

    def close(self):
        if self.conn is not None:
            self.conn.close()  # FIN from the client: the socket is closed, not reset
            self.conn = None

    def send(self, label, method, auth=None, body=None, headers=None):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = auth
        self.conn.request(method, self.path, body=body, headers=h)
        resp = self.conn.getresponse()
        resp.read()  # the whole body, so the connection can carry the next request
        show(label, resp)
        return resp

    def run(self):
        import spnego

        a = self.a
        for rnd in range(1, a.rounds + 1):
            tag = "round %d" % rnd if a.rounds > 1 else "ntlm"
            # pyspnego takes DOMAIN\user as the user name and splits it itself
            ctx = spnego.client(a.user, a.password, hostname=a.target_host or self.host,
                                service=a.service, protocol="ntlm")
            self.connect()
            if a.probe:
                self.send(tag + " anonymous " + a.method, a.method)
            resp = self.send(tag + " Type 1", a.method, "NTLM " + b64(ctx.step()))
            challenge = ntlm_token(resp)
            if resp.status != 401 or challenge is None:
                print("%s: no NTLM Type 2 in the answer to the Type 1" % tag, flush=True)
                return 1
            authenticate = ctx.step(challenge)
            if a.close_after_challenge:
                self.connect()  # closes the connection that holds the challenge first
            resp = self.send(tag + " Type 3", a.method, "NTLM " + b64(authenticate))
            if a.then_post is not None and resp.status == 200:
                self.send(tag + " POST on the authenticated connection", "POST", body=a.then_post.encode(),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.close()
            if rnd < a.rounds:
                time.sleep(a.pause)
        return 0


def cmd_ntlm(a):
    return NtlmClient(a).run()


DAV_LOCKINFO = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>'
    "<D:locktype><D:write/></D:locktype><D:owner><D:href>mailto:alice@lab.test</D:href></D:owner>"
    "</D:lockinfo>\n"
)
DAV_PROPFIND = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:getcontentlength/>'
    "<D:getlastmodified/><D:resourcetype/></D:prop></D:propfind>\n"
)


def cmd_dav(a):
    from client import session  # binds --source, shared with client.py
    from requests_ntlm import HttpNtlmAuth

    base = a.url.rstrip("/") + "/"
    host = urlsplit(base).netloc
    xml = {"Content-Type": 'application/xml; charset="utf-8"'}
    steps = [
        ("PROPFIND", base, dict(xml, Depth="1"), DAV_PROPFIND),
        ("PUT", base + "report.txt", {"Content-Type": "text/plain"}, "quarterly report, draft 1\n"),
        ("MKCOL", base, {}, None),  # the collection exists: 405
        ("PROPFIND", base, dict(xml, Depth="infinity"), DAV_PROPFIND),  # DavDepthInfinity Off: 403
        ("COPY", base + "report.txt", {"Destination": "http://%s%sreport-copy.txt" % (host, urlsplit(base).path)}, None),
        ("MOVE", base + "report-copy.txt", {}, None),  # no Destination: 400
        ("MOVE", base + "report-copy.txt", {"Destination": "http://%s%sarchive.txt" % (host, urlsplit(base).path)}, None),
        ("LOCK", base + "report.txt", dict(xml, Timeout="Second-600"), DAV_LOCKINFO),
        ("UNLOCK", base + "report.txt", None, None),  # Lock-Token from the LOCK answer
    ]
    lock_token = None
    for method, url, headers, body in steps:
        if method == "UNLOCK":
            if not lock_token:
                print("UNLOCK: the LOCK answer had no Lock-Token", flush=True)
                return 1
            headers = {"Lock-Token": lock_token}
        s = session(a.source)  # a new session: a new connection, authenticated anew
        r = s.request(method, url, headers=headers, data=body.encode() if body else None,
                      auth=HttpNtlmAuth(a.user, a.password), timeout=10)
        print("%s %s: %d (after %s)" % (method, urlsplit(url).path, r.status_code,
                                        [h.status_code for h in r.history]), flush=True)
        if method == "LOCK":
            lock_token = r.headers.get("Lock-Token")
        s.close()
    return 0


def cmd_dav_conn(a):
    import spnego

    host, port, path = split_url(a.url)
    base = path.rstrip("/") + "/"
    xml = {"Content-Type": 'application/xml; charset="utf-8"'}
    steps = [
        ("PROPFIND", base, dict(xml, Depth="1"), DAV_PROPFIND),  # 207
        ("MKCOL", base, {}, None),  # the collection exists: 405
        ("MOVE", base + "minutes.txt", {}, None),  # no Destination: 400
        ("LOCK", base + "minutes.txt", dict(xml, Timeout="Second-600"), DAV_LOCKINFO),  # 200
        ("UNLOCK", base + "minutes.txt", {}, None),  # Lock-Token from the LOCK answer: 204
    ]
    src = (a.source, 0) if a.source else None
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=src)
    conn.connect()
    lock_token = None

    def send(method, url, headers, body, auth):
        h = dict(headers, Authorization=auth)
        # the mini-redirector's name, as the imitated client would send it
        h["User-Agent"] = "Microsoft-WebDAV-MiniRedir/10.0.19045"
        conn.request(method, url, body=body.encode() if body else None, headers=h)
        resp = conn.getresponse()
        resp.read()
        return resp

    for i, (method, url, headers, body) in enumerate(steps):
        if method == "UNLOCK":
            if not lock_token:
                print("UNLOCK: the LOCK answer had no Lock-Token", flush=True)
                return 1
            headers = dict(headers, **{"Lock-Token": lock_token})
        # a new NTLM context per request: the handshake starts over each time
        ctx = spnego.client(a.user, a.password, hostname=host, service="HTTP", protocol="ntlm")
        resp = send(method, url, headers, body, "NTLM " + b64(ctx.step()))
        challenge = ntlm_token(resp)
        print("%s %s Type 1: %d" % (method, url, resp.status), flush=True)
        if resp.status != 401 or challenge is None:
            print("%s: no NTLM Type 2 in the answer to the Type 1" % method, flush=True)
            return 1
        if resp.will_close:
            print("%s: the server closes the connection after the Type 2" % method, flush=True)
            return 1
        resp = send(method, url, headers, body, "NTLM " + b64(ctx.step(challenge)))
        print("%s %s Type 3: %d %s" % (method, url, resp.status, resp.reason), flush=True)
        if method == "LOCK":
            lock_token = resp.headers.get("Lock-Token")
        if resp.will_close and i + 1 < len(steps):
            print("%s: the server closed the connection with requests left" % method, flush=True)
            return 1
    conn.close()
    return 0


class RelayHandler(http.server.BaseHTTPRequestHandler):
    """Answers NTLM to the victim, relaying each message to the target on its own connection."""

    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"
    sys_version = ""

    def setup(self):
        super().setup()
        self.target = None  # the target connection of this client connection

    def finish(self):
        super().finish()
        if self.target is not None:
            self.target.close()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.client_address[0], fmt % args))

    def reply(self, code, body, headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def to_target(self, auth):
        srv = self.server
        if self.target is None:
            self.target = http.client.HTTPConnection(srv.target_host, srv.target_port, timeout=10,
                                                     source_address=(srv.source, 0) if srv.source else None)
        self.target.request("GET", srv.target_path, headers={"Authorization": auth})
        resp = self.target.getresponse()
        body = resp.read()
        sys.stderr.write("target answered %d\n" % resp.status)
        return resp, body

    def do_GET(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        auth = self.headers.get("Authorization", "")
        scheme, _, tok = auth.partition(" ")
        if scheme.lower() != "ntlm" or not tok.strip():
            self.reply(401, "<html><body>401 Unauthorized</body></html>\n", [("WWW-Authenticate", "NTLM")])
            return
        resp, body = self.to_target(auth)
        challenge = ntlm_token(resp)
        if challenge is not None:
            # the target's Type 2, byte for byte: its server challenge goes to the victim
            self.reply(401, "<html><body>401 Unauthorized</body></html>\n",
                       [("WWW-Authenticate", "NTLM " + b64(challenge))])
            return
        self.reply(resp.status, body)


def cmd_relay(a):
    host, port, path = split_url(a.target)
    server = http.server.ThreadingHTTPServer((a.addr, a.port), RelayHandler)
    server.daemon_threads = True
    server.target_host, server.target_port, server.target_path = host, port, path
    server.source = a.source
    print("relay on http://%s:%d/ to %s" % (a.addr, a.port, a.target), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# --- JWT -----------------------------------------------------------------------------------

# Lab values, not secrets: fixed claims and key, so the tokens (and their signatures) are
# the same on every run and tests can look for them.
JWT_KEY = b"authscope-lab-hs256-key"
JWT_ISS = "https://login.lab.test/"
JWT_AUD = "api.lab.test"
JWT_CLAIMS = {
    # expired on 2023-11-14 23:13:20 UTC
    "expired": {"iss": JWT_ISS, "sub": "alice", "aud": JWT_AUD, "iat": 1699999200, "exp": 1700000000},
    # valid until 2100-01-01
    "valid": {"iss": JWT_ISS, "sub": "alice", "aud": JWT_AUD, "iat": 1767225600, "exp": 4102444800},
}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims):
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = "%s.%s" % (b64url(json.dumps(header, separators=(",", ":")).encode()),
                               b64url(json.dumps(claims, separators=(",", ":")).encode()))
    sig = hmac.new(JWT_KEY, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def jwt_check(token):
    """None when the token is a valid lab JWT, else the reason."""
    try:
        head, payload, sig = token.split(".")
        header = json.loads(b64url_decode(head))
        claims = json.loads(b64url_decode(payload))
    except ValueError:
        return "malformed token"
    if header.get("alg") != "HS256":
        return "unexpected alg"
    want = hmac.new(JWT_KEY, ("%s.%s" % (head, payload)).encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(want, b64url_decode(sig)):
        return "bad signature"
    if claims.get("iss") != JWT_ISS or claims.get("aud") != JWT_AUD:
        return "wrong issuer or audience"
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        return "the token expired"
    return None


class ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-api/1.0"
    sys_version = ""

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.client_address[0], fmt % args))

    def reply(self, code, obj, challenge=None):
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        if challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def do_GET(self):
        auth = self.headers.get("Authorization")
        if auth is None:
            self.reply(401, {"error": "unauthorized"}, 'Bearer realm="api"')
            return
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            # RFC 6750 3.1: a request the server cannot parse as a bearer token
            self.reply(401, {"error": "invalid_request"}, 'Bearer realm="api", error="invalid_request"')
            return
        why = jwt_check(token.strip())
        if why:
            self.reply(401, {"error": "invalid_token"},
                       'Bearer realm="api", error="invalid_token", error_description="%s"' % why)
            return
        self.reply(200, {"orders": [{"id": 1042, "status": "shipped"}, {"id": 1043, "status": "open"}]})


def cmd_jwt_server(a):
    server = http.server.ThreadingHTTPServer((a.addr, a.port), ApiHandler)
    server.daemon_threads = True
    print("api on http://%s:%d/" % (a.addr, a.port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_jwt_client(a):
    from client import session

    s = session(a.source)
    expired, valid = jwt_encode(JWT_CLAIMS["expired"]), jwt_encode(JWT_CLAIMS["valid"])
    # a client that forgot the scheme: the bare token as the whole header value
    r = s.get(a.url, headers={"Authorization": expired}, timeout=10)
    print("bare JWT: %d %s" % (r.status_code, r.headers.get("WWW-Authenticate", "")), flush=True)
    r = s.get(a.url, headers={"Authorization": "Bearer " + valid}, timeout=10)
    print("Bearer JWT: %d" % r.status_code, flush=True)
    s.close()
    return 0


def cmd_jwt_tokens(_a):
    for name in ("expired", "valid"):
        tok = jwt_encode(JWT_CLAIMS[name])
        print("%s\t%s\t%s" % (name, tok, tok.rsplit(".", 1)[1]))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="127.0.0.100", help="client address to bind ('' for any)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dav")
    d.add_argument("url")
    d.add_argument("user", help="DOMAIN\\user")
    d.add_argument("password")
    dc = sub.add_parser("dav-conn")
    dc.add_argument("url")
    dc.add_argument("user", help="DOMAIN\\user")
    dc.add_argument("password")
    n = sub.add_parser("ntlm")
    n.add_argument("url")
    n.add_argument("user", help="DOMAIN\\user")
    n.add_argument("password")
    n.add_argument("--method", default="GET")
    n.add_argument("--service", default="HTTP", help="as Windows clients write it")
    n.add_argument("--target-host", default=None)
    n.add_argument("--probe", action="store_true")
    n.add_argument("--close-after-challenge", action="store_true")
    n.add_argument("--rounds", type=int, default=1)
    n.add_argument("--pause", type=float, default=0.3)
    n.add_argument("--then-post", default=None)
    r = sub.add_parser("relay")
    r.add_argument("--addr", required=True)
    r.add_argument("--port", type=int, default=80)
    r.add_argument("--target", required=True)
    js = sub.add_parser("jwt-server")
    js.add_argument("--addr", required=True)
    js.add_argument("--port", type=int, default=80)
    jc = sub.add_parser("jwt-client")
    jc.add_argument("url")
    sub.add_parser("jwt-tokens")
    a = ap.parse_args()
    cmds = {"dav": cmd_dav, "dav-conn": cmd_dav_conn, "ntlm": cmd_ntlm, "relay": cmd_relay, "jwt-server": cmd_jwt_server,
            "jwt-client": cmd_jwt_client, "jwt-tokens": cmd_jwt_tokens}
    return cmds[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
