#!/bin/bash
# The whole test suite from a fresh Debian 12 checkout, as root:
#   install dependencies, configure, build (warnings are errors), run every test.
set -eu
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSMTPCAP_WERROR=ON -DSMTPCAP_PLUGIN=ON
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" --timeout 600
