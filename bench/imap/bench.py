#!/usr/bin/python3
"""IMAP benchmark (not a test): tern against a minimal client (the floor),
neomutt and mbsync, on the lab's Dovecot over IMAPS. Run by run.sh.

    bench.py --tern BUILD/tern [--lab DIR] [--sizes 10000,50000] [--runs N]
             [--rtt-ms 50] [--out FILE]

Per INBOX size: cold header sync (tern with an empty data dir, neomutt with
an empty header cache, the floor: one UID FETCH 1:* read without parsing),
no-change resync (tern, neomutt with a warm header cache, mbsync after its
first full sync), CPU of `tern list -n 50`, peak RSS of tern's cold sync.
Every figure is the median of --runs runs; the clients take turns within a
round so drift on a shared machine hits them alike. Dovecot's own caches
are warmed first by one untimed run of each client.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
sys.path.insert(0, os.path.join(TOP, "bench", "common"))
import lab as labmod  # noqa: E402
from netns import DelayedNetns  # noqa: E402
from results import cpu_model, loadstr  # noqa: E402


def run(cmd, env=None, timeout=1800, shell=False):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, shell=shell)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (cmd, p.returncode, p.stdout[-500:],
                                                      p.stderr[-500:]))
    return dt, p


def timed(cmd, env=None):
    """wall seconds, user+sys CPU seconds, max RSS KiB via /usr/bin/time."""
    fmt = "@@ %e %U %S %M"
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", fmt] + cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=1800)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (cmd, p.stderr[-800:]))
    line = [l for l in p.stderr.decode().splitlines() if l.startswith("@@ ")][-1].split()
    return wall, float(line[2]) + float(line[3]), int(line[4]), p


class Setup:
    def __init__(self, args, lab, name, n, port, work):
        self.args, self.lab, self.name, self.n, self.port = args, lab, name, n, port
        self.addr = "%s@%s" % (name, lab.domain)
        self.pw = name + "-pw"
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.xdg = os.path.join(work, "xdg")
        self.conf = os.path.join(work, "tern.conf")
        with open(self.conf, "w") as f:
            f.write("[account b]\naddress = %s\nincoming = imap\nhost = 127.0.0.1\n"
                    "port = %d\ntls = implicit\npassword = %s\nca_file = %s\n"
                    % (self.addr, port, self.pw, lab.ca))
        os.chmod(self.conf, 0o600)
        self.hc = os.path.join(work, "hcache")
        self.muttrc = os.path.join(work, "muttrc")
        with open(self.muttrc, "w") as f:
            f.write('set folder = "imaps://%s@127.0.0.1:%d/"\nset spoolfile = "+INBOX"\n'
                    'set imap_pass = "%s"\nset ssl_ca_certificates_file = "%s"\n'
                    'set header_cache = "%s/"\nset quit = yes\n'
                    'set imap_check_subscribed = no\nset mail_check_stats = no\n'
                    % (self.addr.replace("@", "%40"), port, self.pw, lab.ca, self.hc))
        self.mbdir = os.path.join(work, "mbsync")
        self.mbrc = os.path.join(work, "mbsyncrc")
        with open(self.mbrc, "w") as f:
            # the lab certificate names localhost; Dovecot listens on 127.0.0.1
            f.write("IMAPAccount b\nHost localhost\nPort %d\nUser %s\nPass %s\nSSLType IMAPS\n"
                    "CertificateFile %s\n\nIMAPStore r\nAccount b\n\nMaildirStore l\n"
                    "Path %s/\nInbox %s/INBOX\n\nChannel b\nFar :r:\nNear :l:\n"
                    "Patterns INBOX\nCreate Near\nSync Pull\nSyncState *\n"
                    % (port, self.addr, self.pw, lab.ca, self.mbdir, self.mbdir))

    def env(self):
        e = dict(os.environ)
        e["XDG_DATA_HOME"] = self.xdg
        e["TERM"] = "xterm"
        return e

    def tern(self, *a):
        return [self.args.tern, "-c", self.conf] + list(a)

    def floor(self):
        dt, p = run([sys.executable, os.path.join(HERE, "floor.py"), "127.0.0.1",
                     str(self.port), self.lab.ca, self.addr, self.pw])
        return dt

    def tern_cold(self):
        shutil.rmtree(self.xdg, ignore_errors=True)
        wall, cpu, rss, p = timed(self.tern("fetch", "-a", "b"), env=self.env())
        if (" %d new" % self.n).encode() not in p.stdout:
            raise RuntimeError("tern fetched %s" % p.stdout)
        return wall, rss

    def tern_warm(self):
        wall, cpu, rss, p = timed(self.tern("fetch", "-a", "b"), env=self.env())
        return wall, cpu

    def tern_trips(self, rtt_ms):
        """Round trips of a no-change resync, counted from tern's side: the
        blocking waits (poll, connect, read...) that last at least 0.4 RTT,
        under strace. Returns (count, their total seconds)."""
        trace = os.path.join(self.work, "strace.out")
        run(["strace", "-f", "-T", "-o", trace, "-e",
             "trace=poll,ppoll,select,pselect6,epoll_wait,epoll_pwait,connect,read,recvfrom,"
             "recvmsg"] + self.tern("fetch", "-a", "b"), env=self.env())
        waits = []
        with open(trace) as f:
            for line in f:
                m = re.search(r"<([0-9.]+)>$", line.strip())
                if m and float(m.group(1)) >= 0.4 * rtt_ms / 1000.0:
                    waits.append(float(m.group(1)))
        return len(waits), sum(waits)

    def neomutt(self, cold):
        if cold:
            shutil.rmtree(self.hc, ignore_errors=True)
        os.makedirs(self.hc, exist_ok=True)
        cmd = "neomutt -n -F %s -e 'push <quit>'" % self.muttrc
        dt, p = run(["script", "-qec", cmd, "/dev/null"], env=self.env())
        if b"Msgs:%d" % self.n not in p.stdout:
            raise RuntimeError("neomutt did not load %d messages" % self.n)
        return dt

    def mbsync(self):
        os.makedirs(self.mbdir, exist_ok=True)
        dt, p = run(["mbsync", "-c", self.mbrc, "-q", "b"], env=self.env())
        return dt

    def list_cpu(self):
        """user+sys CPU seconds of `tern list -n 50` (median of 9, from wait4)."""
        cpus = []
        for _ in range(9):
            p = subprocess.Popen(self.tern("list", "-a", "b", "-n", "50"), env=self.env(),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            out = p.stdout.read()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = status
            assert status == 0 and len(out.splitlines()) >= 50, out[-300:]
            cpus.append(ru.ru_utime + ru.ru_stime)
        return med(cpus), 0


def ensure_user(lab, name, n):
    have = len(lab.messages(name)) if name in lab.users() else -1
    if have == n:
        return
    if have < 0:
        lab.add_user(name, name + "-pw")
        time.sleep(1.1)  # Dovecot sees a changed users file by its mtime
    elif have != 0:
        raise RuntimeError("user %s exists with %d messages" % (name, have))
    t0 = time.monotonic()
    subprocess.run([sys.executable, os.path.join(HERE, "gen.py"), lab.dir, name, str(n)],
                   check=True)
    print("  seeded %d messages in %.0fs" % (n, time.monotonic() - t0), file=sys.stderr)


def med(xs):
    return statistics.median(xs)


def bench_size(args, lab, n, port, work, rtt):
    name = "bench%dk" % (n // 1000)
    ensure_user(lab, name, n)
    s = Setup(args, lab, name, n, port, os.path.join(work, "%s-%d" % (name, rtt)))
    print("== %d messages, RTT %s" % (n, "%d ms" % rtt if rtt else "loopback"), file=sys.stderr)
    # warm Dovecot's caches for every client's field set (untimed)
    s.floor()
    s.tern_cold()
    s.neomutt(cold=True)
    runs = args.runs if n <= 10000 else max(3, args.runs - 2)
    res = {k: [] for k in ("floor", "tern_cold", "neomutt_cold", "tern_warm", "neomutt_warm",
                           "mbsync_warm", "rss", "list_cpu", "trips", "trip_s", "tern_warm_cpu")}
    load = [os.getloadavg()[0]]
    if shutil.which("mbsync"):
        t0 = time.monotonic()
        s.mbsync()  # first full sync (bodies too): untimed setup
        print("  mbsync first full sync: %.1fs" % (time.monotonic() - t0), file=sys.stderr)
    for r in range(runs):
        res["floor"].append(s.floor())
        wall, rss = s.tern_cold()
        res["tern_cold"].append(wall)
        res["rss"].append(rss)
        res["neomutt_cold"].append(s.neomutt(cold=True))
        wall, cpu = s.tern_warm()
        res["tern_warm"].append(wall)
        res["tern_warm_cpu"].append(cpu)
        res["neomutt_warm"].append(s.neomutt(cold=False))
        if shutil.which("mbsync"):
            res["mbsync_warm"].append(s.mbsync())
        if not rtt:
            cpu, _ = s.list_cpu()
            res["list_cpu"].append(cpu)
        else:
            trips, secs = s.tern_trips(rtt)
            res["trips"].append(trips)
            res["trip_s"].append(secs)
        load.append(os.getloadavg()[0])
        print("  round %d: %s" % (r + 1, {k: round(v[-1], 3) for k, v in res.items() if v}),
              file=sys.stderr)
    out = {k: med(v) for k, v in res.items() if v}
    # ratios within a round (the clients ran back to back) are steadier on a
    # shared machine than ratios of medians
    out["r_cold_floor"] = med([t / f for t, f in zip(res["tern_cold"], res["floor"])])
    out["r_cold_neomutt"] = med([m / t for m, t in zip(res["neomutt_cold"], res["tern_cold"])])
    out["r_warm_neomutt"] = med([m / t for m, t in zip(res["neomutt_warm"], res["tern_warm"])])
    if res["mbsync_warm"]:
        out["r_warm_mbsync"] = med([m / t for m, t in zip(res["mbsync_warm"], res["tern_warm"])])
    out["rss_max"] = max(res["rss"])
    out["runs"] = runs
    out["load"] = loadstr(load)
    out["all"] = {k: v for k, v in res.items() if v}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", required=True)
    ap.add_argument("--lab")
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rtt-ms", type=int, default=0, help="also run with this RTT")
    ap.add_argument("--rtt-size", type=int, default=5000, help="INBOX size for the RTT run")
    ap.add_argument("--out")
    args = ap.parse_args()
    started = None
    if args.lab and os.path.exists(os.path.join(args.lab, "lab.json")):
        lab = labmod.Lab(args.lab)
    else:
        lab = labmod.start(args.lab or tempfile.mkdtemp(prefix="tern-bench-lab-"))
        started = lab
    work = tempfile.mkdtemp(prefix="tern-bench-imap-")
    rows = []
    try:
        for n in [int(x) for x in args.sizes.split(",") if x]:
            rows.append((n, 0, bench_size(args, lab, n, lab.imaps_port, work, 0)))
        if started:  # the loopback lab is not needed any more
            started.stop(remove=True)
            started = None
        if args.rtt_ms:
            # the lab and every client inside a namespace whose 127.0.0.1
            # is RTT_MS away (bench/common/netns.py)
            with DelayedNetns(args.rtt_ms) as ns, ns.inside():
                rlab = labmod.start(tempfile.mkdtemp(prefix="tern-bench-lab-rtt-"))
                try:
                    r = bench_size(args, rlab, args.rtt_size, rlab.imaps_port, work, args.rtt_ms)
                    r["connect_ms"] = ns.connect_ms
                    rows.append((args.rtt_size, args.rtt_ms, r))
                finally:
                    rlab.stop(remove=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            started.stop(remove=True)
    report(rows, args)


def targets(rows):
    """The issue's targets, each marked met or MISSED."""
    def mark(ok):
        return "met" if ok else "MISSED"
    out = []
    by = {(n, rtt): r for n, rtt, r in rows}
    for (n, rtt), r in sorted(by.items(), key=lambda x: (x[0][1], x[0][0])):
        t = ["cold tern/floor %.2fx <= 1.3x: %s" % (r["r_cold_floor"], mark(r["r_cold_floor"] <= 1.3))]
        if rtt:
            t.append("no-change resync in at most 10 round trips: median %g, %s" % (
                statistics.median(r["all"]["trips"]),
                mark(statistics.median(r["all"]["trips"]) <= 10)))
        else:
            t.append("neomutt cold/tern %.1fx >= 3x: %s" % (
                r["r_cold_neomutt"], mark(r["r_cold_neomutt"] >= 3)))
            t.append("neomutt warm/tern resync %.0fx >= 5x: %s" % (
                r["r_warm_neomutt"], mark(r["r_warm_neomutt"] >= 5)))
            if "r_warm_mbsync" in r:
                t.append("faster than mbsync resync (%.1fx): %s" % (
                    r["r_warm_mbsync"], mark(r["r_warm_mbsync"] > 1)))
            t.append("list -n 50 under 50 ms CPU (%.1f ms): %s" % (
                r["list_cpu"] * 1000, mark(r["list_cpu"] < 0.05)))
            if n >= 50000:
                t.append("cold peak RSS under 40 MiB (%.1f MiB): %s" % (
                    r["rss_max"] / 1024, mark(r["rss_max"] / 1024 < 40)))
        out.append("- Targets, %d messages%s: %s." % (n, " at %d ms" % rtt if rtt else "",
                                                    "; ".join(t)))
    small, big = by.get((10000, 0)), by.get((50000, 0))
    if small and big:
        g = big["tern_warm"] / small["tern_warm"]
        out.append("- Resync growth from 10,000 to 50,000 messages: %.2fx < 1.5x: %s (tern's own "
                   "CPU in it: %.0f ms and %.0f ms; mbsync's resync grew %.2fx)." % (
                       g, mark(g < 1.5), small["tern_warm_cpu"] * 1000,
                       big["tern_warm_cpu"] * 1000,
                       big.get("mbsync_warm", 0) / small.get("mbsync_warm", 1)))
    return out + [""]


def report(rows, args):
    lines = ["`sh bench/imap/run.sh build-bench` (one command: loopback at %s messages, then "
             "%d messages at %d ms RTT) on %s, %d CPUs (%s). Lab Dovecot over IMAPS (TLS 1.3). "
             "Seconds of wall time from process start to exit (login included), median of "
             "the rounds; ratios are medians of per-round ratios (the clients run back to back "
             "within a round, so load drift hits them alike). Messages from bench/imap/gen.py "
             "(5 KB average, 10%% with attachments). The floor is bench/imap/floor.py: LOGIN, "
             "SELECT and the one `UID FETCH 1:*` tern's sync sends, read without parsing "
             "(python ssl). The machine is shared with other engineers' builds and tests: "
             "the 1-minute load average during each row is given." % (
                 args.sizes.replace(",", " and "), args.rtt_size, args.rtt_ms,
                 time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                 cpu_model()), "",
             "| INBOX | RTT | runs | load | floor | tern cold | neomutt cold | tern/floor "
             "| neomutt/tern | tern resync | neomutt warm | mbsync resync | neomutt/tern "
             "| mbsync/tern | list -n 50 CPU | tern cold peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for n, rtt, r in rows:
        lines.append("| %d | %s | %d | %s | %.3f | %.3f | %.3f | %.2fx | %.1fx | %.3f | %.3f | %s "
                     "| %.0fx | %s | %s | %.1f MiB |" % (
                         n, "%d ms" % rtt if rtt else "0", r["runs"], r["load"], r["floor"],
                         r["tern_cold"], r["neomutt_cold"], r["r_cold_floor"],
                         r["r_cold_neomutt"], r["tern_warm"], r["neomutt_warm"],
                         "%.3f" % r["mbsync_warm"] if "mbsync_warm" in r else "-",
                         r["r_warm_neomutt"],
                         "%.1fx" % r["r_warm_mbsync"] if "r_warm_mbsync" in r else "-",
                         "%.1f ms" % (r["list_cpu"] * 1000) if "list_cpu" in r else "-",
                         r["rss_max"] / 1024))
        notes.append("%d%s rounds (s): %s." % (n, " at %d ms" % rtt if rtt else "", "; ".join(
            "%s %s" % (k, ", ".join("%.3g" % x for x in v)) for k, v in r["all"].items()
            if k not in ("rss", "trip_s"))))
        if rtt:
            notes.append(
                "%d ms RTT: the lab and every client run inside a network namespace of the "
                "benchmark's own whose 127.0.0.0/8 is routed through a TUN device; "
                "bench/common/rtt_relay.py holds each packet (MTU 1500) %g ms and writes it back "
                "(a TCP connect there took %.1f ms). Round trips of tern's no-change resync, counted "
                "as the blocking waits of at least %d ms in its system calls (strace, connect "
                "to exit): %s per run (median %g, %.2f s waiting in all)." % (
                    rtt, rtt / 2, r["connect_ms"], int(0.4 * rtt),
                    ", ".join(str(x) for x in r["all"]["trips"]),
                    statistics.median(r["all"]["trips"]), statistics.median(r["all"]["trip_s"])))
    text = "\n".join(lines + [""] + targets(rows) + notes) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
