#!/bin/bash
# Runs each libFuzzer target for a bounded time, then every saved regression input once.
#   bash tests/fuzz/run.sh BUILD_DIR [SECONDS]     (SECONDS per target, default 60)
# BUILD_DIR was configured with CC=clang -DSMTPCAP_FUZZ=ON. The corpus is a temporary copy of
# the seeds (the repository is never written to). Exits non-zero on any crash, leak, timeout,
# out-of-memory or sanitizer report, printing the reproducer's path; the temporary directory
# is then kept so the reproducer survives. FUZZ_KEEP=1 keeps it in any case (the grown
# corpus is in it); FUZZ_JOBS=N runs N processes per target (default 1).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
secs=${2:-60}
jobs=${FUZZ_JOBS:-1}
max_len=65536
work=$(mktemp -d "${TMPDIR:-/tmp}/smtpcap-fuzz.XXXXXX")
failed=0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The seeds of one target, copied into $work/<target>/seeds.
seed_corpus() {
    local target=$1 dir=$work/$1/seeds
    mkdir -p "$dir"
    cp "$here/seeds/${target#fuzz_}"/* "$dir"/ 2>/dev/null
    if [ "$target" = fuzz_reader ]; then
        # The real captures are seeds as they are (those that fit in max_len).
        find "$root/captures" -maxdepth 1 -name '*.pcap*' -size -$((max_len / 1024))k \
             -exec cp {} "$dir"/ \;
    fi
}

fuzz() {
    local target=$1 bin=$build/tests/fuzz/$1 log=$work/$1/fuzz.log
    mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
    seed_corpus "$target"
    echo "--- $target: ${secs}s, corpus $(ls "$work/$target/seeds" | wc -l) seeds"
    local par=()
    [ "$jobs" -gt 1 ] && par=(-fork="$jobs" -ignore_crashes=0 -ignore_timeouts=0 -ignore_ooms=0)
    # New inputs go to the first directory only; the seeds are read.
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=$max_len \
        -dict="$here/smtp.dict" -artifact_prefix="$work/$target/artifacts/" \
        -print_final_stats=1 "${par[@]}" "$work/$target/corpus" "$work/$target/seeds" \
        >"$log" 2>&1
    local rc=$?
    grep -E '^#[0-9]+.*(DONE|pulse)|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' \
        "$log" | tail -4
    grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1
    if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/$target/artifacts")" ]; then
        failed=1
        echo "FAIL: $target exited $rc; log $log"
        grep -E 'ERROR|SUMMARY|runtime error|broken promise|Test unit written' "$log" | head -10
        for a in "$work/$target/artifacts"/*; do
            [ -e "$a" ] || continue
            echo "reproducer: $a   (re-run: $bin $a)"
            # Again with full stacks: GLib has no frame pointers, so a leak's allocation
            # stack stops at g_malloc with the fast unwinder.
            ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 "$bin" "$a" 2>&1 |
                grep -E 'ERROR|SUMMARY|runtime error|broken promise|#[0-9]+ 0x[0-9a-f]+ in [^_]' |
                grep -v 'fuzzer::' | head -25
        done
    fi
}

regressions() {
    local target=$1 bin=$build/tests/fuzz/$1 dir=$here/regressions/$1
    [ -d "$dir" ] || return 0
    local files=("$dir"/*)
    [ -e "${files[0]}" ] || return 0
    echo "--- $target: ${#files[@]} regression inputs"
    for f in "${files[@]}"; do
        if ! ASAN_OPTIONS=$ASAN_OPTIONS:fast_unwind_on_malloc=0 \
             "$bin" -timeout=10 -rss_limit_mb=1024 "$f" >"$work/$target-regression.log" 2>&1; then
            failed=1
            echo "FAIL: regression $f"
            grep -E 'ERROR|SUMMARY|runtime error|broken promise|#[0-9]+ 0x[0-9a-f]+ in [^_]' \
                "$work/$target-regression.log" | grep -v 'fuzzer::' | head -25
        fi
    done
}

for target in fuzz_decoder fuzz_reader; do
    if [ ! -x "$build/tests/fuzz/$target" ]; then
        echo "run.sh: $build/tests/fuzz/$target not built (configure with CC=clang -DSMTPCAP_FUZZ=ON)" >&2
        exit 1
    fi
    [ "$secs" -gt 0 ] && fuzz "$target"
    regressions "$target"
done

if [ $failed -ne 0 ]; then
    echo "fuzzing FAILED; everything is kept in $work"
    exit 1
fi
if [ "${FUZZ_KEEP:-0}" = 1 ]; then echo "kept: $work"; else rm -rf "$work"; fi
echo "fuzzing passed"
