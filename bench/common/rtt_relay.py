#!/usr/bin/python3
"""A real round-trip time on 127.0.0.1 for benchmarks, without netem.

This kernel has no netem qdisc. Instead this process creates a network
namespace in which 127.0.0.0/8 is routed through a TUN device it holds:
every IP packet a program in the namespace sends to 127.0.0.1 comes out of
the TUN device, waits DELAY_MS here and is written back into the same
device, where the kernel delivers it locally. Both directions of a TCP
connection pass through, so RTT = 2 * DELAY_MS. Servers and clients both
run inside the namespace (`ip netns exec NETNS ...`) and keep talking to
127.0.0.1, so certificates for 127.0.0.1/localhost still match.

    rtt_relay.py NETNS DELAY_MS

Prints "ready" once the namespace is set up, relays until SIGTERM/SIGINT,
then deletes the namespace name. Root only; standard library only. Use it
through bench/common/netns.py, which also checks the delay.

How the loopback detour works (all inside the namespace):
  - policy rule `iif lo lookup 100` ahead of the local table: packets the
    namespace itself sends (output lookups have iif lo) take table 100,
    whose only route is 127.0.0.0/8 via the TUN device;
  - packets written back into the TUN device arrive with iif = that device,
    skip rule 100 and hit the local table: delivered to the socket;
  - route_localnet lets 127/8 leave and enter a non-loopback device,
    accept_local lets a packet with a local source address come in,
    rp_filter off skips the reverse-path check.
"""

import ctypes
import fcntl
import heapq
import os
import select
import signal
import struct
import subprocess
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
DEV = "rtt0"
# Ethernet-sized packets. Much bigger ones (64 KB) starve TCP's receive
# window growth (the skb overhead check in the kernel keeps it at ~64 KB:
# 1.3 MB/s at 50 ms); at 1500 the relay keeps up and the window grows.
MTU = int(os.environ.get("RTT_RELAY_MTU", "1500"))
TABLE = "100"


def sh(*args):
    subprocess.run(list(args), check=True, stdout=subprocess.DEVNULL)


def enter_netns(ns):
    """Move this process (single-threaded) into NS for good: the TUN device
    and every `ip`/`sysctl` below then act inside it."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open("/var/run/netns/%s" % ns, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + ns)
    finally:
        os.close(fd)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def setup(ns):
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    sh("ip", "netns", "add", ns)
    enter_netns(ns)
    tun = open_tun(DEV)
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "set", DEV, "mtu", str(MTU), "up")
    # an address off loopback, or getaddrinfo(AI_ADDRCONFIG) finds no IPv4
    # configured and will not resolve "localhost" (mbsync, for one)
    sh("ip", "addr", "add", "10.231.0.2/32", "dev", DEV)
    for conf in ("all", "default", DEV):
        for key, val in (("route_localnet", "1"), ("accept_local", "1"), ("rp_filter", "0")):
            with open("/proc/sys/net/ipv4/conf/%s/%s" % (conf, key), "w") as f:
                f.write(val)
    sh("ip", "route", "add", "127.0.0.0/8", "dev", DEV, "src", "127.0.0.1", "table", TABLE)
    sh("ip", "rule", "add", "pref", "10", "iif", "lo", "lookup", TABLE)
    sh("ip", "rule", "add", "pref", "100", "lookup", "local")
    sh("ip", "rule", "del", "pref", "0")
    return tun


def relay(tun, delay):
    queue = []  # (release time, seq, packet): one delay for all keeps FIFO order
    seq = 0
    while True:
        timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        r, _, _ = select.select([tun], [], [], timeout)
        if r:
            due = time.monotonic() + delay
            while True:
                try:
                    pkt = os.read(tun, MTU + 100)
                except BlockingIOError:
                    break
                seq += 1
                heapq.heappush(queue, (due, seq, pkt))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, pkt = heapq.heappop(queue)
            try:
                os.write(tun, pkt)
            except OSError:
                pass  # a full device queue drops the packet: TCP resends it


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.split("\n\n")[2])
    ns, delay = sys.argv[1], float(sys.argv[2]) / 1000.0
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # run the cleanup
    try:
        tun = setup(ns)
        print("ready", flush=True)
        relay(tun, delay)
    except KeyboardInterrupt:
        pass
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
