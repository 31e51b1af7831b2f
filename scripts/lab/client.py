#!/usr/bin/env python3
"""Python clients of the capture lab (python-requests, requests-ntlm).

The authentication logic is the libraries'; this file only drives them and binds the
client side of each connection to the lab's workstation address (--source), so that the
captures show a client address distinct from the servers'.

  client.py ntlm URL USER PASSWORD [--attempts N]      requests-ntlm (HttpNtlmAuth)
  client.py digest URL USER PASSWORD [--repeat-after S] requests HTTPDigestAuth; with
      --repeat-after, a second request is made S seconds later on the same session, which
      reuses the old nonce and so meets a "stale=true" challenge once the nonce expired.

With --cacert (the lab CA, for https:// URLs) the server certificate is checked against it;
--ciphers sets the TLS 1.2 suites offered. urllib3 writes the TLS session secrets to the file
named by SSLKEYLOGFILE, if set.

Prints one line per attempt: the final status and the statuses of the responses before it.
Exits 0 whatever the HTTP outcome (the lab's checks read the capture); non-zero only on an
unexpected exception.
"""

import argparse
import sys
import time

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.ssl_ import create_urllib3_context


class SourceAdapter(HTTPAdapter):
    def __init__(self, source, ciphers=None, **kw):
        self.source = source
        self.ciphers = ciphers
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kwargs):
        if self.source:
            kwargs["source_address"] = (self.source, 0)
        if self.ciphers:
            # urllib3's own context (it honours SSLKEYLOGFILE too), offering these TLS 1.2 suites
            kwargs["ssl_context"] = create_urllib3_context(ciphers=self.ciphers)
        super().init_poolmanager(*args, **kwargs)


def session(source, ciphers=None):
    s = requests.Session()
    if source or ciphers:
        s.mount("http://", SourceAdapter(source))
        s.mount("https://", SourceAdapter(source, ciphers))
    return s


def verify(a):
    """The verify= of each request: the lab CA when given. Given per request, since a
    Session's verify loses to REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE in the environment."""
    return a.cacert if a.cacert else True


def show(label, r):
    print("%s: %d (after %s)" % (label, r.status_code, [h.status_code for h in r.history]), flush=True)


def cmd_ntlm(a):
    from requests_ntlm import HttpNtlmAuth

    for i in range(a.attempts):
        s = session(a.source, a.ciphers)  # a new session per attempt, as a browser retrying the page
        try:
            r = s.get(a.url, auth=HttpNtlmAuth(a.user, a.password), timeout=10, verify=verify(a))
            show("attempt %d" % (i + 1), r)
        except requests.exceptions.ConnectionError as e:
            print("attempt %d: connection error: %s" % (i + 1, e), flush=True)
        s.close()
        if i + 1 < a.attempts:
            time.sleep(a.pause)


def cmd_digest(a):
    s = session(a.source, a.ciphers)
    auth = requests.auth.HTTPDigestAuth(a.user, a.password)
    show("request 1", s.get(a.url, auth=auth, timeout=10, verify=verify(a)))
    if a.repeat_after is not None:
        time.sleep(a.repeat_after)
        show("request 2", s.get(a.url, auth=auth, timeout=10, verify=verify(a)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="127.0.0.100", help="client address to bind ('' for any)")
    ap.add_argument("--cacert", default=None, help="CA certificate to check https:// servers against")
    ap.add_argument("--ciphers", default=None,
                    help="OpenSSL cipher list offered for TLS 1.2 (Python's default leaves out the "
                         "SHA-1 CBC and RSA key exchange suites; TLS 1.3 suites are the server's choice)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("ntlm")
    n.add_argument("url")
    n.add_argument("user", help="DOMAIN\\user")
    n.add_argument("password")
    n.add_argument("--attempts", type=int, default=1)
    n.add_argument("--pause", type=float, default=0.3)
    d = sub.add_parser("digest")
    d.add_argument("url")
    d.add_argument("user")
    d.add_argument("password")
    d.add_argument("--repeat-after", type=float, default=None)
    a = ap.parse_args()
    {"ntlm": cmd_ntlm, "digest": cmd_digest}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
