#!/usr/bin/python3
"""Minimal pipelined POP3S download-and-delete client: the floor for the
POP3 benchmark (not a mail client: no ledger, no index, no per-message
durability; one sync() at the end before the DELEs).

    ref_client.py HOST PORT USER PASSWORD CAFILE MAILDIR [WINDOW]
"""

import base64
import os
import socket
import ssl
import sys


def main():
    host, port, user, pw, ca, md = sys.argv[1:7]
    window = int(sys.argv[7]) if len(sys.argv) > 7 else 32
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    ctx = ssl.create_default_context(cafile=ca)
    raw = socket.create_connection((host, int(port)))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    f = s.makefile("rb", buffering=1 << 16)

    def status():
        line = f.readline()
        if not line.startswith(b"+OK"):
            sys.exit("server: %r" % line)
        return line

    def multiline():
        out = []
        while True:
            line = f.readline()
            if line == b".\r\n":
                return out
            if line.startswith(b"."):
                line = line[1:]
            out.append(line)

    status()
    tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
    s.sendall(b"AUTH PLAIN " + tok + b"\r\n")
    status()
    s.sendall(b"UIDL\r\n")
    status()
    nums = [int(l.split()[0]) for l in multiline()]
    pid = os.getpid()
    sent = got = 0
    while got < len(nums):
        batch = []
        while sent < len(nums) and sent - got < window:
            batch.append(b"RETR %d\r\n" % nums[sent])
            sent += 1
        if batch:
            s.sendall(b"".join(batch))
        status()
        body = b"".join(l[:-2] + b"\n" if l.endswith(b"\r\n") else l for l in multiline())
        name = "%d.%d_%d.ref" % (got, pid, nums[got])
        tmp = os.path.join(md, "tmp", name)
        with open(tmp, "wb") as out:
            out.write(body)
        os.rename(tmp, os.path.join(md, "new", name))
        got += 1
    os.sync()
    s.sendall(b"".join(b"DELE %d\r\n" % n for n in nums))
    for _ in nums:
        status()
    s.sendall(b"QUIT\r\n")
    status()


if __name__ == "__main__":
    main()
