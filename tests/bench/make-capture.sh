#!/usr/bin/env bash
# Build a large benchmark capture from the project's real captures (captures/*.pcap*).
#
#   tests/bench/make-capture.sh [SIZE_MB] [OUT]      (defaults: 1024, tests/bench/out/bench.pcap)
#
# 1. Every capture in captures/ (30 files: deliveries, failures, AUTH, BDAT, a 3 MiB message,
#    pipelining, STARTTLS/implicit TLS, IPv6, 50 concurrent sessions, ...) is re-segmented by
#    reseg.py into Ethernet-sized TCP segments (payload <= 1500 - IP - TCP header = 1448 bytes
#    for IPv4 with timestamps), re-framed as Ethernet, its server moved to 192.0.2.25 /
#    2001:db8::25, checksums made correct, and its start placed 0.1 s after the previous one.
#    mergecap merges them into one "unit" (~108 sessions, ~3.6 MB).
# 2. The unit is copied N times until the total is >= SIZE_MB MiB. Copy k gets its own client
#    network with tcprewrite (--pnat 127.0.0.0/8 -> 10.A.B.0/24, ::1 -> fd00::A:B:1 with
#    A.B = k) and its own sequence numbers (--tcp-sequence), and starts STEP seconds after
#    copy k-1 (editcap -t), so consecutive copies overlap in time: every flow is distinct and
#    a few hundred sessions are open at once, as on a busy relay.
# 3. mergecap merges the copies chronologically (in groups, deleting intermediates).
#
# OUT.expected gets what the capture holds: sessions, messages, accepted messages and the
# outcome counts, computed from tests/expected-sessions.tsv (the captures' known contents, read
# off with tshark by the people who made them) times the number of copies -- not from smtpcap.
# Only what is visible without TLS keys counts (the message inside starttls-auth / implicit TLS
# is invisible, as the tsv says).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SIZE_MB=${1:-1024}
OUT=${2:-$HERE/out/bench.pcap}
STEP=${STEP:-0.5}          # seconds between the starts of two copies
GROUP=${GROUP:-64}         # copies merged per intermediate file
JOBS=${JOBS:-$(nproc)}
TSV=$ROOT/tests/expected-sessions.tsv

for t in tcprewrite mergecap editcap capinfos python3; do
    command -v $t >/dev/null || { echo "make-capture: $t is missing (apt-get install tcpreplay tshark python3)" >&2; exit 1; }
done
PY=$(python3 -c 'import sys; print(sys.executable)')   # skip the pyenv shim's start-up cost
mkdir -p "$(dirname "$OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
WORK=$(mktemp -d "$(dirname "$OUT")/mkcap.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ---- 1. the unit -------------------------------------------------------------------------
T0=1700000000
i=0
sources=()
for src in "$ROOT"/captures/*.pcap "$ROOT"/captures/*.pcapng; do
    name=$(basename "$src")
    grep -q "^$name	" "$TSV" || { echo "make-capture: $name is not in $TSV; its contents are unknown" >&2; exit 1; }
    in=$src
    if [[ $name == *.pcapng ]]; then
        editcap -F pcap "$src" "$WORK/conv.pcap"
        in=$WORK/conv.pcap
    fi
    "$PY" "$HERE/reseg.py" --start "$(echo "$T0 + $i * 0.1" | bc)" "$in" "$WORK/src$(printf %02d $i).pcap" 2>>"$WORK/reseg.log"
    sources+=("$name")
    i=$((i + 1))
done
rm -f "$WORK/conv.pcap"
mergecap -F pcap -w "$WORK/unit.pcap" "$WORK"/src*.pcap
rm -f "$WORK"/src*.pcap

unit_bytes=$(stat -c %s "$WORK/unit.pcap")
unit_pkts=$(capinfos -M -c -T -r "$WORK/unit.pcap" | cut -f2)
unit_dur=$(capinfos -M -u -T -r "$WORK/unit.pcap" | cut -f2)
target=$((SIZE_MB * 1024 * 1024))
copies=$(( (target - 24 + unit_bytes - 25) / (unit_bytes - 24) ))
[ "$copies" -le 65536 ] || { echo "make-capture: too many copies ($copies)" >&2; exit 1; }

# expected contents of one unit, from the tsv
read -r u_sessions u_messages u_accepted u_outcomes < <(
    awk -F'\t' -v list="$(printf '%s\n' "${sources[@]}")" '
        BEGIN { n = split(list, a, "\n"); for (i = 1; i <= n; i++) want[a[i]] = 1 }
        /^#/ || !($1 in want) { next }
        {
            s++
            if ($6 != "-") { m += split($6, msgs, "|"); for (j in msgs) if (msgs[j] ~ />accepted$/) acc++ }
            split($7, o, ":"); out[o[1]]++
        }
        END {
            line = ""
            for (k in out) line = line (line == "" ? "" : ",") k "=" out[k]
            print s, m, acc, line
        }' "$TSV")

echo "make-capture: unit $unit_bytes bytes, $unit_pkts packets, ${unit_dur}s, $u_sessions sessions," \
     "$u_messages messages ($u_accepted accepted); $copies copies, one every ${STEP}s" >&2

# ---- 2. the copies, 3. merge -----------------------------------------------------------------
make_copy() {  # k
    local k=$1 a=$(( $1 / 256 )) b=$(( $1 % 256 ))
    local off; off=$(echo "$1 * $STEP" | bc)
    tcprewrite --pnat="127.0.0.0/8:10.$a.$b.0/24,[::1/128]:[fd00::$a:$b:0/112]" \
        --tcp-sequence=$(( $1 + 1 )) -i "$WORK/unit.pcap" -o "$WORK/c$1.tmp"
    editcap -t "$off" "$WORK/c$1.tmp" "$WORK/c$1.pcap"
    rm -f "$WORK/c$1.tmp"
}
export -f make_copy
export WORK STEP
groups=()
for ((g = 0; g * GROUP < copies; g++)); do
    lo=$((g * GROUP)); hi=$(( (g + 1) * GROUP )); [ $hi -le $copies ] || hi=$copies
    seq $lo $((hi - 1)) | xargs -P "$JOBS" -I{} bash -c 'make_copy {}'
    files=(); for ((k = lo; k < hi; k++)); do files+=("$WORK/c$k.pcap"); done
    mergecap -F pcap -w "$WORK/g$g.pcap" "${files[@]}"
    rm -f "${files[@]}"
    groups+=("$WORK/g$g.pcap")
    echo "make-capture: copies $lo..$((hi - 1)) merged" >&2
done
if [ ${#groups[@]} -eq 1 ]; then
    mv "${groups[0]}" "$OUT"
else
    mergecap -F pcap -w "$OUT" "${groups[@]}"
    rm -f "${groups[@]}"
fi

# segment sizes actually present
maxseg=$(awk '/largest TCP payload/ { if ($NF > m) m = $NF } END { print m + 0 }' "$WORK/reseg.log")
total_bytes=$(stat -c %s "$OUT")
{
    echo "# written by tests/bench/make-capture.sh $SIZE_MB $OUT on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# what the capture holds = one unit (all of captures/, counts from tests/expected-sessions.tsv) x copies"
    echo "capture=$OUT"
    echo "bytes=$total_bytes"
    echo "packets=$((unit_pkts * copies))"
    echo "copies=$copies"
    echo "sources=${#sources[@]}"
    echo "unit_bytes=$unit_bytes"
    echo "unit_sessions=$u_sessions"
    echo "unit_messages=$u_messages"
    echo "unit_accepted=$u_accepted"
    echo "max_tcp_payload=$maxseg"
    echo "sessions=$((u_sessions * copies))"
    echo "messages=$((u_messages * copies))"
    echo "accepted=$((u_accepted * copies))"
    IFS=, read -ra oc <<<"$u_outcomes"
    for kv in "${oc[@]}"; do echo "outcome_${kv%%=*}=$(( ${kv#*=} * copies ))"; done | sort
} >"$OUT.expected"
cat "$OUT.expected" >&2
