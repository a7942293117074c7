#!/usr/bin/python3
"""Configurable aiosmtpd server used by make-captures.sh to produce test captures.

Runs on loopback only. Mail is never stored or relayed: accepted messages are
counted and thrown away. Stop it with SIGTERM/SIGINT (make-captures.sh kills it
by PID).

Replies (besides aiosmtpd's own, e.g. "250 OK" to MAIL/RCPT and "354 End data
with <CR><LF>.<CR><LF>"):
  unknown user      550 5.1.1 <addr>: Recipient address rejected: User unknown in local recipient table
  greylisted        451 4.7.1 <addr>: Recipient address rejected: Greylisted, please try again later
  relay denied      554 5.7.1 <addr>: Relay access denied
  end of data       250 2.0.0 Ok: queued as <QUEUEID>   (deterministic ids: <prefix><counter>)
  AUTH ok / bad     235 2.7.0 Authentication successful / 535 5.7.8 Authentication credentials invalid
  broken STARTTLS   454 4.7.0 TLS not available due to local problem
"""
import argparse
import asyncio
import hashlib
import hmac
import signal
import ssl
import sys
import time
from base64 import b64decode

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, MISSING, auth_mechanism


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="listen address (127.0.0.1 or ::1)")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hostname", default="mail.example.test", help="name in greeting/EHLO")
    p.add_argument("--local-domain", action="append", default=[],
                   help="domain(s) we accept mail for; others get 554 5.7.1 Relay access denied "
                        "(default: accept any domain)")
    p.add_argument("--unknown", action="append", default=[],
                   help="recipient address (or local part) that gets 550 5.1.1 User unknown")
    p.add_argument("--greylist", action="append", default=[],
                   help="recipient address that gets 451 4.7.1 Greylisted ('*' = every recipient)")
    p.add_argument("--auth", action="append", default=[], metavar="USER:PASSWORD",
                   help="enable AUTH with this account (repeatable)")
    p.add_argument("--auth-cleartext", action="store_true",
                   help="offer/allow AUTH without TLS (aiosmtpd auth_require_tls=False)")
    p.add_argument("--cram-md5", action="store_true", help="also offer AUTH CRAM-MD5")
    p.add_argument("--cert", help="PEM certificate (for --starttls / --implicit-tls)")
    p.add_argument("--key", help="PEM private key")
    p.add_argument("--starttls", action="store_true", help="offer STARTTLS")
    p.add_argument("--starttls-broken", action="store_true",
                   help="advertise STARTTLS but answer it with 454 4.7.0")
    p.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte (port 465 style)")
    p.add_argument("--queue-id-prefix", default="A1B2C",
                   help="queue ids are this prefix + a 5-digit counter")
    p.add_argument("--data-size-limit", type=int, default=33554432)
    return p.parse_args()


class Handler:
    def __init__(self, args):
        self.args = args
        self.count = 0
        self.unknown = {u.lower() for u in args.unknown}
        self.greylist = {g.lower() for g in args.greylist}
        self.local_domains = {d.lower() for d in args.local_domain}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        addr = address.lower()
        local, _, domain = addr.rpartition("@")
        if self.local_domains and domain not in self.local_domains:
            return f"554 5.7.1 <{address}>: Relay access denied"
        if addr in self.unknown or local in self.unknown:
            return (f"550 5.1.1 <{address}>: Recipient address rejected: "
                    "User unknown in local recipient table")
        if "*" in self.greylist or addr in self.greylist:
            return (f"451 4.7.1 <{address}>: Recipient address rejected: "
                    "Greylisted, please try again later")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        qid = f"{self.args.queue_id_prefix}{self.count:05d}"
        print(f"accepted {qid}: from={envelope.mail_from} to={envelope.rcpt_tos} "
              f"size={len(envelope.content)}", flush=True)
        return f"250 2.0.0 Ok: queued as {qid}"


class CaptureSMTP(SMTP):
    starttls_broken = False
    accounts = {}

    async def smtp_STARTTLS(self, arg):
        if self.starttls_broken:
            await self.push("454 4.7.0 TLS not available due to local problem")
            return
        return await super().smtp_STARTTLS(arg)

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, _, args):
        if len(args) != 1:
            await self.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{abs(hash(self.session.peer)) % 100000}.{int(time.time())}@{self.hostname}>"
        resp = await self.challenge_auth(challenge)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        try:
            user, digest = resp.decode().rsplit(" ", 1)
        except ValueError:
            await self.push("501 5.5.2 Bad CRAM-MD5 response")
            return AuthResult(success=False, handled=True)
        pw = self.accounts.get(user)
        if pw is not None:
            want = hmac.new(pw.encode(), challenge.encode(), hashlib.md5).hexdigest()
            if hmac.compare_digest(want, digest):
                return AuthResult(success=True, auth_data=LoginPassword(user.encode(), b""))
        return AuthResult(success=False)


def main():
    a = parse_args()
    accounts = dict(x.split(":", 1) for x in a.auth)
    CaptureSMTP.accounts = accounts
    CaptureSMTP.starttls_broken = a.starttls_broken

    def authenticator(server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode(errors="replace")
            pw = auth_data.password.decode(errors="replace")
            return AuthResult(success=accounts.get(user) == pw, handled=False)
        return AuthResult(success=False, handled=False)

    ctx = None
    if a.starttls or a.implicit_tls or a.starttls_broken:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(a)
    kw = dict(hostname=a.hostname, data_size_limit=a.data_size_limit, loop=loop,
              ident="ESMTP aiosmtpd capture server")
    if a.starttls or a.starttls_broken:
        kw["tls_context"] = ctx
    if accounts:
        kw["authenticator"] = authenticator
        kw["auth_require_tls"] = not a.auth_cleartext
    if not a.cram_md5:
        kw["auth_exclude_mechanism"] = ["CRAM-MD5"]
    server = loop.run_until_complete(loop.create_server(
        lambda: CaptureSMTP(handler, **kw), host=a.host, port=a.port,
        ssl=ctx if a.implicit_tls else None, reuse_address=True))
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, loop.stop)
    print(f"listening on [{a.host}]:{a.port}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        print(f"stopped after {handler.count} accepted message(s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
