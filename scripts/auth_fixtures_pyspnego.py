"""Runs pyspnego's token parser on every NTLM, Negotiate and Kerberos token68 of the frames
listed in tshark-http-auth.tsv and writes one JSON fixture per distinct token.

Called by scripts/refresh-auth-fixtures.sh with the venv's python:
    python auth_fixtures_pyspnego.py TSV OUT_DIR
Each fixture: {"seen_in": ["file frame N header", ...], "scheme": ..., "pyspnego": <the JSON
that `python -m spnego --token <b64>` prints, verbatim>}.
"""

import csv
import json
import os
import re
import subprocess
import sys

HEADERS = ("http.www_authenticate", "http.authorization",
           "http.proxy_authenticate", "http.proxy_authorization")
TOKEN = re.compile(r"(?i)(?:^|,)\s*(NTLM|Negotiate|Kerberos)\s+([A-Za-z0-9+/]+=*)")


def main(tsv, out_dir):
    tokens = {}  # b64 -> (scheme, [where])
    with open(tsv, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            for h in HEADERS:
                for value in filter(None, (row.get(h) or "").split("|")):
                    for m in TOKEN.finditer(value):
                        scheme, b64 = m.group(1), m.group(2)
                        entry = tokens.setdefault(b64, (scheme, []))
                        entry[1].append("%s frame %s %s" % (row["file"], row["frame"], h))
    os.makedirs(out_dir, exist_ok=True)
    for old in os.listdir(out_dir):
        if old.endswith(".json"):
            os.remove(os.path.join(out_dir, old))
    names = set()
    for b64, (scheme, seen) in tokens.items():
        run = subprocess.run([sys.executable, "-m", "spnego", "--token", b64],
                             capture_output=True, text=True)
        if run.returncode == 0:
            result = {"pyspnego": json.loads(run.stdout)}
        else:
            # pyspnego raised: keep its last line (the exception) and the token.
            lines = run.stderr.strip().splitlines() or ["exit %d" % run.returncode]
            result = {"pyspnego_error": lines[-1], "token": b64}
        file, _, frame = seen[0].split(" ")[:3]
        base = "%s-f%s-%s" % (os.path.splitext(file)[0], frame, scheme.lower())
        name, n = base, 1
        while name in names:
            n += 1
            name = "%s-%d" % (base, n)
        names.add(name)
        doc = {"seen_in": seen, "scheme": scheme}
        doc.update(result)
        with open(os.path.join(out_dir, name + ".json"), "w") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
            f.write("\n")
    print("pyspnego %s: %d distinct tokens" % (pyspnego_version(), len(tokens)))


def pyspnego_version():
    from importlib.metadata import version
    return version("pyspnego")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
