#!/usr/bin/env python3
"""A TLS-terminating reverse proxy, as a load balancer or an inspecting firewall is: it ends
the client's TLS with a certificate of its own and opens TLS of its own to the server,
passing the bytes between the two unchanged. A client that binds NTLM to the TLS channel
then binds to the proxy's certificate, not the server's.

  tls_proxy.py --listen ADDR:PORT --cert PEM --key PEM --upstream HOST:PORT --cafile PEM
               [--source ADDR]

The secrets of its connections to the server go to SSLKEYLOGFILE when set.
"""

import argparse
import asyncio
import os
import ssl


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--cafile", required=True)
    ap.add_argument("--source", default=None, help="address to connect to the server from")
    args = ap.parse_args()
    laddr, lport = args.listen.rsplit(":", 1)
    uhost, uport = args.upstream.rsplit(":", 1)

    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(args.cert, args.key)
    client_ctx = ssl.create_default_context(cafile=args.cafile)
    if os.environ.get("SSLKEYLOGFILE"):
        client_ctx.keylog_filename = os.environ["SSLKEYLOGFILE"]

    async def handle(creader, cwriter):
        local = (args.source, 0) if args.source else None
        try:
            sreader, swriter = await asyncio.open_connection(
                uhost, int(uport), ssl=client_ctx, server_hostname=uhost, local_addr=local)
        except (OSError, ssl.SSLError):
            cwriter.close()
            return
        await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))

    async def serve():
        srv = await asyncio.start_server(handle, laddr, int(lport), ssl=server_ctx)
        print("listening on %s:%s -> %s:%s" % (laddr, lport, uhost, uport), flush=True)
        async with srv:
            await srv.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
