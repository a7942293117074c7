#!/bin/bash
# Build a private, loopback-only Postfix instance under $1 (config in $1/etc,
# queue in $1/spool). Nothing is ever delivered: every transport is "discard".
# Usage: postfix-instance.sh DIR      (then: /usr/lib/postfix/sbin/master -c DIR/etc -d)
#
# Listeners (all on loopback):
#   127.0.0.1:25, [::1]:25  normal MX for example.test (virtual mailbox domain,
#                           known users in vmailbox, unknown -> 550 5.1.1)
#   127.0.0.1:2526          same, but the client is NOT in mynetworks: mail to a
#                           foreign domain -> 554 5.7.1 Relay access denied
#   127.0.0.1:2554          client rejected at connect -> 554 greeting
#   127.0.0.1:2421          client rejected at connect with 421 -> 421 greeting + disconnect
set -euo pipefail
D=$1
mkdir -p "$D/etc" "$D/spool" "$D/data"
cp /etc/postfix/master.cf.proto "$D/etc/master.cf" 2>/dev/null || cp /etc/postfix/master.cf "$D/etc/master.cf"
cp /etc/postfix/dynamicmaps.cf "$D/etc/" 2>/dev/null || true
[ -d /etc/postfix/dynamicmaps.cf.d ] && cp -r /etc/postfix/dynamicmaps.cf.d "$D/etc/" || true
cat > "$D/etc/main.cf" <<CF
compatibility_level = 3.6
config_directory = $D/etc
queue_directory = $D/spool
data_directory = $D/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
myorigin = \$mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = all
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_banner = \$myhostname ESMTP Postfix (Debian/GNU)
virtual_mailbox_domains = example.test
virtual_mailbox_maps = texthash:$D/etc/vmailbox
virtual_transport = discard
local_transport = discard
default_transport = discard
relay_transport = discard
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
message_size_limit = 20971520
maillog_file = $D/maillog
maillog_file_prefixes = $D, /var, /dev/stdout
biff = no
append_dot_mydomain = no
readme_directory = no
CF
cat > "$D/etc/vmailbox" <<VM
alice@example.test  ok
bob@example.test    ok
carol@example.test  ok
dave@example.test   ok
VM
for i in $(seq -w 1 50); do echo "user$i@example.test ok" >> "$D/etc/vmailbox"; done
echo "127.0.0.1 421 4.7.0 mx.example.test Service temporarily unavailable, try again later" > "$D/etc/refuse421"
# Nothing runs chrooted (the spool is private and has no chroot skeleton).
postconf -c "$D/etc" -F '*/*/chroot = n'
# Drop the default "smtp inet" (port 25 on all loopback addresses) and add ours.
postconf -c "$D/etc" -MX smtp/inet
postconf -c "$D/etc" -M '127.0.0.1:smtp/inet = 127.0.0.1:smtp inet n - n - - smtpd'
postconf -c "$D/etc" -M '[::1]:smtp/inet = [::1]:smtp inet n - n - - smtpd'
postconf -c "$D/etc" -M '127.0.0.1:2526/inet = 127.0.0.1:2526 inet n - n - - smtpd -o mynetworks=192.0.2.0/24'
postconf -c "$D/etc" -M '127.0.0.1:2554/inet = 127.0.0.1:2554 inet n - n - - smtpd -o smtpd_delay_reject=no -o smtpd_client_restrictions=reject'
postconf -c "$D/etc" -M "127.0.0.1:2421/inet = 127.0.0.1:2421 inet n - n - - smtpd -o smtpd_delay_reject=no -o smtpd_client_restrictions=check_client_access,texthash:$D/etc/refuse421"
postfix -c "$D/etc" post-install create-missing >/dev/null 2>&1 || true
postfix -c "$D/etc" set-permissions >/dev/null 2>&1 || true
postfix -c "$D/etc" check
