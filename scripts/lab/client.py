#!/usr/bin/env python3
"""Python clients of the capture lab (python-requests, requests-ntlm).

The authentication logic is the libraries'; this file only drives them and binds the
client side of each connection to the lab's workstation address (--source), so that the
captures show a client address distinct from the servers'.

  client.py ntlm URL USER PASSWORD [--attempts N]      requests-ntlm (HttpNtlmAuth)
  client.py digest URL USER PASSWORD [--repeat-after S] requests HTTPDigestAuth; with
      --repeat-after, a second request is made S seconds later on the same session, which
      reuses the old nonce and so meets a "stale=true" challenge once the nonce expired.

Prints one line per attempt: the final status and the statuses of the responses before it.
Exits 0 whatever the HTTP outcome (the lab's checks read the capture); non-zero only on an
unexpected exception.
"""

import argparse
import sys
import time

import requests
from requests.adapters import HTTPAdapter


class SourceAdapter(HTTPAdapter):
    def __init__(self, source, **kw):
        self.source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def session(source):
    s = requests.Session()
    if source:
        s.mount("http://", SourceAdapter(source))
    return s


def show(label, r):
    print("%s: %d (after %s)" % (label, r.status_code, [h.status_code for h in r.history]), flush=True)


def cmd_ntlm(a):
    from requests_ntlm import HttpNtlmAuth

    for i in range(a.attempts):
        s = session(a.source)  # a new session per attempt, as a browser retrying the page
        try:
            r = s.get(a.url, auth=HttpNtlmAuth(a.user, a.password), timeout=10)
            show("attempt %d" % (i + 1), r)
        except requests.exceptions.ConnectionError as e:
            print("attempt %d: connection error: %s" % (i + 1, e), flush=True)
        s.close()
        if i + 1 < a.attempts:
            time.sleep(a.pause)


def cmd_digest(a):
    s = session(a.source)
    auth = requests.auth.HTTPDigestAuth(a.user, a.password)
    show("request 1", s.get(a.url, auth=auth, timeout=10))
    if a.repeat_after is not None:
        time.sleep(a.repeat_after)
        show("request 2", s.get(a.url, auth=auth, timeout=10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", default="127.0.0.100", help="client address to bind ('' for any)")
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
