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

# Derived captures (captures/derived/, made by captures/derive.sh): golden files
# tests/golden/derived-NAME.txt|json. smtpcap runs from captures/ with a relative path so that
# the damage messages, which name the file, are the same on every machine.
# Left out until the bug is fixed (see captures/README.md, "Derived captures"):
#   auth-login-success-midstream.pcap  no session at all (a mid-stream flow on port 2587 is
#                                      not recognised as SMTP without -p)
#   large-message-midstream.pcap       capture starting inside DATA: the body is decoded as
#                                      38165 commands, the accepted message is not reported
#   large-message-snap96.pcap          after each cut line the next whole line is discarded
#                                      (RCPT, MAIL's reply, QUIT, 221) and the cut lines' visible
#                                      starts (354, "250 2.0.0 Ok: queued as") are dropped:
#                                      verdict incomplete instead of delivered
#   concurrent-50-midstream.pcap       a greeting seen without the SYN is reported as "220 reply
#                                      with no command waiting for it" plus a warning
known_bad=" "
case $smtpcap in /*) ;; *) smtpcap=$PWD/$smtpcap ;; esac
for cap in "$caps"/derived/*.pcap "$caps"/derived/*.pcapng; do
  [ -e "$cap" ] || continue
  name=$(basename "$cap")
  if [[ "$known_bad" == *" $name "* ]]; then
    echo "skipped: derived/$name (known bug, see tests/golden.sh)"
    continue
  fi
  for mode in txt json; do
    want="$here/golden/derived-$name.$mode"
    if [ "$mode" = txt ]; then args=(--color never); else args=(--json); fi
    got=$(cd "$caps" && "$smtpcap" "${args[@]}" -r "derived/$name" 2>&1; echo "exit=$?")
    n=$((n + 1))
    if [ "$update" = --update ]; then
      printf '%s\n' "$got" > "$want"
    elif ! diff -u "$want" <(printf '%s\n' "$got") > /tmp/golden.diff.$$ 2>&1; then
      echo "FAIL: derived/$name ($mode) differs from tests/golden/derived-$name.$mode:"
      head -40 /tmp/golden.diff.$$
      fail=1
    fi
  done
done
rm -f /tmp/golden.diff.$$
[ "$update" = --update ] && echo "updated $n golden files" && exit 0
echo "$n golden outputs compared"
exit $fail
