#!/usr/bin/env python3
"""An HTTPS server that imitates http.sys (IIS) towards HTTP/2 clients.

http.sys does not do Windows authentication over HTTP/2: a request carrying
`Authorization: Negotiate ...` or `NTLM ...` on an HTTP/2 stream is answered with
RST_STREAM HTTP_1_1_REQUIRED (RFC 9113 7, 0xd), and the client is expected to retry over
HTTP/1.1 on a new connection. This server does the same with the Python `h2` library: TLS
offers ALPN `h2` and `http/1.1`; on an HTTP/2 connection a request without credentials gets
`401` with `WWW-Authenticate: Negotiate` and `WWW-Authenticate: NTLM`, a request with a
Windows credential gets the reset (--refuse goaway: a GOAWAY HTTP_1_1_REQUIRED instead), and
with --basic USER:PASSWORD a Basic credential is checked and answered 200 or 401 over
HTTP/2 (a healthy HTTP/2 login). A connection whose ALPN chose `http/1.1` is served by
ntlm_server.py's handler (NTLM by pyspnego, users from NTLM_USER_FILE), as IIS would serve the
retry.

The server's TLS secrets go to SSLKEYLOGFILE when it is set (the clients write theirs).
"""

import argparse
import base64
import http.server
import os
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.errors
import h2.events

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ntlm_server  # noqa: E402  (the lab's NTLM handler, for HTTP/1.1)

PAGE_OK = b"<html><body><h1>Intranet</h1><p>Welcome.</p></body></html>\n"
PAGE_401 = ntlm_server.PAGE_401.encode()


def serve_h2(sock, args):
    """One HTTP/2 connection, until the client or a GOAWAY ends it."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    headers = {}
    while True:
        try:
            data = sock.recv(65535)
        except (ConnectionError, ssl.SSLError, OSError):
            return
        if not data:
            return
        try:
            events = conn.receive_data(data)
        except Exception as err:  # a protocol error: h2 has queued its GOAWAY
            sys.stderr.write("h2 error: %s\n" % err)
            sock.sendall(conn.data_to_send())
            return
        done = False
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                headers[ev.stream_id] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                done = answer(conn, ev.stream_id, headers.pop(ev.stream_id, {}), args) or done
            elif isinstance(ev, h2.events.ConnectionTerminated):
                done = True
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
        if done:
            return


def answer(conn, stream, headers, args):
    """Answers one request; True when the connection is to end."""
    auth = headers.get("authorization", "")
    scheme = auth.partition(" ")[0].lower()
    sys.stderr.write("h2 stream %d %s %s auth=%s\n" % (stream, headers.get(":method"), headers.get(":path"), scheme or "-"))
    if scheme in ("negotiate", "ntlm"):
        # what http.sys does: Windows authentication needs HTTP/1.1
        if args.refuse == "goaway":
            conn.close_connection(error_code=h2.errors.ErrorCodes.HTTP_1_1_REQUIRED, last_stream_id=stream - 2 if stream > 2 else 0)
            return True
        conn.reset_stream(stream, error_code=h2.errors.ErrorCodes.HTTP_1_1_REQUIRED)
        return False
    if scheme == "basic" and args.basic:
        try:
            given = base64.b64decode(auth.partition(" ")[2].strip()).decode()
        except ValueError:
            given = ""
        if given == args.basic:
            reply(conn, stream, 200, PAGE_OK)
            return False
        reply(conn, stream, 401, PAGE_401, [("www-authenticate", 'Basic realm="lab"')])
        return False
    challenges = [("www-authenticate", 'Basic realm="lab"')] if args.basic else [
        ("www-authenticate", "Negotiate"), ("www-authenticate", "NTLM")]
    reply(conn, stream, 401, PAGE_401, challenges)
    return False


def reply(conn, stream, status, body, headers=()):
    conn.send_headers(stream, [(":status", str(status)), ("server", "Microsoft-IIS/10.0"),
                               ("content-type", "text/html"), ("content-length", str(len(body)))] + list(headers))
    conn.send_data(stream, body, end_stream=True)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def finish_request(self, request, client_address):
        if request.selected_alpn_protocol() == "h2":
            try:
                serve_h2(request, self.args)
            finally:
                try:
                    request.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            return
        super().finish_request(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--addr", required=True)
    ap.add_argument("--port", type=int, default=443)
    ap.add_argument("--tls-cert", required=True)
    ap.add_argument("--tls-key", required=True)
    ap.add_argument("--refuse", choices=["reset", "goaway"], default="reset",
                    help="how a Windows credential over HTTP/2 is refused")
    ap.add_argument("--basic", default=None, help="USER:PASSWORD: do Basic over HTTP/2 instead")
    args = ap.parse_args()
    server = Server((args.addr, args.port), ntlm_server.Handler)
    server.args = args
    server.mode = "ok"
    server.bindings = None
    server.backend = None
    ntlm_server.serve_tls(server, args.tls_cert, args.tls_key, ["h2", "http/1.1"])
    print("listening on https://%s:%d/ (h2 and http/1.1)" % (args.addr, args.port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
