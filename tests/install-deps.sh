#!/bin/bash
# Installs what smtpcap needs to build and test, from Debian 12's packages (run as root).
# Idempotent: packages already present are left alone.
set -eu
pkgs=(build-essential cmake pkg-config libpcap-dev libglib2.0-dev libcmocka-dev python3
      libwireshark-dev wireshark-dev tshark
      swaks python3-aiosmtpd util-linux
      clang libfuzzer-14-dev libclang-rt-14-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
