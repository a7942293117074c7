#!/bin/bash
# Live capture end to end on lo: a real SMTP server (aiosmtpd) and a real client (swaks) while
# `smtpcap -i lo` runs. Needs root (CI runs as root); exits 77 (skipped) otherwise.
# Every process is started here and stopped by its PID; every wait is bounded.
set -u
smtpcap=${1:?usage: live.sh SMTPCAP}
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || { echo "live capture test needs root: skipped"; exit 77; }
command -v swaks > /dev/null || { echo "FAIL: swaks is not installed"; exit 1; }
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail=0
say_fail() { echo "FAIL: $*"; fail=1; }
wait_for() { # seconds, command...: poll until the command succeeds
  local t=$(( $1 * 10 )); shift
  while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.1; t=$((t - 1)); done
  return 1
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The default ports (no -p), as a user would run it, unless 2525 is taken on this machine.
port=2525 ports=()
if ! port_free $port; then port=$((20000 + RANDOM % 20000)); ports=(-p "$port"); fi

/usr/bin/python3 "$here/../captures/tools/smtpserver.py" --port "$port" --local-domain example.test \
  > "$tmp/server.log" 2>&1 &
pids+=($!)
wait_for 15 bash -c "(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" \
  || say_fail "the SMTP server did not start: $(cat "$tmp/server.log")"

"$smtpcap" -i lo "${ports[@]}" --json -w "$tmp/live.pcap" > "$tmp/live.json" 2> "$tmp/live.err" &
cap=$!
pids+=($cap)
wait_for 10 grep -q "listening on lo" "$tmp/live.err" || say_fail "smtpcap did not start: $(cat "$tmp/live.err")"

# Privileges dropped before any packet is decoded.
sleep 0.5
uid=$(awk '/^Uid:/ {print $2}' "/proc/$cap/status" 2>/dev/null)
[ -n "$uid" ] && [ "$uid" != 0 ] || say_fail "smtpcap still runs as uid '$uid' after start"

# A delivery: its transcript and verdict appear while smtpcap is still running.
timeout 20 swaks --server "127.0.0.1:$port" --from sender@example.org --to alice@example.test \
  --helo client.example.org --header "Subject: live test" > "$tmp/swaks.log" 2>&1 \
  || say_fail "swaks failed: $(tail -3 "$tmp/swaks.log")"
wait_for 10 grep -q '"type":"session"' "$tmp/live.json" || say_fail "no session object while running"
kill -0 $cap 2>/dev/null || say_fail "smtpcap exited early"
grep -q '"type":"command","session":1,[^}]*"verb":"MAIL"' "$tmp/live.json" || say_fail "MAIL command missing"
grep -q '"type":"session","session":1,.*"rcpt_to":\[{"address":"alice@example.test","code":250' "$tmp/live.json" \
  || say_fail "recipient missing in the session object"
grep -q '"type":"session","session":1,.*"outcome":{"status":"delivered"' "$tmp/live.json" \
  || say_fail "delivered outcome missing"

# A session left open: SIGINT must flush it (incomplete), exit 0, print statistics.
/usr/bin/python3 - "$port" > /dev/null 2>&1 <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.recv(200); s.sendall(b"EHLO open.example.org\r\n"); s.recv(2000)
time.sleep(15)
PY
pids+=($!)
wait_for 10 grep -q '"line":"EHLO open.example.org"' "$tmp/live.json" || say_fail "open session's EHLO not streamed"
kill -INT $cap
for _ in $(seq 100); do kill -0 $cap 2>/dev/null || break; sleep 0.1; done
wait $cap; rc=$?
[ $rc = 0 ] || say_fail "SIGINT exit status $rc, expected 0"
grep -q "dropped by kernel" "$tmp/live.err" || say_fail "no capture statistics on stderr"
grep -q '"type":"session","session":2,.*"helo":"open.example.org".*"outcome":{"status":"incomplete"' "$tmp/live.json" \
  || say_fail "open session not flushed as incomplete"

# -w keeps the evidence: offline decoding of it gives the same sessions.
"$smtpcap" "${ports[@]}" --json -r "$tmp/live.pcap" > "$tmp/offline.json" 2>&1 || say_fail "-r of the -w file failed"
strip() { grep '"type":"session"' "$1" | sed 's/"end":"[^"]*"//; s/"end_reason":"[^"]*"//'; }
diff <(strip "$tmp/live.json") <(strip "$tmp/offline.json") || say_fail "-w capture decodes differently"

# -i any (Linux cooked link type: the VLAN part of the capture filter must not be used there).
"$smtpcap" -i any "${ports[@]}" -c 1 --summary > /dev/null 2> "$tmp/any.err" &
anypid=$!
pids+=($anypid)
wait_for 10 grep -q "listening on any" "$tmp/any.err" || say_fail "-i any did not start: $(cat "$tmp/any.err")"
kill -INT $anypid 2>/dev/null
wait $anypid; rc=$?
[ $rc = 0 ] || say_fail "-i any: exit $rc: $(cat "$tmp/any.err")"

# Errors: no such interface, bad filter.
"$smtpcap" -i no-such-if0 > /dev/null 2> "$tmp/e1"; rc=$?
[ $rc = 1 ] && grep -q "no such interface" "$tmp/e1" || say_fail "no such interface: exit $rc: $(cat "$tmp/e1")"
"$smtpcap" -i lo -f "tcp port" -c 1 > /dev/null 2> "$tmp/e2"; rc=$?
[ $rc = 1 ] && grep -q "bad filter" "$tmp/e2" || say_fail "bad filter: exit $rc: $(cat "$tmp/e2")"

# Not root: the error says what to do.
setpriv --reuid=65534 --regid=65534 --clear-groups "$smtpcap" -i lo -c 1 > /dev/null 2> "$tmp/e3"; rc=$?
[ $rc = 1 ] && grep -q "setcap cap_net_raw,cap_net_admin=eip" "$tmp/e3" \
  || say_fail "unprivileged start: exit $rc: $(cat "$tmp/e3")"

[ $fail = 0 ] && echo "live: all checks passed"
exit $fail
