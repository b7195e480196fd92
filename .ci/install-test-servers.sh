#!/usr/bin/env bash
# Install the packages that scripts/test-servers.sh needs (Postfix, Cyrus SASL tools,
# aiosmtpd, openssl, swaks), scripts/test-postgres.sh needs (PostgreSQL), and the mail clients
# that cli/tests/sendmail.rs drives through `smtpwire sendmail` (git send-email with the Perl
# module it needs, mutt). Run as root;
# idempotent; never prompts (CI has no stdin).
#
# Only installs packages. The system Postfix instance is not configured or started, and
# Debian's PostgreSQL cluster (if the package makes one) is not used: the tests run private
# instances under their own state directories.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-servers.sh: must run as root (apt-get install)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive

packages=(postfix sasl2-bin libsasl2-modules python3-aiosmtpd openssl swaks libnet-ssleay-perl
  git-email libmailtools-perl mutt postgresql)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-servers.sh: all packages already installed"
  exit 0
fi

# Postfix's debconf asks for a configuration type; answer "No configuration" so the
# install never blocks and leaves the system instance unconfigured (we don't use it).
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections

apt-get update
apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
echo "install-test-servers.sh: installed ${missing[*]}"
