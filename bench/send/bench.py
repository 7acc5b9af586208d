#!/usr/bin/python3
"""Sending benchmark (not a test); run through bench/send/run.sh.

Every client talks to the same Postfix submission port of a private lab
(tests/lab) with STARTTLS, certificate verification against the lab CA and
AUTH PLAIN, and sends the same ready message (Date and Message-ID included,
so no client adds anything):

  per process  one process per message: tern send -t, msmtp -t, curl -T
  batch        all messages over one connection: tern send --batch vs
               bench/send/pipelined_ref.py (PIPELINING, one round trip per
               message: the reference) and the same with two groups per
               message
  50 ms RTT    the same with the lab and every client inside a network
               namespace in which each packet to 127.0.0.1 is held 25 ms
               each way (bench/common/netns.py)

Rounds: in each round the per-process clients take turns message by
message and the batch clients run back to back, so load drift on a shared
machine hits them alike; figures are medians over the rounds and
ratios are medians of per-round ratios. Peak RSS is the largest
maximum resident set of any client process (/usr/bin/time, which also
starts every process, the same cost for each client). The load average is sampled before and
after each table.

Environment: TERN_BIN, N (200), RUNS (3), RTT_MS (50; 0 skips), RTT_N (20),
RTT_RUNS (3), WRITE_RESULTS (1).
"""
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
sys.path.insert(0, os.path.join(TOP, "bench", "common"))
import lab as labmod  # noqa: E402
from netns import DelayedNetns  # noqa: E402
from results import cpu_model, loadstr, write_section  # noqa: E402

TERN = os.environ.get("TERN_BIN") or os.path.join(TOP, "build-bench", "tern")
N = int(os.environ.get("N", "200"))
RUNS = int(os.environ.get("RUNS", "3"))
RTT_MS = int(os.environ.get("RTT_MS", "50"))
RTT_N = int(os.environ.get("RTT_N", "20"))
RTT_RUNS = int(os.environ.get("RTT_RUNS", "3"))

BODY = "".join("line %d of a short message body, about two kilobytes in all.\n" % i
               for i in range(40))
PER_PROCESS = ("tern", "msmtp", "curl")
BATCH = ("tern_batch", "ref", "ref2")
LABELS = {
    "tern": "tern send -t, one process each",
    "msmtp": "msmtp -t, one process each",
    "curl": "curl -T (CLI), one process each",
    "tern_batch": "tern send --batch, one connection",
    "ref": "pipelined reference, one connection (1 round trip/msg)",
    "ref2": "pipelined reference, two groups per message (2 round trips/msg)",
}


class Setup:
    def __init__(self, lab, work):
        self.lab, self.work = lab, work
        self.frm = "alice@%s" % lab.domain
        self.pw = "alice-pw"
        self.to = "bob@%s" % lab.domain
        self.port = lab.smtp_port
        self.msg = os.path.join(work, "msg.eml")
        with open(self.msg, "w") as f:
            f.write("Date: Mon, 01 Jan 2024 10:00:00 +0000\nFrom: Alice <%s>\nTo: Bob <%s>\n"
                    "Subject: benchmark\nMessage-ID: <bench@lab.test>\nMIME-Version: 1.0\n"
                    "Content-Type: text/plain; charset=utf-8\n"
                    "Content-Transfer-Encoding: 7bit\n\n%s" % (self.frm, self.to, BODY))
        self.conf = os.path.join(work, "tern.conf")
        with open(self.conf, "w") as f:
            f.write("[account bench]\naddress = %s\nincoming = pop3\nhost = 127.0.0.1\n"
                    "port = %d\ntls = implicit\npassword = %s\nca_file = %s\n"
                    "smtp_host = 127.0.0.1\nsmtp_port = %d\nsave_sent = no\n"
                    % (self.frm, lab.pop3s_port, self.pw, lab.ca, self.port))
        self.msmtprc = os.path.join(work, "msmtprc")
        with open(self.msmtprc, "w") as f:
            f.write("account default\nhost 127.0.0.1\nport %d\nfrom %s\ntls on\n"
                    "tls_starttls on\ntls_trust_file %s\nauth plain\nuser %s\npassword %s\n"
                    "domain lab.test\n" % (self.port, self.frm, lab.ca, self.frm, self.pw))
        for p in (self.conf, self.msmtprc):
            os.chmod(p, 0o600)
        self.env = dict(os.environ, TERN_CONFIG=self.conf,
                        XDG_DATA_HOME=os.path.join(work, "data"))
        self.batch_dir = None

    def cmd(self, name):
        if name == "tern":
            return [TERN, "send", "-t"]
        if name == "msmtp":
            return ["msmtp", "-C", self.msmtprc, "-t"]
        if name == "curl":
            return ["curl", "-s", "-S", "--url", "smtp://127.0.0.1:%d/lab.test" % self.port,
                    "--ssl-reqd", "--cacert", self.lab.ca, "--user", "%s:%s" % (self.frm, self.pw),
                    "--mail-from", self.frm, "--mail-rcpt", self.to, "-T", "-"]
        files = self.files()
        if name == "tern_batch":
            return [TERN, "send", "--batch"] + files
        ref = [sys.executable, os.path.join(HERE, "pipelined_ref.py")]
        if name == "ref2":
            ref.append("--two-groups")
        return ref + [str(self.port), self.lab.ca, self.frm, self.pw, self.frm, self.to] + files

    def files(self):
        return sorted(os.path.join(self.batch_dir, f) for f in os.listdir(self.batch_dir))

    def make_batch(self, n):
        self.batch_dir = os.path.join(self.work, "batch%d" % n)
        if not os.path.isdir(self.batch_dir):
            os.makedirs(self.batch_dir)
            for i in range(n):
                shutil.copy(self.msg, os.path.join(self.batch_dir, "m%04d.eml" % i))

    def one(self, cmd, stdin_path=None):
        """Run one process: (seconds, peak RSS KiB). /usr/bin/time reports
        the RSS: a child's own ru_maxrss would include this python's
        memory from before exec."""
        rssf = os.path.join(self.work, "rss")
        t0 = time.monotonic()
        with open(stdin_path or os.devnull, "rb") as inp:
            p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rssf] + cmd, env=self.env,
                               stdin=inp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (cmd[:3], p.returncode, p.stderr[-500:]))
        with open(rssf) as f:
            return dt, int(f.read().split()[-1])

    def per_process(self, names, n):
        """n messages per client, one process each; the clients take turns
        message by message so load drift hits them alike. {name: (s, KiB)}"""
        out = {k: (0.0, 0) for k in names}
        for _ in range(n):
            for k in names:
                dt, kb = self.one(self.cmd(k), self.msg)
                out[k] = (out[k][0] + dt, max(out[k][1], kb))
        return out

    def batch(self, name, n):
        self.make_batch(n)
        return self.one(self.cmd(name))


def bench(lab, n, runs, label):
    work = tempfile.mkdtemp(prefix="tern-bench-send-")
    os.chmod(work, 0o755)
    try:
        s = Setup(lab, work)
        s.per_process(PER_PROCESS, 2)  # warm up: Postfix processes, page cache
        for name in BATCH:
            s.batch(name, 3)
        load = [os.getloadavg()[0]]
        res = {k: [] for k in PER_PROCESS + BATCH}
        rss = {k: 0 for k in res}
        for r in range(runs):
            got = s.per_process(PER_PROCESS, n)
            for name in BATCH:
                got[name] = s.batch(name, n)
            for name, (t, kb) in got.items():
                res[name].append(t)
                rss[name] = max(rss[name], kb)
            load.append(os.getloadavg()[0])
            print("  %s round %d: %s (load %.1f)" % (
                label, r + 1, ", ".join("%s %.2fs" % (k, v[-1]) for k, v in res.items()),
                load[-1]), file=sys.stderr, flush=True)
        return res, rss, load
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rratio(res, a, b):
    return statistics.median(x / y for x, y in zip(res[a], res[b]))


def table(res, rss, n, title):
    med = {k: statistics.median(v) for k, v in res.items()}
    lines = ["| %s | median total | per message | peak RSS | all runs (s) | ratio |" % title,
             "|---|---|---|---|---|---|"]
    for k in PER_PROCESS + BATCH:
        vs = ""
        if k in ("msmtp", "curl"):
            vs = "%.2f" % rratio(res, k, "tern")
        elif k in ("ref", "ref2"):
            vs = "%.2f" % rratio(res, k, "tern_batch")
        lines.append("| %s | %.2f s | %.1f ms | %.1f MiB | %s | %s |" % (
            LABELS[k], med[k], med[k] * 1000 / n, rss[k] / 1024,
            ", ".join("%.2f" % x for x in res[k]), vs))
    return "\n".join(lines)


def targets(res, rtt):
    c, m, b, b2 = (rratio(res, "curl", "tern"), rratio(res, "msmtp", "tern"),
                   rratio(res, "tern_batch", "ref"), rratio(res, "tern_batch", "ref2"))
    msmtp = ("msmtp/tern = %.2f (a target on loopback only)" % m if rtt else
             "at least 3x faster than msmtp: msmtp/tern = %.2f (%s)" % (
                 m, "met" if m >= 3 else "MISSED"))
    return ("Targets: one process per message no slower than curl: curl/tern = %.2f (%s); "
            "%s; --batch within 1.2x of the one-session reference: tern/reference = %.2f (%s; "
            "against the two-group variant %.2f)." % (
                c, "met" if c >= 1 else "MISSED", msmtp, b, "met" if b <= 1.2 else "MISSED", b2))


def main():
    version = subprocess.run([TERN, "--version"], stdout=subprocess.PIPE, text=True).stdout.split()
    out = ["`sh bench/send/run.sh` (one command: loopback, then the %d ms RTT namespace) on %s, "
           "%d cores (%s), tern %s (%s). Lab Postfix submission: STARTTLS, certificate verified "
           "against the lab CA, AUTH PLAIN; the same 2.6 KB ready message for every client; "
           "save_sent = no (the other clients keep no copy). Wall time for all messages, "
           "median of the rounds; lower is better. The machine is shared with other "
           "engineers' builds and tests: the load average (1 min) is given per table." % (
               RTT_MS, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
               cpu_model(), version[-1] if version else "?", TERN), ""]
    lab = labmod.start(tempfile.mkdtemp(prefix="tern-bench-send-lab-"))
    try:
        print("== loopback, %d messages, %d rounds" % (N, RUNS), file=sys.stderr)
        res, rss, load = bench(lab, N, RUNS, "loopback")
    finally:
        lab.stop(remove=True)
    out += ["Loopback, %d rounds, load average %s:" % (RUNS, loadstr(load)), "",
            table(res, rss, N, "loopback, %d messages" % N), "", targets(res, False), ""]
    if RTT_MS:
        with DelayedNetns(RTT_MS) as ns, ns.inside():
            lab = labmod.start(tempfile.mkdtemp(prefix="tern-bench-send-lab-"))
            try:
                print("== %d ms RTT (TCP connect %.1f ms), %d messages, %d rounds" % (
                    RTT_MS, ns.connect_ms, RTT_N, RTT_RUNS), file=sys.stderr)
                res, rss, load = bench(lab, RTT_N, RTT_RUNS, "rtt")
            finally:
                lab.stop(remove=True)
        out += ["%d ms RTT: the lab and every client inside a network namespace of the "
                "benchmark's own whose 127.0.0.0/8 is routed through a TUN device; "
                "bench/common/rtt_relay.py holds each packet (MTU 1500) %g ms and writes it back (a TCP "
                "connect in the namespace took %.1f ms, median of 7). %d rounds, load "
                "average %s:" % (RTT_MS, RTT_MS / 2, ns.connect_ms, RTT_RUNS, loadstr(load)), "",
                table(res, rss, RTT_N, "%d ms RTT, %d messages" % (RTT_MS, RTT_N)), "",
                targets(res, True), ""]
    text = "\n".join(out)
    print(text)
    if os.environ.get("WRITE_RESULTS", "1") == "1":
        write_section("Sending", text)


if __name__ == "__main__":
    main()
