#!/usr/bin/env python3
"""Re-segment a real loopback SMTP capture into Ethernet-sized TCP segments.

    reseg.py [--mtu 1500] [--start EPOCH] [--server4 ADDR] [--server6 ADDR] IN.pcap OUT.pcap

Loopback captures (MTU 65536) carry TCP segments of up to 64 KiB. A capture of a real mail
server on Ethernet never does: there a segment's payload is at most MTU - IP header - TCP
header (1500 - 20 - 32 = 1448 bytes with TCP timestamps). This script splits every TCP payload
that is too large into consecutive segments of at most that size, with the sequence numbers
they would have had on the wire (seq, seq+1448, ...), the same ACK/window/options, PSH and FIN
only on the last piece, and IP length/ID and checksums recomputed. Every byte of payload comes
from the input; nothing is invented. Packets keep their order; the pieces of one segment share
its timestamp.

It also
  - writes Ethernet (link type 1) whatever the input (Ethernet, Linux SLL, Linux SLL2), so that
    all sources can be merged into one classic pcap;
  - moves the server end of every connection (the destination of the SYN, or else the endpoint
    with the lower port) to --server4 / --server6 (default 192.0.2.25 / 2001:db8::25), so that
    the client side alone stays in 127.0.0.0/8 / ::1 and tcprewrite --pnat can then give each
    copy its own client network;
  - shifts timestamps so that the first packet is at --start (default: unchanged);
  - recomputes correct IPv4 header and TCP checksums (loopback captures carry wrong ones because
    of checksum offload).

Standard library only (classic pcap, microsecond or nanosecond, either byte order, in; classic
microsecond little-endian pcap out). pcapng input: convert first with `editcap -F pcap`.
"""
import argparse
import ipaddress
import struct
import sys

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    table = {
        b"\xd4\xc3\xb2\xa1": ("<", 1), b"\xa1\xb2\xc3\xd4": (">", 1),        # microseconds
        b"\x4d\x3c\xb2\xa1": ("<", 1000), b"\xa1\xb2\x3c\x4d": (">", 1000),  # nanoseconds
    }
    if magic not in table:
        sys.exit("%s: not a classic pcap file (convert pcapng with editcap -F pcap)" % path)
    end, ns_div = table[magic]
    _, _, _, _, snaplen, linktype = struct.unpack(end + "HHiIII", data[4:24])
    off = 24
    pkts = []
    while off + 16 <= len(data):
        sec, frac, caplen, wirelen = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        if caplen != wirelen:
            sys.exit("%s: packet cut by snaplen; cannot re-segment" % path)
        pkts.append((sec * 1000000 + frac // ns_div, data[off:off + caplen]))
        off += caplen
    return linktype & 0xFFFF, snaplen, pkts


def to_ether(linktype, frame):
    """Return (ethertype, network-layer bytes)."""
    if linktype == 1:
        etype = struct.unpack("!H", frame[12:14])[0]
        return etype, frame[14:]
    if linktype == 113:  # Linux cooked v1: 16-byte header, protocol at 14
        return struct.unpack("!H", frame[14:16])[0], frame[16:]
    if linktype == 276:  # Linux cooked v2: 20-byte header, protocol at 0
        return struct.unpack("!H", frame[0:2])[0], frame[20:]
    sys.exit("unsupported link type %d" % linktype)


def parse(etype, net):
    """Return (family, ip_header, tcp_header, payload, src, dst, sport, dport) or None."""
    if etype == ETH_IPV4:
        ihl = (net[0] & 0x0F) * 4
        total = struct.unpack("!H", net[2:4])[0]
        if net[9] != 6:
            return None
        ip, rest = net[:ihl], net[ihl:total]
        src, dst = net[12:16], net[16:20]
    elif etype == ETH_IPV6:
        plen = struct.unpack("!H", net[4:6])[0]
        if net[6] != 6:
            return None
        ip, rest = net[:40], net[40:40 + plen]
        src, dst = net[8:24], net[24:40]
    else:
        return None
    doff = (rest[12] >> 4) * 4
    sport, dport = struct.unpack("!HH", rest[:4])
    return etype, ip, rest[:doff], rest[doff:], src, dst, sport, dport


def build(etype, ip, tcp, payload, src, dst, ip_id_add=0):
    tcp = bytearray(tcp)
    tcp[16:18] = b"\0\0"
    seg = bytes(tcp) + payload
    if etype == ETH_IPV4:
        ip = bytearray(ip)
        ip[2:4] = struct.pack("!H", len(ip) + len(seg))
        ip[4:6] = struct.pack("!H", (struct.unpack("!H", ip[4:6])[0] + ip_id_add) & 0xFFFF)
        ip[12:16], ip[16:20] = src, dst
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack("!H", csum(bytes(ip)))
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
    else:
        ip = bytearray(ip)
        ip[4:6] = struct.pack("!H", len(seg))
        ip[8:24], ip[24:40] = src, dst
        pseudo = src + dst + struct.pack("!IxxxB", len(seg), 6)
    tcp[16:18] = struct.pack("!H", csum(pseudo + seg))
    return bytes(ip) + bytes(tcp) + payload


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mtu", type=int, default=1500)
    ap.add_argument("--start", type=float, default=None, help="first packet's time (epoch s)")
    ap.add_argument("--server4", default="192.0.2.25")
    ap.add_argument("--server6", default="2001:db8::25")
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args()
    srv4 = ipaddress.IPv4Address(a.server4).packed
    srv6 = ipaddress.IPv6Address(a.server6).packed

    linktype, snaplen, pkts = read_pcap(a.input)
    parsed = []
    servers = {}  # connection key -> (server addr, server port)
    for ts, frame in pkts:
        etype, net = to_ether(linktype, frame)
        p = parse(etype, net)
        parsed.append((ts, etype, net, p))
        if p is None:
            continue
        _, _, tcp, _, src, dst, sport, dport = p
        key = frozenset(((src, sport), (dst, dport)))
        flags = tcp[13]
        if flags & 0x02 and not flags & 0x10:      # SYN without ACK: dst is the server
            servers[key] = (dst, dport)
        elif key not in servers and flags & 0x02:   # SYN-ACK: src is the server
            servers[key] = (src, sport)
    shift = 0
    if a.start is not None and parsed:
        shift = int(round(a.start * 1e6)) - parsed[0][0]

    out = open(a.output, "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, max(snaplen, 65535), 1))
    n_in = n_out = split = maxpay = 0
    for ts, etype, net, p in parsed:
        ts += shift
        n_in += 1
        eth = b"\0" * 12 + struct.pack("!H", etype)
        if p is None:
            frames = [eth + net]
        else:
            etype, ip, tcp, payload, src, dst, sport, dport = p
            key = frozenset(((src, sport), (dst, dport)))
            srv = servers.get(key) or ((src, sport) if sport < dport else (dst, dport))
            new_srv = srv4 if etype == ETH_IPV4 else srv6
            nsrc = new_srv if (src, sport) == srv else src
            ndst = new_srv if (dst, dport) == srv else dst
            mss = a.mtu - len(ip) - len(tcp)
            if len(payload) <= mss:
                frames = [eth + build(etype, ip, tcp, payload, nsrc, ndst)]
                maxpay = max(maxpay, len(payload))
            else:
                split += 1
                seq = struct.unpack("!I", tcp[4:8])[0]
                flags = tcp[13]
                frames = []
                pieces = [payload[i:i + mss] for i in range(0, len(payload), mss)]
                for i, piece in enumerate(pieces):
                    t = bytearray(tcp)
                    t[4:8] = struct.pack("!I", (seq + i * mss) & 0xFFFFFFFF)
                    if i != len(pieces) - 1:
                        t[13] = flags & ~(0x08 | 0x01)  # PSH and FIN only on the last piece
                    frames.append(eth + build(etype, ip, bytes(t), piece, nsrc, ndst, i))
                    maxpay = max(maxpay, len(piece))
        for fr in frames:
            out.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(fr), len(fr)))
            out.write(fr)
            n_out += 1
    out.close()
    print("%s: %d packets in, %d out (%d segments split), largest TCP payload %d"
          % (a.input, n_in, n_out, split, maxpay), file=sys.stderr)


if __name__ == "__main__":
    main()
