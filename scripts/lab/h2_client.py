#!/usr/bin/env python3
"""An HTTP/2-only client that never falls back: one GET over TLS with ALPN `h2` alone.

It sends the request with an NTLM Type 1 from pyspnego (DOMAIN\\USER and PASSWORD given)
and prints how the stream ended (`200`, `401`, or `reset HTTP_1_1_REQUIRED`): a client that
meets RST_STREAM HTTP_1_1_REQUIRED and does not retry over HTTP/1.1, as some HTTP/2-only
clients and proxies do. Its TLS secrets go to SSLKEYLOGFILE when set.
"""

import argparse
import base64
import os
import socket
import ssl
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import spnego


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--source", default=None, help="the client's address")
    args = ap.parse_args()
    u = urlsplit(args.url)
    ctx = ssl.create_default_context(cafile=args.cafile)
    ctx.set_alpn_protocols(["h2"])
    if os.environ.get("SSLKEYLOGFILE"):
        ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]
    raw = socket.create_connection((u.hostname, u.port or 443), timeout=10,
                                   source_address=(args.source, 0) if args.source else None)
    sock = ctx.wrap_socket(raw, server_hostname=u.hostname)
    if sock.selected_alpn_protocol() != "h2":
        print("no h2")
        return
    type1 = spnego.client(args.user, args.password, protocol="ntlm").step()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "GET"), (":scheme", "https"), (":authority", u.hostname),
                               (":path", u.path or "/"), ("user-agent", "h2-only-client/1.0"),
                               ("authorization", "NTLM " + base64.b64encode(type1).decode())],
                      end_stream=True)
    sock.sendall(conn.data_to_send())
    result = "no answer"
    while result == "no answer":
        data = sock.recv(65535)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                result = dict(ev.headers).get(":status", "?")
            elif isinstance(ev, h2.events.StreamReset):
                result = "reset " + ev.error_code.name
            elif isinstance(ev, h2.events.ConnectionTerminated):
                result = "goaway " + ev.error_code.name
        pending = conn.data_to_send()
        if pending:
            sock.sendall(pending)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    print(result)


if __name__ == "__main__":
    main()
