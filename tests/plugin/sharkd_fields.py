#!/usr/bin/python3
"""Random-access check for the smtpcap plugin: asks sharkd for every frame of a capture in
REVERSE order (as a user clicking around would, and unlike tshark's sequential pass) and prints
the requested fields in the format of `tshark -T fields -E occurrence=a`, one line per frame
that has an smtpcap tree, in frame order. tests/plugin.sh diffs that against tshark.

usage: sharkd_fields.py SHARKD_CMD... -- CAPTURE FIELD...
SHARKD_CMD is the command that runs `sharkd -` (it may start with unshare ...).
Preferences: SMTPCAP_SHARKD_PREFS="name=value;..." (sharkd's setconf)."""
import json
import os
import subprocess
import sys


def field_values(tree, wanted):
    """Values of the wanted fields, in tree order, from the nodes' filter strings."""
    got = {w: [] for w in wanted}

    def walk(nodes):
        for n in nodes:
            f = n.get("f", "")
            name, sep, val = f.partition(" == ")
            if sep and name in got:
                if val.startswith('"') and val.endswith('"'):
                    val = val[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                got[name].append(val)
            walk(n.get("n", []))

    walk(tree)
    return got


def main():
    argv = sys.argv[1:]
    cut = argv.index("--")
    cmd, capture, wanted = argv[:cut], argv[cut + 1], argv[cut + 2:]
    p = subprocess.Popen(cmd + ["-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True)
    rid = 0

    def call(method, params):
        nonlocal rid
        rid += 1
        p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                  "params": params}) + "\n")
        p.stdin.flush()
        while True:
            line = p.stdout.readline()
            if not line:
                sys.exit("sharkd exited")
            if line.startswith("{"):
                msg = json.loads(line)
                if msg.get("id") == rid:
                    if "error" in msg:
                        sys.exit(f"sharkd error: {msg['error']}")
                    return msg["result"]

    # Preferences, e.g. SMTPCAP_SHARKD_PREFS="tls.keylog_file=/abs/keys" (';'-separated).
    for pref in filter(None, os.environ.get("SMTPCAP_SHARKD_PREFS", "").split(";")):
        name, _, value = pref.partition("=")
        call("setconf", {"name": name, "value": value})
    call("load", {"file": capture})
    nframes = call("status", {})["frames"]
    rows = {}
    for num in range(nframes, 0, -1):
        tree = call("frame", {"frame": num, "proto": True})["tree"]
        if not any(n.get("f") == "smtpcap" for n in tree):
            continue
        vals = field_values(tree, wanted)
        rows[num] = "\t".join([str(num)] + [",".join(vals[w]) for w in wanted])
    p.stdin.close()
    p.wait()
    for num in sorted(rows):
        print(rows[num])


if __name__ == "__main__":
    main()
