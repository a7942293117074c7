#!/usr/bin/env python3
"""Regenerates the fuzz seed corpora from captures/ (run from anywhere; needs tshark,
editcap, mergecap). The outputs are committed; run this again when captures/ changes.

  seeds/decoder/<capture>-<stream>.rec   every TCP stream of every capture (a few of
      concurrent-50, none of large-message) in fuzz_decoder's record format: two option
      bytes, then one record per (at most 63-byte) piece of each chunk tshark's
      "follow,tcp,raw" shows, in capture order, direction from the chunk's node
  seeds/reader/<variant>                damaged and converted variants of a few captures:
      truncated mid-record, snaplen-cut (editcap -s 96), first packets dropped (mid-stream),
      neighbouring packets swapped, packets duplicated, sequence numbers near 2^32,
      nanosecond pcap, pcapng, pcapng with two link types

Files over 64 KiB are skipped (run.sh runs with -max_len=65536). The unmodified captures are
not copied: run.sh takes those under 64 KiB from captures/ itself.
"""
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CAPS = os.path.normpath(os.path.join(HERE, "..", "..", "captures"))
MAX = 64 * 1024
SKIP = {"large-message.pcap"}
MAX_STREAMS = {"concurrent-50.pcap": 3}


def tshark(*args):
    return subprocess.run(["tshark", *args], check=True, capture_output=True, text=True).stdout


def streams(cap):
    out = tshark("-r", cap, "-T", "fields", "-e", "tcp.stream")
    return sorted({int(x) for x in out.split() if x.strip()})


def follow(cap, n):
    """[(dir, bytes)] of one TCP stream: dir 0 = node 0 (the first packet's sender)."""
    out = tshark("-r", cap, "-qz", "follow,tcp,raw,%d" % n)
    chunks, body = [], False
    for line in out.splitlines():
        if line.startswith("Node 1:"):
            body = True
            continue
        if not body or line.startswith("===") or not line.strip():
            continue
        d = 1 if line.startswith("\t") else 0
        chunks.append((d, bytes.fromhex(line.strip())))
    return chunks


def records(chunks, opt0=0, opt1=0):
    out = bytearray([opt0, opt1])
    for d, data in chunks:
        for i in range(0, len(data), 63):
            piece = data[i:i + 63]
            out.append((d << 7) | len(piece))
            out += piece
    return bytes(out)


def write(path, data):
    if len(data) > MAX:
        print("skip (%d bytes): %s" % (len(data), os.path.relpath(path, HERE)))
        return
    with open(path, "wb") as f:
        f.write(data)


def decoder_seeds(outdir):
    os.makedirs(outdir, exist_ok=True)
    for name in sorted(os.listdir(CAPS)):
        if not name.endswith((".pcap", ".pcapng")) or name in SKIP:
            continue
        cap = os.path.join(CAPS, name)
        base = name.rsplit(".", 1)[0]
        for n in streams(cap)[:MAX_STREAMS.get(name, 1 << 30)]:
            chunks = follow(cap, n)
            write(os.path.join(outdir, "%s-%d.rec" % (base, n)), records(chunks))
            if base.startswith("auth-"):  # secrets shown, mid-stream, 64-byte lines
                write(os.path.join(outdir, "%s-%d-opts.rec" % (base, n)), records(chunks, 0x07))


# ---- pcap record surgery (classic pcap, any byte order) ----

def pcap_split(data):
    magic = data[:4]
    end = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    hdr, recs, off = data[:24], [], 24
    while off + 16 <= len(data):
        caplen = struct.unpack(end + "I", data[off + 8:off + 12])[0]
        recs.append(bytearray(data[off:off + 16 + caplen]))
        off += 16 + caplen
    linktype = struct.unpack(end + "I", hdr[20:24])[0]
    return hdr, recs, end, linktype


def shift_seq(rec, end, delta):
    """Adds delta to the TCP seq and ack of an Ethernet/IPv4 packet (mod 2^32)."""
    p = 16
    if rec[p + 12:p + 14] != b"\x08\x00":
        return
    ip = p + 14
    tcp = ip + (rec[ip] & 0x0f) * 4
    if rec[ip + 9] != 6 or len(rec) < tcp + 12:
        return
    for f in (4, 8):
        v = struct.unpack(">I", rec[tcp + f:tcp + f + 4])[0]
        rec[tcp + f:tcp + f + 4] = struct.pack(">I", (v + delta) & 0xffffffff)


def editcap(*args):
    subprocess.run(["editcap", *args], check=True, capture_output=True)


def reader_seeds(outdir):
    os.makedirs(outdir, exist_ok=True)
    cap = lambda n: os.path.join(CAPS, n)
    out = lambda n: os.path.join(outdir, n)
    with tempfile.TemporaryDirectory() as tmp:
        t = os.path.join(tmp, "x")
        for src, name in (("plain-delivery.pcap", "truncated-mid-record.pcap"),
                          ("pcapng-delivery.pcapng", "truncated-mid-block.pcapng")):
            data = open(cap(src), "rb").read()
            write(out(name), data[:len(data) * 2 // 3])
        for src in ("plain-delivery.pcap", "bdat-chunking.pcap", "starttls-auth.pcap"):
            editcap("-s", "96", cap(src), t, "-F", "pcap")
            write(out("snaplen96-" + src), open(t, "rb").read())
        for src in ("plain-delivery.pcap", "pipelining.pcap"):
            editcap("-r", "-F", "pcap", cap(src), t, "7-1000")
            write(out("midstream-" + src), open(t, "rb").read())
        editcap("-F", "nsecpcap", cap("auth-login-success.pcap"), t)
        write(out("nsec-auth-login-success.pcap"), open(t, "rb").read())
        editcap("-F", "pcapng", cap("sll2-cooked.pcap"), t)
        write(out("sll2-cooked.pcapng"), open(t, "rb").read())
        subprocess.run(["mergecap", "-F", "pcapng", "-w", t, cap("plain-delivery.pcap"),
                        cap("sll-cooked.pcap")], check=True, capture_output=True)
        write(out("mixed-linktypes.pcapng"), open(t, "rb").read())

        hdr, recs, end, _ = pcap_split(open(cap("pipelining.pcap"), "rb").read())
        swapped = list(recs)
        for i in range(3, len(swapped) - 1, 4):
            swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        write(out("reordered-pipelining.pcap"), hdr + b"".join(swapped))
        dup = []
        for i, r in enumerate(recs):
            dup += [r, r] if i % 3 == 1 else [r]
        write(out("duplicated-pipelining.pcap"), hdr + b"".join(dup))

        hdr, recs, end, lt = pcap_split(open(cap("plain-delivery.pcap"), "rb").read())
        if lt == 1:
            for r in recs:
                shift_seq(r, end, 0x100000000 - 1500)  # every stream crosses 2^32
            write(out("seqwrap-plain-delivery.pcap"), hdr + b"".join(recs))


def main():
    decoder_seeds(os.path.join(HERE, "seeds", "decoder"))
    reader_seeds(os.path.join(HERE, "seeds", "reader"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
