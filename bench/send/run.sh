#!/bin/sh
# bench/send/run.sh — how fast tern submits mail (a benchmark, not a test).
#
#   sh bench/send/run.sh            # N=200 messages, loopback, then 50 ms RTT
#   N=50 RTT_N=20 sh bench/send/run.sh
#
# As root on Debian 12 (starts a private lab; apt-get installs msmtp if it is
# missing). Every client talks to the same Postfix submission port of the
# lab, with STARTTLS, certificate verification against the lab CA and AUTH
# PLAIN, and sends the same ready message (Date and Message-ID included, so
# no client adds anything):
#
#   per process  N runs of one process per message: tern send -t, msmtp -t,
#                curl --upload-file (the curl CLI here is the OpenSSL build)
#   batch        N messages over one connection: tern send --batch vs the
#                floor, python smtplib (no pipelining)
#   50 ms RTT    the same through bench/send/delay_proxy.py (25 ms each way
#                on the benchmark's own connections only), RTT_N messages
#
# Figures go to stdout and into the "Sending" section of bench/RESULTS.md
# (replaced if present, appended otherwise; other sections are kept).
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
N=${N:-200}
RTT_N=${RTT_N:-40}
RTT_MS=${RTT_MS:-50}

# a release build of its own (werror off: an optimiser-only warning in some
# module must not stop a benchmark)
if [ -z "${TERN_BIN:-}" ]; then
    [ -f build-bench/build.ninja ] || meson setup build-bench --buildtype=release -Dwerror=false >/dev/null
    meson compile -C build-bench tern >/dev/null
fi
TERN=${TERN_BIN:-$top/build-bench/tern}
if ! command -v msmtp >/dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq msmtp >/dev/null
fi

work=$(mktemp -d /tmp/tern-bench-send.XXXXXX)
chmod 755 "$work" # the lab daemons run as other users and must reach their dirs
labdir=$work/lab
proxy_pid=
cleanup() {
    [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null || true
    python3 tests/lab/lab.py stop "$labdir" --rm >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
python3 tests/lab/lab.py start "$labdir" >/dev/null
. "$labdir/lab.env"
FROM=$LAB_ALICE_USER
PASS=$LAB_ALICE_PASS
TO=$LAB_BOB_USER

msg=$work/msg.eml
cat >"$msg" <<EOF
Date: Mon, 01 Jan 2024 10:00:00 +0000
From: Alice <$FROM>
To: Bob <$TO>
Subject: benchmark
Message-ID: <bench@lab.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 7bit

$(i=0; while [ $i -lt 40 ]; do echo "line $i of a short message body, about two kilobytes in all."; i=$((i+1)); done)
EOF

# configs for a given port
setup() { # port
    cat >"$work/tern.conf" <<EOF
[account bench]
address = $FROM
incoming = pop3
host = 127.0.0.1
port = $LAB_POP3S_PORT
tls = implicit
password = $PASS
ca_file = $LAB_CA
smtp_host = 127.0.0.1
smtp_port = $1
save_sent = no
EOF
    chmod 600 "$work/tern.conf"
    cat >"$work/msmtprc" <<EOF
account default
host 127.0.0.1
port $1
from $FROM
tls on
tls_starttls on
tls_trust_file $LAB_CA
auth plain
user $FROM
password $PASS
domain lab.test
EOF
    chmod 600 "$work/msmtprc"
    PORT=$1
}
export TERN_CONFIG=$work/tern.conf XDG_DATA_HOME=$work/data

now() { python3 -c 'import time; print(time.monotonic())'; }
elapsed() { python3 -c "print('%.2f' % ($2 - $1))"; }

per_process() { # tool count -> seconds
    t0=$(now)
    i=0
    while [ "$i" -lt "$2" ]; do
        case $1 in
        tern) "$TERN" send -t <"$msg" >/dev/null ;;
        msmtp) msmtp -C "$work/msmtprc" -t <"$msg" ;;
        curl) curl -s -S --url "smtp://127.0.0.1:$PORT/lab.test" --ssl-reqd --cacert "$LAB_CA" \
                --user "$FROM:$PASS" --mail-from "$FROM" --mail-rcpt "$TO" -T "$msg" ;;
        esac || { echo "bench: $1 failed" >&2; exit 1; }
        i=$((i + 1))
    done
    elapsed "$t0" "$(now)"
}

batch_files() { # count
    rm -rf "$work/batch"
    mkdir "$work/batch"
    i=0
    while [ "$i" -lt "$1" ]; do
        cp "$msg" "$work/batch/m$i.eml"
        i=$((i + 1))
    done
}

batch() { # tool count -> seconds
    batch_files "$2"
    t0=$(now)
    case $1 in
    tern) "$TERN" send --batch "$work"/batch/*.eml >/dev/null ;;
    smtplib) python3 bench/send/smtplib_batch.py "$PORT" "$LAB_CA" "$FROM" "$PASS" "$FROM" "$TO" \
                "$work"/batch/*.eml ;;
    esac || { echo "bench: $1 batch failed" >&2; exit 1; }
    elapsed "$t0" "$(now)"
}

ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
per_msg() { python3 -c "print('%.1f' % ($1 * 1000 / $2))"; }

setup "$LAB_SMTP_PORT"
# warm up (Postfix processes, page cache)
per_process tern 3 >/dev/null
per_process msmtp 3 >/dev/null
per_process curl 3 >/dev/null

echo "== loopback, $N messages"
t_tern=$(per_process tern "$N");   echo "tern  per process: ${t_tern}s"
t_msmtp=$(per_process msmtp "$N"); echo "msmtp per process: ${t_msmtp}s"
t_curl=$(per_process curl "$N");   echo "curl  per process: ${t_curl}s"
b_tern=$(batch tern "$N");         echo "tern  --batch:     ${b_tern}s"
b_floor=$(batch smtplib "$N");     echo "smtplib 1 conn:    ${b_floor}s"

rtt_done=no
if [ "$RTT_MS" -gt 0 ]; then
    pport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    python3 bench/send/delay_proxy.py "$pport" "$LAB_SMTP_PORT" "$RTT_MS" >"$work/proxy.out" 2>&1 &
    proxy_pid=$!
    for _ in 1 2 3 4 5 6 7 8 9 10; do grep -q ready "$work/proxy.out" 2>/dev/null && break; sleep 0.2; done
    setup "$pport"
    echo "== ${RTT_MS} ms RTT (delay proxy), $RTT_N messages"
    r_tern=$(per_process tern "$RTT_N");   echo "tern  per process: ${r_tern}s"
    r_msmtp=$(per_process msmtp "$RTT_N"); echo "msmtp per process: ${r_msmtp}s"
    r_curl=$(per_process curl "$RTT_N");   echo "curl  per process: ${r_curl}s"
    rb_tern=$(batch tern "$RTT_N");        echo "tern  --batch:     ${rb_tern}s"
    rb_floor=$(batch smtplib "$RTT_N");    echo "smtplib 1 conn:    ${rb_floor}s"
    rtt_done=yes
fi

# ---- bench/RESULTS.md, section "Sending"
results=bench/RESULTS.md
section=$work/section.md
{
    echo "## Sending"
    echo
    echo "\`sh bench/send/run.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores, tern $("$TERN" --version | cut -d' ' -f2)"
    echo "($(basename "$(dirname "$TERN")") build). Lab Postfix submission on loopback: STARTTLS,"
    echo "certificate verified against the lab CA, AUTH PLAIN; the same 2.6 KB ready message for"
    echo "every client; save_sent = no (the other clients keep no copy). Wall time for all"
    echo "messages; lower is better."
    echo
    echo "| loopback, $N messages | total | per message | vs tern |"
    echo "|---|---|---|---|"
    echo "| tern send -t, one process each | ${t_tern} s | $(per_msg "$t_tern" "$N") ms | 1.00 |"
    echo "| msmtp -t, one process each | ${t_msmtp} s | $(per_msg "$t_msmtp" "$N") ms | $(ratio "$t_msmtp" "$t_tern") |"
    echo "| curl -T (CLI), one process each | ${t_curl} s | $(per_msg "$t_curl" "$N") ms | $(ratio "$t_curl" "$t_tern") |"
    echo "| tern send --batch, one connection | ${b_tern} s | $(per_msg "$b_tern" "$N") ms | |"
    echo "| python smtplib, one connection (floor) | ${b_floor} s | $(per_msg "$b_floor" "$N") ms | |"
    echo
    echo "Targets: per process no slower than curl (curl/tern = $(ratio "$t_curl" "$t_tern")), at least 3x"
    echo "faster than msmtp (msmtp/tern = $(ratio "$t_msmtp" "$t_tern")); batch within 1.2x of the floor"
    echo "(tern/floor = $(ratio "$b_tern" "$b_floor"))."
    if [ "$rtt_done" = yes ]; then
        echo
        echo "| ${RTT_MS} ms RTT, $RTT_N messages | total | per message | vs tern |"
        echo "|---|---|---|---|"
        echo "| tern send -t, one process each | ${r_tern} s | $(per_msg "$r_tern" "$RTT_N") ms | 1.00 |"
        echo "| msmtp -t, one process each | ${r_msmtp} s | $(per_msg "$r_msmtp" "$RTT_N") ms | $(ratio "$r_msmtp" "$r_tern") |"
        echo "| curl -T (CLI), one process each | ${r_curl} s | $(per_msg "$r_curl" "$RTT_N") ms | $(ratio "$r_curl" "$r_tern") |"
        echo "| tern send --batch, one connection | ${rb_tern} s | $(per_msg "$rb_tern" "$RTT_N") ms | |"
        echo "| python smtplib, one connection (floor) | ${rb_floor} s | $(per_msg "$rb_floor" "$RTT_N") ms | |"
        echo
        echo "RTT added by bench/send/delay_proxy.py ($((RTT_MS / 2)) ms each way, only on these connections)."
        echo "tern pipelines (RFC 2920): MAIL, RCPT... and DATA go out as one group, the data as a"
        echo "second, so a message costs two round trips where smtplib needs 3 + one per recipient."
        echo "A process also pays connect, EHLO, STARTTLS, TLS, EHLO and AUTH (about 7 round trips),"
        echo "which is why no client can be several times faster than another at this RTT."
    fi
    echo
} >"$section"
python3 - "$results" "$section" <<'EOF'
import re, sys
path, sec = sys.argv[1], open(sys.argv[2]).read()
try:
    text = open(path).read()
except FileNotFoundError:
    text = "# Benchmark results\n\n"
m = re.search(r"(?ms)^## Sending\n.*?(?=^## |\Z)", text)
text = text[:m.start()] + sec + text[m.end():] if m else text.rstrip("\n") + "\n\n" + sec
open(path, "w").write(text)
EOF
echo "written: $results (section Sending)"
