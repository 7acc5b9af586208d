#!/usr/bin/python3
"""Run benchmark servers and clients across a simulated round trip.

A network namespace of the benchmark's own in which every packet to
127.0.0.1 is held RTT/2 each way by bench/common/rtt_relay.py (TUN device,
no netem needed). The delay is checked by timing TCP connects inside the
namespace before anything runs.

From Python (bench/*/bench.py):

    sys.path.insert(0, os.path.join(TOP, "bench", "common"))
    from netns import DelayedNetns
    with DelayedNetns(50) as ns:            # starts the relay, checks the delay
        with ns.inside():                   # this process moves in: all it
            lab = labmod.start(directory)   # starts (Dovecot, Postfix, clients)
            subprocess.run([client, ...])   # is delayed on 127.0.0.1
        subprocess.run(ns.prefix + [...])   # or one command from outside
        ns.connect_ms                       # the measured TCP connect time

From a shell ("run this command inside the namespace"):

    python3 bench/common/netns.py 50 -- CMD [ARG...]

runs CMD inside a fresh delayed namespace (with RTT_CONNECT_MS in its
environment) and exits with CMD's status. Root only.
"""

import contextlib
import ctypes
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


PROBE = r"""
import socket, statistics, time
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
ts = []
for _ in range(7):
    t = time.monotonic()
    c = socket.create_connection(ls.getsockname(), timeout=5)
    ts.append(time.monotonic() - t)
    a, _ = ls.accept()
    c.close()
    a.close()
print("%.1f" % (statistics.median(ts) * 1000))
"""


class DelayedNetns:
    def __init__(self, rtt_ms, name=None):
        self.rtt_ms = rtt_ms
        self.name = name or "terndelay%d" % os.getpid()
        self.prefix = ["ip", "netns", "exec", self.name]
        self.relay = None
        self.connect_ms = None

    def __enter__(self):
        self.relay = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "rtt_relay.py"), self.name,
             "%g" % (self.rtt_ms / 2.0)], stdout=subprocess.PIPE, text=True)
        if self.relay.stdout.readline().strip() != "ready":
            self.__exit__(None, None, None)
            raise RuntimeError("rtt_relay.py did not start")
        self.connect_ms = float(subprocess.run(
            self.prefix + [sys.executable, "-c", PROBE], stdout=subprocess.PIPE, text=True,
            check=True).stdout)
        # a connect is one round trip; allow scheduling noise above it, not below
        if not self.rtt_ms * 0.9 <= self.connect_ms <= self.rtt_ms * 2 + 20:
            self.__exit__(None, None, None)
            raise RuntimeError("TCP connect in the namespace took %.1f ms, expected about %d"
                               % (self.connect_ms, self.rtt_ms))
        return self

    @contextlib.contextmanager
    def inside(self):
        """Move this (single-threaded) process into the namespace for the
        block, so everything it starts (a lab, clients) runs there without
        the cost of `ip netns exec` per process."""
        own = os.open("/proc/self/ns/net", os.O_RDONLY)
        try:
            _setns("/var/run/netns/" + self.name)
            try:
                yield self
            finally:
                if _libc.setns(own, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back")
        finally:
            os.close(own)

    def __exit__(self, *exc):
        if self.relay and self.relay.poll() is None:
            self.relay.terminate()
            self.relay.wait()
        return False


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        raise SystemExit("usage: netns.py RTT_MS -- CMD [ARG...]")
    with DelayedNetns(float(argv[0])) as ns:
        print("netns %s: TCP connect %.1f ms" % (ns.name, ns.connect_ms), file=sys.stderr)
        env = dict(os.environ, RTT_CONNECT_MS="%.1f" % ns.connect_ms)
        return subprocess.run(ns.prefix + argv[2:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
