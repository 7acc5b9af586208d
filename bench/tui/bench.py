#!/usr/bin/python3
"""TUI benchmark: time to first screen and peak RSS on a 50,000-message
folder, tern versus neomutt with a warm header cache.

    python3 bench/tui/bench.py [--count N] [--runs R] [--tern PATH]
                               [--make-index PATH] [--work DIR]

The same N messages (small, varied senders and subjects, one per minute)
are written once as a Maildir for neomutt and once as a tern index (built
by make-index from the same headers, as `tern fetch` would leave it).
Each program runs in its own tmux server (100x30); "first screen" is the
time from starting the pane until capture-pane shows the newest message's
subject (polled every 2 ms, so it includes tmux's own latency for both).
tern is also timed until it is fully interactive (End reaches N/N).
Peak RSS is VmHWM from /proc/PID/status once the screen is up and idle.
neomutt runs once before measuring so its header cache is warm.
Prints a Markdown table (median of R runs) for bench/RESULTS.md.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TMUX = shutil.which("tmux")
NEOMUTT = shutil.which("neomutt")
BASE = 1700000000

NAMES = ["Alice Example", "Bob Builder", "Carol Jones", "Dave Smith", "Eve Adams",
         "Frank Miller", "Grace Hopper", "Heidi Klum", "Ivan Petrov", "Judy Garland"]


def message(i):
    name = NAMES[i % len(NAMES)] + " %d" % (i % 997)
    addr = "sender%d@example.org" % (i % 997)
    subj = "Report %d about item %d" % (i, (i * 7919) % 100000)
    date = BASE + i * 60
    return name, addr, subj, date, "m%d@bench.example" % i


def make_data(work, n, make_index):
    md = os.path.join(work, "Maildir")
    if not os.path.isdir(os.path.join(md, "cur")) or len(os.listdir(os.path.join(md, "cur"))) != n:
        shutil.rmtree(md, ignore_errors=True)
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub))
        for i in range(n):
            name, addr, subj, date, mid = message(i)
            raw = ("From: %s <%s>\nTo: me@example.org\nSubject: %s\nDate: %s\n"
                   "Message-ID: <%s>\n\nBody of message %d.\n" % (
                       name, addr, subj,
                       time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(date)), mid, i))
            with open(os.path.join(md, "cur", "%d.%d.bench:2,S" % (date, i)), "w") as f:
                f.write(raw)
    data = os.path.join(work, "data")
    ix = os.path.join(data, "tern", "bench", "index.sqlite")
    if not os.path.exists(ix):
        os.makedirs(os.path.dirname(ix), exist_ok=True)
        rows = []
        for i in range(n):
            name, addr, subj, date, mid = message(i)
            rows.append("INBOX\t%d\t%d\tS\t%d\t0\t%s\t%s\tme@example.org\t%s\t%s\n" % (
                i + 1, date, 120, name, addr, subj, mid))
        subprocess.run([make_index, ix], input="".join(rows).encode(), check=True)
    conf = os.path.join(work, "tern.conf")
    with open(conf, "w") as f:
        f.write("[general]\ncheck_interval = 0\n[account bench]\naddress = me@example.org\n"
                "incoming = pop3\nhost = 127.0.0.1\npassword_command = true\n")
    mconf = os.path.join(work, "neomuttrc")
    with open(mconf, "w") as f:
        f.write("set mbox_type=Maildir\nset folder=%s\nset spoolfile=%s\n"
                "set header_cache=%s/hcache\nset sort=reverse-date\nset read_only=yes\n"
                "set mail_check=0\nset timeout=0\nset quit=yes\nset wait_key=no\n"
                "set sidebar_visible=no\nset beep_new=no\n" % (md, md, work))
    return data, conf, mconf


def run_once(argv, env, want, then_keys=None, then_want=None):
    sock = "bench-" + uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    subprocess.run([TMUX, "-L", sock, "-f", "/dev/null", "new-session", "-d", "-x", "100",
                    "-y", "30", "--"] + argv, env=env, check=True)
    first = interactive = None
    try:
        while time.monotonic() - t0 < 120:
            s = subprocess.run([TMUX, "-L", sock, "capture-pane", "-p", "-t", "0"],
                               stdout=subprocess.PIPE).stdout.decode(errors="replace")
            if want in s:
                first = time.monotonic() - t0
                break
            time.sleep(0.002)
        if then_keys:
            t1 = time.monotonic()
            subprocess.run([TMUX, "-L", sock, "send-keys", "-t", "0"] + then_keys)
            while time.monotonic() - t1 < 120:
                s = subprocess.run([TMUX, "-L", sock, "capture-pane", "-p", "-t", "0"],
                                   stdout=subprocess.PIPE).stdout.decode(errors="replace")
                if then_want in s:
                    interactive = time.monotonic() - t0
                    break
                time.sleep(0.002)
        time.sleep(0.5)  # idle: the full list is loaded by now
        pid = subprocess.run([TMUX, "-L", sock, "display", "-p", "-t", "0", "#{pane_pid}"],
                             stdout=subprocess.PIPE).stdout.decode().strip()
        rss = None
        with open("/proc/%s/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    rss = int(line.split()[1]) / 1024.0
    finally:
        subprocess.run([TMUX, "-L", sock, "kill-server"], stderr=subprocess.DEVNULL)
    return first, interactive, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=50000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--tern", default=os.path.join(TOP, "build", "tern"))
    ap.add_argument("--make-index", default=None)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "tern-bench-tui"))
    a = ap.parse_args()
    if not TMUX:
        sys.exit("tmux is needed")
    mi = a.make_index or os.path.join(os.path.dirname(a.tern), "tests", "list", "make-index")
    os.makedirs(a.work, exist_ok=True)
    data, conf, mconf = make_data(a.work, a.count, mi)
    newest = message(a.count - 1)[2]
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="screen-256color",
               XDG_DATA_HOME=data, TERN_CONFIG=conf)
    env.pop("TMUX", None)
    results = {}
    # what tmux itself costs: a pane that prints one line
    results["baseline (tmux + echo)"] = [run_once(["sh", "-c", "echo %s; sleep 5" % newest], env,
                                                  newest) for _ in range(a.runs)]
    t = [run_once([a.tern, "tui"], env, newest, ["End"], "%d/%d" % (a.count, a.count))
         for _ in range(a.runs)]
    results["tern"] = t
    if NEOMUTT:
        run_once([NEOMUTT, "-n", "-F", mconf], env, newest)  # warm the header cache
        results["neomutt"] = [run_once([NEOMUTT, "-n", "-F", mconf], env, newest)
                              for _ in range(a.runs)]
    print("| program | first screen (median of %d) | fully interactive | peak RSS |" % a.runs)
    print("|---|---|---|---|")
    for name, rs in results.items():
        first = statistics.median(r[0] for r in rs)
        inter = [r[1] for r in rs if r[1] is not None]
        rss = statistics.median(r[2] for r in rs)
        print("| %s | %.0f ms | %s | %.1f MiB |" % (
            name, first * 1000, "%.0f ms" % (statistics.median(inter) * 1000) if inter else "-",
            rss))


if __name__ == "__main__":
    main()
