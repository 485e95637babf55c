#!/usr/bin/env bash
# Self-test of a running mailtrip test stack (start.sh): SMTP submission/inbound via swaks,
# IMAP(S) checks via python3 imaplib with certificate verification, Junk filing, auth failures, no relay.
set -euo pipefail

S=${1:-${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}}
S=${S%/}
[[ -r $S/env ]] || { echo "smoke: FAIL: $S/env not found; run ci/mailstack/start.sh first" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
source "$S/env"
set +a

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RUNID=$(date +%s)-$$
pass() { echo "smoke: ok   - $*"; }
fail() {
  echo "smoke: FAIL - $*" >&2
  echo "----- postfix log (tail)" >&2; tail -n 25 "$MAILSTACK_POSTFIX_LOG" >&2 || true
  echo "----- dovecot log (tail)" >&2; tail -n 25 "$MAILSTACK_DOVECOT_LOG" >&2 || true
  exit 1
}

# swaks with certificate verification against the stack's CA; server name "localhost".
swaks_v() {
  swaks --server "$MAILSTACK_TLS_NAME" --tls-verify --tls-ca-path "$MAILSTACK_CA" \
    --helo client.mailtrip.test --timeout 15 "$@"
}

# Sends a message to bob tagged X-Test: TAG with swaks_v and the further ARGS, its subject
# "PREFIX mailstack smoke TAG"; a refused send prints swaks' transcript and fails as WHAT.
#   send_tagged TAG PREFIX WHAT ARGS...
send_tagged() {
  local tag=$1 prefix=$2 what=$3
  shift 3
  swaks_v --to "$MAILSTACK_USER2" "$@" \
    --header "Subject: ${prefix:+$prefix }mailstack smoke $tag" --add-header "X-Test: $tag" \
    >"$WORK/$tag.log" 2>&1 || { cat "$WORK/$tag.log" >&2; fail "$what failed"; }
}

# ---------------------------------------------------------------- SMTP
# 1. submission (587-style): STARTTLS + AUTH PLAIN, alice -> bob
TAG1=sub-$RUNID
send_tagged "$TAG1" "" "submission (STARTTLS+AUTH) send" \
  --port "$MAILSTACK_SUBMISSION_PORT" --tls --auth PLAIN --from "$MAILSTACK_USER1" \
  --auth-user "$MAILSTACK_USER1" --auth-password "$MAILSTACK_PASS1"
pass "submission port $MAILSTACK_SUBMISSION_PORT: STARTTLS (verified CA, name localhost) + AUTH PLAIN accepted alice->bob"

# 2. submissions (465-style): implicit TLS + AUTH PLAIN, carol -> bob
TAG2=subs-$RUNID
send_tagged "$TAG2" "" "submissions (implicit TLS) send" \
  --port "$MAILSTACK_SUBMISSIONS_PORT" --tlsc --auth PLAIN --from "$MAILSTACK_USER3" \
  --auth-user "$MAILSTACK_USER3" --auth-password "$MAILSTACK_PASS3"
pass "submissions port $MAILSTACK_SUBMISSIONS_PORT: implicit TLS + AUTH PLAIN accepted carol->bob"

# 3. inbound (25-style), no auth: spam-marked mail by header, and by subject tag
TAG3=junkhdr-$RUNID
send_tagged "$TAG3" "" "inbound send (junk header)" \
  --port "$MAILSTACK_SMTP_PORT" --from someone@example.org \
  --add-header "$MAILSTACK_JUNK_HEADER_NAME: $MAILSTACK_JUNK_HEADER_VALUE"
TAG4=junksubj-$RUNID
send_tagged "$TAG4" "$MAILSTACK_JUNK_SUBJECT_TAG" "inbound send (junk subject, STARTTLS)" \
  --port "$MAILSTACK_SMTP_PORT" --tls --from someone@example.org
pass "inbound port $MAILSTACK_SMTP_PORT: unauthenticated delivery to local user accepted (plain and STARTTLS)"

# 4. submission refuses AUTH and mail before STARTTLS (smtpd_tls_auth_only + encrypt)
rc=0
swaks --server "$MAILSTACK_SMTP_HOST" --port "$MAILSTACK_SUBMISSION_PORT" --timeout 15 \
  --from "$MAILSTACK_USER1" --to "$MAILSTACK_USER2" --auth PLAIN \
  --auth-user "$MAILSTACK_USER1" --auth-password "$MAILSTACK_PASS1" >"$WORK/s5.log" 2>&1 || rc=$?
grep -q 'Host did not advertise authentication' "$WORK/s5.log" ||
  { cat "$WORK/s5.log" >&2; fail "submission offered AUTH before STARTTLS (swaks rc=$rc)"; }
rc=0
swaks --server "$MAILSTACK_SMTP_HOST" --port "$MAILSTACK_SUBMISSION_PORT" --timeout 15 \
  --from "$MAILSTACK_USER1" --to "$MAILSTACK_USER2" >"$WORK/s5b.log" 2>&1 || rc=$?
grep -qE '<[~*]\* +530' "$WORK/s5b.log" ||
  { cat "$WORK/s5b.log" >&2; fail "submission without STARTTLS: expected 530 (swaks rc=$rc)"; }
pass "submission without STARTTLS: no AUTH advertised; MAIL -> $(grep -m1 -E '<[~*]\* +530' "$WORK/s5b.log" | sed -E 's/^ *<[~*]\* *//')"

# 5. wrong SMTP password -> 535
if swaks_v --port "$MAILSTACK_SUBMISSION_PORT" --tls --auth PLAIN \
  --auth-user "$MAILSTACK_USER1" --auth-password "wrong-$RUNID" \
  --from "$MAILSTACK_USER1" --to "$MAILSTACK_USER2" >"$WORK/s6.log" 2>&1; then
  cat "$WORK/s6.log" >&2; fail "SMTP AUTH with wrong password succeeded"
fi
grep -qE '<[~*]\* +535' "$WORK/s6.log" || { cat "$WORK/s6.log" >&2; fail "wrong SMTP password: expected 535"; }
pass "wrong SMTP password -> $(grep -m1 -E '<[~*]\* +535' "$WORK/s6.log" | sed -E 's/^ *<[~*]\* *//')"

# 6. no relay: external recipient refused on every port (and the error transport is the backstop)
ext_rcpt=someone-$RUNID@example.com
if swaks_v --port "$MAILSTACK_SUBMISSION_PORT" --tls --auth PLAIN \
  --auth-user "$MAILSTACK_USER1" --auth-password "$MAILSTACK_PASS1" \
  --from "$MAILSTACK_USER1" --to "$ext_rcpt" >"$WORK/s7.log" 2>&1; then
  cat "$WORK/s7.log" >&2; fail "authenticated submission accepted external recipient $ext_rcpt"
fi
grep -qE '<[~*]\* +554.*Relay access denied' "$WORK/s7.log" || { cat "$WORK/s7.log" >&2; fail "external rcpt (authenticated): expected 554 Relay access denied"; }
if swaks_v --port "$MAILSTACK_SMTP_PORT" --from "$MAILSTACK_USER1" --to "$ext_rcpt" >"$WORK/s8.log" 2>&1; then
  cat "$WORK/s8.log" >&2; fail "inbound port relayed to external recipient $ext_rcpt"
fi
grep -qE '<[~*]\* +554.*Relay access denied' "$WORK/s8.log" || { cat "$WORK/s8.log" >&2; fail "external rcpt (inbound): expected 554 Relay access denied"; }
pass "external recipient refused at RCPT on submission (even authenticated) and inbound: 554 Relay access denied"

# 7. unknown local user -> 550 at RCPT
if swaks_v --port "$MAILSTACK_SMTP_PORT" --from someone@example.org --to "nobody-$RUNID@$MAILSTACK_DOMAIN" >"$WORK/s9.log" 2>&1; then
  cat "$WORK/s9.log" >&2; fail "unknown local recipient accepted"
fi
grep -qE '<[~*]\* +550' "$WORK/s9.log" || { cat "$WORK/s9.log" >&2; fail "unknown local recipient: expected 550"; }
pass "unknown local recipient -> 550 at RCPT"

# ---------------------------------------------------------------- IMAP
export TAG1 TAG2 TAG3 TAG4
python3 - <<'PY' || fail "IMAP checks failed (see above)"
import imaplib, os, ssl, sys, time

E = os.environ
CA, NAME = E["MAILSTACK_CA"], E["MAILSTACK_TLS_NAME"]
ctx = ssl.create_default_context(cafile=CA)   # verification + hostname check ON
assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname

def die(msg):
    print(f"smoke: FAIL - {msg}", file=sys.stderr)
    sys.exit(1)

def ok(msg):
    print(f"smoke: ok   - {msg}", flush=True)

def imaps(user, pw):
    m = imaplib.IMAP4_SSL(NAME, int(E["MAILSTACK_IMAPS_PORT"]), ssl_context=ctx, timeout=15)
    m.login(user, pw)
    return m

def find(m, mailbox, tag, timeout=20.0):
    """Poll mailbox for a message with header X-Test: tag; return (uid, raw message)."""
    deadline = time.monotonic() + timeout
    while True:
        typ, _ = m.select(mailbox, readonly=True)
        if typ != "OK":
            die(f"SELECT {mailbox} failed")
        typ, data = m.uid("SEARCH", "HEADER", "X-Test", tag)
        uids = data[0].split() if typ == "OK" and data and data[0] else []
        if uids:
            typ, data = m.uid("FETCH", uids[0], "(BODY.PEEK[])")
            raw = next(p[1] for p in data if isinstance(p, tuple))
            return uids[0].decode(), raw
        if time.monotonic() > deadline:
            return None, None
        time.sleep(0.3)

user2, pass2 = E["MAILSTACK_USER2"], E["MAILSTACK_PASS2"]

# IMAPS (implicit TLS)
m = imaps(user2, pass2)
typ, data = m.capability()   # imaplib caches the pre-login list; ask again
caps = set(data[0].decode().upper().split())
for c in ("IDLE", "UIDPLUS", "MOVE", "SPECIAL-USE"):
    if c not in caps:
        die(f"IMAP capability {c} missing: {sorted(caps)}")
ok(f"IMAPS port {E['MAILSTACK_IMAPS_PORT']}: TLS verified against CA as '{NAME}', login ok; caps include IDLE UIDPLUS MOVE SPECIAL-USE")

for tag in (E["TAG1"], E["TAG2"]):
    uid, raw = find(m, "INBOX", tag)
    if uid is None:
        die(f"message with X-Test: {tag} not found in bob's INBOX within 20 s")
    if f"X-Test: {tag}".encode() not in raw:
        die(f"fetched message for {tag} lacks its X-Test header")
    ok(f"found X-Test: {tag} in INBOX via UID SEARCH HEADER (uid {uid}, {len(raw)} bytes) and fetched it")

# SPECIAL-USE: Junk has \Junk
typ, data = m.list()
junk_line = [l.decode() for l in data if l and b"\\Junk" in l]
if not junk_line or '"Junk"' not in junk_line[0] and " Junk" not in junk_line[0]:
    die(f"LIST shows no \\Junk mailbox: {data}")
ok(f"LIST: {junk_line[0]}")
for attr in ("\\Sent", "\\Trash", "\\Archive", "\\Drafts"):
    if not any(attr.encode() in l for l in data if l):
        die(f"LIST shows no {attr} mailbox: {data}")

for tag in (E["TAG3"], E["TAG4"]):
    uid, _ = find(m, "Junk", tag)
    if uid is None:
        die(f"spam-marked message X-Test: {tag} not in Junk within 20 s")
    uid_inbox, _ = find(m, "INBOX", tag, timeout=0)
    if uid_inbox is not None:
        die(f"spam-marked message X-Test: {tag} also in INBOX")
    ok(f"spam-marked message {tag} filed into Junk (not INBOX) by the global sieve script")
m.logout()

# IMAP (STARTTLS)
m = imaplib.IMAP4(E["MAILSTACK_IMAP_HOST"], int(E["MAILSTACK_IMAP_PORT"]), timeout=15)
if "STARTTLS" not in m.capabilities:
    die(f"STARTTLS not advertised on IMAP port: {m.capabilities}")
m._host = NAME  # imaplib checks the certificate against the host it connected to
m.starttls(ssl_context=ctx)
m.login(user2, pass2)
if find(m, "INBOX", E["TAG1"])[0] is None:
    die("message not visible over IMAP+STARTTLS")
m.logout()
ok(f"IMAP port {E['MAILSTACK_IMAP_PORT']}: STARTTLS verified, login ok, message visible")

# Wrong password: fast NO [AUTHENTICATIONFAILED], repeatedly (no growing penalty)
for i in range(3):
    m = imaplib.IMAP4_SSL(NAME, int(E["MAILSTACK_IMAPS_PORT"]), ssl_context=ctx, timeout=15)
    t0 = time.monotonic()
    try:
        m.login(user2, "wrong-password")
    except imaplib.IMAP4.error as e:
        dt = time.monotonic() - t0
        msg = str(e)
        if "AUTHENTICATIONFAILED" not in msg:
            die(f"wrong IMAP password: expected [AUTHENTICATIONFAILED], got {msg!r}")
        if dt >= 2.0:
            die(f"wrong IMAP password answered after {dt:.2f}s (want < 2 s)")
    else:
        die("IMAP login with wrong password succeeded")
    try:
        m.logout()
    except Exception:
        pass
    ok(f"wrong IMAP password #{i+1}: NO {msg.strip(chr(39)+'b')} in {dt*1000:.0f} ms")
PY

# ---------------------------------------------------------------- nothing left the machine
sleep 0.5
if grep -E 'status=sent' "$MAILSTACK_POSTFIX_LOG" | grep -vE 'relay=(private/)?lmtp|relay=[^,]*lmtp' | grep -q .; then
  grep -E 'status=sent' "$MAILSTACK_POSTFIX_LOG" | grep -vE 'relay=[^,]*lmtp' >&2
  fail "postfix log shows a delivery that did not go to dovecot LMTP"
fi
grep -q 'example\.com.*status=sent' "$MAILSTACK_POSTFIX_LOG" && fail "mail to example.com was sent?!"
pass "postfix log: every delivery went to dovecot LMTP; nothing to example.com"

echo "smoke: ALL OK ($S)"
