#!/bin/bash
# Regenerates captures/derived/ from the real captures in captures/: damaged and converted
# variants for the tests (see "Derived captures" in captures/README.md for what each one is
# and what a correct decoder must report from it).
#
# Only packet tools rewrite packets: editcap, mergecap, reordercap (Wireshark 4.0) and
# tcprewrite (tcpreplay 4.4); head -c truncates. capinfos only reads start times. No packet
# is written by hand. The output is deterministic for the committed inputs.
#
#   captures/derive.sh            all of them
#   captures/derive.sh NAME...    only those (file names without directory)
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out="$src/derived"
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for tool in editcap mergecap reordercap tcprewrite capinfos; do
  command -v "$tool" > /dev/null || { echo "derive.sh: $tool is missing (apt-get install tshark tcpreplay)" >&2; exit 1; }
done

# keep FILE FIRST-LAST OUT: packets FIRST..LAST of FILE (1-based, as Wireshark numbers them)
keep() { editcap -F pcap -r "$1" "$4" "$2-$3" > /dev/null; }

# Truncated mid-record: the first packets up to and including one, then cut N bytes before the
# end of that last packet's data (its record header says more bytes follow than the file has).
cut_after() { # FILE LASTPACKET BYTES_TO_CUT OUT
  keep "$1" 1 "$2" "$tmp/cut.pcap"
  local size; size=$(stat -c %s "$tmp/cut.pcap")
  head -c $((size - $3)) "$tmp/cut.pcap" > "$4"
}

# Swaps neighbouring packets A and A+1 (two segments of one direction sent back to back, before
# the peer acknowledged either): split into single-packet files, concatenate them in the new
# order (mergecap -a keeps the given order), then editcap -S 0 makes the timestamps
# non-decreasing again, as a capture from a mirror port that reordered them would have them.
swap_pairs() { # FILE OUT A...
  local f=$1 o=$2; shift 2
  local n prev=0 parts=() a
  n=$(capinfos -c -M -T -r "$f" | cut -f2)
  for a in "$@"; do
    [ "$a" -gt $((prev + 1)) ] && { keep "$f" $((prev + 1)) $((a - 1)) "$tmp/p$a-pre.pcap"; parts+=("$tmp/p$a-pre.pcap"); }
    keep "$f" $((a + 1)) $((a + 1)) "$tmp/p$a-b.pcap"
    keep "$f" "$a" "$a" "$tmp/p$a-a.pcap"
    parts+=("$tmp/p$a-b.pcap" "$tmp/p$a-a.pcap")
    prev=$((a + 1))
  done
  keep "$f" $((prev + 1)) "$n" "$tmp/rest.pcap"
  mergecap -F pcap -a -w "$tmp/swapped.pcap" "${parts[@]}" "$tmp/rest.pcap"
  editcap -F pcap -S 0 "$tmp/swapped.pcap" "$o" > /dev/null
}

start_of() { capinfos -a -S -T -r "$1" | cut -f2; }
# Seconds to add to B's timestamps so that it starts OFFSET seconds after A starts.
shift_to() { awk -v a="$(start_of "$1")" -v b="$(start_of "$2")" -v o="$3" 'BEGIN { printf "%.6f", a - b + o }'; }

only="$*"
make() { # NAME: run derive_NAME if selected
  if [ -z "$only" ] || [[ " $only " == *" $1 "* ]]; then
    "derive_${1//[-.]/_}" "$out/$1"
    echo "derived/$1"
  fi
}

# --- damaged -----------------------------------------------------------------------------
# Cut 3 bytes before the end of packet 21 (the client's QUIT): the message and its 250 are in.
derive_rcpt_unknown_user_cut_pcap() { cut_after "$src/rcpt-unknown-user.pcap" 21 3 "$1"; }
# Cut 20 bytes before the end of packet 700 of 1248: some sessions done, the rest open.
derive_concurrent_50_cut_pcap() { cut_after "$src/concurrent-50.pcap" 700 20 "$1"; }
# Every packet cut to 96 bytes: 30 bytes of TCP payload (Ethernet 14 + IPv4 20 + TCP 32).
derive_large_message_snap96_pcap() { editcap -F pcap -s 96 "$src/large-message.pcap" "$1" > /dev/null; }
# Every packet cut to 256 bytes: every command and reply is whole (the largest, the EHLO reply,
# is a 218-byte frame), every DATA segment is cut.
derive_large_message_snap256_pcap() { editcap -F pcap -s 256 "$src/large-message.pcap" "$1" > /dev/null; }
# The first 13 packets dropped: the capture starts with the client's "AUTH LOGIN" (no SYN,
# no greeting, no EHLO).
derive_auth_login_success_midstream_pcap() { keep "$src/auth-login-success.pcap" 14 32 "$1"; }
# The first 200 of 1248 packets dropped: all 50 connections were opened before (the last SYN
# is packet 181), none had closed yet (the first FIN is packet 222).
# The first 8 packets dropped: the capture starts with the client's "MAIL FROM" (port 25).
derive_rcpt_unknown_user_midstream_pcap() { keep "$src/rcpt-unknown-user.pcap" 9 25 "$1"; }
# The first 20 packets dropped: the capture starts inside the DATA body (a 62464-byte
# segment, not at a line start), 2.9 MB before its end.
derive_large_message_midstream_pcap() { keep "$src/large-message.pcap" 21 152 "$1"; }
derive_concurrent_50_midstream_pcap() { keep "$src/concurrent-50.pcap" 201 1248 "$1"; }

# --- reordered, duplicated, retransmitted ------------------------------------------------
# Three pairs of client DATA segments swapped: 29/30, 61/62, 140/141 (each pair sent back to
# back, acknowledged only after the second).
derive_large_message_reordered_pcap() { swap_pairs "$src/large-message.pcap" "$1" 29 61 140; }
# mergecap of the capture with itself: every packet twice, back to back.
derive_rcpt_unknown_user_dup_pcap() {
  mergecap -F pcap -w "$1" "$src/rcpt-unknown-user.pcap" "$src/rcpt-unknown-user.pcap"
}
# Packets 9-12 (the pipelined MAIL/RCPT/BDAT segment, the server's three replies, the first
# two BDAT data segments) sent again 1.5 ms later, among the last BDAT segments and before
# the final reply: retransmissions of bytes already delivered and acknowledged.
derive_bdat_chunking_retrans_pcap() {
  keep "$src/bdat-chunking.pcap" 9 12 "$tmp/again.pcap"
  editcap -F pcap -t 0.0015 "$tmp/again.pcap" "$tmp/later.pcap" > /dev/null
  mergecap -F pcap -w "$1" "$src/bdat-chunking.pcap" "$tmp/later.pcap"
}
# The same, sorted by reordercap after a plain concatenation (the retransmissions first in
# the file): reordercap must give the same packet order as the chronological merge above.
derive_auth_login_success_retrans_pcap() {
  keep "$src/auth-login-success.pcap" 14 19 "$tmp/again.pcap"  # AUTH LOGIN .. 235
  editcap -F pcap -t 0.0003 "$tmp/again.pcap" "$tmp/later.pcap" > /dev/null
  mergecap -F pcap -a -w "$tmp/cat.pcap" "$tmp/later.pcap" "$src/auth-login-success.pcap"
  reordercap "$tmp/cat.pcap" "$tmp/sorted.pcapng" > /dev/null
  editcap -F pcap "$tmp/sorted.pcapng" "$1" > /dev/null
}

# --- converted ---------------------------------------------------------------------------
# Ethernet header replaced by a Linux cooked (SLL v1) header: packet type 0, ARPHRD_LOOPBACK
# (772), address length 6, address zero, protocol IPv4.
derive_auth_login_success_sll_pcap() {
  tcprewrite --dlt=user --user-dlt=113 \
    --user-dlink=00,00,03,04,00,06,00,00,00,00,00,00,00,00,08,00 \
    -i "$src/auth-login-success.pcap" -o "$1"
}
derive_bdat_chunking_nsec_pcap() { editcap -F nsecpcap "$src/bdat-chunking.pcap" "$1" > /dev/null; }
derive_concurrent_50_pcapng() { editcap -F pcapng "$src/concurrent-50.pcap" "$1" > /dev/null; }
# Nanosecond pcap converted to pcapng: the interface says if_tsresol 9.
derive_rcpt_unknown_user_nsec_pcapng() {
  editcap -F nsecpcap "$src/rcpt-unknown-user.pcap" "$tmp/ns.pcap" > /dev/null
  editcap -F pcapng "$tmp/ns.pcap" "$1" > /dev/null
}
# Three link types in one pcapng (libpcap 1.10 refuses such a file): rcpt-unknown-user
# (Ethernet), auth-login-success rewritten to Linux cooked v1 and moved in time so that it
# runs 0.5 ms after rcpt-unknown-user starts (their packets interleave), and
# bdat-chunking as nanosecond pcap (Ethernet again, its own interface with if_tsresol 9)
# moved to start 1 ms after it. Chronological merge (mergecap's default).
derive_mixed_linktypes_pcapng() {
  derive_auth_login_success_sll_pcap "$tmp/sll.pcap"
  derive_bdat_chunking_nsec_pcap "$tmp/ns.pcap"
  local a="$src/rcpt-unknown-user.pcap"
  editcap -F pcap -t "$(shift_to "$a" "$tmp/sll.pcap" 0.0005)" "$tmp/sll.pcap" "$tmp/sll-moved.pcap" > /dev/null
  editcap -F pcap -t "$(shift_to "$a" "$tmp/ns.pcap" 0.001)" "$tmp/ns.pcap" "$tmp/ns-moved.pcap" > /dev/null
  mergecap -F pcapng -w "$1" "$src/rcpt-unknown-user.pcap" "$tmp/sll-moved.pcap" "$tmp/ns-moved.pcap"
}
# pcapng with blocks and options we do not read: a Decryption Secrets Block (the TLS key log),
# a capture comment (SHB option) and packet comments (EPB options).
derive_starttls_keylog_dsb_pcapng() {
  editcap -F pcapng --inject-secrets "tls,$src/starttls-keylog.keys" \
    --capture-comment "derived by captures/derive.sh" -a "1:first packet" -a "16:plaintext ends" \
    "$src/starttls-keylog.pcap" "$1" > /dev/null
}

for name in rcpt-unknown-user-cut.pcap concurrent-50-cut.pcap large-message-snap96.pcap \
            large-message-snap256.pcap auth-login-success-midstream.pcap \
            rcpt-unknown-user-midstream.pcap large-message-midstream.pcap \
            concurrent-50-midstream.pcap large-message-reordered.pcap rcpt-unknown-user-dup.pcap \
            bdat-chunking-retrans.pcap auth-login-success-retrans.pcap \
            auth-login-success-sll.pcap bdat-chunking-nsec.pcap concurrent-50.pcapng \
            rcpt-unknown-user-nsec.pcapng mixed-linktypes.pcapng starttls-keylog-dsb.pcapng; do
  make "$name"
done
