#!/usr/bin/env python3
"""Refresh the stored tshark readings that the tests compare authscope against.

For each capture given (default: captures/*.pcap* and ../shared/captures/public/*.pcap*),
writes tests/truth/<name>.json with what tshark finds:
  streams    distinct tcp.stream values (TCP connections)
  requests   HTTP request messages (every http.request.method occurrence)
  responses  HTTP response messages (every http.response.code occurrence, 1xx included)
  http_ports the ports tshark was told to decode as HTTP (-d tcp.port==P,http): every port
             whose first payload bytes in a stream begin an HTTP request or status line.
  request_frames, response_frames
             the frame tshark shows each HTTP message on, once per message (a frame with
             four pipelined requests is listed four times).
Needs tshark; the tests read the JSON, so `cargo test` does not.
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "truth")
REQ = re.compile(rb"^[A-Z_-]{3,20} \S+ HTTP/1\.[01]\r?\n")
RESP = re.compile(rb"^HTTP/1\.[01] \d{3}")


def tshark(*args):
    return subprocess.run(["tshark", "-n", *args], check=True, capture_output=True).stdout.decode(
        "utf-8", "replace"
    )


def http_ports(path):
    out = tshark("-r", path, "-Y", "tcp.len > 0", "-T", "fields", "-e", "tcp.stream",
                 "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "tcp.payload")
    seen, ports = set(), set()
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) < 4 or not parts[3]:
            continue
        # Encapsulated frames list two values; the innermost TCP is the last.
        stream = parts[0].split(",")[-1]
        sport, dport = parts[1].split(",")[-1], parts[2].split(",")[-1]
        key = (stream, sport, dport)
        if key in seen:
            continue
        seen.add(key)
        try:
            data = bytes.fromhex(parts[3].split(",")[-1].replace(":", ""))
        except ValueError:
            continue
        data = data.lstrip(b"\r\n")
        if REQ.match(data):
            ports.add(int(dport))
        elif RESP.match(data):
            ports.add(int(sport))
    return sorted(ports)


def count(path, ports, field, filt):
    args = ["-r", path]
    for p in ports:
        args += ["-d", f"tcp.port=={p},http"]
    out = tshark(*args, "-Y", filt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-e", field)
    return sum(len([v for v in line.split(";") if v]) for line in out.splitlines())


def frames(path, ports, field, filt):
    args = ["-r", path]
    for p in ports:
        args += ["-d", f"tcp.port=={p},http"]
    out = tshark(*args, "-Y", filt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
                 "-e", "frame.number", "-e", field)
    found = []
    for line in out.splitlines():
        number, _, values = line.partition("\t")
        found += [int(number)] * len([v for v in values.split(";") if v])
    return found


def streams(path):
    out = tshark("-r", path, "-T", "fields", "-e", "tcp.stream")
    values = set()
    for line in out.splitlines():
        for v in line.split(","):
            if v.strip():
                values.add(v.strip())
    return len(values)


def main(paths):
    os.makedirs(OUT, exist_ok=True)
    version = tshark("--version").splitlines()[0]
    for path in paths:
        name = os.path.basename(path)
        ports = http_ports(path)
        truth = {
            "file": name,
            "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
            "tshark": version,
            "streams": streams(path),
            "http_ports": ports,
            "requests": count(path, ports, "http.request.method", "http.request && tcp"),
            "responses": count(path, ports, "http.response.code", "http.response && tcp"),
            "request_frames": frames(path, ports, "http.request.method", "http.request && tcp"),
            "response_frames": frames(path, ports, "http.response.code", "http.response && tcp"),
        }
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(truth, f, indent=1)
            f.write("\n")
        print(name, truth["streams"], truth["requests"], truth["responses"], ports)


if __name__ == "__main__":
    args = sys.argv[1:]
    if not args:
        args = sorted(glob.glob(os.path.join(ROOT, "captures", "*.pcap*")))
        args += sorted(glob.glob(os.path.join(ROOT, "..", "shared", "captures", "public", "*.pcap*")))
    main(args)
