#!/usr/bin/python3
"""Message engine benchmark (not a test); run through bench/mime/run.sh.

Generates a mailbox of N messages (bench-mime --gen, once; kept in
MAILBOX_DIR for later runs), then per round:
  disk read   `cat` of every file to /dev/null with the files first evicted
              from the page cache (posix_fadvise DONTNEED on these files
              only, so nobody else's cache is dropped), and again warm;
  parsing     bench-mime (bench/mime_bench.c): files loaded into memory,
              then header-only parsing (mime_parse_headers, what listing
              and sync do) and full decoding (mime_parse, best text part,
              every leaf transfer-decoded), in MB/s of message bytes.
Median over RUNS rounds; peak RSS of bench-mime (it holds the whole
mailbox in memory on purpose, to time the parser and not the disk).

Environment: BENCH_MIME (the binary), N (50000), RUNS (3), MAILBOX_DIR
(/var/tmp/tern-bench-mime-N), WRITE_RESULTS (1).
"""
import glob
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "bench", "common"))
from results import cpu_model, loadstr, write_section  # noqa: E402

BIN = os.environ.get("BENCH_MIME") or os.path.join(TOP, "build-bench", "core", "mime", "bench-mime")
N = int(os.environ.get("N", "50000"))
RUNS = int(os.environ.get("RUNS", "3"))
MAILBOX = os.environ.get("MAILBOX_DIR") or "/var/tmp/tern-bench-mime-%d" % N


def evict(files):
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def cat_seconds():
    # one cat process over all files, in name order (xargs batches argv)
    t0 = time.monotonic()
    subprocess.run("find %s -type f -name '*.eml' -print0 | sort -z | xargs -0 cat >/dev/null"
                   % MAILBOX, shell=True, check=True)
    return time.monotonic() - t0


def main():
    files = sorted(glob.glob(os.path.join(MAILBOX, "*.eml")))
    if len(files) != N:
        subprocess.run(["rm", "-rf", MAILBOX], check=True)
        print("generating %d messages in %s" % (N, MAILBOX), file=sys.stderr, flush=True)
        subprocess.run([BIN, "--gen", str(N), MAILBOX], check=True, stdout=subprocess.DEVNULL)
        files = sorted(glob.glob(os.path.join(MAILBOX, "*.eml")))
        subprocess.run(["sync", "-f", MAILBOX], check=True)
    total = sum(os.path.getsize(f) for f in files)
    mb = total / 1e6
    res = {"cold": [], "warm": [], "headers": [], "full": [], "rss": []}
    load = [os.getloadavg()[0]]
    for r in range(RUNS):
        evict(files)
        res["cold"].append(mb / cat_seconds())
        res["warm"].append(mb / cat_seconds())
        p = subprocess.run(["/usr/bin/time", "-f", "@@ %M", BIN, MAILBOX], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, check=True)
        for what in ("headers", "full"):
            m = re.search(r"^%s\s+\d+ rounds\s+([\d.]+) MB/s" % what, p.stdout, re.M)
            res[what].append(float(m.group(1)))
        res["rss"].append(int(p.stderr.split("@@ ")[-1].split()[0]))
        load.append(os.getloadavg()[0])
        print("round %d: %s (load %.1f)" % (r + 1, {k: v[-1] for k, v in res.items()}, load[-1]),
              file=sys.stderr, flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    text = "\n".join([
        "`sh bench/mime/run.sh` (one command) on %s, %d cores (%s), release build "
        "(build-bench). Mailbox: %d generated messages, %.0f MB, one file each (bench-mime "
        "--gen: 15 Received lines each; plain UTF-8, quoted-printable Latin-1, "
        "multipart/alternative with HTML, a quarter with a 14 KB base64 PDF). Median of %d "
        "rounds, load average %s (shared machine: other engineers' builds and tests ran "
        "meanwhile)." % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), os.cpu_count(),
                         cpu_model(), N, mb, RUNS, loadstr(load)),
        "",
        "| what | MB/s | messages/s | all rounds (MB/s) |",
        "|---|---|---|---|",
        "| disk read, cold page cache (`cat` > /dev/null) | %.0f | %.0f | %s |" % (
            med["cold"], med["cold"] * N / mb, ", ".join("%.0f" % x for x in res["cold"])),
        "| disk read, warm page cache | %.0f | %.0f | %s |" % (
            med["warm"], med["warm"] * N / mb, ", ".join("%.0f" % x for x in res["warm"])),
        "| header-only parsing (mime_parse_headers), in memory | %.0f | %.0f | %s |" % (
            med["headers"], med["headers"] * N / mb, ", ".join("%.0f" % x for x in res["headers"])),
        "| full decoding (mime_parse + text + every leaf decoded), in memory | %.0f | %.0f | %s |"
        % (med["full"], med["full"] * N / mb, ", ".join("%.0f" % x for x in res["full"])),
        "",
        "Peak RSS of bench-mime: %.0f MiB (it loads the whole mailbox first, so parsing is "
        "timed without the disk). Header-only / full = %.1fx; header-only / cold disk read "
        "= %.1fx, / warm read = %.1fx: listing by header-only parsing is bound by reading "
        "the files, not by the parser." % (max(res["rss"]) / 1024, med["headers"] / med["full"],
                                          med["headers"] / med["cold"], med["headers"] / med["warm"]),
    ])
    print(text)
    if os.environ.get("WRITE_RESULTS", "1") == "1":
        write_section("Message engine", text)


if __name__ == "__main__":
    main()
