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
fresh "401 WWW-Authenticate: NTLM" (the handshake restarts).
"""

import argparse
import base64
import http.server
import socket
import struct
import sys

import spnego

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
        if length:
            self.rfile.read(length)

    def do_HEAD(self):
        self.do_GET()

    def do_POST(self):
        self.do_GET()

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
            self.ntlm_ctx = spnego.server(protocol="ntlm")
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
            self.reply(200, PAGE_OK.format(user=ctx.client_principal))
            return

        self.reply(400, "unexpected NTLM message type %d\n" % msg_type, close=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", default="127.0.0.14")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument(
        "--mode",
        default="ok",
        choices=["ok", "close-after-challenge", "reset-after-challenge", "reset-on-authenticate"],
    )
    args = ap.parse_args()
    server = http.server.ThreadingHTTPServer((args.addr, args.port), Handler)
    server.daemon_threads = True
    server.mode = args.mode
    print("listening on http://%s:%d/ mode %s" % (args.addr, args.port, args.mode), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
