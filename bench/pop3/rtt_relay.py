#!/usr/bin/python3
"""A real round-trip time for loopback benchmarks, without netem: a network
namespace whose only route goes through a TUN device, a second TUN device
in the root namespace, and this process in between holding every IP packet
DELAY_MS before passing it on (both directions, so RTT = 2 * DELAY_MS).
Inside the namespace the server is at 10.231.0.1; in the root namespace a
TCP forwarder on 10.231.0.1:PORT passes connections to 127.0.0.1:TARGET
(the lab listens on loopback only; that hop adds microseconds).

    rtt_relay.py NETNS DELAY_MS PORT:TARGET [PORT:TARGET ...]

Prints "ready" when set up; runs until killed, then removes the namespace.
Run clients with `ip netns exec NETNS ...` against 10.231.0.1:PORT.
Root only; standard library only.
"""

import ctypes
import fcntl
import heapq
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
CLONE_NEWNET = 0x40000000
INNER, OUTER = "10.231.0.2", "10.231.0.1"
MTU = 16000  # big packets: fewer of them for this relay to carry


def sh(*args, ns=None):
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def tun_in_netns(ns, name):
    """Create the TUN device inside the namespace (the fd stays ours)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open("/var/run/netns/%s" % ns, os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        fd = open_tun(name)
    finally:
        libc.setns(own, CLONE_NEWNET)
        os.close(own)
        os.close(target)
    return fd


def forwarder(listen_port, target_port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((OUTER, listen_port))
    ls.listen(64)

    def pipe(a, b):
        try:
            while True:
                d = a.recv(1 << 16)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def serve():
        while True:
            c, _ = ls.accept()
            t = socket.create_connection(("127.0.0.1", target_port))
            for s in (c, t):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=pipe, args=(c, t), daemon=True).start()
            threading.Thread(target=pipe, args=(t, c), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))  # run the cleanup
    ns, delay = sys.argv[1], float(sys.argv[2]) / 1000.0
    pairs = [tuple(int(x) for x in a.split(":")) for a in sys.argv[3:]]
    subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)
    sh("ip", "netns", "add", ns)
    try:
        inner = tun_in_netns(ns, "tbin0")
        outer = open_tun("tbout0")
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "addr", "add", INNER + "/24", "dev", "tbin0", ns=ns)
        sh("ip", "link", "set", "tbin0", "mtu", str(MTU), "up", ns=ns)
        sh("ip", "addr", "add", OUTER + "/24", "dev", "tbout0")
        sh("ip", "link", "set", "tbout0", "mtu", str(MTU), "up")
        for lp, tp in pairs:
            forwarder(lp, tp)
        print("ready", flush=True)
        queue = []  # (release time, seq, out fd, packet)
        seq = 0
        dest = {inner: outer, outer: inner}
        while True:
            timeout = max(0.0, queue[0][0] - time.monotonic()) if queue else None
            r, _, _ = select.select([inner, outer], [], [], timeout)
            now = time.monotonic()
            for fd in r:
                while True:
                    try:
                        pkt = os.read(fd, MTU + 100)
                    except BlockingIOError:
                        break
                    seq += 1
                    heapq.heappush(queue, (now + delay, seq, dest[fd], pkt))
                    if not select.select([fd], [], [], 0)[0]:
                        break
            now = time.monotonic()
            while queue and queue[0][0] <= now:
                _, _, fd, pkt = heapq.heappop(queue)
                try:
                    os.write(fd, pkt)
                except OSError:
                    pass
    finally:
        subprocess.run(["ip", "netns", "del", ns], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
