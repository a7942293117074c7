#!/usr/bin/python3
"""N concurrent, interleaved SMTP sessions with smtplib (one thread per session).

Session i (1..N) sends from sender<i>@example.org to user<i>@example.test, except
that every 5th session (i % 5 == 0) addresses ghost<i>@example.test, which the
Postfix test instance does not know (550 5.1.1): that session then QUITs without DATA.
Random (seeded) pauses between commands make the sessions overlap on the wire.
Usage: concurrent-clients.py HOST PORT N
"""
import random
import smtplib
import sys
import threading
import time

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
barrier = threading.Barrier(n)
results = {}


def session(i):
    rnd = random.Random(i)
    pause = lambda: time.sleep(rnd.uniform(0.0, 0.15))
    rcpt = f"ghost{i:02d}@example.test" if i % 5 == 0 else f"user{i:02d}@example.test"
    barrier.wait()
    pause()
    s = smtplib.SMTP(host, port, local_hostname=f"client{i:02d}.example.org")
    pause()
    s.ehlo(f"client{i:02d}.example.org")
    pause()
    s.mail(f"sender{i:02d}@example.org")
    pause()
    code, msg = s.rcpt(rcpt)
    pause()
    if code == 250:
        body = (f"From: sender{i:02d}@example.org\r\nTo: {rcpt}\r\n"
                f"Subject: concurrent session {i:02d}\r\n\r\n" + f"session {i:02d}\r\n" * 10)
        code, msg = s.data(body)
    pause()
    s.quit()
    results[i] = (rcpt, code, msg.decode())


threads = [threading.Thread(target=session, args=(i,)) for i in range(1, n + 1)]
for t in threads:
    t.start()
for t in threads:
    t.join()
for i in sorted(results):
    print(i, *results[i])
