#!/usr/bin/env bash
# smtpcap benchmark (issue 6). See tests/bench/README.md.
#
#   tests/bench/run.sh [CAPTURE] [RUNS]
#
# CAPTURE defaults to tests/bench/out/bench.pcap (built by make-capture.sh 1024 if missing);
# RUNS (default 5) is how many times each command is timed; the table shows medians.
# Environment: SLICE_MB (default 100) size of the slice used for tshark and the scaling check;
# RESULTS (default tests/bench/RESULTS.md) where the markdown goes; SKIP_TSHARK=1 and
# SKIP_TCPFLOW=1 leave those rows out; NO_BUILD=1 reuses the existing build; BENCH_REV=REV
# (e.g. HEAD) builds smtpcap from that commit (git archive) instead of the working tree.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUTDIR=$HERE/out
CAP=${1:-$OUTDIR/bench.pcap}
RUNS=${2:-5}
SLICE_MB=${SLICE_MB:-100}
RESULTS=${RESULTS:-$HERE/RESULTS.md}
SRC=$ROOT
BUILD=$OUTDIR/build
if [ -n "${BENCH_REV:-}" ]; then
    SRC=$OUTDIR/src-rev
    BUILD=$OUTDIR/build-rev
fi
SMTPCAP=$BUILD/smtpcap
PCAPREAD=$OUTDIR/pcapread
TMP=$(mktemp -d "$OUTDIR/run.XXXXXX" 2>/dev/null || { mkdir -p "$OUTDIR" && mktemp -d "$OUTDIR/run.XXXXXX"; })
trap 'rm -rf "$TMP"' EXIT
log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }

# ---- tools --------------------------------------------------------------------------------
[ -x /usr/bin/time ] || { [ "$(id -u)" = 0 ] && apt-get install -y time >/dev/null; } || die "/usr/bin/time missing (apt-get install time)"
if [ -z "${SKIP_TCPFLOW:-}" ] && ! command -v tcpflow >/dev/null; then
    [ "$(id -u)" = 0 ] && apt-get install -y tcpflow >/dev/null 2>&1
    command -v tcpflow >/dev/null || { log "tcpflow missing (apt-get install tcpflow): row skipped"; SKIP_TCPFLOW=1; }
fi
if [ -z "${SKIP_TSHARK:-}" ] && ! command -v tshark >/dev/null; then
    log "tshark missing: row skipped"; SKIP_TSHARK=1
fi
command -v editcap >/dev/null && command -v capinfos >/dev/null || die "editcap/capinfos missing (apt-get install tshark)"

# ---- build ----------------------------------------------------------------------------------
mkdir -p "$OUTDIR"
if [ -z "${NO_BUILD:-}" ]; then
    if [ -n "${BENCH_REV:-}" ]; then
        rm -rf "$SRC" && mkdir -p "$SRC" && git -C "$ROOT" archive "$BENCH_REV" | tar -x -C "$SRC" || die "git archive $BENCH_REV failed"
    fi
    log "building smtpcap (Release) from $SRC${BENCH_REV:+ ($BENCH_REV)} in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSMTPCAP_TESTS=OFF -DSMTPCAP_PLUGIN=OFF >"$TMP/cmake.log" 2>&1 \
        && cmake --build "$BUILD" -j"$(nproc)" >>"$TMP/cmake.log" 2>&1 || { cat "$TMP/cmake.log" >&2; die "build failed"; }
    cc -O2 -Wall -o "$PCAPREAD" "$HERE/pcapread.c" -lpcap || die "pcapread build failed"
fi
[ -x "$SMTPCAP" ] && [ -x "$PCAPREAD" ] || die "no build (drop NO_BUILD)"

# ---- capture and slice ----------------------------------------------------------------------
if [ ! -f "$CAP" ]; then
    [ "$CAP" = "$OUTDIR/bench.pcap" ] || die "$CAP: no such file"
    log "no capture yet: building it (make-capture.sh 1024)"
    "$HERE/make-capture.sh" 1024 "$CAP" || die "make-capture failed"
fi
CAP_BYTES=$(stat -c %s "$CAP")
CAP_PKTS=$(capinfos -M -c -T -r "$CAP" | cut -f2)
SLICE=$OUTDIR/slice-${SLICE_MB}M.pcap
slice_pkts=$(( CAP_PKTS * SLICE_MB * 1048576 / CAP_BYTES ))
if [ "$slice_pkts" -ge "$CAP_PKTS" ]; then
    SLICE=$CAP
elif [ ! -f "$SLICE" ] || [ "$SLICE" -ot "$CAP" ]; then
    log "slicing the first $slice_pkts packets (~$SLICE_MB MiB) into $SLICE"
    editcap -F pcap -r "$CAP" "$SLICE" "1-$slice_pkts" || die "editcap failed"
fi
SLICE_BYTES=$(stat -c %s "$SLICE")
mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
log "capture $CAP: $(mb "$CAP_BYTES") MiB, $CAP_PKTS packets; slice $(mb "$SLICE_BYTES") MiB"
cat "$CAP" >/dev/null; cat "$SLICE" >/dev/null   # warm the page cache: every run reads from memory

# ---- the commands ---------------------------------------------------------------------------
# id|file|label|command (FILE is replaced by the capture, DIR by a scratch directory)
TSHARK_DA=(-d 'tcp.port==2400-2600,smtp')   # the captures' non-standard SMTP server ports
cmds=(
    "bare|F|bare libpcap loop (pcapread)|$PCAPREAD FILE"
    "json|F|smtpcap --json|$SMTPCAP -r FILE --json"
    "text|F|smtpcap (text)|$SMTPCAP -r FILE"
    "summary|F|smtpcap --summary|$SMTPCAP -r FILE --summary"
)
[ -n "${SKIP_TCPFLOW:-}" ] || cmds+=("tcpflow|F|tcpflow -o DIR (reassembly only)|tcpflow -r FILE -o DIR")
cmds+=(
    "bare|S|bare libpcap loop (pcapread)|$PCAPREAD FILE"
    "json|S|smtpcap --json|$SMTPCAP -r FILE --json"
    "text|S|smtpcap (text)|$SMTPCAP -r FILE"
    "summary|S|smtpcap --summary|$SMTPCAP -r FILE --summary"
)
[ -n "${SKIP_TSHARK:-}" ] || cmds+=("tshark|S|tshark -Y smtp -T fields|tshark -n -r FILE ${TSHARK_DA[*]} -Y smtp -T fields -e smtp.req.command -e smtp.response.code")
[ -n "${SKIP_TCPFLOW:-}" ] || cmds+=("tcpflow|S|tcpflow -o DIR (reassembly only)|tcpflow -r FILE -o DIR")

# one timed run: wall time from the shell's clock (ns), peak RSS from /usr/bin/time (KiB)
measure() {  # key file command...
    local key=$1 file=$2; shift 2
    local args=() a
    for a in "$@"; do a=${a//FILE/$file}; a=${a//DIR/$TMP/flowdir}; args+=("$a"); done
    rm -rf "$TMP/flowdir"; mkdir -p "$TMP/flowdir"
    local t0 t1 rc
    t0=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$TMP/rss" "${args[@]}" >/dev/null 2>"$TMP/stderr"
    rc=$?
    t1=$(date +%s%N)
    rm -rf "$TMP/flowdir"
    if [ $rc -ne 0 ]; then
        log "$key: exit status $rc: ${args[*]}"; head -5 "$TMP/stderr" >&2
        echo "$key" >>"$TMP/failed"
    fi
    echo $(( (t1 - t0) / 1000 )) >>"$TMP/$key.t"       # microseconds
    tail -1 "$TMP/rss" | awk '{ print $1 }' >>"$TMP/$key.m"                    # KiB
    tail -1 "$TMP/rss" | awk '{ printf "%d\n", ($2 + $3) * 1e6 }' >>"$TMP/$key.c"  # CPU us
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
maxof() { sort -n "$1" | tail -1; }

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "$RUNS rounds of ${#cmds[@]} commands (interleaved); load average $LOAD_START"
for ((r = 1; r <= RUNS; r++)); do
    for c in "${cmds[@]}"; do
        IFS='|' read -r id which label cmd <<<"$c"
        file=$CAP; [ "$which" = S ] && file=$SLICE
        # shellcheck disable=SC2086
        measure "$id.$which" "$file" $cmd
    done
    log "round $r/$RUNS done"
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- totals check ---------------------------------------------------------------------------
EXP=$CAP.expected
check_line="no $EXP: totals not checked"
check_status=SKIPPED
stats_line=
if [ -f "$EXP" ]; then
    "$SMTPCAP" -v -r "$CAP" --json >/dev/null 2>"$TMP/stats"
    stats_line=$(grep -E '^ *sessions [0-9]+:' "$TMP/stats" | tail -1 | sed 's/^ *//')
    got_sessions=$(sed -nE 's/^sessions ([0-9]+):.*/\1/p' <<<"$stats_line")
    got_messages=$(sed -nE 's/.*messages ([0-9]+) \(.*/\1/p' <<<"$stats_line")
    got_accepted=$(sed -nE 's/.*messages [0-9]+ \(([0-9]+) accepted\).*/\1/p' <<<"$stats_line")
    exp() { sed -n "s/^$1=//p" "$EXP"; }
    exp_sessions=$(exp sessions); exp_messages=$(exp messages); exp_accepted=$(exp accepted)
    if [ "$got_sessions" = "$exp_sessions" ] && [ "$got_accepted" = "$exp_accepted" ]; then
        check_status=OK
    else
        check_status=MISMATCH
    fi
    check_line="sessions $got_sessions (expected $exp_sessions), accepted messages $got_accepted (expected $exp_accepted)"
    # extra detail: message total and outcome counts
    detail=
    [ "$got_messages" = "$exp_messages" ] || detail+=" messages $got_messages (expected $exp_messages);"
    while IFS='=' read -r k v; do
        o=${k#outcome_}
        g=$(grep -oE "(^|[ :])$o [0-9]+" <<<"${stats_line%%;*}" | awk '{ print $NF }')
        [ "${g:-0}" = "$v" ] || detail+=" $o ${g:-0} (expected $v);"
    done < <(grep '^outcome_' "$EXP")
    [ -z "$detail" ] || check_line+="; other differences:$detail"
fi
log "totals: $check_status: $check_line"

# ---- report ---------------------------------------------------------------------------------
row() {  # key label bytes barekey
    local key=$1 label=$2 bytes=$3 bare=$4
    [ -f "$TMP/$key.t" ] || return 0
    local t m tb lo hi c
    t=$(median "$TMP/$key.t"); m=$(maxof "$TMP/$key.m"); tb=$(median "$TMP/$bare.t"); c=$(median "$TMP/$key.c")
    lo=$(sort -n "$TMP/$key.t" | head -1); hi=$(maxof "$TMP/$key.t")
    local failed=""
    grep -qx "$key" "$TMP/failed" 2>/dev/null && failed=" (exit status ≠ 0!)"
    awk -v l="$label$failed" -v t="$t" -v m="$m" -v b="$bytes" -v tb="$tb" -v lo="$lo" -v hi="$hi" -v c="$c" -v cb="$(median "$TMP/$bare.c")" 'BEGIN {
        printf "| %s | %.2f | %.2f–%.2f | %.0f | %.1f | %.2f | %.2f | %.2f |\n", l, t / 1e6, lo / 1e6, hi / 1e6, (b / 1048576) / (t / 1e6), m / 1024, t / tb, c / 1e6, (cb > 0 ? c / cb : 0) }'
}
table() {  # which bytes
    local which=$1 bytes=$2 c id w label cmd
    echo "| command | wall (s, median) | wall min–max | MB/s | peak RSS (MiB) | × bare loop | CPU s (user+sys, median) | CPU × bare loop |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    for c in "${cmds[@]}"; do
        IFS='|' read -r id w label cmd <<<"$c"
        [ "$w" = "$which" ] && row "$id.$w" "$label" "$bytes" "bare.$w"
    done
}
tsec() { awk -v t="$(median "$TMP/$1.t")" 'BEGIN { printf "%.2f", t / 1e6 }'; }
ratio() { awk -v a="$(median "$TMP/$1.t")" -v b="$(median "$TMP/$2.t")" 'BEGIN { printf "%.2f", a / b }'; }
cratio() { awk -v a="$(median "$TMP/$1.c")" -v b="$(median "$TMP/$2.c")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
rss() { awk -v m="$(maxof "$TMP/$1.m")" 'BEGIN { printf "%.1f", m / 1024 }'; }
yesno() { awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN { ok = (op == "le") ? v <= lim : v >= lim; print ok ? "yes" : "**no**" }'; }

cpu=$(lscpu | sed -nE 's/^Model name: *//p' | head -1)
ncpu=$(nproc)
ram=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
if [ -n "${BENCH_REV:-}" ]; then
    commit="$(git -C "$ROOT" rev-parse --short "$BENCH_REV") (committed $BENCH_REV, built from git archive)"
else
    commit="$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown) (working tree)"
fi
ver() { "$@" 2>&1 | grep -v '^Running as user' | head -1 | sed 's/ (Git .*//'; }
size_ratio=$(awk -v a="$CAP_BYTES" -v b="$SLICE_BYTES" 'BEGIN { printf "%.2f", a / b }')

{
    echo "# smtpcap benchmark results"
    echo
    echo "Written by \`tests/bench/run.sh\` (see README.md in this directory). Medians of $RUNS runs per"
    echo "command, interleaved, file in the page cache; peak RSS is the largest of the runs; MB/s is MiB of"
    echo "capture file per second; \"× bare loop\" is wall time divided by the bare libpcap loop's on the"
    echo "same file in the same run."
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $cpu, $ncpu CPUs ($(lscpu | sed -nE 's/^Core\(s\) per socket: *//p' | head -1) cores/socket, $(lscpu | sed -nE 's/^Thread\(s\) per core: *//p' | head -1) threads/core), $ram RAM, Linux $(uname -r); load average (1/5/15 min) $LOAD_START at the start, $LOAD_END at the end of the timed runs (other work on the machine inflates the numbers and their spread)"
    echo "- smtpcap: $commit (Release, $(ver "$SMTPCAP" -V)); $(ver tshark -v); $( [ -n "${SKIP_TCPFLOW:-}" ] || ver tcpflow -V); libpcap $(dpkg-query -W -f '${Version}' libpcap0.8 2>/dev/null || echo '?')"
    echo "- Capture: \`$(basename "$CAP")\`, $(mb "$CAP_BYTES") MiB, $CAP_PKTS packets$( [ -f "$EXP" ] && echo ", $(sed -n 's/^sessions=//p' "$EXP") sessions, $(sed -n 's/^accepted=//p' "$EXP") accepted messages ($(sed -n 's/^copies=//p' "$EXP") copies of captures/, TCP payload ≤ $(sed -n 's/^max_tcp_payload=//p' "$EXP") bytes)")"
    echo "- Slice: first $(mb "$SLICE_BYTES") MiB of it (\`editcap -r\`), for tshark and the scaling check"
    echo
    echo "## Full capture ($(mb "$CAP_BYTES") MiB)"
    echo
    table F "$CAP_BYTES"
    echo
    echo "## Slice ($(mb "$SLICE_BYTES") MiB)"
    echo
    table S "$SLICE_BYTES"
    echo
    echo "## Totals reported by smtpcap (\`-v\`) vs what the capture holds ($(basename "$EXP"))"
    echo
    echo "**$check_status**: $check_line"
    [ -z "$stats_line" ] || { echo; echo "smtpcap -v: \`$stats_line\`"; }
    echo
    echo "## Scaling (full capture vs slice, size ratio $size_ratio)"
    echo
    echo "| command | wall ratio full/slice | CPU ratio full/slice | peak RSS slice (MiB) | peak RSS full (MiB) |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for k in bare json text summary tcpflow; do
        [ -f "$TMP/$k.F.t" ] && [ -f "$TMP/$k.S.t" ] || continue
        echo "| $k | $(ratio "$k.F" "$k.S") | $(cratio "$k.F" "$k.S") | $(rss "$k.S") | $(rss "$k.F") |"
    done
    echo
    echo "## Goals of issue 6"
    echo
    echo "| goal | measured | met |"
    echo "| --- | ---: | --- |"
    jr=$(ratio json.F bare.F)
    echo "| \`--json\` wall time ≤ 2.0 × bare loop (full capture) | $jr (CPU time: $(cratio json.F bare.F)) | $(yesno "$jr" 2.0 le) |"
    jm=$(rss json.F)
    echo "| \`--json\` peak RSS ≤ 64 MiB (full capture) | $jm MiB | $(yesno "$jm" 64 le) |"
    if [ -f "$TMP/tshark.S.t" ]; then
        ts=$(ratio tshark.S json.S)
        echo "| tshark time / \`--json\` time ≥ 40 (slice) | $ts (CPU time: $(cratio tshark.S json.S); tshark $(tsec tshark.S) s, $(rss tshark.S) MiB) | $(yesno "$ts" 40 ge) |"
    fi
    echo "| totals (sessions, accepted messages) exact | $check_status | $( [ "$check_status" = OK ] && echo yes || echo '**no**') |"
} >"$RESULTS"

cat "$RESULTS"
log "written to $RESULTS"
