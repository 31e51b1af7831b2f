#!/usr/bin/env python3
"""Write the server's side of the lab's failing captures: an IIS 10 W3C log, an http.sys
HTTPERR log when http.sys would have refused something, and the Security events as
`wevtutil qe Security /f:xml` prints them, made for the join (`--server-log`, `--events`).

The lab's servers are Apache and pyspnego, not IIS: these files say what an IIS 10 server
on Windows would have written for the same exchange, so that the join and the findings that
use it can be tested on the lab's captures. Every line is taken from the capture (client
address and port, server address and port, method, URI, status, times, user agent, user),
read with tshark; what the wire cannot say (the substatus, the win32 status, the events'
Status and SubStatus, that is the server's reason) is the scenario's, from SCENARIOS below,
and docs/server-logs.md lists them.

    python3 scripts/server_logs.py [--shift SECONDS] [--out DIR] [SCENARIO...]

writes captures/server-logs/<scenario>/u_exYYMMDD.log, httperr1.log (when it has lines) and
security.xml. `--shift` moves the server's clock (every time written) by that many seconds,
for trying the clock offset estimate. Needs tshark.
"""
import argparse
import base64
import datetime
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTURES = os.path.join(ROOT, "captures")

# IIS 401 answers by what the request carried: (substatus, win32 status).
ANONYMOUS = (2, 5)                # the anonymous request, challenged
CHALLENGE = (1, 2148074254)       # SEC_E_NO_CREDENTIALS: the NTLM Type 1 answered with a Type 2

# Each failing scenario: what the server would have recorded. `refuse` is the (substatus,
# win32) of a refused credential; `event` the 4625 of it (Status, SubStatus, LogonType,
# AuthenticationPackageName, LogonProcessName); `kdc` a 4771 the domain controller wrote
# for a failed pre-authentication (Kerberos result code); `httperr` the s-reason of requests
# http.sys answered or dropped itself; `server` the IIS site's address when the capture has
# other servers (a proxy in between).
NTLM_EVENT = ("NTLM", "NtLmSsp ")
SCENARIOS = {
    "basic-wrong-password": {
        "refuse": (1, 1326),
        "event": (0xC000006D, 0xC000006A, 8, "Negotiate", "Advapi  "),
    },
    "https-basic-wrong-password": {
        "refuse": (1, 1385),
        "event": (0xC000015B, 0x0, 8, "Negotiate", "Advapi  "),
    },
    "digest-wrong-password": {
        "refuse": (1, 1326),
        "event": (0xC000006D, 0xC000006A, 3, "WDigest", "WDigest "),
    },
    "https-digest-wrong-password": {
        "refuse": (1, 1331),
        "event": (0xC000006E, 0xC0000072, 3, "WDigest", "WDigest "),
    },
    "ntlm-wrong-password": {
        "refuse": (1, 2148074252),
        "event": (0xC000006D, 0xC000006A, 3) + NTLM_EVENT,
    },
    "https-ntlm-wrong-password": {
        "refuse": (1, 1909),
        "event": (0xC0000234, 0x0, 3) + NTLM_EVENT,
    },
    "ntlm-keepalive-broken": {"refuse": (1, 2148074248)},
    "ntlm-client-closes-after-challenge": {"refuse": (1, 2148074248)},
    "ntlm-curl-interop-failure": {"refuse": (1, 2148074248)},
    "ntlm-reset-after-challenge": {"httperr": "Connection_Abandoned_By_AppPool"},
    "ntlm-reset-on-authenticate": {"httperr": "Connection_Abandoned_By_AppPool"},
    "kerberos-badkeyver": {"refuse": (1, 2148074274)},
    "kerberos-wrong-key": {"refuse": (1, 2148074274)},
    "kerberos-wrong-spn": {"refuse": (1, 2148074274)},
    "kerberos-authz-denied": {"refuse": (3, 5)},
    "kerberos-token-too-large": {"httperr": "FieldLength"},
    "https-kerberos-wrong-password": {"kdc": 0x18},
    "kerberos-wrong-password": {"kdc": 0x18},
    "kerberos-clock-skew": {"kdc": 0x25},
    "kerberos-server-clock-skew": {"refuse": (1, 2148074276)},
    "kerberos-etype-nosupp": {"kdc": 0xE},
    "https-ntlm-epa-no-bindings": {"refuse": (1, 2148074310)},
    "https-ntlm-epa-proxy": {"refuse": (1, 2148074310), "server": "127.0.0.14"},
    "no-auth-method": {},
    "no-auth-method-iis-body": {},
}

FIELDS = [
    "frame.number", "frame.time_epoch", "tcp.stream", "ip.src", "tcp.srcport", "ip.dst",
    "tcp.dstport", "http.request.method", "http.request.uri", "http.response.code",
    "http.request_in", "ntlmssp.messagetype", "http.user_agent", "http.referer",
    "http.authorization", "ntlmssp.auth.username", "ntlmssp.auth.domain",
    "kerberos.CNameString", "http.request.version",
]


def tshark(path, fields, display):
    cmd = ["tshark", "-r", path, "-Y", display, "-T", "fields", "-E", "separator=\x1f",
           "-E", "occurrence=f"]
    keylog = os.path.splitext(path)[0] + ".keylog"
    if os.path.isfile(keylog):
        cmd += ["-o", "tls.keylog_file:" + keylog]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [dict(zip(fields, line.split("\x1f"))) for line in out.splitlines() if line]


def user_of(req):
    """The user a request's credential names, as IIS writes cs-username (DOMAIN\\user)."""
    auth = req["http.authorization"]
    if auth.startswith("Basic "):
        try:
            return base64.b64decode(auth[6:]).decode("utf-8", "replace").split(":", 1)[0]
        except ValueError:
            return None
    if auth.startswith("Digest "):
        m = re.search(r'username="([^"]*)"', auth)
        return m.group(1) if m else None
    if req["ntlmssp.auth.username"]:
        dom = req["ntlmssp.auth.domain"]
        return f"{dom}\\{req['ntlmssp.auth.username']}" if dom else req["ntlmssp.auth.username"]
    if req["kerberos.CNameString"]:
        return req["kerberos.CNameString"]
    return None


def kind_of(req):
    """anonymous, type1, complete (a whole credential)."""
    auth = req["http.authorization"]
    if not auth:
        return "anonymous"
    if req["ntlmssp.messagetype"] == "0x00000001":
        return "type1"
    return "complete"


def w3c_time(t):
    return datetime.datetime.fromtimestamp(math.floor(t), datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def value(v):
    """A W3C field: `-` when empty, `+` for spaces."""
    return v.replace(" ", "+") if v else "-"


def xml_time(t):
    whole = math.floor(t)
    frac = round((t - whole) * 10_000_000)
    if frac >= 10_000_000:
        whole, frac = whole + 1, frac - 10_000_000
    base = datetime.datetime.fromtimestamp(whole, datetime.timezone.utc)
    return base.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:07d}Z"


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&apos;"))


def event_xml(event_id, record, t, data, task, keywords="0x8010000000000000",
              computer="WEB01.lab.test"):
    fields = "".join(f"<Data Name='{k}'>{esc(str(v))}</Data>" for k, v in data)
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        "<Provider Name='Microsoft-Windows-Security-Auditing' "
        "Guid='{54849625-5478-4994-a5ba-3e3b0328c30d}'/>"
        f"<EventID>{event_id}</EventID><Version>0</Version><Level>0</Level><Task>{task}</Task>"
        f"<Opcode>0</Opcode><Keywords>{keywords}</Keywords>"
        f"<TimeCreated SystemTime='{xml_time(t)}'/><EventRecordID>{record}</EventRecordID>"
        "<Correlation/><Execution ProcessID='668' ThreadID='1204'/><Channel>Security</Channel>"
        f"<Computer>{computer}</Computer><Security/></System>"
        f"<EventData>{fields}</EventData></Event>"
    )


def event_4625(record, t, user, domain, status, sub, logon_type, package, process, ip, port):
    return event_xml(4625, record, t, [
        ("SubjectUserSid", "S-1-5-18"), ("SubjectUserName", "WEB01$"),
        ("SubjectDomainName", "LAB"), ("SubjectLogonId", "0x3e7"),
        ("TargetUserSid", "S-1-0-0"), ("TargetUserName", user or "-"),
        ("TargetDomainName", domain or "-"), ("Status", f"0x{status:x}"),
        ("FailureReason", "%%2313"), ("SubStatus", f"0x{sub:x}"),
        ("LogonType", logon_type), ("LogonProcessName", process),
        ("AuthenticationPackageName", package), ("WorkstationName", "WS01"),
        ("TransmittedServices", "-"), ("LmPackageName", "-"), ("KeyLength", "0"),
        ("ProcessId", "0x2a4"), ("ProcessName", "C:\\Windows\\System32\\inetsrv\\w3wp.exe"),
        ("IpAddress", ip), ("IpPort", port),
    ], task=12544)


ALICE_SID = "S-1-5-21-1004336348-1177238915-682003330-1104"
DC = "DC01.lab.test"


def event_4771(record, t, user, status, ip, port):
    """A failed pre-authentication, as the domain controller writes it."""
    return event_xml(4771, record, t, [
        ("TargetUserName", user), ("TargetSid", ALICE_SID),
        ("ServiceName", "krbtgt/LAB.TEST"), ("TicketOptions", "0x40810010"),
        ("Status", f"0x{status:x}"), ("PreAuthType", "2"),
        ("IpAddress", f"::ffff:{ip}"), ("IpPort", port),
        ("CertIssuerName", ""), ("CertSerialNumber", ""), ("CertThumbprint", ""),
    ], task=14339, computer=DC)


def event_4768(record, t, user, status, ip, port):
    """A refused ticket-granting ticket request (any result but a pre-authentication one)."""
    return event_xml(4768, record, t, [
        ("TargetUserName", user), ("TargetDomainName", "LAB.TEST"), ("TargetSid", "S-1-0-0"),
        ("ServiceName", "krbtgt/LAB.TEST"), ("ServiceSid", "S-1-0-0"),
        ("TicketOptions", "0x40810010"), ("Status", f"0x{status:x}"),
        ("TicketEncryptionType", "0xffffffff"), ("PreAuthType", "-"),
        ("IpAddress", f"::ffff:{ip}"), ("IpPort", port),
        ("CertIssuerName", ""), ("CertSerialNumber", ""), ("CertThumbprint", ""),
    ], task=14339, computer=DC)


def event_4769(record, t, user, service, status, ip, port):
    """A refused service ticket request."""
    return event_xml(4769, record, t, [
        ("TargetUserName", f"{user}@LAB.TEST"), ("TargetDomainName", "LAB.TEST"),
        ("ServiceName", service), ("ServiceSid", "S-1-0-0"), ("TicketOptions", "0x40810000"),
        ("TicketEncryptionType", "0xffffffff"), ("IpAddress", f"::ffff:{ip}"),
        ("IpPort", port), ("Status", f"0x{status:x}"),
        ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"), ("TransmittedServices", "-"),
    ], task=14337, computer=DC)


# Windows writes a refused AS-REQ as 4771 when pre-authentication failed (a wrong password,
# the client's clock), else as 4768 with the result code; a refused TGS-REQ as 4769.
PREAUTH_FAILURES = (0x18, 0x25)


def exchanges(path):
    rows = tshark(path, FIELDS, "http.request or http.response")
    reqs = {r["frame.number"]: r for r in rows if r["http.request.method"]}
    out = []
    answered = set()
    for r in rows:
        if r["http.response.code"] and r["http.request_in"] in reqs:
            req = reqs[r["http.request_in"]]
            answered.add(req["frame.number"])
            out.append((req, r))
    for n, req in reqs.items():
        if n not in answered:
            out.append((req, None))
    out.sort(key=lambda x: float(x[0]["frame.time_epoch"]))
    return out


def make(name, spec, shift, out_dir):
    path = os.path.join(CAPTURES, name + ".pcap")
    refuse = spec.get("refuse", (1, 1326))
    w3c, httperr, events = [], [], []
    record = 48211
    for req, resp in exchanges(path):
        if spec.get("server") and req["ip.dst"] != spec["server"]:
            continue
        t_req = float(req["frame.time_epoch"]) + shift
        kind = kind_of(req)
        uri = req["http.request.uri"]
        stem, _, query = uri.partition("?")
        client, cport, server, sport = (req["ip.src"], req["tcp.srcport"], req["ip.dst"],
                                        req["tcp.dstport"])
        if resp is None or (resp["http.response.code"] == "400" and "httperr" in spec):
            reason = spec.get("httperr")
            if reason is None:
                continue
            status = resp["http.response.code"] if resp else "-"
            t = float(resp["frame.time_epoch"]) + shift if resp else t_req
            version = req["http.request.version"] or "-"
            httperr.append(" ".join([
                w3c_time(t), client, cport, server, sport, version, req["http.request.method"],
                value(uri), "-", status, "1", reason,
                "DefaultAppPool" if reason.startswith("Connection_Abandoned") else "-"]))
            continue
        t_resp = float(resp["frame.time_epoch"]) + shift
        status = int(resp["http.response.code"])
        user = user_of(req)
        if status in (401, 407):
            if kind == "anonymous":
                sub, win32 = ANONYMOUS
            elif kind == "type1" and resp_has_type2(path, resp):
                sub, win32 = CHALLENGE
            else:
                sub, win32 = refuse
            logged_user = "-"
            if kind == "complete" and "event" in spec:
                st, ss, lt, pkg, proc = spec["event"]
                u, d = (user.split("\\", 1)[::-1] if user and "\\" in user else (user, "LAB"))
                record += 1
                t_ev = t_req + (t_resp - t_req) / 2
                events.append(event_4625(record, t_ev, u, d, st, ss, lt, pkg, proc,
                                         f"::ffff:{client}", cport))
        else:
            sub, win32 = 0, 0
            logged_user = user or "-"
        taken = max(0, round((t_resp - t_req) * 1000))
        w3c.append(" ".join([
            w3c_time(t_resp), server, req["http.request.method"], value(stem), value(query),
            sport, value(logged_user), client, value(req["http.user_agent"]),
            value(req["http.referer"]), str(status), str(sub), str(win32), str(taken)]))
    if "kdc" in spec:
        # Only the KDC's answers (port 88), not a KRB-ERROR a web server put in a 401; each
        # answers the last request from the client's address and port.
        asked = {}
        for k in tshark(path, ["frame.time_epoch", "kerberos.msg_type", "kerberos.error_code",
                               "ip.src", "ip.dst", "tcp.srcport", "tcp.dstport", "udp.srcport",
                               "udp.dstport", "kerberos.CNameString", "kerberos.SNameString"],
                        "kerberos and (udp.port == 88 or tcp.port == 88)"):
            msg = k["kerberos.msg_type"].split(",")[0]
            if msg in ("10", "12"):
                src = (k["ip.src"], k["tcp.srcport"] or k["udp.srcport"])
                asked[src] = (msg, k["kerberos.SNameString"])
                continue
            if msg != "30" or k["kerberos.error_code"] != str(spec["kdc"]):
                continue
            record += 1
            ip, port = k["ip.dst"], k["tcp.dstport"] or k["udp.dstport"]
            t = float(k["frame.time_epoch"]) + shift
            user = k["kerberos.CNameString"] or "alice"
            req, sname = asked.get((ip, port), ("10", ""))
            if req == "12":
                service = sname.replace(",", "/") or "HTTP"
                events.append(event_4769(record, t, user, service, spec["kdc"], ip, port))
            elif spec["kdc"] in PREAUTH_FAILURES:
                events.append(event_4771(record, t, user, spec["kdc"], ip, port))
            else:
                events.append(event_4768(record, t, user, spec["kdc"], ip, port))
    os.makedirs(out_dir, exist_ok=True)
    first = None
    if w3c:
        first = w3c[0][:19]
    elif httperr:
        first = httperr[0][:19]
    day = datetime.datetime.strptime(first, "%Y-%m-%d %H:%M:%S") if first else None
    for f in os.listdir(out_dir):
        os.remove(os.path.join(out_dir, f))
    if w3c:
        header = [
            "#Software: Microsoft Internet Information Services 10.0",
            "#Version: 1.0",
            f"#Date: {first}",
            "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username "
            "c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
        ]
        write(os.path.join(out_dir, f"u_ex{day:%y%m%d}.log"), header + w3c)
    if httperr:
        header = [
            "#Software: Microsoft HTTP API 2.0",
            "#Version: 1.0",
            f"#Date: {httperr[0][:19]}",
            "#Fields: date time c-ip c-port s-ip s-port cs-version cs-method cs-uri streamid "
            "sc-status s-siteid s-reason s-queuename",
        ]
        write(os.path.join(out_dir, "httperr1.log"), header + httperr)
    if events:
        write(os.path.join(out_dir, "security.xml"), events)


def resp_has_type2(path, resp):
    rows = tshark(path, ["ntlmssp.messagetype"], f"frame.number == {resp['frame.number']}")
    return bool(rows) and rows[0]["ntlmssp.messagetype"] == "0x00000002"


def write(path, lines):
    with open(path, "w", newline="") as f:
        f.write("\r\n".join(lines) + "\r\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shift", type=float, default=0.0)
    ap.add_argument("--out", default=os.path.join(CAPTURES, "server-logs"))
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    names = a.scenarios or sorted(SCENARIOS)
    for name in names:
        if name not in SCENARIOS:
            sys.exit(f"{name}: not a scenario here (known: {', '.join(sorted(SCENARIOS))})")
        make(name, SCENARIOS[name], a.shift, os.path.join(a.out, name))
        print(name, file=sys.stderr)


if __name__ == "__main__":
    main()
