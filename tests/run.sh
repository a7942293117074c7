#!/bin/bash
# The whole test suite from a fresh Debian 12 checkout, as root:
#   1. install dependencies (Debian packages only)
#   2. build with warnings as errors, Wireshark plugin on, and run every test
#   3. build again with AddressSanitizer + UndefinedBehaviorSanitizer and run the suite again
#      (the plugin tests excepted: tshark itself is not built with the sanitizers)
#   4. build the libFuzzer targets with clang and run each for a bounded time
# FUZZ_SECONDS (default 60) sets 4's time per target; FUZZ_SECONDS=0 skips it.
set -eu
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
jobs=$(nproc)
build=${BUILD_DIR:-build}

echo "=== build and test"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTPCAP_WERROR=ON -DSMTPCAP_PLUGIN=ON
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure -j"$jobs" --timeout 600)

echo "=== AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B "$build-asan" -DCMAKE_BUILD_TYPE=Debug -DSMTPCAP_WERROR=ON -DSMTPCAP_PLUGIN=OFF \
      -DSMTPCAP_SANITIZE=ON
cmake --build "$build-asan" -j"$jobs"
# G_SLICE=always-malloc: GLib's slice allocator would otherwise hide leaks from LeakSanitizer.
(cd "$build-asan" && G_SLICE=always-malloc G_DEBUG=gc-friendly ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
   UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j"$jobs" --timeout 900)

if [ "${FUZZ_SECONDS:-60}" != 0 ] && [ -f tests/fuzz/CMakeLists.txt ]; then
  echo "=== fuzzing (${FUZZ_SECONDS:-60} s per target)"
  CC=clang cmake -S . -B "$build-fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTPCAP_PLUGIN=OFF \
        -DSMTPCAP_TESTS=OFF -DSMTPCAP_FUZZ=ON
  cmake --build "$build-fuzz" -j"$jobs"
  bash tests/fuzz/run.sh "$build-fuzz" "${FUZZ_SECONDS:-60}"
fi
echo "=== all tests passed"
