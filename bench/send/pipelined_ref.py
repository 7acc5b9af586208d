#!/usr/bin/python3
"""The one-session reference for batch sending: ready messages over one SMTP
submission connection with PIPELINING (RFC 2920). Not a mail client: no
queue, no per-recipient report beyond failing on the first error.

    pipelined_ref.py [--two-groups] PORT CAFILE USER PASSWORD FROM TO FILE...

STARTTLS (certificate checked against CAFILE for 127.0.0.1), EHLO, then
AUTH PLAIN pipelined with the first MAIL/RCPT/DATA. Each message's content
and its final "." go out in one group with the next message's MAIL, RCPT
and DATA (RFC 2920 3.1: message content may start a group, DATA ends one),
and QUIT follows the last "." — one round trip per message. --two-groups
waits for the end-of-data reply before the next envelope (two round trips
per message, as most pipelining clients do).
"""
import base64
import socket
import ssl
import sys


class Conn:
    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def reply(self):
        """One (possibly multi-line) reply: (code, text lines)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise SystemExit("server closed the connection")
                self.buf += d
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), lines

    def expect(self, want, what):
        code, lines = self.reply()
        if code // 100 != want // 100:
            raise SystemExit("%s: %r" % (what, b" / ".join(lines)))
        return lines


def content(path):
    """CRLF line ends, dot-stuffed, ended by CRLF.CRLF."""
    with open(path, "rb") as f:
        raw = f.read()
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + l if l.startswith(b".") else l) + b"\r\n" for l in lines) + b".\r\n"


def main():
    args = sys.argv[1:]
    two_groups = args[:1] == ["--two-groups"]
    if two_groups:
        args = args[1:]
    port, ca, user, pw, frm, to = args[:6]
    files = args[6:]
    raw = socket.create_connection(("127.0.0.1", int(port)))
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c = Conn(raw)
    c.expect(220, "greeting")
    raw.sendall(b"EHLO lab.test\r\n")
    c.expect(250, "EHLO")
    raw.sendall(b"STARTTLS\r\n")
    c.expect(220, "STARTTLS")
    if c.buf:
        raise SystemExit("data after STARTTLS reply")
    c.s = ssl.create_default_context(cafile=ca).wrap_socket(raw, server_hostname="127.0.0.1")
    c.s.sendall(b"EHLO lab.test\r\n")
    caps = [l[4:].upper() for l in c.expect(250, "EHLO")]
    if b"PIPELINING" not in caps:
        raise SystemExit("server does not offer PIPELINING")
    envelope = ("MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (frm, to)).encode()
    auth = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode())
    out = b"AUTH PLAIN " + auth + b"\r\n"
    pending_data = False  # a "." is in the group whose replies we read next
    for i, path in enumerate(files):
        data = content(path)
        out += envelope
        c.s.sendall(out)
        if i == 0:
            c.expect(235, "AUTH")
        if pending_data:
            c.expect(250, "end of data")
        c.expect(250, "MAIL")
        c.expect(250, "RCPT")
        c.expect(354, "DATA")
        out = data
        if two_groups:
            c.s.sendall(out)
            out = b""
            c.expect(250, "end of data")
        else:
            pending_data = True
    c.s.sendall(out + b"QUIT\r\n")
    if pending_data:
        c.expect(250, "end of data")
    c.expect(221, "QUIT")
    c.s.close()


if __name__ == "__main__":
    main()
