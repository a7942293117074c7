#!/usr/bin/python3
"""One smtplib session carrying several transactions:
  1. message to alice   (accepted)
  2. message to bob     (accepted)
  3. MAIL FROM + RCPT carol, then RSET (abandoned, no DATA)
  4. message to dave    (accepted)
Usage: multi-message.py HOST PORT
"""
import smtplib
import sys

host, port = sys.argv[1], int(sys.argv[2])


def msg(to, n):
    return (f"From: sender@example.org\r\nTo: {to}\r\nSubject: message {n} of a multi-message "
            f"session\r\n\r\nThis is message {n}.\r\n")


with smtplib.SMTP(host, port, local_hostname="client.example.org") as s:
    s.ehlo("client.example.org")
    s.sendmail("sender@example.org", ["alice@example.test"], msg("alice@example.test", 1))
    s.sendmail("sender@example.org", ["bob@example.test"], msg("bob@example.test", 2))
    s.mail("sender@example.org")
    s.rcpt("carol@example.test")
    s.rset()
    s.sendmail("sender@example.org", ["dave@example.test"], msg("dave@example.test", 4))
