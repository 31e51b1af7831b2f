#!/usr/bin/env python3
"""Measures the terminal UI from outside, as a user sees it (tmux capture-pane):
time to the first frame, and how fast keys are answered while a large capture loads.

    scripts/ui_latency.py BINARY CAPTURE [rounds]

The figures are upper bounds: they include tmux's own latency and the polling interval (2 ms).
"""
import os, statistics, subprocess, sys, time

binary, capture = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 20
session = f"authscope-lat-{os.getpid()}"
stamp = f"/tmp/{session}.t0"


def tmux(*args):
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def screen():
    return tmux("capture-pane", "-p", "-t", session)


def wait(pred, timeout=10.0):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        s = screen()
        if pred(s):
            return time.monotonic(), s
        time.sleep(0.002)
    raise SystemExit(f"timeout; screen:\n{screen()}")


def selected(s):
    return next((l for l in s.splitlines() if l.startswith("│>")), "")


cmd = f"python3 -c 'import time,os; open(\"{stamp}\",\"w\").write(repr(time.time())); os.execv(\"{binary}\", [\"authscope\",\"open\",\"{capture}\"])'"
tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-e", "NO_COLOR=1", cmd)
try:
    _, s = wait(lambda s: "authscope" in s and "Handshakes" in s)
    t1 = time.time()
    t0 = float(open(stamp).read())
    print(f"first frame: {(t1 - t0) * 1000:.0f} ms after exec (upper bound)")
    # Keys while loading: j and k alternately, time until the cursor row changes.
    wait(lambda s: "reading" in s and "Handshakes 0" not in s and selected(s))
    lat = []
    for i in range(rounds):
        before = selected(screen())
        key = "j" if i % 2 == 0 else "k"
        t = time.monotonic()
        tmux("send-keys", "-t", session, key)
        t2, s = wait(lambda s: selected(s) != before)
        loading = "reading" in s
        lat.append((t2 - t) * 1000)
        if not loading:
            print(f"(loading ended after {i + 1} keys)")
            break
    print(f"key -> screen while loading: n={len(lat)} median {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms")
    # Help overlay toggles too.
    hl = []
    for _ in range(5):
        t = time.monotonic()
        tmux("send-keys", "-t", session, "?")
        t2, _ = wait(lambda s: "Keys (any key closes)" in s)
        hl.append((t2 - t) * 1000)
        tmux("send-keys", "-t", session, "Escape")
        wait(lambda s: "Keys (any key closes)" not in s)
    print(f"? -> help drawn: median {statistics.median(hl):.0f} ms, max {max(hl):.0f} ms")
    t = time.monotonic()
    _, s = wait(lambda s: "read in full" in s, timeout=600)
    print(f"read in full after a further {time.monotonic() - t:.1f} s")
    print([l for l in s.splitlines()][:2])
finally:
    tmux("kill-session", "-t", session)
    try:
        os.remove(stamp)
    except OSError:
        pass
