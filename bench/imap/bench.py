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
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
import lab as labmod  # noqa: E402


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
        return wall

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
                           "mbsync_warm", "rss", "list_cpu")}
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
        res["tern_warm"].append(s.tern_warm())
        res["neomutt_warm"].append(s.neomutt(cold=False))
        if shutil.which("mbsync"):
            res["mbsync_warm"].append(s.mbsync())
        if not rtt:
            cpu, _ = s.list_cpu()
            res["list_cpu"].append(cpu)
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
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", required=True)
    ap.add_argument("--lab")
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rtt-ms", type=int, default=0, help="also run with this RTT (10k only)")
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
        for n in [int(x) for x in args.sizes.split(",")]:
            rows.append((n, 0, bench_size(args, lab, n, lab.imaps_port, work, 0)))
        if args.rtt_ms:
            proxy_port = labmod._free_ports(1)[0]
            px = subprocess.Popen([sys.executable, os.path.join(HERE, "delayproxy.py"),
                                   str(proxy_port), str(lab.imaps_port), str(args.rtt_ms / 2)],
                                  stdout=subprocess.PIPE)
            try:
                px.stdout.readline()
                rows.append((10000, args.rtt_ms,
                             bench_size(args, lab, 10000, proxy_port, work, args.rtt_ms)))
            finally:
                px.terminate()
                px.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if started:
            started.stop(remove=True)
    report(rows, args)


def report(rows, args):
    cpu = subprocess.run(["sh", "-c", "nproc; grep -m1 'model name' /proc/cpuinfo"],
                         stdout=subprocess.PIPE).stdout.decode().split("\n")
    lines = ["## IMAP", "",
             "bench/imap/run.sh: lab Dovecot over IMAPS (TLS 1.3) on %s, %s CPUs (%s)."
             % ("loopback", cpu[0], cpu[1].split(":")[-1].strip()),
             "Median of N runs per figure, seconds of wall time from process start to exit "
             "(login included). Messages from bench/imap/gen.py (5 KB average, 10% with "
             "attachments). The floor is bench/imap/floor.py: LOGIN, SELECT and the one "
             "`UID FETCH 1:*` tern's sync sends, read without parsing (python ssl).", "",
             "Ratios are medians of the per-round ratios (the clients ran back to back "
             "within a round).", "",
             "| INBOX | RTT | runs | floor | tern cold | neomutt cold | tern/floor "
             "| neomutt/tern | tern resync | neomutt warm | mbsync resync | neomutt/tern "
             "| mbsync/tern | list -n 50 CPU | tern cold peak RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, rtt, r in rows:
        lines.append("| %d | %s | %d | %.3f | %.3f | %.3f | %.2fx | %.1fx | %.3f | %.3f | %s "
                     "| %.0fx | %s | %s | %.1f MiB |" % (
                         n, "%d ms" % rtt if rtt else "0", r["runs"], r["floor"],
                         r["tern_cold"], r["neomutt_cold"], r["r_cold_floor"],
                         r["r_cold_neomutt"], r["tern_warm"], r["neomutt_warm"],
                         "%.3f" % r["mbsync_warm"] if "mbsync_warm" in r else "-",
                         r["r_warm_neomutt"],
                         "%.1fx" % r["r_warm_mbsync"] if "r_warm_mbsync" in r else "-",
                         "%.1f ms" % (r["list_cpu"] * 1000) if "list_cpu" in r else "-",
                         r["rss_max"] / 1024))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
