#!/bin/bash
# Golden transcripts: smtpcap's text and JSON output for every capture in captures/ and
# captures/derived/ must equal the reviewed files in tests/golden/. After a deliberate change,
# regenerate with
#   tests/golden.sh build/smtpcap --update
# and review the diff before committing it.
set -u
smtpcap=${1:?usage: golden.sh SMTPCAP [--update]}
update=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
caps="$here/../captures"
fail=0 n=0
case $smtpcap in /*) ;; *) smtpcap=$PWD/$smtpcap ;; esac

# check GOLDEN_PREFIX CAPTURE_PATH_RELATIVE_TO_captures/: text and JSON against tests/golden/.
# smtpcap runs from captures/ with a relative path, so that messages naming the file (damaged
# captures) are the same on every machine.
check() {
  local prefix=$1 rel=$2 mode want got
  for mode in txt json; do
    want="$here/golden/$prefix$(basename "$rel").$mode"
    if [ "$mode" = txt ]; then args=(--color never); else args=(--json); fi
    got=$(cd "$caps" && "$smtpcap" "${args[@]}" -r "$rel" 2>&1; echo "exit=$?")
    n=$((n + 1))
    if [ "$update" = --update ]; then
      printf '%s\n' "$got" > "$want"
    elif ! diff -u "$want" <(printf '%s\n' "$got") > /tmp/golden.diff.$$ 2>&1; then
      echo "FAIL: $rel ($mode) differs from tests/golden/$prefix$(basename "$rel").$mode:"
      head -40 /tmp/golden.diff.$$
      fail=1
    fi
  done
}

for cap in "$caps"/*.pcap "$caps"/*.pcapng; do
  [ -e "$cap" ] && check "" "$(basename "$cap")"
done
# Damaged and converted variants made by captures/derive.sh: golden files derived-NAME.*
for cap in "$caps"/derived/*.pcap "$caps"/derived/*.pcapng; do
  [ -e "$cap" ] && check derived- "derived/$(basename "$cap")"
done
rm -f /tmp/golden.diff.$$
[ "$update" = --update ] && echo "updated $n golden files" && exit 0
echo "$n golden outputs compared"
exit $fail
