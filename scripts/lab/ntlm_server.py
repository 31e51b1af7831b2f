#!/usr/bin/env python3
"""A small HTTP server that authenticates with NTLM, using pyspnego as the acceptor.

It exists so the lab can make the server misbehave at a chosen leg of the handshake,
which Apache cannot be told to do. The NTLM work (challenge, NTLMv2 check, MIC) is
pyspnego's; users come from the file named by NTLM_USER_FILE (DOMAIN:USER:PASSWORD).

Modes (--mode):
  ok                     keep-alive, Type 1 -> 401 + Type 2, Type 3 -> 200 or 401
  close-after-challenge  the 401 carrying the Type 2 has "Connection: close" and the server
                         closes the connection (keep-alive broken, the classic NTLM loop)
  reset-after-challenge  the 401 carrying the Type 2 is sent, then the server resets (RST)
  reset-on-authenticate  the server resets (RST) the connection when the Type 3 arrives

A Type 3 on a connection that has no pending challenge is answered like IIS does, with a
fresh "401 WWW-Authenticate: NTLM" (the handshake restarts). Authentication holds for one
request only (as IIS with authPersistSingleRequest): the next request must bring its own
Type 1.

With --tls-cert and --tls-key the server speaks HTTPS (TLS with that certificate, the client's
and the server's key log written to SSLKEYLOGFILE when set); --require-bindings then makes it
check each Type 3's MsvAvChannelBindings against the tls-server-end-point binding of its own
certificate (RFC 5929 4.1; Extended Protection "Required", as IIS): a Type 3 without them, or
bound to another certificate, is refused.

With --backend URL, an authenticated request (any method, WebDAV's included) is passed to
the server at URL (a plain HTTP server, on a connection of its own) and its answer sent
back, so the statuses come from a real application (apache2 mod_dav in the lab); without
it, the server answers 200 with a page of its own.
"""

import argparse
import base64
import hashlib
import http.client
import http.server
import os
import socket
import ssl
import struct
import sys
from urllib.parse import urlsplit

import spnego
from spnego.channel_bindings import GssChannelBindings

PAGE_OK = "<html><body><h1>Intranet</h1><p>Welcome, {user}.</p></body></html>\n"
PAGE_401 = (
    "<html><head><title>401 - Unauthorized</title></head><body>"
    "<h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1></body></html>\n"
)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-IIS/10.0"  # what the imitated site would say
    sys_version = ""

    def setup(self):
        super().setup()
        self.ntlm_ctx = None  # NTLM is connection-bound: one context per TCP connection

    def log_message(self, fmt, *args):
        sys.stderr.write("%s - %s\n" % (self.client_address[0], fmt % args))

    def reset(self):
        """Abort the connection with a RST (SO_LINGER 0 then close)."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def reply(self, code, body, headers=(), close=False):
        data = body.encode()
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def drain_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else None

    # hop-by-hop headers and the ones this server writes itself
    NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "content-length", "server", "date",
                     "authorization", "host", "te", "upgrade", "proxy-connection"}

    def forward(self, user):
        """Pass the authenticated request to the backend and its answer to the client."""
        host, port = self.server.backend
        conn = http.client.HTTPConnection(host, port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in self.NOT_FORWARDED}
        headers["Host"] = self.headers.get("Host", host)
        headers["X-Authenticated-User"] = user
        conn.request(self.command, self.path, body=self.body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        self.send_response(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in self.NOT_FORWARDED:
                self.send_header(name, value)
        if resp.status not in (204, 304) and not 100 <= resp.status < 200:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and resp.status not in (204, 304):
            self.wfile.write(data)
        self.wfile.flush()

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

    # WebDAV and the other methods, for --backend
    do_PUT = do_DELETE = do_OPTIONS = do_PROPFIND = do_PROPPATCH = do_MKCOL = do_COPY = do_MOVE = \
        do_LOCK = do_UNLOCK = do_POST

    def do_GET(self):
        self.drain_body()
        mode = self.server.mode
        auth = self.headers.get("Authorization", "")
        scheme, _, b64 = auth.partition(" ")
        if scheme.lower() != "ntlm" or not b64.strip():
            self.ntlm_ctx = None
            self.reply(401, PAGE_401, [("WWW-Authenticate", "NTLM")])
            return
        try:
            token = base64.b64decode(b64.strip())
        except ValueError:
            self.reply(400, "bad token\n", close=True)
            return
        msg_type = struct.unpack("<I", token[8:12])[0] if len(token) >= 12 else 0

        if msg_type == 1:
            self.ntlm_ctx = spnego.server(protocol="ntlm", channel_bindings=self.server.bindings)
            challenge = self.ntlm_ctx.step(token)
            hdr = [("WWW-Authenticate", "NTLM " + base64.b64encode(challenge).decode())]
            if mode == "close-after-challenge":
                self.reply(401, PAGE_401, hdr, close=True)
            elif mode == "reset-after-challenge":
                self.reply(401, PAGE_401, hdr)
                self.reset()
            else:
                self.reply(401, PAGE_401, hdr)
            return

        if msg_type == 3:
            if mode == "reset-on-authenticate":
                self.reset()
                return
            ctx, self.ntlm_ctx = self.ntlm_ctx, None
            if ctx is None:
                # no challenge pending on this connection: start over, as IIS does
                self.reply(401, PAGE_401, [("WWW-Authenticate", "NTLM")])
                return
            try:
                ctx.step(token)
            except Exception as err:  # pyspnego raises on a bad credential
                self.log_message("NTLM authentication failed: %s", err)
                self.reply(401, PAGE_401, [("WWW-Authenticate", "NTLM")])
                return
            if self.server.backend:
                self.forward(ctx.client_principal)
            else:
                self.reply(200, PAGE_OK.format(user=ctx.client_principal))
            return

        self.reply(400, "unexpected NTLM message type %d\n" % msg_type, close=True)


def serve_tls(server, cert, key, alpn=None):
    """Make `server` speak TLS with this certificate (offering `alpn`), its secrets logged to
    SSLKEYLOGFILE when set."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    if os.environ.get("SSLKEYLOGFILE"):
        ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]
    server.socket = ctx.wrap_socket(server.socket, server_side=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.14")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument(
        "--mode",
        default="ok",
        choices=["ok", "close-after-challenge", "reset-after-challenge", "reset-on-authenticate"],
    )
    ap.add_argument("--backend", default=None, help="http://HOST:PORT to pass authenticated requests to")
    ap.add_argument("--tls-cert", default=None, help="PEM certificate: serve HTTPS")
    ap.add_argument("--tls-key", default=None, help="PEM key of --tls-cert")
    ap.add_argument("--require-bindings", action="store_true",
                    help="refuse a Type 3 not bound to this server's certificate")
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer((args.addr, args.port), Handler)
    server.daemon_threads = True
    server.mode = args.mode
    server.bindings = None
    if args.tls_cert:
        serve_tls(server, args.tls_cert, args.tls_key)
        if args.require_bindings:
            # the lab's certificates are signed with SHA-256: their end-point hash is SHA-256
            with open(args.tls_cert) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            server.bindings = GssChannelBindings(
                application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest())
    server.backend = None
    if args.backend:
        u = urlsplit(args.backend)
        server.backend = (u.hostname, u.port or 80)
    scheme = "https" if args.tls_cert else "http"
    print("listening on %s://%s:%d/ mode %s" % (scheme, args.addr, args.port, args.mode), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
