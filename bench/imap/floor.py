#!/usr/bin/python3
"""The floor for a cold header sync: a minimal client that logs in over
IMAPS, selects INBOX and sends the one UID FETCH 1:* tern's sync sends
(same items), reading the answer in big chunks without parsing it.

    floor.py HOST PORT CAFILE USER PASSWORD
Prints the bytes received and seconds taken (from TCP connect to LOGOUT).
"""
import socket
import ssl
import sys
import time

FIELDS = ("From To Cc Subject Date Message-ID In-Reply-To References List-Id "
          "Content-Type")


def main():
    host, port, ca, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    t0 = time.monotonic()
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname=host)
    buf = b""

    def until(tag):
        nonlocal buf
        total = 0
        end = b"\r\n" + tag + b" "
        while True:
            i = buf.find(end)
            if i >= 0 or buf.startswith(tag + b" "):
                j = buf.find(b"\r\n", i + 2 if i >= 0 else 0)
                if j >= 0:
                    total += j + 2
                    buf = buf[j + 2:]
                    return total
            # keep only a tail that may hold the tagged line
            if len(buf) > 65536:
                total += len(buf) - 256
                buf = buf[-256:]
            d = s.recv(1 << 20)
            if not d:
                raise SystemExit("connection closed")
            buf += d

    def line():
        nonlocal buf
        while b"\r\n" not in buf:
            buf += s.recv(65536)
        i = buf.index(b"\r\n")
        out, buf = buf[:i], buf[i + 2:]
        return out

    line()  # greeting
    q = lambda v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    s.sendall(("a1 LOGIN %s %s\r\na2 SELECT INBOX\r\n"
               "a3 UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODYSTRUCTURE "
               "BODY.PEEK[HEADER.FIELDS (%s)])\r\n" % (q(user), q(pw), FIELDS)).encode())
    until(b"a1")
    until(b"a2")
    n = until(b"a3")
    s.sendall(b"a4 LOGOUT\r\n")
    until(b"a4")
    s.close()
    print("%d bytes %.3f s" % (n, time.monotonic() - t0))


if __name__ == "__main__":
    main()
