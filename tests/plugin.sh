#!/bin/bash
# The Wireshark plugin, tested with the real tshark and sharkd over the real captures.
#
#   tests/plugin.sh PLUGIN_DIR CAPTURES_DIR
#
# PLUGIN_DIR has Wireshark's layout, PLUGIN_DIR/<major.minor>/epan/smtpcap.so (the build tree
# gives it: build/dissector/epan/plugins). tshark ignores WIRESHARK_PLUGIN_DIR when run as root,
# so as root every tshark/sharkd runs in a user namespace as an unprivileged id. Personal
# preferences are kept out with an empty WIRESHARK_CONFIG_DIR.
set -u
pdir=$(cd "${1:?usage: plugin.sh PLUGIN_DIR CAPTURES_DIR}" && pwd)
caps=$(cd "${2:?usage: plugin.sh PLUGIN_DIR CAPTURES_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
cfg=$(mktemp -d /tmp/smtpcap-plugin-test.XXXXXX)
chmod 755 "$cfg"
trap 'rm -rf "$cfg"' EXIT
keys=$caps/starttls-keylog.keys

run() {   # run PROGRAM ARGS...: with the plugin from the build tree, unprivileged
    local env=(env WIRESHARK_PLUGIN_DIR="$pdir" WIRESHARK_CONFIG_DIR="$cfg")
    if [ "$(id -u)" = 0 ]; then
        unshare --user --map-user=65534 --map-group=65534 "${env[@]}" "$@"
    else
        "${env[@]}" "$@"
    fi
}
ts() { run tshark "$@" 2>&1; }

fail=0 n=0
ok() { n=$((n + 1)); echo "ok   $1"; }
bad() { n=$((n + 1)); fail=1; echo "FAIL $1"; }
# same DESCRIPTION WANT GOT
same() {
    if [ "$2" = "$3" ]; then ok "$1"; else
        bad "$1"; diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") | sed -n '3,40p'
    fi
}
# has DESCRIPTION NEEDLE HAYSTACK
has() { if grep -qF -- "$2" <<<"$3"; then ok "$1"; else bad "$1: no '$2' in:"; head -20 <<<"$3"; fi; }
hasnt() { if grep -qF -- "$2" <<<"$3"; then bad "$1: '$2' found"; grep -F -- "$2" <<<"$3" | head -5; else ok "$1"; fi; }

# ---- loading ---------------------------------------------------------------------------
has "plugin loads (tshark -G plugins)" "smtpcap.so" "$(ts -G plugins)"
# The port preferences are Decode As preferences: -G currentprefs does not list them.
got=$(ts -o smtpcap.tcp.port:2589 --disable-heuristic smtpcap_tcp -r "$caps/greylisting.pcap" -Y smtpcap | grep -c .)
[ "$got" -gt 5 ] && ok "port preference smtpcap.tcp.port (2589 by port, heuristic off)" \
    || bad "port preference smtpcap.tcp.port: $got frames"
hasnt "TLS port preference smtpcap.tls.port exists" "unknown preference" \
    "$(ts -o smtpcap.tls.port:465 -r "$caps/plain-delivery.pcap" -c 1)"
so=$(find "$pdir" -name smtpcap.so | head -1)
same "only the plugin entry points are exported" \
    "plugin_register plugin_version plugin_want_major plugin_want_minor" \
    "$(nm -D --defined-only "$so" | awk '{print $3}' | sort | tr '\n' ' ' | sed 's/ $//')"

# ---- AUTH LOGIN: prompts, username, masked password -------------------------------------
AUTHF=(-Y smtpcap -T fields -e frame.number -e smtpcap.stage -e smtpcap.command
       -e smtpcap.reply.code -e smtpcap.auth.prompt -e smtpcap.auth.username -e smtpcap.auth.password)
got=$(ts -r "$caps/auth-login-success.pcap" "${AUTHF[@]}")
# aiosmtpd's LOGIN prompts are "User Name\0" / "Password\0" (see captures/README.md).
want=$(printf '%s\n' \
    $'4\tCONNECT\t\t220\t\t\t' \
    $'6\tEHLO\tEHLO\t\t\t\t' \
    $'8\t\t\t\t\t\t' $'9\t\t\t\t\t\t' $'10\t\t\t\t\t\t' $'11\t\t\t\t\t\t' \
    $'12\tEHLO\t\t250\t\t\t' \
    $'14\tAUTH\tAUTH\t\t\t\t' \
    $'15\tAUTH,AUTH\t\t334\tUser Name\\x00\t\t' \
    $'16\tAUTH\t\t\t\tbob\t' \
    $'17\tAUTH,AUTH\t\t334\tPassword\\x00\t\t' \
    $'18\tAUTH\t\t\t\t\t********' \
    $'19\tAUTH,AUTH\t\t235\t\t\t' \
    $'20\tMAIL\tMAIL\t\t\t\t' $'21\tMAIL\t\t250\t\t\t' \
    $'22\tRCPT\tRCPT\t\t\t\t' $'23\tRCPT\t\t250\t\t\t' \
    $'24\tDATA\tDATA\t\t\t\t' $'25\tDATA\t\t354\t\t\t' $'26\tDATA\t\t\t\t\t' \
    $'27\tDATA\t\t250\t\t\t' $'28\tQUIT\tQUIT\t\t\t\t' $'29\tQUIT\t\t221\t\t\t')
same "auth-login-success: prompts decoded, username bob, password masked" "$want" "$got"
all=$(ts -r "$caps/auth-login-success.pcap" -Y smtpcap -T fields -e smtpcap.auth.line \
      -e smtpcap.command.line -e smtpcap.auth.password -e _ws.col.Info)
hasnt "auth-login-success: no password in smtpcap fields or Info" "correct-horse" "$all"
hasnt "auth-login-success: no base64 password either" "Y29ycmVjdC1ob3JzZQ==" "$all"
got=$(ts -r "$caps/auth-login-success.pcap" -o smtpcap.show_secrets:TRUE -Y smtpcap.auth.password \
      -T fields -e frame.number -e smtpcap.auth.password -e smtpcap.auth.line)
same "auth-login-success: show_secrets reveals the password" $'18\tcorrect-horse\tY29ycmVjdC1ob3JzZQ==' "$got"
got=$(ts -r "$caps/auth-login-success.pcap" -Y smtpcap.auth.cleartext -T fields -e frame.number)
same "auth-login-success: AUTH in cleartext warned" "14" "$got"

# AUTH PLAIN with initial response: the command line itself carries the secret.
got=$(ts -r "$caps/auth-plain-success.pcap" -Y 'smtpcap.command == "AUTH"' -T fields \
      -e smtpcap.command.line -e smtpcap.auth.username -e smtpcap.auth.password -e _ws.col.Info)
same "auth-plain-success: AUTH PLAIN line masked" \
    $'AUTH PLAIN ********\tbob\t********\tC: AUTH PLAIN ******** [AUTH username: bob] [AUTH password: ********]' "$got"
got=$(ts -r "$caps/auth-plain-success.pcap" -o smtpcap.show_secrets:TRUE -Y 'smtpcap.command == "AUTH"' \
      -T fields -e smtpcap.command.line -e smtpcap.auth.password)
same "auth-plain-success: revealed with show_secrets" \
    $'AUTH PLAIN AGJvYgBjb3JyZWN0LWhvcnNl\tcorrect-horse' "$got"
got=$(ts -r "$caps/auth-login-wrong-password.pcap" -Y smtpcap.auth.result -T fields \
      -e smtpcap.auth.mechanism -e smtpcap.auth.result -e smtpcap.reply.code -e smtpcap.enhanced)
same "auth-login-wrong-password: result failure 535 5.7.8" $'LOGIN\tfailure\t535\t5.7.8' "$got"

# ---- a 550 5.1.1 RCPT reply -----------------------------------------------------------
f550=$(ts -r "$caps/rcpt-unknown-user.pcap" -Y 'tcp.payload contains "550 5.1.1"' -T fields -e frame.number)
got=$(ts -r "$caps/rcpt-unknown-user.pcap" -Y 'smtpcap.reply.code == 550' -T fields -e frame.number \
      -e smtpcap.stage -e smtpcap.reply.code -e smtpcap.reply.to -e smtpcap.enhanced \
      -e smtpcap.enhanced.class -e smtpcap.enhanced.subject -e smtpcap.enhanced.detail \
      -e smtpcap.enhanced.meaning -e _ws.col.Info)
same "rcpt-unknown-user: the 550 frame: stage RCPT, 5.1.1 and its meaning, Info" \
    "$f550"$'\tRCPT\t550\tRCPT\t5.1.1\t5\t1\t1\tbad destination mailbox address\tS: 550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown in virtual mailbox table [RCPT rejected: no such user (bad destination mailbox address)]' \
    "$got"
got=$(ts -r "$caps/rcpt-unknown-user.pcap" -Y smtpcap.reply.permfail -T fields -e frame.number)
same "rcpt-unknown-user: 5xx expert error on that frame only" "$f550" "$got"
got=$(ts -r "$caps/rcpt-unknown-user.pcap" -Y smtpcap.outcome -T fields -e smtpcap.outcome \
      -e smtpcap.outcome.stage -e smtpcap.outcome.code -e smtpcap.outcome.enhanced)
same "rcpt-unknown-user: outcome partial at RCPT 550 5.1.1" $'partial\tRCPT\t550\t5.1.1' "$got"
has "rcpt-unknown-user: outcome has a hint" "smtpcap.outcome.hint" \
    "$(ts -r "$caps/rcpt-unknown-user.pcap" -Y smtpcap.outcome.hint -T fields -e smtpcap.outcome.hint \
       | sed 's/.\+/smtpcap.outcome.hint/')"

# ---- STARTTLS: plaintext ends on exactly the 220 frame --------------------------------
f220=$(ts -r "$caps/starttls-auth.pcap" -Y 'tcp.payload contains "220 Ready to start TLS"' -T fields -e frame.number)
got=$(ts -r "$caps/starttls-auth.pcap" -Y smtpcap.tls.plaintext_end -T fields -e frame.number \
      -e smtpcap.stage -e smtpcap.reply.code -e smtpcap.reply.to -e smtpcap.tls.mode)
same "starttls-auth: tls.plaintext_end on exactly the 220 frame ($f220)" \
    "$f220"$'\tSTARTTLS\t220\tSTARTTLS\tstarttls' "$got"
got=$(ts -r "$caps/starttls-auth.pcap" -Y smtpcap.tls.plaintext_end.expert -T fields -e frame.number)
same "starttls-auth: expert note 'plaintext ends here'" "$f220" "$got"
has "starttls-auth: expert text" "plaintext ends here" \
    "$(ts -r "$caps/starttls-auth.pcap" -q -z expert,note)"
ntls=$(ts -r "$caps/starttls-auth.pcap" -Y "tls && frame.number > $f220" | grep -c .)
[ "$ntls" -gt 5 ] && ok "starttls-auth: TLS takes the conversation after the 220 ($ntls frames)" \
    || bad "starttls-auth: TLS after the 220: $ntls frames"
got=$(ts -r "$caps/starttls-auth.pcap" -Y "smtpcap && frame.number > $f220" -T fields -e frame.number -e smtpcap.outcome)
same "starttls-auth: nothing decoded after the 220 but the outcome" $'47\tencrypted' "$got"

# ---- the stages of a plain session; Info column -----------------------------------------
got=$(ts -r "$caps/plain-delivery.pcap" -Y smtpcap -T fields -e smtpcap.stage | tr '\n' ' ')
same "plain-delivery: stages in order" \
    "CONNECT EHLO EHLO MAIL MAIL RCPT RCPT DATA DATA DATA DATA QUIT QUIT " "$got"
info=$(ts -r "$caps/plain-delivery.pcap" -Y smtpcap -T fields -e _ws.col.Info)
has "plain-delivery: Info C: MAIL FROM" "C: MAIL FROM:<sender@example.org>" "$info"
has "plain-delivery: Info S: 250 2.1.5 [meaning]" "S: 250 2.1.5 Ok [recipient accepted]" "$info"
has "plain-delivery: Info on the 221 names the outcome" "[SMTP session delivered]" "$info"
got=$(ts -r "$caps/plain-delivery.pcap" -Y 'smtpcap.reply.to == "(end of data)"' -T fields \
      -e smtpcap.reply.code -e smtpcap.enhanced -e smtpcap.message.size)
same "plain-delivery: reply to end of data" $'250\t2.0.0\t' "$got"

# ---- built-in smtp chained, and the preference that turns it off ------------------------
n1=$(ts -r "$caps/plain-delivery.pcap" -Y 'smtpcap && smtp' | grep -c .)
n2=$(ts -r "$caps/plain-delivery.pcap" -o smtpcap.call_smtp:FALSE -Y smtp | grep -c .)
[ "$n1" -gt 10 ] && [ "$n2" = 0 ] && ok "built-in smtp runs after smtpcap ($n1 frames), off by preference" \
    || bad "built-in smtp chaining: with=$n1 without=$n2"
has "built-in smtp still dissects the message (IMF)" "imf" \
    "$(ts -r "$caps/plain-delivery.pcap" -Y imf -T fields -e frame.protocols)"

# ---- the heuristic finds SMTP on other ports --------------------------------------------
for c in greylisting:2589 auth-login-success:2587 python-smtplib:2590 multi-message-rset:2591 \
         starttls-refused:2592; do
    file=${c%%:*} port=${c##*:}
    got=$(ts -r "$caps/$file.pcap" -Y smtpcap -T fields -e tcp.srcport -e tcp.dstport -e smtpcap.stage | head -1)
    same "heuristic: $file on port $port" "$port"$'\t'"$(cut -f2 <<<"$got")"$'\tCONNECT' "$got"
done
got=$(ts -r "$caps/greylisting.pcap" --disable-heuristic smtpcap_tcp -Y smtpcap | grep -c .)
same "heuristic: greylisting.pcap not decoded with the heuristic off" "0" "$got"
got=$(ts -r "$caps/greylisting.pcap" -Y smtpcap.reply.tempfail -T fields -e smtpcap.stage \
      -e smtpcap.reply.code -e smtpcap.enhanced -e smtpcap.enhanced.meaning)
same "greylisting: 451 4.7.1 at RCPT, expert warning" \
    $'RCPT\t451\t4.7.1\tdelivery not authorized, message refused' "$got"

# ---- outcomes agree with captures/expected-outcomes.tsv ---------------------------------
while IFS=$'\t' read -r file sessions tls status stage code enh rest; do
    case $file in '#'*|concurrent-50.pcap|implicit-tls-465.pcap) continue ;; esac
    [ -e "$caps/$file" ] || continue
    got=$(ts -r "$caps/$file" -Y smtpcap.outcome -T fields -e smtpcap.outcome -e smtpcap.outcome.stage \
          -e smtpcap.outcome.code -e smtpcap.outcome.enhanced)
    case $status in
    delivered|no_mail) got=$(cut -f1 <<<"$got"); want=$status ;;
    incomplete|encrypted) got=$(cut -f1,2 <<<"$got"); want="$status"$'\t'"$stage" ;;
    *) want="$status"$'\t'"$stage"$'\t'"$code"$'\t'"$enh" ;;
    esac
    same "outcome: $file" "$want" "$got"
done < "$caps/expected-outcomes.tsv"
got=$(ts -r "$caps/concurrent-50.pcap" -Y smtpcap.outcome -T fields -e smtpcap.outcome -e smtpcap.outcome.code \
      | sort | uniq -c | sed 's/^ *//')
same "outcome: concurrent-50.pcap (40 delivered, 10 failed 550)" $'40 delivered\t250\n10 failed\t550' "$got"

# ---- re-dissection: one pass, -2 and sharkd random access agree -------------------------
FIELDS=(smtpcap.stage smtpcap.command smtpcap.command.arg smtpcap.command.line smtpcap.reply.code
        smtpcap.reply.to smtpcap.reply.time smtpcap.reply.line smtpcap.reply.meaning smtpcap.enhanced
        smtpcap.enhanced.class smtpcap.enhanced.meaning smtpcap.auth.mechanism smtpcap.auth.prompt
        smtpcap.auth.username smtpcap.auth.password smtpcap.auth.result smtpcap.tls.plaintext_end
        smtpcap.message.size smtpcap.gap smtpcap.anomaly smtpcap.outcome smtpcap.outcome.hint
        smtpcap.decrypted)
EF=(-T fields -e frame.number); for f in "${FIELDS[@]}"; do EF+=(-e "$f"); done
for f in "$caps"/*.pcap "$caps"/*.pcapng; do
    b=$(basename "$f")
    one=$(ts -r "$f" "${EF[@]}" -e _ws.col.Info)
    two=$(ts -2 -r "$f" "${EF[@]}" -e _ws.col.Info)
    same "one pass = -2: $b" "$one" "$two"
done
one=$(ts -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" "${EF[@]}" -e _ws.col.Info)
two=$(ts -2 -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" "${EF[@]}" -e _ws.col.Info)
same "one pass = -2: starttls-keylog.pcap decrypted" "$one" "$two"

# sharkd: every frame requested in reverse order.
SF=(smtpcap.stage smtpcap.command smtpcap.command.arg smtpcap.reply.code smtpcap.reply.to
    smtpcap.enhanced smtpcap.enhanced.meaning smtpcap.auth.prompt smtpcap.auth.username
    smtpcap.auth.password smtpcap.tls.plaintext_end smtpcap.message.size smtpcap.outcome)
TF=(-Y smtpcap -T fields -e frame.number); for f in "${SF[@]}"; do TF+=(-e "$f"); done
for b in pipelining.pcap bdat-chunking.pcap concurrent-50.pcap auth-login-success.pcap \
         starttls-auth.pcap client-vanishes-mid-data.pcap; do
    want=$(ts -r "$caps/$b" "${TF[@]}")
    got=$(run /usr/bin/python3 "$here/plugin/sharkd_fields.py" sharkd -- "$caps/$b" "${SF[@]}" 2>&1)
    same "sharkd random access = tshark: $b ($(grep -c . <<<"$want") frames)" "$want" "$got"
done
want=$(ts -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" "${TF[@]}")
got=$(SMTPCAP_SHARKD_PREFS="tls.keylog_file=$keys" run /usr/bin/python3 "$here/plugin/sharkd_fields.py" \
      sharkd -- "$caps/starttls-keylog.pcap" "${SF[@]}" 2>&1)
same "sharkd random access = tshark: starttls-keylog.pcap decrypted" "$want" "$got"

# ---- a key-logged STARTTLS session: AUTH inside TLS ------------------------------------
got=$(ts -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" -Y smtpcap.auth.username \
      -T fields -e smtpcap.decrypted -e smtpcap.stage -e smtpcap.auth.mechanism -e smtpcap.auth.username \
      -e smtpcap.auth.password -e smtpcap.command.line)
same "starttls-keylog: AUTH username inside TLS, password masked" \
    $'1\tAUTH,AUTH,AUTH\tPLAIN,PLAIN\tbob\t********\tAUTH PLAIN ********' "$got"
got=$(ts -r "$caps/starttls-keylog.pcap" -Y smtpcap.auth.username | grep -c .)
same "starttls-keylog: nothing decoded inside TLS without the key log" "0" "$got"
got=$(ts -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" -Y 'smtpcap.tls.plaintext_end || smtpcap.outcome' \
      -T fields -e frame.number -e smtpcap.tls.plaintext_end -e smtpcap.outcome -e smtpcap.outcome.tls)
same "starttls-keylog: plaintext ends at 16; decrypted session delivered" \
    $'16\t1\t\t\n40\t\tdelivered\tstarttls' "$got"
got=$(ts -r "$caps/starttls-keylog.pcap" -o "tls.keylog_file:$keys" -Y smtpcap.auth.cleartext | grep -c .)
same "starttls-keylog: AUTH inside TLS is not flagged cleartext" "0" "$got"

echo "$n checks, $([ $fail = 0 ] && echo all passed || echo FAILURES)"
exit $fail
