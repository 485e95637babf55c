#!/usr/bin/env python3
"""The Python anchor of ci/bench-real.sh: one tagged message over SMTP submission (STARTTLS,
AUTH) to oneself, found over IMAPS by `UID SEARCH HEADER` polls 5 ms apart, then deleted.
Trust: the system roots plus MAILSTACK_CA, as `mailtrip --ca-file` does. Env: ci/mailstack's."""
import imaplib, os, smtplib, ssl, sys, time, uuid

E = os.environ
ctx = ssl.create_default_context()
ctx.load_verify_locations(cafile=E["MAILSTACK_CA"])
host, user, pw = E["MAILSTACK_TLS_NAME"], E["MAILSTACK_USER1"], E["MAILSTACK_PASS1"]
tag = uuid.uuid4().hex
msg = f"From: {user}\r\nTo: {user}\r\nSubject: anchor {tag}\r\nX-Anchor: {tag}\r\n\r\nhello\r\n"
imap = imaplib.IMAP4_SSL(host, int(E["MAILSTACK_IMAPS_PORT"]), ssl_context=ctx, timeout=15)
imap.login(user, pw)
imap.select("INBOX")
with smtplib.SMTP(host, int(E["MAILSTACK_SUBMISSION_PORT"]), timeout=15) as s:
    s.starttls(context=ctx)
    s.login(user, pw)
    s.sendmail(user, [user], msg)
deadline = time.monotonic() + 30
while not (uids := imap.uid("SEARCH", "HEADER", "X-Anchor", tag)[1][0].split()):
    if time.monotonic() > deadline:
        sys.exit("anchor: not delivered within 30 s")
    time.sleep(0.005)
imap.uid("STORE", uids[0], "+FLAGS.SILENT", r"(\Deleted)")
imap.expunge()
imap.logout()
