#!/usr/bin/env python3
"""Measures the terminal UI from outside, as a user sees it (tmux capture-pane):
time to the first frame, and how fast keys are answered while a large capture loads.

    scripts/ui_latency.py BINARY CAPTURE [rounds]
    scripts/ui_latency.py --load BINARY CAPTURE

--load touches no key: it prints one line of figures for a script to read, e.g.
    first_frame_ms=16 loaded_ms=398 peak_rss_kb=35676
the time from exec to the first frame, the time from exec until the status line says
"read in full" (the worker has read the whole capture), and the UI process's peak RSS
(VmHWM of /proc/PID/status, read once loaded, just before the session is killed; "na" where
it cannot be read).

The figures are upper bounds: they include tmux's own latency and the polling interval (2 ms).
"""
import os, statistics, subprocess, sys, time

load_only = len(sys.argv) > 1 and sys.argv[1] == "--load"
args = sys.argv[2:] if load_only else sys.argv[1:]
if len(args) < 2:
    raise SystemExit(__doc__)
binary, capture = args[0], args[1]
rounds = int(args[2]) if len(args) > 2 and not load_only else 20
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


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((l.split()[1] for l in f if l.startswith("VmHWM:")), "na")
    except OSError:
        return "na"


# The stamp holds the time just before exec and the process id, which exec keeps.
cmd = f"python3 -c 'import time,os; open(\"{stamp}\",\"w\").write(repr(time.time()) + \" \" + str(os.getpid())); os.execv(\"{binary}\", [\"authscope\",\"open\",\"{capture}\"])'"
tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-e", "NO_COLOR=1", cmd)
try:
    _, s = wait(lambda s: "authscope" in s and "Handshakes" in s)
    t1 = time.time()
    t0, pid = open(stamp).read().split()
    t0 = float(t0)
    if load_only:
        wait(lambda s: "read in full" in s, timeout=600)
        t2 = time.time()
        rss = peak_rss_kb(pid)
        print(f"first_frame_ms={(t1 - t0) * 1000:.0f} loaded_ms={(t2 - t0) * 1000:.0f} peak_rss_kb={rss}")
        raise SystemExit(0)
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
