#!/usr/bin/python3
"""Writes hostile captures for tests/pathological.sh (issue 3, "What I will check").

  make_hostile.py flows200k OUT   200,000 TCP flows to port 25; each sends a SYN and one
                                  segment holding a partial line (no LF), and never finishes
  make_hostile.py longline OUT    one flow whose client sends one 64 MiB line without a LF,
                                  in 1448-byte segments
  make_hostile.py holes OUT       one flow with 20,000 out-of-order segments, every other
                                  segment missing (holes), sent last-first

These are attack inputs no mail software would produce, so the packets are built here. The
Ethernet/IPv4/TCP headers are not invented: they are the headers of real packets of
captures/plain-delivery.pcap (its SYN and its first client data segment, with the TCP
timestamp option), with only addresses, ports, sequence numbers, flags and lengths changed.
Checksums are left as they were (wrong, like every loopback capture's): smtpcap never checks
them. The output is plain pcap, microsecond timestamps, written as a stream.
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "..", "captures", "plain-delivery.pcap")
SEG = 1448


def real_headers():
    """(SYN headers, data-segment headers) of plain-delivery.pcap: the first packet is the
    client's SYN, the first client packet with payload gives the data headers."""
    with open(SOURCE, "rb") as f:
        raw = f.read()
    magic, = struct.unpack_from("<I", raw, 0)
    assert magic == 0xA1B2C3D4, "plain-delivery.pcap: expected a little-endian microsecond pcap"
    linktype, = struct.unpack_from("<I", raw, 20)
    assert linktype == 1, "plain-delivery.pcap: expected Ethernet"
    off, syn, data = 24, None, None
    client_port = None
    while off + 16 <= len(raw) and (syn is None or data is None):
        _, _, caplen, _ = struct.unpack_from("<IIII", raw, off)
        pkt = raw[off + 16:off + 16 + caplen]
        off += 16 + caplen
        ihl = (pkt[14] & 0x0F) * 4
        tcp = 14 + ihl
        thl = (pkt[tcp + 12] >> 4) * 4
        sport, = struct.unpack_from("!H", pkt, tcp)
        flags = pkt[tcp + 13]
        if syn is None and flags & 0x02 and not flags & 0x10:
            syn, client_port = pkt[:tcp + thl], sport
        elif data is None and sport == client_port and len(pkt) > tcp + thl:
            data = pkt[:tcp + thl]
    assert syn and data
    return bytearray(syn), bytearray(data)


SYN_HDR, DATA_HDR = real_headers()


def packet(hdr, src, dst, sport, dport, seq, ack, flags, payload=b""):
    p = bytearray(hdr)
    ihl = (p[14] & 0x0F) * 4
    tcp = 14 + ihl
    struct.pack_into("!H", p, 16, ihl + (len(p) - tcp) + len(payload))  # IPv4 total length
    p[26:30] = src
    p[30:34] = dst
    struct.pack_into("!HHII", p, tcp, sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF)
    p[tcp + 13] = flags
    return bytes(p) + payload


class Writer:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        self.t = 1795504111_000000  # a real capture's day, in microseconds

    def write(self, pkt, dt=1):
        self.t += dt
        self.f.write(struct.pack("<IIII", self.t // 1000000, self.t % 1000000, len(pkt), len(pkt)))
        self.f.write(pkt)

    def close(self):
        self.f.close()


SYN, ACK, PSH = 0x02, 0x10, 0x08
SERVER = bytes([127, 0, 0, 1])


def handshake(w, client, cport, cseq, sseq):
    w.write(packet(SYN_HDR, client, SERVER, cport, 25, cseq, 0, SYN))
    w.write(packet(SYN_HDR, SERVER, client, 25, cport, sseq, cseq + 1, SYN | ACK))
    w.write(packet(DATA_HDR, client, SERVER, cport, 25, cseq + 1, sseq + 1, ACK))


def flows200k(path, n=200_000):
    """All SYNs first, then one partial line per flow: 200,000 flows open at once."""
    w = Writer(path)
    addr = lambda i: bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
    for i in range(n):
        w.write(packet(SYN_HDR, addr(i), SERVER, 1024 + i % 60000, 25, 1000 * i, 0, SYN))
    for i in range(n):
        line = b"MAIL FROM:<attacker%06d@example.org> SIZE=" % i  # no CRLF, never finished
        w.write(packet(DATA_HDR, addr(i), SERVER, 1024 + i % 60000, 25, 1000 * i + 1, 0,
                       ACK | PSH, line))
    w.close()


def longline(path, total=64 << 20):
    w = Writer(path)
    client = bytes([127, 0, 0, 1])
    cseq, sseq = 0x7FFF0000, 0x10000000
    handshake(w, client, 40000, cseq, sseq)
    greeting = b"220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n"
    w.write(packet(DATA_HDR, SERVER, client, 25, 40000, sseq + 1, cseq + 1, ACK | PSH, greeting))
    chunk = (b"EHLO " + b"A" * SEG)[:SEG]
    body = b"A" * SEG
    sent = 0
    while sent < total:
        seg = (chunk if sent == 0 else body)[:total - sent]
        w.write(packet(DATA_HDR, client, SERVER, 40000, 25, cseq + 1 + sent,
                       sseq + 1 + len(greeting), ACK | PSH, seg))
        sent += len(seg)
    w.close()


def holes(path, n=20_000):
    """Segments 1, 3, 5, ... of 2n (the even ones never come), sent last-first: every one
    arrives out of order and none ever becomes contiguous until a hole is declared."""
    w = Writer(path)
    client = bytes([127, 0, 0, 1])
    cseq, sseq = 0xFFFF0000, 0x20000000  # the stream crosses the 2^32 wrap
    handshake(w, client, 40001, cseq, sseq)
    greeting = b"220 mx.example.test ESMTP Postfix (Debian/GNU)\r\n"
    w.write(packet(DATA_HDR, SERVER, client, 25, 40001, sseq + 1, cseq + 1, ACK | PSH, greeting))
    line = b"NOOP hole test\r\n"
    payload = (line * (SEG // len(line) + 1))[:SEG]
    for k in range(2 * n - 1, 0, -2):
        w.write(packet(DATA_HDR, client, SERVER, 40001, 25, cseq + 1 + k * SEG,
                       sseq + 1 + len(greeting), ACK | PSH, payload))
    w.close()


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("flows200k", "longline", "holes"):
        sys.exit(__doc__)
    globals()[sys.argv[1]](sys.argv[2])
