"""Shared bits for the benchmark drivers: the machine line and writing one
section of bench/RESULTS.md (replaced if present, appended otherwise; the
other sections stay as they are)."""
import os
import re

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULTS = os.path.join(TOP, "bench", "RESULTS.md")


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def loadstr(samples):
    """A range of 1-minute load averages sampled during a run."""
    return "%.1f-%.1f" % (min(samples), max(samples))


def write_section(title, text):
    """Put TEXT under "## TITLE" in bench/RESULTS.md."""
    old = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    m = re.search(r"^## %s\n.*?(?=^## |\Z)" % re.escape(title), old, flags=re.S | re.M)
    section = "## %s\n\n%s\n\n" % (title, text.strip())
    new = old[:m.start()] + section + old[m.end():] if m else old.rstrip("\n") + "\n\n" + section
    with open(RESULTS, "w") as f:
        f.write(new)
