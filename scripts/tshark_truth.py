#!/usr/bin/env python3
"""Refresh the stored tshark readings that the tests compare authscope against.

For each capture given (default: captures/*.pcap* and ../shared/captures/public/*.pcap*),
writes tests/truth/<name>.json with what tshark finds:
  streams    distinct tcp.stream values (TCP connections)
  requests   HTTP request messages (every http.request.method occurrence, and every
             HTTP/2 header block with a :method)
  responses  HTTP response messages (every http.response.code occurrence, 1xx included, and
             every HTTP/2 header block with a :status)
  http_ports the ports tshark was told to decode as HTTP (-d tcp.port==P,http): every port
             whose first payload bytes in a stream begin an HTTP request or status line.
  request_frames, response_frames
             the frame tshark shows each HTTP message on, once per message (a frame with
             four pipelined requests is listed four times).
A capture that comes with TLS secrets (the lab's HTTPS captures: a key log X.keylog beside
X.pcap, or a pcapng with a Decryption Secrets Block) is read as authscope reads it, without
them (a pcapng is read from a copy without its Decryption Secrets Blocks): its HTTP is
then TLS records, not HTTP. tshark's reading with the secrets is kept beside, under
  tls        {"secrets": where they are, "decrypted": {streams, requests, responses,
             request_frames, response_frames}}
for the tests of TLS decryption.
Needs tshark; the tests read the JSON, so `cargo test` does not.
"""
import glob
import hashlib
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "truth")
REQ = re.compile(rb"^[A-Z_-]{3,20} \S+ HTTP/1\.[01]\r?\n")
RESP = re.compile(rb"^HTTP/1\.[01] \d{3}")


def keylog_of(path):
    """The key log kept beside a capture (X.keylog for X.pcap), or None."""
    k = os.path.splitext(path)[0] + ".keylog"
    return k if os.path.isfile(k) else None


def pcapng_blocks(data):
    """(type, bytes) of each block of a pcapng file (one section, as the lab writes)."""
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    at = 0
    while at + 12 <= len(data):
        kind, length = struct.unpack(order + "II", data[at:at + 8])
        if length < 12:
            return
        yield kind, data[at:at + length]
        at += length


def has_dsb(path):
    """Whether a pcapng holds a Decryption Secrets Block (pcapng block type 10)."""
    data = open(path, "rb").read()
    return data[:4] == b"\x0a\x0d\x0d\x0a" and any(k == 10 for k, _ in pcapng_blocks(data))


def without_dsb(path, out):
    """Copy a pcapng without its Decryption Secrets Blocks. (editcap 4.0 refuses to write a
    file that has one, as pcap or pcapng: "can't be written as a ... file".)"""
    data = open(path, "rb").read()
    with open(out, "wb") as f:
        for kind, block in pcapng_blocks(data):
            if kind != 10:
                f.write(block)


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


def count(path, ports, field, filt, opts=()):
    args = ["-r", path, *opts]
    for p in ports:
        args += ["-d", f"tcp.port=={p},http"]
    out = tshark(*args, "-Y", filt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;", "-e", field)
    return sum(len([v for v in line.split(";") if v]) for line in out.splitlines())


def frames(path, ports, field, filt, opts=()):
    args = ["-r", path, *opts]
    for p in ports:
        args += ["-d", f"tcp.port=={p},http"]
    out = tshark(*args, "-Y", filt, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
                 "-e", "frame.number", "-e", field)
    found = []
    for line in out.splitlines():
        number, _, values = line.partition("\t")
        found += [int(number)] * len([v for v in values.split(";") if v])
    return found


def h2_frames(path, pseudo, opts=()):
    """The frame of every HTTP/2 header block carrying `pseudo` (:method or :status)."""
    out = tshark("-r", path, *opts, "-Y", "http2.type == 1", "-T", "fields", "-E", "occurrence=a",
                 "-E", "aggregator=;", "-e", "frame.number", "-e", "http2.header.name")
    found = []
    for line in out.splitlines():
        number, _, names = line.partition("\t")
        found += [int(number)] * names.split(";").count(pseudo)
    return found


def streams(path, opts=()):
    out = tshark("-r", path, *opts, "-T", "fields", "-e", "tcp.stream")
    values = set()
    for line in out.splitlines():
        for v in line.split(","):
            if v.strip():
                values.add(v.strip())
    return len(values)


def reading(path, ports, opts=()):
    """streams, requests, responses and their frames, as tshark reads `path` with `opts`."""
    h2_requests = h2_frames(path, ":method", opts)
    h2_responses = h2_frames(path, ":status", opts)
    return {
        "streams": streams(path, opts),
        "requests": count(path, ports, "http.request.method", "http.request && tcp", opts) + len(h2_requests),
        "responses": count(path, ports, "http.response.code", "http.response && tcp", opts) + len(h2_responses),
        "request_frames": sorted(frames(path, ports, "http.request.method", "http.request && tcp", opts) + h2_requests),
        "response_frames": sorted(frames(path, ports, "http.response.code", "http.response && tcp", opts) + h2_responses),
    }


def main(paths):
    os.makedirs(OUT, exist_ok=True)
    version = tshark("--version").splitlines()[0]
    for path in paths:
        name = os.path.basename(path)
        keylog, dsb = keylog_of(path), has_dsb(path)
        with tempfile.TemporaryDirectory() as tmp:
            plain = path
            if dsb:
                # the file without its secrets: what a reader that does not use them sees
                plain = os.path.join(tmp, name)
                without_dsb(path, plain)
            ports = http_ports(plain)
            seen = reading(plain, ports)
        truth = {
            "file": name,
            "sha256": hashlib.sha256(open(path, "rb").read()).hexdigest(),
            "tshark": version,
            "streams": seen["streams"],
            "http_ports": ports,
            "requests": seen["requests"],
            "responses": seen["responses"],
            "request_frames": seen["request_frames"],
            "response_frames": seen["response_frames"],
        }
        if keylog or dsb:
            opts = ["-o", "tls.keylog_file:" + keylog] if keylog else []
            truth["tls"] = {
                "secrets": ("key log " + os.path.basename(keylog)) if keylog
                else "Decryption Secrets Block in the pcapng",
                "decrypted": reading(path, ports, opts),
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
