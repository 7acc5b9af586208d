#!/bin/sh
# The README's demo: install, build, start the local lab (private Dovecot and
# Postfix on 127.0.0.1) holding a demo mailbox of a few hundred varied sample
# messages, write a demo config, fetch the mail and show it — in the TUI when
# run on a terminal, else as `tern list`.
#
#   sh tests/lab/demo.sh          # start (or reuse) the demo and open tern
#   sh tests/lab/demo.sh stop     # stop the demo's servers
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
demo=${TERN_DEMO_DIR:-/tmp/tern-demo}
lab=$demo/lab

if [ "${1:-}" = stop ]; then
    /usr/bin/python3 tests/lab/lab.py stop "$lab"
    exit 0
fi

sh tests/deps.sh
[ -f build/build.ninja ] || meson setup build --buildtype=debugoptimized >/dev/null
meson compile -C build >/dev/null

mkdir -p "$demo"
if ! /usr/bin/python3 tests/lab/lab.py status "$lab" >/dev/null 2>&1; then
    rm -rf "$lab" "$demo/data"
    /usr/bin/python3 tests/lab/lab.py start "$lab" >/dev/null
    /usr/bin/python3 tests/lab/lab.py adduser "$lab" demo demo-pw >/dev/null
    /usr/bin/python3 tests/lab/lab.py adduser "$lab" demopop demopop-pw >/dev/null
    # IMAP: a few hundred messages that stay on the server; POP3: a smaller
    # batch that tern downloads and deletes.
    /usr/bin/python3 tests/lab/genmail.py --count 300 --seed 7 --lab "$lab" --user demo >/dev/null
    /usr/bin/python3 tests/lab/genmail.py --count 40 --seed 8 --lab "$lab" --user demopop >/dev/null
fi
# shellcheck disable=SC1091
. "$lab/lab.env"

printf 'demo-pw\n' >"$demo/demo.pass"
printf 'demopop-pw\n' >"$demo/demopop.pass"
cat >"$demo/config" <<CONF
# tern demo configuration: two accounts on the local lab servers.
[general]
default_account = demo

[account demo]
address = demo@lab.test
name = Demo User
incoming = imap
host = $LAB_HOST
port = $LAB_IMAPS_PORT
tls = implicit
ca_file = $LAB_CA
password_command = cat $demo/demo.pass
smtp_host = $LAB_HOST
smtp_port = $LAB_SMTP_PORT
smtp_tls = starttls

[account demopop]
address = demopop@lab.test
incoming = pop3
host = $LAB_HOST
port = $LAB_POP3_PORT
tls = starttls
ca_file = $LAB_CA
password_command = cat $demo/demopop.pass
smtp_host = $LAB_HOST
smtp_port = $LAB_SMTPS_PORT
smtp_tls = implicit
CONF
chmod 600 "$demo/config"

export XDG_DATA_HOME=$demo/data
tern="$top/build/tern -c $demo/config"
echo "== tern accounts"
$tern accounts
echo "== tern fetch"
$tern fetch || true
echo "== tern list -n 25"
$tern list -n 25
if [ -t 0 ] && [ -t 1 ] && $tern help tui >/dev/null 2>&1; then
    echo "== opening the TUI (q quits)"
    sleep 1
    $tern tui
fi
cat <<EOF2

The demo servers keep running. Try:
  XDG_DATA_HOME=$demo/data $top/build/tern -c $demo/config list --search caf
  XDG_DATA_HOME=$demo/data $top/build/tern -c $demo/config read ID
Stop them with: sh tests/lab/demo.sh stop
EOF2
