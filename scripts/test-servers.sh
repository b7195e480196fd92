#!/usr/bin/env bash
# Real SMTP servers on loopback for smtpwire's integration tests.
#
#   scripts/test-servers.sh up            start (or cleanly restart) everything
#   scripts/test-servers.sh down [--purge] stop everything; --purge also deletes the state dir
#   scripts/test-servers.sh env           print the variables tests read (export KEY=value)
#   scripts/test-servers.sh status        say what is running
#
# Servers (all on 127.0.0.1 only):
#   2525  Postfix, plain SMTP, no TLS, no AUTH; relays only to the test domain
#   2587  Postfix submission: STARTTLS required, then AUTH PLAIN/LOGIN required
#   2465  Postfix submissions: implicit TLS, AUTH PLAIN/LOGIN required
#   2588  aiosmtpd: STARTTLS required, then AUTH PLAIN/LOGIN/XOAUTH2 required
#
# Postfix is a private instance (its own main.cf/master.cf, queue, data, log, SASL db,
# certificates) under the state directory; the system Postfix is never configured,
# started or stopped. Needs root (Postfix's master must start as root) and the packages
# from .ci/install-test-servers.sh. See scripts/README.md.
set -euo pipefail

STATE=${SMTPWIRE_TEST_STATE:-/tmp/smtpwire-test-servers}
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PYTHON=${SMTPWIRE_TEST_PYTHON:-/usr/bin/python3} # Debian's python, which has aiosmtpd

HOST=127.0.0.1
# Overridable so that several checkouts can run their own instances side by side.
PORT_PLAIN=${SMTPWIRE_TEST_PORT_PLAIN:-2525}
PORT_SUBMISSION=${SMTPWIRE_TEST_PORT_SUBMISSION:-2587}
PORT_SMTPS=${SMTPWIRE_TEST_PORT_SMTPS:-2465}
PORT_AIOSMTPD=${SMTPWIRE_TEST_PORT_AIOSMTPD:-2588}
ALL_PORTS=("$PORT_PLAIN" "$PORT_SUBMISSION" "$PORT_SMTPS" "$PORT_AIOSMTPD")

DOMAIN=smtpwire.test
LOCALPART=tester
TEST_USER=$LOCALPART@$DOMAIN
# 16 lowercase letters, the shape of a QQ Mail / 163 "authorization code".
TEST_PASSWORD=wvkfmhzqjdpxnbta
# The bearer token aiosmtpd's XOAUTH2 accepts for TEST_USER, shaped like a Google one.
TEST_OAUTH_TOKEN=ya29.smtpwire-test-oauth-token-Qm9vb2s
# Recipients in the test domain that Postfix refuses at RCPT (for per-recipient tests).
RCPT_REJECTED=rejected@$DOMAIN # 550 5.1.1
RCPT_DEFERRED=deferred@$DOMAIN # 450 4.2.1
TLS_NAME=localhost # the name the server certificate is for (plus IP 127.0.0.1)

# The virtual(8) delivery agent writes the Maildir as this uid/gid (it refuses uid 0).
MAIL_UID=${SMTPWIRE_TEST_MAIL_UID:-$(id -u nobody)}
MAIL_GID=${SMTPWIRE_TEST_MAIL_GID:-$(id -g nobody)}

UP_TIMEOUT=${SMTPWIRE_TEST_UP_TIMEOUT:-30} # seconds for every port to greet

MARKER=.smtpwire-test-state

NAME=test-servers
# shellcheck source=scripts/state-dir.sh
. "$(dirname "${BASH_SOURCE[0]}")/state-dir.sh"

# Postfix parameter values and our env file are not quoted: keep the path plain.
STATE=$(state_dir "$STATE")

ETC=$STATE/etc
TLS=$STATE/tls
# Debian's Postfix looks for smtpd.conf in $config_directory/sasl and ignores
# cyrus_sasl_config_path (which upstream uses); keeping the SASL dir there satisfies both.
SASL=$ETC/sasl
MAILDIR_BASE=$STATE/maildir
MAILDIR=$MAILDIR_BASE/$LOCALPART
AIO_DIR=$STATE/aiosmtpd
AIO_PID=$STATE/aiosmtpd.pid
AIO_LOG=$STATE/aiosmtpd.log
MAILLOG=$STATE/maillog
MASTER_PID=$STATE/queue/pid/master.pid

# ---------------------------------------------------------------------------- helpers

# Print the pid in $1 if it names a live process whose executable/cmdline matches $2.
live_pid() {
  local file=$1 pattern=$2 pid
  [ -f "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # (No `| grep -q` here: with pipefail, grep's early exit can fail the pipeline.)
  local what
  what="$(readlink "/proc/$pid/exe" 2>/dev/null) $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
  [[ $what == *"$pattern"* ]] || return 1
  echo "$pid"
}
master_pid() { live_pid "$MASTER_PID" /usr/lib/postfix/sbin/master; }
aiosmtpd_pid() { live_pid "$AIO_PID" aiosmtpd_server.py; }

port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  return 1
}

log_tails() {
  if [ -f "$MAILLOG" ]; then
    echo "---- last 40 lines of $MAILLOG" >&2
    tail -n 40 "$MAILLOG" >&2
  fi
  if [ -f "$AIO_LOG" ]; then
    echo "---- last 20 lines of $AIO_LOG" >&2
    tail -n 20 "$AIO_LOG" >&2
  fi
}

check_tools() {
  local missing=()
  for t in /usr/sbin/postfix /usr/sbin/postconf /usr/lib/postfix/sbin/master \
    /usr/sbin/saslpasswd2 /usr/lib/x86_64-linux-gnu/sasl2/libsasldb.so openssl; do
    case $t in
    /*) [ -e "$t" ] || missing+=("$t") ;;
    *) command -v "$t" >/dev/null || missing+=("$t") ;;
    esac
  done
  "$PYTHON" -c 'import aiosmtpd' 2>/dev/null || missing+=("$PYTHON with aiosmtpd")
  [ "${#missing[@]}" -eq 0 ] ||
    die "missing: ${missing[*]} (run: sudo bash .ci/install-test-servers.sh)"
  [ "$(id -u)" -eq 0 ] || die "must run as root (Postfix's master starts as root)"
}

# ---------------------------------------------------------------------------- certificates

new_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TLS/$1.key" 2>/dev/null; }

# make_ca NAME CN: a self-signed CA, NAME.key and NAME.pem
make_ca() {
  new_key "$1"
  openssl req -x509 -new -key "$TLS/$1.key" -subj "/O=smtpwire tests/CN=$2" -days 3650 \
    -config "$TLS/openssl.cnf" -extensions ca_ext -out "$TLS/$1.pem" 2>"$TLS/openssl.err" ||
    { cat "$TLS/openssl.err" >&2; die "creating CA $1 failed"; }
}

# sign NAME CA SAN [date args]: a server certificate NAME.pem (key NAME.key) issued by
# CA for the subjectAltName SAN, valid for 825 days unless date args say otherwise.
sign() {
  local name=$1 ca=$2 san=$3
  shift 3
  local dates=(-days 825)
  [ "$#" -gt 0 ] && dates=("$@")
  local cn=${san%%,*}
  cn=${cn#DNS:}
  new_key "$name"
  : >"$TLS/index.txt"
  if ! openssl req -new -key "$TLS/$name.key" -subj "/O=smtpwire tests/CN=$cn" \
    -config "$TLS/openssl.cnf" -out "$TLS/$name.csr" 2>"$TLS/openssl.err" ||
    ! SAN=$san openssl ca -batch -config "$TLS/openssl.cnf" -extensions leaf -notext \
      -cert "$TLS/$ca.pem" -keyfile "$TLS/$ca.key" -in "$TLS/$name.csr" \
      -out "$TLS/$name.pem" "${dates[@]}" 2>"$TLS/openssl.err"; then
    cat "$TLS/openssl.err" >&2
    die "issuing certificate $name failed"
  fi
  rm -f "$TLS/$name.csr"
}

make_certs() {
  rm -rf "$TLS"
  mkdir -p "$TLS/newcerts"
  chmod 0700 "$TLS"
  # `openssl ca` (not `x509 -req`) because it can issue the expired certificate.
  cat >"$TLS/openssl.cnf" <<EOF
# Default for \$ENV::SAN below (used when SAN is not in the environment).
SAN = DNS:localhost
[ ca ]
default_ca = test_ca
[ test_ca ]
database = $TLS/index.txt
new_certs_dir = $TLS/newcerts
rand_serial = yes
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[ any_name ]
commonName = supplied
[ req ]
distinguished_name = dn
[ dn ]
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ leaf ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \$ENV::SAN
EOF

  # The trusted test CA and the good server certificate.
  make_ca ca "smtpwire test CA"
  sign server ca "DNS:$TLS_NAME, IP:127.0.0.1"
  # For negative tests: a CA nobody trusts and a certificate it issued for the right
  # names; one from the trusted CA for another host; one from the trusted CA, expired.
  make_ca untrusted-ca "smtpwire untrusted CA"
  sign untrusted untrusted-ca "DNS:$TLS_NAME, IP:127.0.0.1"
  sign wrong-host ca "DNS:other.example"
  sign expired ca "DNS:$TLS_NAME, IP:127.0.0.1" -startdate 20200101000000Z -enddate 20200102000000Z
  rm -rf "$TLS/newcerts" "$TLS"/index.txt* "$TLS/openssl.err"
  cp "$TLS/ca.pem" "$STATE/ca.pem"
  # Keys stay 0600 root: Postfix reads its key as root before dropping privileges.
  chmod 0600 "$TLS"/*.key
  chmod 0644 "$TLS"/*.pem "$STATE/ca.pem"
  chmod 0755 "$TLS"
}

# ---------------------------------------------------------------------------- postfix config

write_sasl() {
  rm -rf "$SASL"
  mkdir -p "$SASL"
  cat >"$SASL/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $SASL/sasldb2
EOF
  printf '%s' "$TEST_PASSWORD" |
    saslpasswd2 -f "$SASL/sasldb2" -c -p -u "$DOMAIN" "$LOCALPART" ||
    die "saslpasswd2 failed"
  # smtpd reads the sasldb after dropping privileges to the postfix user.
  chown root:postfix "$SASL" "$SASL/sasldb2" "$SASL/smtpd.conf"
  chmod 0750 "$SASL"
  chmod 0640 "$SASL/sasldb2" "$SASL/smtpd.conf"
}

write_postfix_config() {
  rm -rf "$ETC"
  mkdir -p "$ETC" "$STATE/queue" "$STATE/data"
  chown root:root "$ETC" "$STATE/queue"
  chmod 0755 "$ETC" "$STATE/queue"
  chown postfix:root "$STATE/data"
  chmod 0700 "$STATE/data"
  mkdir -p "$MAILDIR"/{new,cur,tmp}
  chown -R "$MAIL_UID:$MAIL_GID" "$MAILDIR_BASE"
  chmod 0755 "$MAILDIR_BASE"

  cat >"$ETC/recipient_access" <<EOF
$RCPT_REJECTED 550 5.1.1 rejected on purpose by the smtpwire test server
$RCPT_DEFERRED 450 4.2.1 deferred on purpose by the smtpwire test server
EOF

  cat >"$ETC/main.cf" <<EOF
# Private Postfix instance for smtpwire's tests; generated by scripts/test-servers.sh.
# Start/stop with: postfix -c $ETC start|stop
compatibility_level = 3.6
queue_directory = $STATE/queue
data_directory = $STATE/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-smtpwire
maillog_file = $MAILLOG
maillog_file_prefixes = $STATE
biff = no
readme_directory = no
append_dot_mydomain = no

# Loopback only; never talks to the network.
inet_interfaces = $HOST
inet_protocols = ipv4
myhostname = $TLS_NAME
mydomain = localdomain
myorigin = \$myhostname
mydestination =
mynetworks = 127.0.0.1/32
relay_domains =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
# Treat loopback clients as remote: no Date:/Message-ID:/From: added, no address
# rewriting, so the Maildir holds the message as sent (after Postfix's trace headers).
local_header_rewrite_clients =
# Postfix drops Bcc and Resent-Bcc at delivery by default; keep them, so that a Bcc field a
# client wrongly sent shows in the Maildir and the tests asserting its absence can fail.
message_drop_headers = content-length, return-path
# Nothing leaves this instance: anything not for the test domain (bounces too) fails here.
local_transport = error:local delivery is disabled in the smtpwire test instance
default_transport = error:outbound mail is disabled in the smtpwire test instance
relay_transport = \$default_transport

# The test domain: any local part is accepted and delivered to one Maildir,
# $MAILDIR/ (virtual(8) adds Delivered-To: with the recipient).
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_base = $MAILDIR_BASE
virtual_mailbox_maps = static:$LOCALPART/
virtual_uid_maps = static:$MAIL_UID
virtual_gid_maps = static:$MAIL_GID
virtual_minimum_uid = 1

# Extensions: PIPELINING, CHUNKING, 8BITMIME, DSN, ENHANCEDSTATUSCODES are on by default.
smtputf8_enable = yes
# smtpd_forbid_bare_newline: deliberately left at its default.

# Port 2525 (plain): anyone may send to the test domain, and only there.
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination, check_recipient_access texthash:$ETC/recipient_access

# TLS (enabled per service in master.cf).
smtpd_tls_security_level = none
smtpd_tls_chain_files = $TLS/server.key, $TLS/server.pem
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes

# SASL (enabled per service in master.cf): Cyrus with a private sasldb.
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
EOF

  # What both authenticating services ask: TLS, then AUTH, and mail only from clients that
  # authenticated.
  local authenticated_only="  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"

  cat >"$ETC/master.cf" <<EOF
# Private Postfix instance for smtpwire's tests; generated by scripts/test-servers.sh.
# No service is chrooted. No smtp/lmtp/local client: nothing is delivered anywhere but
# the test Maildir.
# service type  private unpriv  chroot  wakeup  maxproc command + args
$HOST:$PORT_PLAIN inet n - n - - smtpd
  -o syslog_name=postfix-smtpwire/plain
$HOST:$PORT_SUBMISSION inet n - n - - smtpd
  -o syslog_name=postfix-smtpwire/submission
  -o smtpd_tls_auth_only=yes
$authenticated_only
$HOST:$PORT_SMTPS inet n - n - - smtpd
  -o syslog_name=postfix-smtpwire/smtps
  -o smtpd_tls_wrappermode=yes
$authenticated_only
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
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# ---------------------------------------------------------------------------- env

env_lines() {
  cat <<EOF
export SMTPWIRE_TEST_STATE=$STATE
export SMTPWIRE_TEST_POSTFIX_PLAIN=$HOST:$PORT_PLAIN
export SMTPWIRE_TEST_POSTFIX_SUBMISSION=$HOST:$PORT_SUBMISSION
export SMTPWIRE_TEST_POSTFIX_SMTPS=$HOST:$PORT_SMTPS
export SMTPWIRE_TEST_AIOSMTPD=$HOST:$PORT_AIOSMTPD
export SMTPWIRE_TEST_TLS_NAME=$TLS_NAME
export SMTPWIRE_TEST_CA=$STATE/ca.pem
export SMTPWIRE_TEST_DOMAIN=$DOMAIN
export SMTPWIRE_TEST_USER=$TEST_USER
export SMTPWIRE_TEST_PASSWORD=$TEST_PASSWORD
export SMTPWIRE_TEST_OAUTH_TOKEN=$TEST_OAUTH_TOKEN
export SMTPWIRE_TEST_RCPT_REJECTED=$RCPT_REJECTED
export SMTPWIRE_TEST_RCPT_DEFERRED=$RCPT_DEFERRED
export SMTPWIRE_TEST_MAILDIR=$MAILDIR
export SMTPWIRE_TEST_AIOSMTPD_DIR=$AIO_DIR
export SMTPWIRE_TEST_POSTFIX_LOG=$MAILLOG
export SMTPWIRE_TEST_AIOSMTPD_LOG=$AIO_LOG
export SMTPWIRE_TEST_SERVER_CERT=$TLS/server.pem
export SMTPWIRE_TEST_SERVER_KEY=$TLS/server.key
export SMTPWIRE_TEST_UNTRUSTED_CA=$TLS/untrusted-ca.pem
export SMTPWIRE_TEST_UNTRUSTED_CERT=$TLS/untrusted.pem
export SMTPWIRE_TEST_UNTRUSTED_KEY=$TLS/untrusted.key
export SMTPWIRE_TEST_WRONG_HOST_CERT=$TLS/wrong-host.pem
export SMTPWIRE_TEST_WRONG_HOST_KEY=$TLS/wrong-host.key
export SMTPWIRE_TEST_EXPIRED_CERT=$TLS/expired.pem
export SMTPWIRE_TEST_EXPIRED_KEY=$TLS/expired.key
EOF
}

# ---------------------------------------------------------------------------- readiness

# Wait until every port gives its 220 greeting (over verified TLS on the implicit-TLS
# port): accepting a connection is not enough.
wait_ready() {
  "$PYTHON" - "$UP_TIMEOUT" "$STATE/ca.pem" "$TLS_NAME" "$HOST" \
    "$PORT_PLAIN" "$PORT_SUBMISSION" "tls:$PORT_SMTPS" "$PORT_AIOSMTPD" <<'EOF'
import socket, ssl, sys, time
timeout, cafile, name, host = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ports = sys.argv[5:]
ctx = ssl.create_default_context(cafile=cafile)
deadline = time.monotonic() + timeout
pending, last = list(ports), {}
while pending and time.monotonic() < deadline:
    for spec in list(pending):
        tls = spec.startswith("tls:")
        port = int(spec[4:] if tls else spec)
        try:
            with socket.create_connection((host, port), timeout=3) as s:
                if tls:
                    s = ctx.wrap_socket(s, server_hostname=name)
                s.settimeout(5)
                greeting = s.recv(512)
                if greeting.startswith(b"220"):
                    pending.remove(spec)
                    s.sendall(b"QUIT\r\n")
                else:
                    last[spec] = "greeting %r" % greeting
        except Exception as e:  # not up yet
            last[spec] = repr(e)
    if pending:
        time.sleep(0.2)
for spec in pending:
    print("port %s not ready: %s" % (spec, last.get(spec)), file=sys.stderr)
sys.exit(1 if pending else 0)
EOF
}

# ---------------------------------------------------------------------------- commands

do_down() {
  local purge=$1 pid stopped=
  if pid=$(master_pid); then
    say "stopping Postfix (master pid $pid)"
    postfix -c "$ETC" stop >/dev/null 2>&1 || true
    if ! wait_gone "$pid" 10; then
      say "postfix stop did not end master $pid; sending SIGTERM"
      kill -TERM "$pid" 2>/dev/null || true
      wait_gone "$pid" 5 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
    fi
    stopped=1
  fi
  if pid=$(aiosmtpd_pid); then
    say "stopping aiosmtpd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 5 || { kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
    stopped=1
  fi
  rm -f "$AIO_PID"
  [ -n "$stopped" ] || say "nothing was running for $STATE"
  if [ "$purge" = 1 ] && [ -d "$STATE" ]; then
    [ -f "$STATE/$MARKER" ] || die "$STATE has no $MARKER; not deleting it"
    rm -rf "$STATE"
    say "deleted $STATE"
  fi
}

do_up() {
  check_tools
  local start=$SECONDS
  if master_pid >/dev/null || aiosmtpd_pid >/dev/null; then
    say "already up; restarting cleanly"
    do_down 0
  fi
  local port busy=()
  for port in "${ALL_PORTS[@]}"; do
    port_open "$port" && busy+=("$port")
  done
  if [ "${#busy[@]}" -gt 0 ]; then
    ss -ltnp 2>/dev/null | grep -E ":($(
      IFS='|'
      echo "${busy[*]}"
    ))\b" >&2 || true
    die "port(s) ${busy[*]} on $HOST already in use by something this state dir ($STATE) did not start"
  fi

  umask 022
  mkdir -p "$STATE" "$AIO_DIR"
  chmod 0755 "$STATE"
  touch "$STATE/$MARKER"
  rm -f "$STATE/env"

  make_certs
  write_postfix_config # recreates $ETC
  write_sasl           # inside $ETC

  # aiosmtpd first: it starts while `postfix start` runs its checks.
  say "starting aiosmtpd"
  rm -f "$AIO_PID"
  setsid "$PYTHON" "$SCRIPT_DIR/aiosmtpd_server.py" \
    --host "$HOST" --port "$PORT_AIOSMTPD" --hostname "$TLS_NAME" \
    --cert "$TLS/server.pem" --key "$TLS/server.key" \
    --user "$TEST_USER" --password "$TEST_PASSWORD" --oauth-token "$TEST_OAUTH_TOKEN" \
    --spool "$AIO_DIR" --pidfile "$AIO_PID" \
    </dev/null >>"$AIO_LOG" 2>&1 &
  echo "$!" >"$AIO_PID" # the server rewrites it (same pid) once it listens

  say "starting Postfix ($ETC)"
  if ! postfix -c "$ETC" start >"$STATE/postfix-start.out" 2>&1; then
    cat "$STATE/postfix-start.out" >&2
    log_tails
    do_down 0 || true
    die "postfix -c $ETC start failed"
  fi

  if ! wait_ready; then
    log_tails
    do_down 0 || true
    die "servers did not come up within ${UP_TIMEOUT}s"
  fi

  env_lines >"$STATE/env"
  say "up in $((SECONDS - start))s: Postfix on $PORT_PLAIN/$PORT_SUBMISSION/$PORT_SMTPS, aiosmtpd on $PORT_AIOSMTPD; variables in $STATE/env"
  env_lines
}

do_status() {
  local pid rc=0 port
  if pid=$(master_pid); then echo "postfix: running (master pid $pid)"; else echo "postfix: stopped"; rc=1; fi
  if pid=$(aiosmtpd_pid); then echo "aiosmtpd: running (pid $pid)"; else echo "aiosmtpd: stopped"; rc=1; fi
  for port in "${ALL_PORTS[@]}"; do
    if port_open "$port"; then echo "$HOST:$port: open"; else echo "$HOST:$port: closed"; fi
  done
  return "$rc"
}

usage() {
  sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  echo "State dir: \$SMTPWIRE_TEST_STATE (now $STATE)"
}

cmd=${1:-}
[ "$#" -gt 0 ] && shift
case $cmd in
up)
  [ "$#" -eq 0 ] || die "up takes no arguments"
  do_up
  ;;
down)
  case ${1:-} in
  "") do_down 0 ;;
  --purge) do_down 1 ;;
  *) die "usage: $0 down [--purge]" ;;
  esac
  ;;
env)
  # The same lines `up` wrote; computed, so they are right even before `up`.
  env_lines
  ;;
status) do_status ;;
-h | --help | help) usage ;;
*)
  usage >&2
  exit 2
  ;;
esac
