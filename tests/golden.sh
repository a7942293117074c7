#!/bin/bash
# Golden transcripts: smtpcap's text and JSON output for every capture in captures/ must equal
# the reviewed files in tests/golden/. After a deliberate change, regenerate with
#   tests/golden.sh build/smtpcap --update
# and review the diff before committing it.
set -u
smtpcap=${1:?usage: golden.sh SMTPCAP [--update]}
update=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
caps="$here/../captures"
fail=0 n=0
for cap in "$caps"/*.pcap "$caps"/*.pcapng; do
  [ -e "$cap" ] || continue
  name=$(basename "$cap")
  for mode in txt json; do
    want="$here/golden/$name.$mode"
    if [ "$mode" = txt ]; then args=(--color never); else args=(--json); fi
    got=$("$smtpcap" "${args[@]}" -r "$cap" 2>&1; echo "exit=$?")
    n=$((n + 1))
    if [ "$update" = --update ]; then
      printf '%s\n' "$got" > "$want"
    elif ! diff -u "$want" <(printf '%s\n' "$got") > /tmp/golden.diff.$$ 2>&1; then
      echo "FAIL: $name ($mode) differs from tests/golden/$name.$mode:"
      head -40 /tmp/golden.diff.$$
      fail=1
    fi
  done
done
rm -f /tmp/golden.diff.$$
[ "$update" = --update ] && echo "updated $n golden files" && exit 0
echo "$n golden outputs compared"
exit $fail
