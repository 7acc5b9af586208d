#!/bin/sh
# Install everything tern needs to build, test, benchmark and run its demo,
# on Debian 12 as root. Idempotent: does nothing when all is installed.
set -eu
PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev
libcurl4-gnutls-dev libgnutls28-dev libncurses-dev libsqlite3-dev libmagic-dev
media-types python3 python3-pytest openssl tmux valgrind sqlite3 time zsh fish
dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "tern: missing packages:$missing (run this as root)" >&2
    exit 1
fi
# Postfix would otherwise ask debconf how to configure the system instance;
# the lab runs its own private instance and needs none.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
