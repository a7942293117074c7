#!/bin/bash
# Regenerate the smtpcap test captures with real mail software over loopback.
#
#   sudo captures/make-captures.sh              # every scenario
#   sudo captures/make-captures.sh plain_delivery ipv6   # only these (function names below)
#
# Needs root (tcpdump on lo, postfix master, port 25/465). Debian 12.
# Servers: a private Postfix instance (tools/postfix-instance.sh, all transports
# "discard", loopback only) and aiosmtpd (tools/smtpserver.py).
# Clients: swaks, msmtp, curl, Python smtplib, exim (as BDAT client), raw Python socket
# (only for the "client vanishes" scenario).
# Nothing leaves the machine: every server listens on 127.0.0.1 / ::1 and Postfix
# discards everything it accepts.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${SMTPCAP_CAPTURE_OUT:-$HERE}   # override to test the script without touching the committed files
TOOLS=$HERE/tools
PY=/usr/bin/python3            # Debian's python, which has python3-aiosmtpd
WORK=$(mktemp -d /tmp/smtpcap-captures.XXXXXX)
chmod 755 "$WORK"
LOG=$WORK/log
mkdir -p "$LOG"
PIDS=()

say() { printf '\n=== %s\n' "$*" >&2; }

# --------------------------------------------------------------------------- setup
install_packages() {
    local need=()
    command -v tcpdump >/dev/null || need+=(tcpdump)
    command -v swaks   >/dev/null || need+=(swaks)
    command -v msmtp   >/dev/null || need+=(msmtp)
    command -v curl    >/dev/null || need+=(curl)
    command -v tshark  >/dev/null || need+=(tshark)
    command -v dumpcap >/dev/null || need+=(wireshark-common)
    command -v openssl >/dev/null || need+=(openssl)
    [ -x /usr/lib/postfix/sbin/master ] || need+=(postfix)
    $PY -c 'import aiosmtpd' 2>/dev/null || need+=(python3-aiosmtpd)
    # swaks needs these for TLS, AUTH, CRAM-MD5 and IPv6
    for m in libnet-ssleay-perl libio-socket-ssl-perl libauthen-sasl-perl \
             libdigest-hmac-perl libio-socket-inet6-perl; do
        dpkg -s "$m" >/dev/null 2>&1 || need+=("$m")
    done
    if [ ${#need[@]} -gt 0 ]; then
        say "installing ${need[*]}"
        echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    fi
}

# Exim is only needed as a BDAT/CHUNKING *client*. Installing exim4 would remove
# postfix (both provide mail-transport-agent), so the .debs are unpacked into
# $WORK/exim instead and run with a private config (-C). Exim insists on its
# compiled-in user Debian-exim, which is created if missing (as exim4-base would).
setup_exim() {
    mkdir -p "$WORK/exim/debs"
    (cd "$WORK/exim/debs" && apt-get download exim4-daemon-light exim4-base >/dev/null 2>&1)
    for f in "$WORK"/exim/debs/*.deb; do dpkg -x "$f" "$WORK/exim/root"; done
    getent passwd Debian-exim >/dev/null || adduser --quiet --system --group --allow-bad-names \
        --no-create-home --home /var/spool/exim4 Debian-exim
    EXIM=$WORK/exim/root/usr/sbin/exim4
    mkdir -p "$WORK/exim/spool" "$WORK/exim/log"
    chown -R Debian-exim:Debian-exim "$WORK/exim/spool" "$WORK/exim/log"
    cat > "$WORK/exim/client.conf" <<EOF
exim_path = $EXIM
exim_user = Debian-exim
exim_group = Debian-exim
primary_hostname = client.example.org
spool_directory = $WORK/exim/spool
log_file_path = $WORK/exim/log/%slog
keep_environment =
begin routers
to_local_postfix:
  driver = manualroute
  domains = *
  route_list = * 127.0.0.1
  self = send
  transport = remote_smtp
begin transports
remote_smtp:
  driver = smtp
  port = 25
  allow_localhost
  hosts_try_chunking = *
begin retry
* * F,1m,1m
EOF
}

make_cert() {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mail.example.test \
        -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
}

# ------------------------------------------------------------------ process helpers
wait_port() {   # wait until something listens on TCP port $1
    local i
    for i in $(seq 1 100); do
        ss -ltnH "sport = :$1" | grep -q . && return 0
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2; return 1
}

stop_pid() {    # stop one process we started, by PID
    local pid=$1
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

CAP_PID=
cap_start() {   # cap_start FILE FILTER [extra tcpdump args...]   (default: -i lo)
    local file=$1 filter=$2; shift 2
    local args=("$@"); [ ${#args[@]} -gt 0 ] || args=(-i lo)
    rm -f "$OUT/$file"
    tcpdump "${args[@]}" -Z root -B 16384 --immediate-mode -U -s 0 -w "$OUT/$file" "$filter" \
        2>"$LOG/$file.tcpdump" &
    CAP_PID=$!
    for _ in $(seq 1 50); do grep -q listening "$LOG/$file.tcpdump" && break; sleep 0.1; done
    CAP_FILE=$file
}
cap_stop() {
    sleep 0.5
    kill -INT "$CAP_PID"; wait "$CAP_PID" 2>/dev/null || true
    grep -E 'captured|dropped' "$LOG/$CAP_FILE.tcpdump" | tr '\n' ' ' >&2; echo >&2
    if grep -qE '^[1-9][0-9]* packets dropped by kernel' "$LOG/$CAP_FILE.tcpdump"; then
        echo "WARNING: $CAP_FILE: kernel dropped packets" >&2
    fi
    chmod 644 "$OUT/$CAP_FILE"
}

AIO_PID=
aio_start() {   # aio_start PORT [smtpserver.py options...]
    local port=$1; shift
    $PY "$TOOLS/smtpserver.py" --port "$port" "$@" >"$LOG/aiosmtpd-$port-${CUR:-x}.log" 2>&1 &
    AIO_PID=$!
    PIDS+=("$AIO_PID")
    wait_port "$port"
}
aio_stop() { stop_pid "$AIO_PID"; }

PF=$WORK/postfix
PF_PID=
postfix_start() {
    [ -n "$PF_PID" ] && return 0
    "$TOOLS/postfix-instance.sh" "$PF"
    /usr/lib/postfix/sbin/master -c "$PF/etc" -d >"$LOG/postfix-master.log" 2>&1 &
    PF_PID=$!
    PIDS+=("$PF_PID")
    wait_port 25; wait_port 2526; wait_port 2554; wait_port 2421
}
postfix_stop() {
    [ -n "$PF_PID" ] || return 0
    stop_pid "$PF_PID"     # master stops its own children on SIGTERM
    PF_PID=
}

cleanup() {
    local p
    [ -n "${CAP_PID:-}" ] && kill -INT "$CAP_PID" 2>/dev/null || true
    for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && stop_pid "$p"; done
    [ -f "$PF/maillog" ] && cp "$PF/maillog" "$LOG/postfix-maillog" || true
    echo "logs kept in $LOG" >&2
}
trap cleanup EXIT

SWAKS=(swaks --silent 1 --helo client.example.org --from sender@example.org)
FROM=sender@example.org

# ------------------------------------------------------------------------ scenarios
# Postfix on 127.0.0.1:25 / [::1]:25 knows alice bob carol dave user01..user50 @example.test.

plain_delivery() {
    cap_start plain-delivery.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --to alice@example.test \
        --header 'Subject: plain delivery'
    cap_stop
}

rcpt_unknown_user() {   # 3 recipients, the middle one unknown -> 550 5.1.1; message accepted
    cap_start rcpt-unknown-user.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 \
        --to alice@example.test,nosuchuser@example.test,bob@example.test \
        --header 'Subject: one unknown recipient'
    cap_stop
}

relay_denied() {        # postfix smtpd on 2526 where 127.0.0.1 is not in mynetworks
    cap_start relay-denied.pcap 'tcp port 2526'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2526 --to someone@elsewhere.example \
        --header 'Subject: relay attempt' || true
    cap_stop
}

pipelining() {          # swaks --pipeline: MAIL/RCPT/RCPT/DATA in one write
    cap_start pipelining.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --pipeline \
        --to carol@example.test,dave@example.test --header 'Subject: pipelined'
    cap_stop
}

pipelining_all_rcpts_rejected() {  # pipelined DATA after the only RCPT failed -> 554 5.5.1
    cap_start pipelining-all-rcpts-rejected.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --pipeline \
        --to ghost@example.test --header 'Subject: nobody home' || true
    cap_stop
}

bdat_chunking() {       # exim (client) -> postfix (CHUNKING): BDAT n / BDAT n LAST
    setup_exim
    $PY - > "$WORK/bdat.eml" <<'EOF'
print("From: sender@example.org\nTo: bob@example.test\nSubject: BDAT chunking test\n")
for i in range(1, 401):
    print(f"line {i:04d}: exim splits large messages into several BDAT chunks ............")
EOF
    cap_start bdat-chunking.pcap 'tcp port 25'
    "$EXIM" -C "$WORK/exim/client.conf" -odf -oi -f sender@example.org bob@example.test \
        < "$WORK/bdat.eml" 2>"$LOG/exim.stderr" || true
    cap_stop
    cat "$WORK"/exim/log/mainlog >> "$LOG/exim-mainlog" 2>/dev/null || true
}

large_message() {       # curl uploads a 3 MiB message
    $PY - > "$WORK/large.eml" <<'EOF'
import base64, random
random.seed(3)
print("From: sender@example.org\r\nTo: alice@example.test\r\nSubject: large message (3 MiB)\r\n"
      "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
      "Content-Transfer-Encoding: base64\r\n\r", end="\n")
data = base64.encodebytes(random.randbytes(2300000)).replace(b"\n", b"\r\n")
print(data.decode(), end="")
EOF
    cap_start large-message.pcap 'tcp port 25'
    curl -sS --url smtp://127.0.0.1:25/client.example.org --mail-from sender@example.org \
        --mail-rcpt alice@example.test --upload-file "$WORK/large.eml" -o /dev/null
    cap_stop
}

dot_stuffing() {        # msmtp dot-stuffs body lines that begin with "."
    printf '%s\n' 'From: sender@example.org' 'To: bob@example.test' 'Subject: dots' '' \
        'Lines starting with a dot follow.' '.' '.hidden line' '..two dots' \
        '. dot space' 'end of body' > "$WORK/dots.eml"
    cap_start dot-stuffing.pcap 'tcp port 25'
    msmtp --host=127.0.0.1 --port=25 --domain=client.example.org --auth=off --tls=off \
        --from=sender@example.org bob@example.test < "$WORK/dots.eml"
    cap_stop
}

helo_only() {           # plain RFC 821 style: HELO, not EHLO
    cap_start helo-only.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --protocol SMTP --to alice@example.test \
        --header 'Subject: HELO only'
    cap_stop
}

ehlo_quit_no_mail() {   # EHLO then QUIT, no transaction
    cap_start ehlo-quit-no-mail.pcap 'tcp port 25'
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --to alice@example.test --quit-after EHLO
    cap_stop
}

ipv6() {                # curl to postfix on [::1]:25
    printf 'From: sender@example.org\r\nTo: carol@example.test\r\nSubject: over IPv6\r\n\r\nHello over ::1.\r\n' \
        > "$WORK/v6.eml"
    cap_start ipv6.pcap 'tcp port 25'
    curl -sS --url 'smtp://[::1]:25/client.example.org' --mail-from sender@example.org \
        --mail-rcpt carol@example.test --upload-file "$WORK/v6.eml"
    cap_stop
}

greeting_refused_554() {   # postfix smtpd_client_restrictions=reject, smtpd_delay_reject=no
    cap_start greeting-refused-554.pcap 'tcp port 2554'
    printf 'Subject: x\n\nx\n' | msmtp --host=127.0.0.1 --port=2554 --domain=client.example.org \
        --auth=off --tls=off --from=sender@example.org alice@example.test \
        2>"$LOG/msmtp-554.stderr" || true
    cap_stop
}

greeting_refused_421() {   # access map answers "421 ..." at connect; postfix then disconnects
    cap_start greeting-refused-421.pcap 'tcp port 2421'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2421 --to alice@example.test || true
    cap_stop
}

client_vanishes_mid_data() {  # raw socket client: half the body, then close with RST
    cap_start client-vanishes-mid-data.pcap 'tcp port 25'
    $PY "$TOOLS/vanishing-client.py" 127.0.0.1 25
    cap_stop
}

concurrent_50() {       # 50 overlapping smtplib sessions, every 5th recipient unknown
    cap_start concurrent-50.pcap 'tcp port 25'
    $PY "$TOOLS/concurrent-clients.py" 127.0.0.1 25 50
    cap_stop
}

sll2_cooked() {         # tcpdump -i any -y LINUX_SLL2
    cap_start sll2-cooked.pcap 'tcp port 25' -i any -y LINUX_SLL2
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --to dave@example.test \
        --header 'Subject: captured on any, SLL2'
    cap_stop
}

sll_cooked() {          # tcpdump -i any -y LINUX_SLL
    cap_start sll-cooked.pcap 'tcp port 25' -i any -y LINUX_SLL
    "${SWAKS[@]}" --server 127.0.0.1 --port 25 --to carol@example.test \
        --header 'Subject: captured on any, SLL'
    cap_stop
}

pcapng_delivery() {     # written by dumpcap as pcapng (msmtp -> postfix)
    local f=pcapng-delivery.pcapng
    rm -f "$OUT/$f"
    dumpcap -q -i lo -f 'tcp port 25' -w "$OUT/$f" 2>"$LOG/$f.dumpcap" &
    local dpid=$!
    for _ in $(seq 1 50); do [ -s "$OUT/$f" ] && break; sleep 0.1; done
    sleep 0.5
    printf 'From: sender@example.org\nTo: alice@example.test\nSubject: pcapng\n\nCaptured by dumpcap.\n' |
        msmtp --host=127.0.0.1 --port=25 --domain=client.example.org --auth=off --tls=off \
            --from=sender@example.org alice@example.test
    sleep 1
    kill -INT "$dpid"; wait "$dpid" 2>/dev/null || true
    chmod 644 "$OUT/$f"
}

# ----- aiosmtpd scenarios (each on its own port)

auth_login_success() {
    aio_start 2587 --auth bob:correct-horse --auth-cleartext
    cap_start auth-login-success.pcap 'tcp port 2587'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2587 --to alice@example.test \
        --auth LOGIN --auth-user bob --auth-password correct-horse --header 'Subject: AUTH LOGIN'
    cap_stop; aio_stop
}

auth_login_wrong_password() {
    aio_start 2587 --auth bob:correct-horse --auth-cleartext
    cap_start auth-login-wrong-password.pcap 'tcp port 2587'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2587 --to alice@example.test \
        --auth LOGIN --auth-user bob --auth-password wrong-pony || true
    cap_stop; aio_stop
}

auth_plain_success() {  # swaks: AUTH PLAIN with initial response
    aio_start 2587 --auth bob:correct-horse --auth-cleartext
    cap_start auth-plain-success.pcap 'tcp port 2587'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2587 --to alice@example.test \
        --auth PLAIN --auth-user bob --auth-password correct-horse --header 'Subject: AUTH PLAIN'
    cap_stop; aio_stop
}

auth_plain_wrong_password() {  # curl: AUTH PLAIN, empty 334 challenge, then credentials
    aio_start 2587 --auth bob:correct-horse --auth-cleartext
    printf 'From: sender@example.org\r\nTo: alice@example.test\r\nSubject: x\r\n\r\nx\r\n' > "$WORK/x.eml"
    cap_start auth-plain-wrong-password.pcap 'tcp port 2587'
    curl -sS --url smtp://127.0.0.1:2587/client.example.org --login-options AUTH=PLAIN \
        --user 'bob:wrong-pony' --mail-from sender@example.org --mail-rcpt alice@example.test \
        --upload-file "$WORK/x.eml" 2>"$LOG/curl-plain.stderr" || true
    cap_stop; aio_stop
}

auth_cram_md5() {
    aio_start 2587 --auth bob:correct-horse --auth-cleartext --cram-md5
    cap_start auth-cram-md5.pcap 'tcp port 2587'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2587 --to alice@example.test \
        --auth CRAM-MD5 --auth-user bob --auth-password correct-horse --header 'Subject: CRAM-MD5'
    cap_stop; aio_stop
}

starttls_auth() {       # msmtp: STARTTLS then AUTH PLAIN inside TLS
    aio_start 2588 --starttls --cert "$WORK/cert.pem" --key "$WORK/key.pem" --auth bob:correct-horse
    cap_start starttls-auth.pcap 'tcp port 2588'
    printf 'From: sender@example.org\nTo: alice@example.test\nSubject: STARTTLS + AUTH\n\nsecret stuff\n' |
        msmtp --host=127.0.0.1 --port=2588 --domain=client.example.org --tls=on --tls-starttls=on \
            --tls-certcheck=off --auth=plain --user=bob --passwordeval='echo correct-horse' \
            --from=sender@example.org alice@example.test
    cap_stop; aio_stop
}

starttls_refused() {    # server advertises STARTTLS, answers 454; swaks --tls-optional goes on in clear
    aio_start 2592 --starttls-broken --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    cap_start starttls-refused.pcap 'tcp port 2592'
    "${SWAKS[@]}" --server 127.0.0.1 --port 2592 --to alice@example.test --tls-optional \
        --header 'Subject: STARTTLS refused'
    cap_stop; aio_stop
}

implicit_tls_465() {    # curl smtps:// to aiosmtpd with TLS from the first byte
    aio_start 465 --implicit-tls --cert "$WORK/cert.pem" --key "$WORK/key.pem"
    printf 'From: sender@example.org\r\nTo: alice@example.test\r\nSubject: smtps\r\n\r\nover port 465\r\n' \
        > "$WORK/465.eml"
    cap_start implicit-tls-465.pcap 'tcp port 465'
    curl -sS --insecure --url smtps://127.0.0.1:465/client.example.org \
        --mail-from sender@example.org --mail-rcpt alice@example.test --upload-file "$WORK/465.eml"
    cap_stop; aio_stop
}

greylisting() {         # msmtp; every RCPT gets 451 4.7.1
    aio_start 2589 --greylist '*'
    cap_start greylisting.pcap 'tcp port 2589'
    printf 'From: sender@example.org\nTo: alice@example.test\nSubject: greylisted\n\nlater\n' |
        msmtp --host=127.0.0.1 --port=2589 --domain=client.example.org --auth=off --tls=off \
            --from=sender@example.org alice@example.test 2>"$LOG/msmtp-grey.stderr" || true
    cap_stop; aio_stop
}

python_smtplib() {      # smtplib sends lower-case verbs: "ehlo", "mail FROM:", "rcpt TO:"
    aio_start 2590
    cap_start python-smtplib.pcap 'tcp port 2590'
    $PY - <<'EOF'
import smtplib
from email.message import EmailMessage
m = EmailMessage()
m["From"] = "sender@example.org"; m["To"] = "alice@example.test"; m["Subject"] = "from smtplib"
m.set_content("Sent by Python's smtplib.\n")
with smtplib.SMTP("127.0.0.1", 2590, local_hostname="client.example.org") as s:
    s.send_message(m)
EOF
    cap_stop; aio_stop
}

multi_message_rset() {  # smtplib: 2 messages, a MAIL abandoned with RSET, a 3rd message
    aio_start 2591
    cap_start multi-message-rset.pcap 'tcp port 2591'
    $PY "$TOOLS/multi-message.py" 127.0.0.1 2591
    cap_stop; aio_stop
}

starttls_keylog() {     # smtplib: STARTTLS, AUTH PLAIN and a message inside TLS; the client logs its TLS keys
    aio_start 2593 --starttls --cert "$WORK/cert.pem" --key "$WORK/key.pem" --auth bob:correct-horse
    rm -f "$OUT/starttls-keylog.keys"
    cap_start starttls-keylog.pcap 'tcp port 2593'
    KEYLOG="$OUT/starttls-keylog.keys" $PY - <<'EOF'
import os, smtplib, ssl
from email.message import EmailMessage
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.keylog_filename = os.environ["KEYLOG"]   # SSLKEYLOGFILE format, for tls.keylog_file
m = EmailMessage()
m["From"] = "sender@example.org"; m["To"] = "alice@example.test"; m["Subject"] = "STARTTLS with a key log"
m.set_content("Decrypted with the key log.\n")
with smtplib.SMTP("127.0.0.1", 2593, local_hostname="client.example.org") as s:
    s.starttls(context=ctx)
    s.login("bob", "correct-horse")
    s.send_message(m)
EOF
    cap_stop; aio_stop
    chmod 644 "$OUT/starttls-keylog.keys"
}

ALL=(plain_delivery rcpt_unknown_user relay_denied pipelining pipelining_all_rcpts_rejected
     bdat_chunking large_message dot_stuffing helo_only ehlo_quit_no_mail ipv6
     greeting_refused_554 greeting_refused_421 client_vanishes_mid_data concurrent_50
     sll2_cooked sll_cooked pcapng_delivery
     auth_login_success auth_login_wrong_password auth_plain_success auth_plain_wrong_password
     auth_cram_md5 starttls_auth starttls_refused implicit_tls_465 greylisting
     python_smtplib multi_message_rset)
ALL+=(starttls_keylog)

main() {
    [ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
    install_packages
    make_cert
    postfix_start
    local s list=("$@")
    [ ${#list[@]} -gt 0 ] || list=("${ALL[@]}")
    for s in "${list[@]}"; do
        say "$s"; CUR=$s
        "$s"
    done
    postfix_stop
    say "done"
    ls -l "$OUT"/*.pcap "$OUT"/*.pcapng 2>/dev/null >&2 || true
}

main "$@"
