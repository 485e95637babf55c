#!/usr/bin/env python3
"""How long after the SMTP 250 a message becomes visible to an IMAP client that IDLEs versus one
that polls (NOOP every POLL_MS ms), on the ci/mailstack server: the gain an early-poll schedule
would bring over waiting on IDLE. Both watch the same INBOX on separate connections; each round
sends one message over submission (STARTTLS) and times both. Env: ci/mailstack's; ROUNDS, POLL_MS.
Prints medians and percentiles in ms, and the polls a round needed."""
import imaplib, os, select, smtplib, ssl, statistics, sys, time, uuid

E = os.environ
ROUNDS, POLL_MS = int(E.get("ROUNDS", "20")), float(E.get("POLL_MS", "5"))
ctx = ssl.create_default_context()
ctx.load_verify_locations(cafile=E["MAILSTACK_CA"])
host, user, pw = E["MAILSTACK_TLS_NAME"], E["MAILSTACK_USER1"], E["MAILSTACK_PASS1"]

def imap():
    m = imaplib.IMAP4_SSL(host, int(E["MAILSTACK_IMAPS_PORT"]), ssl_context=ctx, timeout=15)
    m.login(user, pw)
    m.select("INBOX")
    return m

idler, poller = imap(), imap()
smtp = smtplib.SMTP(host, int(E["MAILSTACK_SUBMISSION_PORT"]), timeout=15)
smtp.starttls(context=ctx)
smtp.login(user, pw)

def idle_start(m):
    tag = m._new_tag().decode()
    m.send(f"{tag} IDLE\r\n".encode())
    assert m.readline().startswith(b"+"), "no IDLE continuation"
    return tag

def idle_stop(m, tag):
    m.send(b"DONE\r\n")
    while not m.readline().startswith(tag.encode()):
        pass

idle_ms, poll_ms, polls = [], [], []
for _ in range(ROUNDS):
    tag = idle_start(idler)
    sock = idler.sock
    marker = uuid.uuid4().hex
    msg = f"From: {user}\r\nTo: {user}\r\nSubject: detect {marker}\r\n\r\nx\r\n"
    poller.noop()
    count = int(poller.untagged_responses.pop("EXISTS", [b"0"])[-1])
    poller.untagged_responses.clear()
    smtp.sendmail(user, [user], msg)
    t250 = time.perf_counter()
    seen_idle = seen_poll = None
    n = 0
    next_poll = t250
    while seen_idle is None or seen_poll is None:
        now = time.perf_counter()
        if now - t250 > 10:
            sys.exit("idle_vs_poll: nothing seen within 10 s")
        if seen_poll is None and now >= next_poll:
            n += 1
            poller.noop()
            new = poller.untagged_responses.pop("EXISTS", None)
            if new and int(new[-1]) > count:
                seen_poll = time.perf_counter() - t250
            next_poll = now + POLL_MS / 1000
        wait = max(0.0, next_poll - time.perf_counter()) if seen_poll is None else 0.5
        if seen_idle is None and select.select([sock], [], [], wait)[0]:
            if b"EXISTS" in idler.readline():
                seen_idle = time.perf_counter() - t250
    idle_stop(idler, tag)
    idle_ms.append(seen_idle * 1000)
    poll_ms.append(seen_poll * 1000)
    polls.append(n)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

for name, xs in (("IDLE notification", idle_ms), (f"NOOP poll every {POLL_MS:g} ms", poll_ms)):
    print(f"{name:<26} after the 250: p50 {statistics.median(xs):6.1f}  p90 {pct(xs, 90):6.1f}  "
          f"min {min(xs):6.1f}  max {max(xs):6.1f} ms  ({len(xs)} rounds)")
print(f"polls per round: median {statistics.median(polls):g}, max {max(polls)}")
# Leave the mailbox as it was: delete this script's messages.
typ, data = poller.uid("SEARCH", "HEADER", "Subject", "detect ")
for uid in data[0].split():
    poller.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
poller.expunge()
for m in (idler, poller):
    m.logout()
smtp.quit()
