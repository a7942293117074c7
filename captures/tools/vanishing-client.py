#!/usr/bin/python3
"""SMTP client that dies in the middle of the DATA body.

Connects, does EHLO/MAIL/RCPT/DATA properly, sends the headers and part of the
body, then closes the socket with SO_LINGER {on, 0} so the kernel sends a RST
instead of a FIN (what a crashed or killed client looks like on the wire).
Usage: vanishing-client.py HOST PORT
"""
import socket
import struct
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port))
f = s.makefile("rb")


def reply():
    lines = []
    while True:
        line = f.readline().decode()
        lines.append(line.rstrip("\r\n"))
        if len(line) < 4 or line[3] != "-":
            return lines


def cmd(text):
    s.sendall(text.encode() + b"\r\n")
    r = reply()
    print(">", text, "\n<", r[-1])
    return r


print("<", reply()[0])
cmd("EHLO client.example.org")
cmd("MAIL FROM:<sender@example.org>")
cmd("RCPT TO:<alice@example.test>")
cmd("DATA")
body = ["From: sender@example.org", "To: alice@example.test", "Subject: this one never ends", ""]
body += [f"body line {i:03d}: the client will be killed before the final dot" for i in range(1, 121)]
text = ("\r\n".join(body) + "\r\n").encode()
s.sendall(text[: len(text) // 2])     # half of it, cut in the middle of a line
time.sleep(0.3)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()                              # -> RST, no "." ever sent
print("closed with RST after", len(text) // 2, "of", len(text), "body bytes")
