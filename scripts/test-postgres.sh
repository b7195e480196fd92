#!/usr/bin/env bash
# A private PostgreSQL cluster on loopback for the `smtpwire outbox` tests and benchmark.
#
#   scripts/test-postgres.sh up             start it (initdb on first use); idempotent
#   scripts/test-postgres.sh down [--purge] stop it; --purge also deletes the state dir
#   scripts/test-postgres.sh env            print the variable the tests read
#   scripts/test-postgres.sh status         say whether it runs
#
# The cluster lives in the state directory (initdb + pg_ctl, no system service): data, log,
# socket. It listens on 127.0.0.1 only, trusts its one superuser `smtpwire` there, offers TLS
# with a certificate for localhost and 127.0.0.1 from a CA made for it (tls/ca.pem), and is
# owned by an unprivileged user (initdb and postgres refuse root): `nobody` when run as root,
# else the caller. Needs the Debian packages postgresql and openssl
# (.ci/install-test-servers.sh).
#
# Variables: SMTPWIRE_TEST_PG_STATE (default /tmp/smtpwire-test-postgres),
# SMTPWIRE_TEST_PG_PORT (default 5433), SMTPWIRE_TEST_PG_USER (the OS user when root, nobody).
set -euo pipefail

STATE=${SMTPWIRE_TEST_PG_STATE:-/tmp/smtpwire-test-postgres}
PORT=${SMTPWIRE_TEST_PG_PORT:-5433}
HOST=127.0.0.1
DB_USER=smtpwire
MARKER=.smtpwire-test-postgres

NAME=test-postgres
# shellcheck source=scripts/state-dir.sh
. "$(dirname "${BASH_SOURCE[0]}")/state-dir.sh"

STATE=$(state_dir "$STATE")
[[ $PORT =~ ^[0-9]+$ ]] || die "port '$PORT' is not a number"

DATA=$STATE/data
RUN=$STATE/run
LOG=$STATE/postgres.log
TLS=$STATE/tls

# The newest PostgreSQL Debian installed: /usr/lib/postgresql/<major>/bin.
bindir() {
  local dir
  dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] ||
    die "PostgreSQL not found under /usr/lib/postgresql (run: sudo bash .ci/install-test-servers.sh)"
  echo "$dir"
}

# Runs a command as the cluster's owner.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "${SMTPWIRE_TEST_PG_USER:-nobody}" -- "$@"
  else
    "$@"
  fi
}

url() { echo "host=$HOST port=$PORT user=$DB_USER dbname=postgres"; }
env_lines() {
  echo "export SMTPWIRE_TEST_POSTGRES='$(url)'"
  echo "export SMTPWIRE_TEST_POSTGRES_CA='$TLS/ca.pem'"
}

# A CA and a server certificate for localhost and 127.0.0.1, made once per state dir.
certificates() {
  [ -f "$TLS/server.key" ] && return 0
  mkdir -p "$TLS"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/O=smtpwire tests/CN=smtpwire test PostgreSQL CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    -keyout "$TLS/ca.key" -out "$TLS/ca.pem" 2>"$TLS/openssl.err" ||
    { cat "$TLS/openssl.err" >&2; die "making the CA failed"; }
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=localhost" -keyout "$TLS/server.key" -out "$TLS/server.csr" 2>"$TLS/openssl.err" ||
    { cat "$TLS/openssl.err" >&2; die "making the server key failed"; }
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$TLS/ext.cnf"
  openssl x509 -req -in "$TLS/server.csr" -CA "$TLS/ca.pem" -CAkey "$TLS/ca.key" \
    -CAcreateserial -days 825 -extfile "$TLS/ext.cnf" -out "$TLS/server.pem" 2>"$TLS/openssl.err" ||
    { cat "$TLS/openssl.err" >&2; die "signing the server certificate failed"; }
  chmod 600 "$TLS/server.key"
  if [ "$(id -u)" -eq 0 ]; then
    chown "${SMTPWIRE_TEST_PG_USER:-nobody}:" "$TLS/server.key" "$TLS/server.pem"
  fi
}

running() { [ -f "$DATA/PG_VERSION" ] && as_owner "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

up() {
  local bin
  bin=$(bindir)
  if [ -e "$STATE" ] && [ ! -e "$STATE/$MARKER" ]; then
    die "$STATE exists and is not ours (no $MARKER): choose another SMTPWIRE_TEST_PG_STATE"
  fi
  mkdir -p "$STATE"
  touch "$STATE/$MARKER"
  if [ "$(id -u)" -eq 0 ]; then
    # The owner must reach its data dir: the state dir is traversable, the rest its own.
    chmod 755 "$STATE"
    mkdir -p "$DATA" "$RUN"
    chown "${SMTPWIRE_TEST_PG_USER:-nobody}:" "$DATA" "$RUN"
    touch "$LOG"
    chown "${SMTPWIRE_TEST_PG_USER:-nobody}:" "$LOG"
  else
    mkdir -p "$DATA" "$RUN"
  fi
  chmod 700 "$DATA"
  certificates
  if [ ! -f "$DATA/PG_VERSION" ]; then
    say "initdb in $DATA"
    as_owner "$bin/initdb" -D "$DATA" -U "$DB_USER" --auth=trust --encoding=UTF8 \
      --locale=C.UTF-8 >"$STATE/initdb.log" 2>&1 ||
      { cat "$STATE/initdb.log" >&2; die "initdb failed"; }
  fi
  if running; then
    say "already running on $HOST:$PORT"
  else
    if ! as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
      -o "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=$RUN -c max_connections=200 -c ssl=on -c ssl_cert_file=$TLS/server.pem -c ssl_key_file=$TLS/server.key" \
      >/dev/null; then
      tail -n 30 "$LOG" >&2 || true
      die "PostgreSQL did not start"
    fi
    say "running on $HOST:$PORT (data $DATA, log $LOG)"
  fi
  env_lines >"$STATE/env"
}

down() {
  if [ -f "$DATA/PG_VERSION" ] && running; then
    as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    say "stopped"
  fi
  if [ "${1:-}" = "--purge" ] && [ -e "$STATE/$MARKER" ]; then
    rm -rf "$STATE"
    say "removed $STATE"
  fi
}

case ${1:-} in
up) up ;;
down) down "${2:-}" ;;
env) env_lines ;;
status)
  if running; then echo "PostgreSQL running on $HOST:$PORT"; else
    echo "PostgreSQL not running"
    exit 1
  fi
  ;;
*)
  echo "usage: $0 up | down [--purge] | env | status" >&2
  exit 64
  ;;
esac
