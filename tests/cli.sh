#!/bin/bash
# Command-line behaviour: exit codes, error messages, stdin, secrets, formats.
# Damaged inputs are derived from real captures at test time (truncation with head -c).
set -u
smtpcap=${1:?usage: cli.sh SMTPCAP}
caps=$(cd "$(dirname "$0")/../captures" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # description, expected exit, command...
  local what=$1 want=$2; shift 2
  "$@" > "$tmp/out" 2> "$tmp/err"; local rc=$?
  if [ "$rc" != "$want" ]; then echo "FAIL: $what: exit $rc, expected $want"; cat "$tmp/err"; fail=1; fi
}
expect_in() { # file, pattern, description
  if ! grep -q -- "$2" "$1"; then echo "FAIL: $3: no '$2' in output:"; head -20 "$1"; fail=1; fi
}
expect_not_in() {
  if grep -q -- "$2" "$1"; then echo "FAIL: $3: '$2' must not appear"; fail=1; fi
}

check "--help" 0 "$smtpcap" --help;                     expect_in "$tmp/out" "Exit status" "--help text"
check "--version" 0 "$smtpcap" --version;               expect_in "$tmp/out" "smtpcap " "--version"
check "no input" 1 "$smtpcap";                          expect_in "$tmp/err" "no input" "no-input message"
check "unknown option" 1 "$smtpcap" --bogus -r "$caps/plain-delivery.pcap"
expect_in "$tmp/err" "unknown option --bogus" "unknown option message"
check "bad port" 1 "$smtpcap" -p 25,x -r "$caps/plain-delivery.pcap"
check "missing file" 1 "$smtpcap" -r "$tmp/nope.pcap"; expect_in "$tmp/err" "nope.pcap" "error names the file"
printf 'this is not a capture file\n' > "$tmp/text.pcap"
check "not a capture" 1 "$smtpcap" -r "$tmp/text.pcap"; expect_in "$tmp/err" "text.pcap" "error names the file"
: > "$tmp/empty.pcap"
check "empty file" 1 "$smtpcap" -r "$tmp/empty.pcap";  expect_in "$tmp/err" "empty.pcap" "error names the file"
check "bad filter" 1 "$smtpcap" -f "tcp port" -r "$caps/plain-delivery.pcap"
expect_in "$tmp/err" "bad filter expression" "filter error message"

# A capture cut in the middle of a record: what came before is still reported, exit 2.
size=$(stat -c %s "$caps/rcpt-unknown-user.pcap")
head -c $((size - 40)) "$caps/rcpt-unknown-user.pcap" > "$tmp/cut.pcap"
check "truncated capture" 2 "$smtpcap" --json -r "$tmp/cut.pcap"
expect_in "$tmp/err" "cut.pcap" "damage message names the file"
expect_in "$tmp/out" '"type":"session"' "sessions before the damage still printed"
expect_in "$tmp/out" '"nosuchuser@example.test","code":550' "decoded content before the damage"

# stdin, and the same result as reading the file
check "stdin" 0 sh -c "\"$smtpcap\" --json -r - < \"$caps/plain-delivery.pcap\""
cp "$tmp/out" "$tmp/stdin.json"
check "file" 0 "$smtpcap" --json -r "$caps/plain-delivery.pcap"
if ! cmp -s "$tmp/out" "$tmp/stdin.json"; then echo "FAIL: stdin and file output differ"; fail=1; fi

# Secrets: masked by default in every format, revealed only with --show-secrets.
for fmt in "" --json; do
  check "auth masked $fmt" 0 "$smtpcap" $fmt -r "$caps/auth-login-success.pcap"
  expect_not_in "$tmp/out" "correct-horse" "password masked ($fmt)"
  expect_not_in "$tmp/out" "Y29ycmVjdC1ob3JzZQ" "base64 password masked ($fmt)"
  expect_in "$tmp/out" "bob" "username shown ($fmt)"
  check "plain masked $fmt" 0 "$smtpcap" $fmt -r "$caps/auth-plain-success.pcap"
  expect_not_in "$tmp/out" "AGJvYgBjb3JyZWN0LWhvcnNl" "PLAIN initial response masked ($fmt)"
done
check "show secrets" 0 "$smtpcap" --show-secrets -r "$caps/auth-login-success.pcap"
expect_in "$tmp/out" "correct-horse" "--show-secrets reveals the password"

# --summary: one line per session
check "summary" 0 "$smtpcap" --summary -r "$caps/concurrent-50.pcap"
n=$(wc -l < "$tmp/out"); [ "$n" = 50 ] || { echo "FAIL: --summary gave $n lines for 50 sessions"; fail=1; }
expect_in "$tmp/out" "failed  RCPT  550 5.1.1" "summary columns"

# -p replaces the port list (no content detection then); -f narrows further.
check "ports" 0 "$smtpcap" --summary -p 25 -r "$caps/auth-login-success.pcap"
[ -s "$tmp/out" ] && { echo "FAIL: -p 25 still decoded a session on port 2587"; fail=1; }
check "ports 2587" 0 "$smtpcap" --summary -p 2587 -r "$caps/auth-login-success.pcap"
expect_in "$tmp/out" "delivered" "-p 2587 decodes it"
check "filter" 0 "$smtpcap" --summary -f "tcp port 45580" -r "$caps/concurrent-50.pcap"
n=$(wc -l < "$tmp/out"); [ "$n" = 1 ] || { echo "FAIL: -f kept $n sessions, expected 1"; fail=1; }

# Colour only when asked (stdout is not a terminal here).
check "no colour in pipes" 0 "$smtpcap" -r "$caps/relay-denied.pcap"
expect_not_in "$tmp/out" $'\033\[' "no escape codes in a pipe"
check "colour always" 0 "$smtpcap" --color always -r "$caps/relay-denied.pcap"
expect_in "$tmp/out" $'\033\[31m' "red for 5xx with --color always"

# Several files in one run: sessions numbered uniquely across them.
check "two files" 0 "$smtpcap" --json -r "$caps/plain-delivery.pcap" -r "$caps/ipv6.pcap"
n=$(grep -c '"type":"session"' "$tmp/out"); [ "$n" = 2 ] || { echo "FAIL: two files gave $n sessions"; fail=1; }
expect_in "$tmp/out" '"type":"session","session":2' "second file's session numbered 2"

[ $fail = 0 ] && echo "cli: all checks passed"
exit $fail
