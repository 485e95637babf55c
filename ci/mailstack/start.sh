#!/usr/bin/env bash
# Starts a throw-away Postfix + Dovecot mail stack on 127.0.0.1 (random free ports, own CA,
# three virtual users) with all state under STATE_DIR; writes STATE_DIR/env and prints its path.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
S=${1:-${MAILSTACK_DIR:-/tmp/mailtrip-mailstack}}
case $S in /*) ;; *) S=$PWD/$S ;; esac
S=${S%/}
DOMAIN=mailtrip.test
USERS=(alice bob carol)

die() { echo "mailstack: ERROR: $*" >&2; exit 1; }
log() { echo "mailstack: $*" >&2; }

[[ $(id -u) == 0 ]] || die "must run as root (postfix/dovecot instances need it)"
for c in postfix postconf dovecot doveadm sievec openssl python3; do
  command -v "$c" >/dev/null 2>&1 || die "'$c' not found; run ci/mailstack/install.sh first"
done

# ---------------------------------------------------------------- stop + wipe previous run
[[ -n $S && $S != / && $S != /tmp && $S != /root && $S != /home ]] || die "refusing STATE_DIR=$S"
[[ $S =~ ^[A-Za-z0-9/._+-]+$ ]] || die "STATE_DIR must match [A-Za-z0-9/._+-]+ (it ends up unquoted in configs and env): $S"
if [[ -e $S ]]; then
  bash "$HERE/stop.sh" "$S" >&2
  if [[ -n $(ls -A "$S" 2>/dev/null) && ! -e $S/.mailstack ]]; then
    die "$S exists, is not empty and is not a mailstack dir (no .mailstack marker); refusing to wipe"
  fi
  rm -rf "$S"
fi
mkdir -p "$S"
chmod 0755 "$S"
touch "$S/.mailstack"
mkdir -p "$S"/{certs,postfix,dovecot,sieve,mail}

# ---------------------------------------------------------------- system users
if ! id vmail >/dev/null 2>&1; then
  groupadd --system vmail 2>/dev/null || true
  useradd --system --gid vmail --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin vmail
fi
VMAIL_UID=$(id -u vmail)
VMAIL_GID=$(id -g vmail)
for u in postfix dovecot dovenull; do id "$u" >/dev/null 2>&1 || die "system user $u missing (packages not installed?)"; done
chown vmail:vmail "$S/mail"
chmod 0700 "$S/mail"

# ---------------------------------------------------------------- TLS: CA + server cert
C=$S/certs
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 30 \
  -keyout "$C/ca.key" -out "$C/ca.pem" -subj "/O=mailtrip test/CN=mailtrip mailstack test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
  -keyout "$C/server.key" -out "$C/server.csr" -subj "/O=mailtrip test/CN=localhost" 2>/dev/null
cat >"$C/server.ext" <<EOF
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
EOF
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial \
  -sha256 -days 30 -extfile "$C/server.ext" -out "$C/server.pem" 2>/dev/null
cat "$C/server.pem" "$C/ca.pem" >"$C/server-fullchain.pem"
chmod 0600 "$C/ca.key" "$C/server.key"
chmod 0644 "$C/ca.pem" "$C/server.pem" "$C/server-fullchain.pem"
openssl verify -CAfile "$C/ca.pem" "$C/server.pem" >/dev/null || die "generated cert does not verify"

# ---------------------------------------------------------------- free ports
# Bind all sockets at once (so they are distinct), then release them.
read -r P_SMTP P_SUB P_SUBS P_IMAP P_IMAPS P_STRIP < <(python3 - <<'PY'
import socket
socks = []
for _ in range(6):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
)
[[ -n ${P_STRIP:-} ]] || die "could not pick free ports"

# ---------------------------------------------------------------- users
USERS_FILE=$S/dovecot/users
VMAILBOX=$S/postfix/vmailbox
: >"$USERS_FILE"
: >"$VMAILBOX"
declare -a ADDRS PASSES
for u in "${USERS[@]}"; do
  addr=$u@$DOMAIN
  pass=$(openssl rand -hex 12)
  ADDRS+=("$addr")
  PASSES+=("$pass")
  # user:password:uid:gid:gecos:home:shell:extra
  echo "$addr:{PLAIN}$pass:$VMAIL_UID:$VMAIL_GID::$S/mail/$DOMAIN/$u::" >>"$USERS_FILE"
  echo "$addr OK" >>"$VMAILBOX"
done
chown root:dovecot "$USERS_FILE"
chmod 0640 "$USERS_FILE"

# ---------------------------------------------------------------- sieve (global, runs before user scripts)
cat >"$S/sieve/before.sieve" <<'EOF'
require ["fileinto"];
# mailtrip test stack: simulate a spam filter.
if anyof (header :contains "X-Mailtrip-Test-Spam" "yes",
          header :contains "subject" "[spam-test]") {
  fileinto "Junk";
  stop;
}
EOF
sievec "$S/sieve/before.sieve" >/dev/null || die "sievec failed"
chmod 0755 "$S/sieve"
chmod 0644 "$S/sieve"/*

# ---------------------------------------------------------------- dovecot
D=$S/dovecot
RUN=$D/run   # base_dir: sockets, master.pid
mkdir -p "$RUN" "$D/state"
DH=
[[ -r /usr/share/dovecot/dh.pem ]] && DH="ssl_dh = </usr/share/dovecot/dh.pem"
cat >"$D/dovecot.conf" <<EOF
# Generated by ci/mailstack/start.sh -- throw-away test configuration.
instance_name = mailtrip-mailstack
base_dir = $RUN
state_dir = $D/state
protocols = imap lmtp
listen = 127.0.0.1
log_path = $S/dovecot.log
info_log_path = $S/dovecot.log
auth_verbose = yes
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = $VMAIL_UID
last_valid_uid = $VMAIL_UID
first_valid_gid = $VMAIL_GID
last_valid_gid = $VMAIL_GID

ssl = yes
ssl_cert = <$C/server.pem
ssl_key = <$C/server.key
ssl_min_protocol = TLSv1.2
$DH

auth_mechanisms = plain login
# Answer failed logins immediately (default: 2 s delay).
auth_failure_delay = 0
disable_plaintext_auth = yes

# Dovecot 2.3 answers failed logins from a 500 ms flush timer even with auth_failure_delay=0,
# unless the request carries the "nodelay" extra field. A failing passdb rolls its fields
# back, so set nodelay in a first, non-authenticating passdb (result NEXT keeps its fields).
passdb {
  driver = static
  args = noauthenticate nodelay=yes
  result_success = continue
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu $USERS_FILE
}
userdb {
  driver = passwd-file
  args = username_format=%Lu $USERS_FILE
}

mail_location = maildir:~/Maildir
recipient_delimiter = +
lda_mailbox_autocreate = yes
lda_mailbox_autosubscribe = yes
postmaster_address = postmaster@$DOMAIN

namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    port = $P_IMAP
  }
  inet_listener imaps {
    port = $P_IMAPS
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service managesieve-login {
  inet_listener sieve {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0666
  }
}
# Disable the auth penalty (anvil delays *every* auth from an IP, even correct ones, by
# 2..15 s after a failure from it -- here every client is 127.0.0.1). Documented way:
# make the anvil-auth-penalty socket unusable (mode 0) so auth can't connect to it.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}

protocol imap {
  # Tests open many parallel connections from 127.0.0.1 (default limit is 10).
  mail_max_userip_connections = 1000
  imap_idle_notify_interval = 2 mins
}
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve_before = $S/sieve/before.sieve
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
EOF

# ---------------------------------------------------------------- postfix
P=$S/postfix
Q=$S/postfix-queue
PD=$S/postfix-data
mkdir -p "$Q" "$PD"
chown postfix:postfix "$PD"
cat >"$P/main.cf" <<EOF
# Generated by ci/mailstack/start.sh -- throw-away test configuration.
compatibility_level = 3.6
queue_directory = $Q
data_directory = $PD
mail_owner = postfix
setgid_group = postdrop
myhostname = mailstack.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = \$myhostname ESMTP mailtrip-mailstack
biff = no
append_dot_mydomain = no
recipient_delimiter = +
smtputf8_enable = yes
message_size_limit = 26214400
mailbox_size_limit = 0
maillog_file = $S/postfix.log
maillog_file_prefixes = $S

# No local delivery, no aliases, and NO route off this machine.
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:local delivery disabled in mailtrip test stack
default_transport = error:outbound mail disabled in mailtrip test stack
relay_transport = error:outbound mail disabled in mailtrip test stack
relay_domains =
relayhost =

virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$VMAILBOX
virtual_transport = lmtp:unix:$RUN/lmtp

smtpd_sasl_type = dovecot
smtpd_sasl_path = $RUN/auth-postfix
smtpd_sasl_auth_enable = no
smtpd_sasl_authenticated_header = yes
broken_sasl_auth_clients = no

smtpd_tls_chain_files = $C/server.key, $C/server.pem
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_received_header = yes
smtpd_tls_loglevel = 1
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
smtp_dns_support_level = disabled

# Retry quickly if dovecot was briefly unavailable.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
EOF

SUBMISSION_OPTS="-o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=reject_unauth_destination
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject"
# A gateway that strips mailtrip's tag header: only mail submitted on the "strip" port goes
# through this cleanup service (the other ports keep the plain one).
cat >"$P/strip_probe_header" <<'EOF'
/^X-Mailtrip-Probe:/ IGNORE
EOF
cat >"$P/master.cf" <<EOF
# Generated by ci/mailstack/start.sh. No chroot anywhere (5th column = n).
# service      type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$P_SMTP inet n - n - - smtpd
  -o syslog_name=postfix/smtp-in
127.0.0.1:$P_SUB inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_auth_only=yes
  $SUBMISSION_OPTS
127.0.0.1:$P_SUBS inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  $SUBMISSION_OPTS
127.0.0.1:$P_STRIP inet n - n - - smtpd
  -o syslog_name=postfix/submissions-strip
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
  -o cleanup_service_name=cleanup-strip
  $SUBMISSION_OPTS
cleanup-strip unix n - n - 0 cleanup
  -o syslog_name=postfix/cleanup-strip
  -o header_checks=regexp:$P/strip_probe_header
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
chown -R root:root "$P"
chmod 0755 "$P"
chmod 0644 "$P"/*

postfix -c "$P" check >"$S/postfix-check.out" 2>&1 || { cat "$S/postfix-check.out" >&2; die "postfix check failed"; }

# ---------------------------------------------------------------- start daemons
dump_logs() {
  for f in "$S/postfix.log" "$S/postfix-start.out" "$S/dovecot.log" "$S/dovecot-start.out"; do
    [[ -s $f ]] && { echo "----- $f (tail)" >&2; tail -n 40 "$f" >&2; }
  done
  return 0
}
dovecot -c "$D/dovecot.conf" </dev/null >"$S/dovecot-start.out" 2>&1 || { dump_logs; die "dovecot failed to start"; }
postfix -c "$P" start </dev/null >"$S/postfix-start.out" 2>&1 || { dump_logs; die "postfix failed to start"; }

# Check for LISTEN sockets without connecting (probe connections only clutter the logs).
listening() { # port...
  python3 - "$@" <<'PY'
import sys
want = {int(p) for p in sys.argv[1:]}
have = set()
for line in open("/proc/net/tcp").read().splitlines()[1:]:
    f = line.split()
    ip, port = f[1].split(":")
    if f[3] == "0A" and ip in ("0100007F", "00000000"):
        have.add(int(port, 16))
sys.exit(0 if want <= have else 1)
PY
}
deadline=$((SECONDS + 30))
while :; do
  ok=1
  listening "$P_SMTP" "$P_SUB" "$P_SUBS" "$P_IMAP" "$P_IMAPS" "$P_STRIP" || ok=0
  for sock in "$RUN/lmtp" "$RUN/auth-postfix"; do [[ -S $sock ]] || { ok=0; break; }; done
  ((ok)) && break
  if ((SECONDS >= deadline)); then
    dump_logs
    die "stack did not come up within 30 s (ports $P_SMTP $P_SUB $P_SUBS $P_IMAP $P_IMAPS $P_STRIP)"
  fi
  sleep 0.2
done

# ---------------------------------------------------------------- env file
ENV=$S/env
{
  echo "MAILSTACK_DIR=$S"
  echo "MAILSTACK_CA=$C/ca.pem"
  echo "MAILSTACK_TLS_NAME=localhost"
  echo "MAILSTACK_DOMAIN=$DOMAIN"
  echo "MAILSTACK_SMTP_HOST=127.0.0.1"
  echo "MAILSTACK_IMAP_HOST=127.0.0.1"
  echo "MAILSTACK_SUBMISSION_PORT=$P_SUB"
  echo "MAILSTACK_SUBMISSIONS_PORT=$P_SUBS"
  echo "MAILSTACK_SMTP_PORT=$P_SMTP"
  echo "MAILSTACK_IMAP_PORT=$P_IMAP"
  echo "MAILSTACK_IMAPS_PORT=$P_IMAPS"
  echo "MAILSTACK_STRIP_SUBMISSIONS_PORT=$P_STRIP"
  for i in 0 1 2; do
    echo "MAILSTACK_USER$((i + 1))=${ADDRS[$i]}"
    echo "MAILSTACK_PASS$((i + 1))=${PASSES[$i]}"
  done
  echo "MAILSTACK_JUNK_HEADER=X-Mailtrip-Test-Spam:yes"
  echo "MAILSTACK_JUNK_HEADER_NAME=X-Mailtrip-Test-Spam"
  echo "MAILSTACK_JUNK_HEADER_VALUE=yes"
  echo "MAILSTACK_JUNK_SUBJECT_TAG=[spam-test]"
  echo "MAILSTACK_JUNK_MAILBOX=Junk"
  echo "MAILSTACK_POSTFIX_LOG=$S/postfix.log"
  echo "MAILSTACK_DOVECOT_LOG=$S/dovecot.log"
} >"$ENV"
chmod 0644 "$ENV"
log "up: smtp=$P_SMTP submission=$P_SUB submissions=$P_SUBS imap=$P_IMAP imaps=$P_IMAPS strip=$P_STRIP (state in $S)"
echo "$ENV"
