#!/usr/bin/python3
"""Print the plaintext SMTP dialogue of every TCP stream in a capture, using tshark
to read the packets (payload bytes in capture order, per direction; loopback captures
have no loss/reordering). Used to check the expectations in captures/README.md.

Usage: transcript.py FILE [--max-streams N] [--show-body]
C: = client line, S: = server line. DATA bodies are elided unless --show-body
(only "[body: N lines, M bytes]" is printed). After a 220 reply to STARTTLS, or on
streams that start with a TLS record, the rest of the stream is summarised as bytes.
"""
import argparse
import subprocess
from collections import OrderedDict

ap = argparse.ArgumentParser()
ap.add_argument("file")
ap.add_argument("--max-streams", type=int, default=10**6)
ap.add_argument("--show-body", action="store_true")
a = ap.parse_args()

out = subprocess.run(
    ["tshark", "-r", a.file, "-T", "fields", "-E", "separator=|", "-e", "tcp.stream",
     "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst",
     "-e", "tcp.dstport", "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.flags.reset",
     "-e", "tcp.flags.fin", "-e", "tcp.payload"],
    capture_output=True, text=True, check=True).stdout

streams = OrderedDict()
for row in out.splitlines():
    st, s4, s6, sp, d4, d6, dp, syn, ack, rst, fin, pl = row.split("|")
    src, dst = f"{s4 or '[' + s6 + ']'}:{sp}", f"{d4 or '[' + d6 + ']'}:{dp}"
    s = streams.setdefault(int(st), {"client": None, "events": []})
    if s["client"] is None:
        # client = sender of the bare SYN, else the side with the higher port
        if syn in ("1", "True") and ack in ("0", "False"):
            s["client"], s["server"] = src, dst
        elif int(sp) > int(dp):
            s["client"], s["server"] = src, dst
        else:
            s["client"], s["server"] = dst, src
    d = "C" if src == s["client"] else "S"
    if pl:
        s["events"].append((d, bytes.fromhex(pl.replace(":", ""))))
    if rst in ("1", "True"):
        s["events"].append((d, "RST"))
    elif fin in ("1", "True"):
        s["events"].append((d, "FIN"))

for n, s in streams.items():
    if n >= a.max_streams:
        break
    print(f"# stream {n}: client {s['client']} server {s['server']}")
    buf = {"C": b"", "S": b""}
    mode = {"C": "cmd", "S": "cmd"}   # cmd | body | tls
    body = [0, 0]
    pending_tls = False
    for d, data in s["events"]:
        if data in ("RST", "FIN"):
            if buf[d]:
                print(f"   {d}: (partial line, no CRLF) {buf[d][:120]!r}")
                buf[d] = b""
            if mode[d] == "bdat":
                print(f"   {d}: [BDAT chunk cut short: {bdat_size - bdat_left} of {bdat_size} bytes]")
            if mode[d] == "body":
                print(f"   {d}: [body so far: {body[0]} lines, {body[1]} bytes, no final '.']")
                mode[d] = "done"
            print(f"   {d}: <{data}>")
            continue
        if mode[d] == "tls" or (not buf[d] and mode[d] == "cmd" and data[:1] == b"\x16"):
            if mode[d] != "tls":
                print(f"   {d}: [TLS from here on]")
                mode[d] = "tls"
            print(f"   {d}: [{len(data)} bytes encrypted]")
            continue
        buf[d] += data
        while mode[d] == "bdat" and buf[d] or b"\n" in buf[d] and mode[d] not in ("tls", "bdat"):
            if mode[d] == "bdat":
                take = buf[d][:bdat_left]
                buf[d] = buf[d][len(take):]
                bdat_left -= len(take)
                if bdat_left == 0:
                    print(f"   C: [BDAT chunk: {bdat_size} bytes]")
                    mode[d] = "cmd"
                continue
            line, _, rest = buf[d].partition(b"\n")
            buf[d] = rest
            text = line.rstrip(b"\r").decode("latin-1")
            if mode[d] == "body":
                if text == ".":
                    print(f"   C: [body: {body[0]} lines, {body[1]} bytes]")
                    print("   C: .")
                    mode[d] = "cmd"
                else:
                    body[0] += 1
                    body[1] += len(line) + 1
                    if a.show_body:
                        print(f"   C| {text}")
                continue
            print(f"   {d}: {text[:160]}")
            up = text.upper()
            if d == "C" and up.startswith("BDAT "):
                bdat_size = bdat_left = int(up.split()[1])
                mode[d] = "bdat" if bdat_left else "cmd"
            if d == "C" and up == "STARTTLS":
                pending_tls = True
            if d == "S" and text.startswith("354"):
                mode["C"] = "body"
                body = [0, 0]
            if d == "S" and pending_tls and text[:3] in ("220", "454", "501", "502", "554"):
                if text.startswith("220"):
                    mode["C"] = mode["S"] = "tls"
                    print("   -- plaintext ends here (STARTTLS accepted)")
                pending_tls = False
        if mode[d] == "tls" and buf[d]:
            print(f"   {d}: [{len(buf[d])} bytes encrypted]")
            buf[d] = b""
    for d in "CS":
        if buf[d]:
            print(f"   {d}: (partial line at end of capture) {buf[d][:120]!r}")
