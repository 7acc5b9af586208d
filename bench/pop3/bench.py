#!/usr/bin/python3
"""POP3 download-and-delete benchmark (run through bench/pop3/run.sh).

For each client and each run: a fresh lab user gets N messages, the client
downloads them over POP3S (certificate checked against the lab CA) into a
Maildir and deletes them on the server; wall time and peak RSS come from
/usr/bin/time -v. Every run is checked: N files in the Maildir, server
empty. Median of RUNS runs per client. Optionally (RTT_MS) the same with
RTT_N messages, the lab and the clients inside a network namespace whose
127.0.0.1 is RTT_MS away (bench/common/netns.py).
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
sys.path.insert(0, os.path.join(TOP, "bench", "common"))
import lab as labmod  # noqa: E402
from netns import DelayedNetns  # noqa: E402
from results import write_section  # noqa: E402
from pop3_helpers import gen_messages, new_user  # noqa: E402

N = int(os.environ.get("N", "10000"))
RUNS = int(os.environ.get("RUNS", "3"))
RTT_MS = int(os.environ.get("RTT_MS", "50"))
RTT_N = int(os.environ.get("RTT_N", "500"))
TERN = os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")
CLIENTS = os.environ.get("CLIENTS", "tern,fetchmail,getmail6,reference").split(",")


ALL_RUNS = []  # per client: every completed run's time, for the notes
SETTLE_S = float(os.environ.get("SETTLE_S", "15"))


def timed(cmd, env=None, cwd=None):
    """Run under /usr/bin/time -v: (seconds, peak RSS KiB, CompletedProcess)."""
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)",
                  p.stderr)
    secs = (int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))) if m else -1
    r = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    return secs, int(r.group(1)) if r else -1, p


def run_client(name, lab, user, port, work, host="127.0.0.1"):
    md = os.path.join(work, "Maildir")
    env = dict(os.environ)
    if name == "tern":
        cfg = os.path.join(work, "config")
        trust = "ca_file = %s\n" % lab.ca
        with open(cfg, "w") as f:
            f.write("[account b]\naddress = %s\nincoming = pop3\nhost = %s\nport = %d\n"
                    "tls = implicit\npassword = %s\n%smaildir = %s\n" % (
                        user.address, host, port, user.password, trust, md))
        os.chmod(cfg, 0o600)
        env["XDG_DATA_HOME"] = os.path.join(work, "data")
        return timed([TERN, "-c", cfg, "fetch", "-q"], env=env)
    if name == "fetchmail":
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        rc = os.path.join(work, "fetchmailrc")
        # safecat writes tmp/ -> fsync -> link into new/: a Maildir MDA.
        with open(rc, "w") as f:
            f.write('poll %s port %d protocol POP3 uidl\n'
                    '  user "%s" password "%s" ssl sslcertck sslcertfile "%s" sslcommonname localhost\n'
                    '  no keep fetchall mda "/usr/bin/safecat %s/tmp %s/new"\n' % (
                        host, port, user.address, user.password, lab.ca, md, md))
        os.chmod(rc, 0o600)
        env["HOME"] = work
        return timed(["fetchmail", "-f", rc, "-s", "--nosyslog", "-i",
                      os.path.join(work, "fetchids")], env=env)
    if name == "getmail6":
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(md, sub), exist_ok=True)
        gdir = os.path.join(work, "getmail")
        os.makedirs(gdir, exist_ok=True)
        with open(os.path.join(gdir, "getmailrc"), "w") as f:
            f.write("[retriever]\ntype = SimplePOP3SSLRetriever\nserver = %s\nport = %d\n"
                    "username = %s\npassword = %s\nca_certs = %s\nssl_cert_hostname = localhost\n\n"
                    "[destination]\ntype = Maildir\npath = %s/\n\n"
                    "[options]\ndelete = true\nread_all = true\nverbose = 0\n" % (
                        host, port, user.address, user.password, lab.ca, md))
        # getmail refuses to deliver as root: run it as nobody.
        for d, _, files in os.walk(work):
            for x in [d] + [os.path.join(d, f) for f in files]:
                os.chown(x, 65534, 65534)
        env["HOME"] = work
        return timed(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                      "getmail", "--getmaildir", gdir, "--rcfile", "getmailrc"], env=env)
    if name == "reference":
        return timed([sys.executable, os.path.join(TOP, "bench", "pop3", "ref_client.py"),
                      host, str(port), user.address, user.password, lab.ca, md, "32"],
                     env=env)
    raise SystemExit("unknown client " + name)


def count_maildir(md):
    return sum(len(os.listdir(os.path.join(md, s))) for s in ("new", "cur")
               if os.path.isdir(os.path.join(md, s)))


def settle():
    """Let the file system finish the last run's deletions. On this ext4
    (mounted with `discard`) the 20,000 files a run leaves behind (the
    client's Maildir and the server's expunged copies) are trimmed after
    they are deleted, and file creations meanwhile cost 3x as much: the
    next client would pay for the previous one's cleanup."""
    os.sync()
    time.sleep(SETTLE_S)
    os.sync()


def one_run(name, lab, msgs, port_of, label, run, host):
    """One client, one run on a fresh user: (seconds, KiB) or None."""
    user = new_user(lab, prefix="bench")
    lab.put_messages(user, msgs, flags="")  # cur/: quicker first index for Dovecot
    # The seeded mail must not be dirty in the page cache when the client
    # runs: tern's syncfs (same file system on loopback) would otherwise
    # flush the server's 100+ MB too.
    os.sync()
    work = tempfile.mkdtemp(prefix="pop3bench-%s-" % name, dir=os.environ.get(
        "BENCH_TMP", "/var/tmp"))
    try:
        secs, kb, p = run_client(name, lab, user, port_of(), work, host)
        got = count_maildir(os.path.join(work, "Maildir"))
        left = len(lab.messages(user))
        ok = got == len(msgs) and left == 0
        print("%-10s %s run %d: %.2fs, %d MiB peak RSS, stored %d, left on server %d%s" % (
            name, label, run + 1, secs, kb // 1024, got, left,
            "" if ok else "  FAILED rc=%d: %s" % (
                p.returncode, (p.stdout[-400:] + p.stderr.split("\tCommand being timed")[0][-600:])
                .replace("\n", " | "))),
            flush=True)
        return (secs, kb) if ok else None
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(os.path.dirname(user.maildir), ignore_errors=True)
        settle()


def bench(lab, msgs, port_of, clients, runs, label, host="127.0.0.1"):
    """Rounds of every client in turn (drift in the machine's state hits
    them alike); per client the median of its completed runs."""
    times = {name: [] for name in clients}
    rss = {name: [] for name in clients}
    for run in range(runs):
        for name in clients:
            got = one_run(name, lab, msgs, port_of, label, run, host)
            if got:
                times[name].append(got[0])
                rss[name].append(got[1])
    results = {}
    for name in clients:
        ts = times[name]
        if ts:
            print("%-10s %s all runs: %s" % (name, label, ", ".join("%.2f" % t for t in ts)))
        results[name] = (statistics.median(ts) if ts else None,
                         max(rss[name]) if rss[name] else None, len(ts), runs)
        ALL_RUNS.append("%s %s: %s" % (name, label, ", ".join("%.2f" % t for t in ts) or "none"))
    return results, sum(len(m) for m in msgs)


def table(results, n, total_bytes, title):
    base = results.get("tern", (None,))[0]
    lines = ["| %s | median time | msgs/s | peak RSS | time / tern's |" % title,
             "|---|---|---|---|---|"]
    names = {"tern": "tern fetch", "fetchmail": "fetchmail 6.4 + safecat (Maildir MDA)",
             "getmail6": "getmail6 (Maildir destination)",
             "reference": "python pipelined reference (floor)"}
    for name, (t, kb, ok, runs) in results.items():
        if t is None:
            lines.append("| %s | failed (%d/%d runs ok) | | | |" % (names[name], ok, runs))
            continue
        ratio = "%.1fx" % (t / base) if base and name != "tern" else ""
        note = "" if ok == runs else " (%d of %d runs completed)" % (ok, runs)
        lines.append("| %s | %.2f s%s | %.0f | %.1f MiB | %s |" % (
            names[name], t, note, n / t, kb / 1024.0, ratio))
    return "\n".join(lines)


def main():
    own = None
    if os.environ.get("TERN_LAB_DIR"):
        lab = labmod.Lab(os.environ["TERN_LAB_DIR"])
    else:
        own = lab = labmod.start()
    try:
        msgs = gen_messages(20261122, N, tag="bench")
        mb = sum(len(m) for m in msgs) / 1e6
        print("== %d messages, %.1f MB, %d runs per client" % (N, mb, RUNS), flush=True)
        res, total = bench(lab, msgs, lambda: lab.pop3s_port, CLIENTS, RUNS, "loopback")
        out = ["`sh bench/pop3/run.sh` on %s, %d cores, tern %s (TERN_BIN: use a release or "
               "debugoptimized build). Lab Dovecot 2.3 over POP3S "
               "(implicit TLS, certificate verified against the lab CA) on loopback; %d "
               "messages (%.1f MB, text with long lines, dot-lines, 8-bit, 10%% with "
               "base64 attachments up to 200 KB), download into a Maildir and delete on the "
               "server. Median of %d rounds (each client once per round, in turn; after "
               "every run the file system is synced and left idle for %g s, see settle() in "
               "bench/pop3/bench.py); peak RSS is the highest of the runs. Every run "
               "checked: all messages stored, server empty." % (
                   time.strftime("%Y-%m-%d"), os.cpu_count(),
                   subprocess.run([TERN, "--version"], stdout=subprocess.PIPE,
                                  text=True).stdout.split()[-1], N, mb, RUNS, SETTLE_S),
               "", table(res, N, total, "loopback, %d messages" % N), ""]
        t = {k: v[0] for k, v in res.items()}
        if t.get("tern"):
            bits = []
            if t.get("fetchmail"):
                bits.append("fetchmail/tern = %.1f (target >= 5)" % (t["fetchmail"] / t["tern"]))
            if t.get("getmail6"):
                bits.append("getmail6/tern = %.1f (target >= 10)" % (t["getmail6"] / t["tern"]))
            if t.get("reference"):
                bits.append("reference/tern = %.2f (stretch: >= 1)" % (t["reference"] / t["tern"]))
            out += ["Ratios: " + "; ".join(bits) + ".", ""]
        if RTT_MS:
            # a second lab, and every client, inside a namespace whose
            # 127.0.0.1 is RTT_MS away (bench/common/netns.py)
            with DelayedNetns(RTT_MS) as ns, ns.inside():
                rlab = labmod.start()
                try:
                    print("== %d ms RTT via TUN relay (TCP connect: %.1f ms), %d messages" % (
                        RTT_MS, ns.connect_ms, RTT_N), flush=True)
                    res2, total2 = bench(rlab, msgs[:RTT_N], lambda: rlab.pop3s_port, CLIENTS, 1,
                                         "rtt")
                finally:
                    rlab.stop(remove=True)
            out += ["%d ms RTT: a second lab and every client inside a network namespace of "
                    "the benchmark's own whose 127.0.0.0/8 is routed through a TUN device; "
                    "bench/common/rtt_relay.py holds each packet %g ms and writes it back (a "
                    "TCP connect there took %.1f ms), %d messages, one run each:" % (
                        RTT_MS, RTT_MS / 2, ns.connect_ms, RTT_N), "",
                    table(res2, RTT_N, total2, "%d ms RTT, %d messages" % (RTT_MS, RTT_N)), ""]
        out += ["Completed runs (s): " + "; ".join(ALL_RUNS) + ". The machine is shared (other "
                "benchmarks and builds ran at the same time): compare within one table.", ""]
        text = "\n".join(out)
        print(text)
        if os.environ.get("WRITE_RESULTS", "1") == "1":
            write_section("POP3", text)
    finally:
        if own:
            own.stop(remove=True)


if __name__ == "__main__":
    main()
