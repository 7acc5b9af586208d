#!/usr/bin/python3
"""Scriptable fake IMAP/POP3/SMTP servers for misbehaviour real servers
won't show. Loopback only, threaded, TLS via Python's ssl with the lab's
certificates. Every byte a client sends is appended to a log file, with
markers where a connection opens, where TLS begins and where it closes, so
a test can assert e.g. that a password never crossed in clear.

CLI (foreground until SIGTERM/SIGINT; the port is written to --port-file
once listening):

    fakes.py SCENARIO --proto imap|pop3|smtp --tls starttls|implicit|none
             --log FILE --port-file FILE [--lab DIR | --certs DIR]
             [--cert server|selfsigned|expired|wronghost|PATH [--key PATH]]
             [--user U --password P] [--messages DIR] [--drop-at CMD[:N[:BYTES]]]
             [--interval SECONDS] [--port N]

Scenarios (SCENARIOS below): normal, no_starttls, starttls_refused,
imap_preauth, starttls_injection, stall_greeting, stall_handshake, drip,
disconnect_after_greeting, garbage_greeting, pop3_mailbox (= normal with
--messages); from Python also imap_mailbox, hostile, stall_after_login and
drip_after_login (see "hostile servers" below: raw replies, greetings,
IMAP folders of messages). Option nodelay=True sets TCP_NODELAY. Any of them takes the options; e.g. pop3 normal with
--messages DIR --drop-at RETR:2:100 drops the connection after 100 bytes of
the RETR 2 response.

From Python:

    import fakes
    srv = fakes.serve("no_starttls", proto="imap", tls="starttls",
                      log="/tmp/x.log", certs=lab.env)   # started
    ... connect to srv.port ...
    conns = fakes.read_log(srv.log)      # [Connection(id, plain, tls, ...)]
    assert b"secret" not in conns[0].plain
    srv.stop()

Scripting: subclass ImapSession / Pop3Session / SmtpSession and override
cmd_<VERB>(self, tag, args) (IMAP) or cmd_<VERB>(self, args) (POP3/SMTP),
or pass hooks. See POP3: messages=[bytes...], drop_at=("RETR", 2, 100).

Log markers are lines of the form
    \\n#### fake conn=N EVENT ####\\n
with EVENT one of open, tls, data (switching connections), close.
"""

import base64
import os
import re
import select
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections import namedtuple

HOST = "127.0.0.1"
MARK_RE = re.compile(rb"\n#### fake conn=(\d+) (open|tls|data|close)(?: [^#\n]*)? ####\n")

Connection = namedtuple("Connection", "id plain tls tls_started closed")


# --------------------------------------------------------------------------
# log

class ByteLog:
    """Append-only log of client bytes with markers; thread safe."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.last = None
        self.f = open(path, "ab", buffering=0)

    def marker(self, conn, event, note=""):
        with self.lock:
            if self.f.closed:
                return
            self.f.write(b"\n#### fake conn=%d %s%s ####\n" % (
                conn, event.encode(), (" " + note).encode() if note else b""))
            self.last = conn

    def data(self, conn, data):
        if not data:
            return
        with self.lock:
            if self.f.closed:
                return
            if self.last != conn:
                self.f.write(b"\n#### fake conn=%d data ####\n" % conn)
                self.last = conn
            self.f.write(data)

    def close(self):
        with self.lock:
            self.f.close()


def read_log(path):
    """Parse a fake's log: list of Connection(id, plain, tls, tls_started,
    closed) where plain/tls are the bytes the client sent before/after TLS
    began."""
    with open(path, "rb") as f:
        data = f.read()
    conns = {}
    pos, cur = 0, None
    for m in MARK_RE.finditer(data):
        if cur is not None:
            _append(conns[cur], data[pos:m.start()])
        cid, ev = int(m.group(1)), m.group(2).decode()
        c = conns.setdefault(cid, {"plain": bytearray(), "tls": bytearray(), "tls_started": False, "closed": False})
        if ev == "tls":
            c["tls_started"] = True
        elif ev == "close":
            c["closed"] = True
        cur, pos = cid, m.end()
    if cur is not None:
        _append(conns[cur], data[pos:])
    return [Connection(k, bytes(v["plain"]), bytes(v["tls"]), v["tls_started"], v["closed"])
            for k, v in sorted(conns.items())]


def _append(c, chunk):
    (c["tls"] if c["tls_started"] else c["plain"]).extend(chunk)


def cleartext(path):
    """Everything any client sent before TLS, concatenated."""
    return b"".join(c.plain for c in read_log(path))


# --------------------------------------------------------------------------
# connection

class Closed(Exception):
    pass


class Conn:
    def __init__(self, server, sock, cid):
        self.server = server
        self.sock = sock
        self.id = cid
        self.buf = b""
        self.tls = False
        self.drip = server.opts.get("drip")

    def _recv(self):
        try:
            data = self.sock.recv(65536)
        except (OSError, ValueError):
            data = b""
        if not data:
            raise Closed()
        self.server.log.data(self.id, data)
        return data

    def readline(self, limit=1 << 20):
        """One line including its CRLF/LF; raises Closed at EOF."""
        while b"\n" not in self.buf:
            if len(self.buf) > limit:
                raise Closed()
            self.buf += self._recv()
        line, _, self.buf = self.buf.partition(b"\n")
        return line + b"\n"

    def read_exact(self, n):
        while len(self.buf) < n:
            self.buf += self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def drain_until_closed(self):
        """Keep reading (and logging) until the client goes away."""
        try:
            while True:
                self._recv()
        except Closed:
            pass

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        try:
            if self.drip:
                for i in range(len(data)):
                    self.sock.sendall(data[i:i + 1])
                    if self.server.stopping.wait(self.drip):
                        raise Closed()
            else:
                self.sock.sendall(data)
        except OSError:
            raise Closed()

    def line(self, text):
        self.send(text + "\r\n" if isinstance(text, str) else text + b"\r\n")

    def start_tls(self):
        """Server side TLS handshake; plaintext the client already sent
        after the STARTTLS command is logged and thrown away."""
        leftover, self.buf = self.buf, b""
        self.server.log.marker(self.id, "tls", "discarded=%d" % len(leftover) if leftover else "")
        try:
            self.sock = self.server.ssl_ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.server.errors.append("conn %d: TLS handshake: %s" % (self.id, e))
            raise Closed()
        self.tls = True
        return leftover

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# sessions

class Session:
    """Base: greeting, then a command loop dispatching to cmd_<VERB>."""
    proto = None

    def __init__(self, conn, opts):
        self.conn = conn
        self.opts = opts
        self.server = conn.server
        self.authed = False
        self.user = None

    # scenario switches
    @property
    def offer_tls(self):
        return self.opts.get("offer_starttls", True) and not self.conn.tls \
            and self.server.tls_mode != "none"

    def run(self):
        sc = self.opts
        if sc.get("stall_greeting"):
            self.conn.drain_until_closed()
            return
        if sc.get("garbage_greeting"):
            self.conn.send(b"\x00\xff garbage \x1b[2J not a greeting\r\n")
            self.conn.drain_until_closed()
            return
        self.greeting()
        if sc.get("disconnect_after_greeting"):
            return
        while True:
            self.handle(self.conn.readline())

    def check_login(self, user, password):
        want_u, want_p = self.opts.get("user"), self.opts.get("password")
        ok = (want_u is None or user == want_u) and (want_p is None or password == want_p)
        if ok:
            self.authed, self.user = True, user
        self.server.logins.append((self.conn.id, user, password, self.conn.tls, ok))
        return ok

    def drop_if(self, cmd, arg=None):
        d = self.opts.get("drop_at")
        if d and d[0] == cmd and (d[1] is None or d[1] == arg) and (len(d) < 3 or d[2] is None):
            raise Closed()

    def send_maybe_drop(self, cmd, arg, data):
        """Send DATA (a response) but drop after N bytes if drop_at says so."""
        d = self.opts.get("drop_at")
        if d and d[0] == cmd and (d[1] is None or d[1] == arg) and len(d) > 2 and d[2] is not None:
            self.conn.send(data[:d[2]])
            raise Closed()
        self.conn.send(data)


def _sasl_plain(b64):
    try:
        parts = base64.b64decode(b64, validate=False).split(b"\0")
        return parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
    except Exception:
        return None, None


def _crlf(raw):
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# ---- IMAP

_IMAP_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)')


class ImapSession(Session):
    proto = "imap"

    def caps(self):
        c = ["IMAP4rev1", "SASL-IR", "LITERAL+", "IDLE", "UIDPLUS", "ENABLE", "ID"]
        if self.offer_tls:
            c.append("STARTTLS")
        if self.offer_tls and self.opts.get("logindisabled", True):
            c.append("LOGINDISABLED")
        else:
            c += ["AUTH=PLAIN", "AUTH=LOGIN"]
        return " ".join(c + self.opts.get("extra_caps", []))

    def greeting(self):
        if self.opts.get("preauth"):
            self.authed = True
            self.conn.line("* PREAUTH [CAPABILITY %s] fake IMAP: logged in already" % self.caps())
        else:
            self.conn.line("* OK [CAPABILITY %s] fake IMAP ready" % self.caps())

    def read_command(self, first):
        """Complete a command line that may carry literals {n} / {n+}."""
        line = first
        while True:
            m = re.search(rb"\{(\d+)(\+?)\}\r?\n$", line)
            if not m:
                return line
            if not m.group(2):
                self.conn.line("+ go ahead")
            n = int(m.group(1))
            lit = self.conn.read_exact(n)
            line = line[:m.start()] + b'"' + lit.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"' \
                + self.conn.readline()

    def handle(self, line):
        line = self.read_command(line)
        toks = [m.group(1) if m.group(1) is not None else m.group(2)
                for m in _IMAP_TOKEN.finditer(line.rstrip(b"\r\n"))]
        if len(toks) < 2:
            self.conn.line("* BAD fake: what?")
            return
        tag = toks[0].decode(errors="replace")
        verb = toks[1].decode(errors="replace").upper()
        args = [re.sub(rb"\\(.)", rb"\1", t) for t in toks[2:]]
        if verb == "UID" and args:
            verb, args = "UID " + args[0].decode().upper(), args[1:]
        self.drop_if(verb)
        fn = getattr(self, "cmd_" + verb.replace(" ", "_"), None)
        if fn is None:
            self.conn.line("%s BAD fake server: %s not implemented" % (tag, verb))
        else:
            fn(tag, args)

    def cmd_CAPABILITY(self, tag, args):
        self.conn.line("* CAPABILITY " + self.caps())
        self.conn.line(tag + " OK CAPABILITY completed")

    def cmd_NOOP(self, tag, args):
        self.conn.line(tag + " OK NOOP completed")

    def cmd_ID(self, tag, args):
        self.conn.line('* ID ("name" "fake")')
        self.conn.line(tag + " OK ID completed")

    def cmd_ENABLE(self, tag, args):
        self.conn.line(tag + " OK ENABLE completed")

    def cmd_LOGOUT(self, tag, args):
        self.conn.line("* BYE fake logging out")
        self.conn.line(tag + " OK LOGOUT completed")
        raise Closed()

    def cmd_STARTTLS(self, tag, args):
        if self.conn.tls or not self.opts.get("offer_starttls", True) or self.authed:
            self.conn.line(tag + " BAD STARTTLS not available")
            return
        if self.opts.get("starttls_refused"):
            self.conn.line(tag + " NO [UNAVAILABLE] TLS not available right now")
            return
        inject = self.opts.get("inject")
        if inject:
            self.conn.send((tag + " OK Begin TLS negotiation now\r\n").encode() + inject)
        else:
            self.conn.line(tag + " OK Begin TLS negotiation now")
        self.conn.start_tls()

    def cmd_LOGIN(self, tag, args):
        if len(args) < 2:
            self.conn.line(tag + " BAD LOGIN needs user and password")
            return
        u, p = args[0].decode(errors="replace"), args[1].decode(errors="replace")
        if self.check_login(u, p):
            self.conn.line(tag + " OK [CAPABILITY IMAP4rev1 IDLE UIDPLUS MOVE] Logged in")
        else:
            self.conn.line(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")

    def cmd_AUTHENTICATE(self, tag, args):
        mech = args[0].decode().upper() if args else ""
        if mech != "PLAIN":
            self.conn.line(tag + " NO unsupported mechanism")
            return
        if len(args) > 1:
            resp = args[1]
        else:
            self.conn.line("+ ")
            resp = self.conn.readline().strip()
        u, p = _sasl_plain(resp)
        if u is not None and self.check_login(u, p):
            self.conn.line(tag + " OK Logged in")
        else:
            self.conn.line(tag + " NO [AUTHENTICATIONFAILED] Authentication failed.")

    def cmd_LIST(self, tag, args):
        self.conn.line('* LIST (\\HasNoChildren) "/" INBOX')
        self.conn.line(tag + " OK LIST completed")

    cmd_LSUB = cmd_LIST

    def cmd_SELECT(self, tag, args):
        n = len(self.opts.get("messages") or [])
        self.conn.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.conn.line("* %d EXISTS" % n)
        self.conn.line("* OK [UIDVALIDITY 1] UIDs valid")
        self.conn.line("* OK [UIDNEXT %d] Predicted next UID" % (n + 1))
        self.conn.line(tag + " OK [READ-WRITE] SELECT completed")

    cmd_EXAMINE = cmd_SELECT

    def cmd_IDLE(self, tag, args):
        self.conn.line("+ idling")
        while self.conn.readline().strip().upper() != b"DONE":
            pass
        self.conn.line(tag + " OK IDLE terminated")


# ---- POP3

class Pop3Session(Session):
    proto = "pop3"

    def __init__(self, conn, opts):
        super().__init__(conn, opts)
        self.pending_user = None
        self.deleted = set()

    def greeting(self):
        self.conn.line("+OK fake POP3 ready")

    # the maildrop: server.state["pop3"] survives across connections
    def mailbox(self):
        st = self.server.state.setdefault("pop3", {"gone": set()})
        msgs = self.opts.get("messages") or []
        uidls = self.opts.get("uidls") or ["uid%08d" % (i + 1) for i in range(len(msgs))]
        return [(u, _crlf(m)) for u, m in zip(uidls, msgs) if u not in st["gone"]]

    def handle(self, line):
        parts = line.rstrip(b"\r\n").split(b" ")
        verb = parts[0].decode(errors="replace").upper()
        args = [a.decode(errors="replace") for a in parts[1:]]
        self.drop_if(verb, int(args[0]) if args and args[0].isdigit() else None)
        fn = getattr(self, "cmd_" + verb, None)
        if fn is None:
            self.conn.line("-ERR fake: unknown command")
        else:
            fn(args)

    def need_auth(self):
        if not self.authed:
            self.conn.line("-ERR not authenticated")
            return True
        return False

    def cmd_CAPA(self, args):
        caps = ["TOP", "UIDL", "RESP-CODES", "PIPELINING", "AUTH-RESP-CODE"]
        if self.offer_tls:
            caps.append("STLS")
        if not self.offer_tls or not self.opts.get("logindisabled", True):
            caps += ["USER", "SASL PLAIN"]
        self.conn.send("+OK capability list follows\r\n" + "".join(c + "\r\n" for c in caps + self.opts.get("extra_caps", [])) + ".\r\n")

    def cmd_STLS(self, args):
        if self.conn.tls or not self.opts.get("offer_starttls", True) or self.authed:
            self.conn.line("-ERR STLS not available")
            return
        if self.opts.get("starttls_refused"):
            self.conn.line("-ERR [SYS/TEMP] TLS not available right now")
            return
        inject = self.opts.get("inject")
        self.conn.send(b"+OK Begin TLS negotiation\r\n" + (inject or b""))
        self.conn.start_tls()

    def cmd_USER(self, args):
        self.pending_user = " ".join(args)
        self.conn.line("+OK")

    def cmd_PASS(self, args):
        if self.pending_user is None:
            self.conn.line("-ERR USER first")
            return
        if self.check_login(self.pending_user, " ".join(args)):
            self.conn.line("+OK Logged in.")
        else:
            self.conn.line("-ERR [AUTH] Authentication failed.")

    def cmd_AUTH(self, args):
        if not args:
            self.conn.send("+OK\r\nPLAIN\r\n.\r\n")
            return
        if args[0].upper() != "PLAIN":
            self.conn.line("-ERR unsupported mechanism")
            return
        if len(args) > 1:
            resp = args[1]
        else:
            self.conn.line("+ ")
            resp = self.conn.readline().strip().decode(errors="replace")
        u, p = _sasl_plain(resp)
        if u is not None and self.check_login(u, p):
            self.conn.line("+OK Logged in.")
        else:
            self.conn.line("-ERR [AUTH] Authentication failed.")

    def cmd_STAT(self, args):
        if self.need_auth():
            return
        mb = [m for i, m in enumerate(self.mailbox()) if i + 1 not in self.deleted]
        self.conn.line("+OK %d %d" % (len(mb), sum(len(m) for _, m in mb)))

    def _listing(self, args, fmt):
        if self.need_auth():
            return
        mb = self.mailbox()
        if args:
            n = int(args[0]) if args[0].isdigit() else 0
            if not 1 <= n <= len(mb) or n in self.deleted:
                self.conn.line("-ERR no such message")
            else:
                self.conn.line("+OK " + fmt(n, mb[n - 1]))
            return
        self.conn.send("+OK\r\n" + "".join(fmt(i + 1, m) + "\r\n" for i, m in enumerate(mb)
                                          if i + 1 not in self.deleted) + ".\r\n")

    def cmd_LIST(self, args):
        self._listing(args, lambda n, m: "%d %d" % (n, len(m[1])))

    def cmd_UIDL(self, args):
        self._listing(args, lambda n, m: "%d %s" % (n, m[0]))

    def _msg(self, args):
        if self.need_auth():
            return None
        mb = self.mailbox()
        n = int(args[0]) if args and args[0].isdigit() else 0
        if not 1 <= n <= len(mb) or n in self.deleted:
            self.conn.line("-ERR no such message")
            return None
        return n, mb[n - 1][1]

    @staticmethod
    def _stuff(data):
        data = re.sub(rb"(^|\r\n)\.", rb"\1..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        return data + b".\r\n"

    def cmd_RETR(self, args):
        r = self._msg(args)
        if r:
            n, data = r
            self.send_maybe_drop("RETR", n, b"+OK %d octets\r\n" % len(data) + self._stuff(data))

    def cmd_TOP(self, args):
        r = self._msg(args)
        if r:
            n, data = r
            k = int(args[1]) if len(args) > 1 and args[1].isdigit() else 0
            head, sep, body = data.partition(b"\r\n\r\n")
            part = head + sep + b"".join(l + b"\r\n" for l in body.split(b"\r\n")[:k]) if sep else data
            self.send_maybe_drop("TOP", n, b"+OK\r\n" + self._stuff(part))

    def cmd_DELE(self, args):
        r = self._msg(args)
        if r:
            self.deleted.add(r[0])
            self.conn.line("+OK deleted")

    def cmd_RSET(self, args):
        self.deleted.clear()
        self.conn.line("+OK")

    def cmd_NOOP(self, args):
        self.conn.line("+OK")

    def cmd_QUIT(self, args):
        if self.authed and self.deleted:
            mb = self.mailbox()
            st = self.server.state["pop3"]
            for n in self.deleted:
                st["gone"].add(mb[n - 1][0])
            self.server.state.setdefault("pop3_deleted", []).extend(mb[n - 1][0] for n in sorted(self.deleted))
        self.conn.line("+OK bye")
        raise Closed()


# ---- SMTP

class SmtpSession(Session):
    proto = "smtp"

    def __init__(self, conn, opts):
        super().__init__(conn, opts)
        self.mail_from = None
        self.rcpts = []

    def greeting(self):
        self.conn.line("220 fake.example ESMTP fake ready")

    def handle(self, line):
        text = line.rstrip(b"\r\n").decode(errors="replace")
        verb, _, rest = text.partition(" ")
        verb = verb.upper()
        self.drop_if(verb)
        fn = getattr(self, "cmd_" + verb, None)
        if fn is None:
            self.conn.line("502 5.5.2 fake: command not recognized")
        else:
            fn(rest)

    def cmd_EHLO(self, rest):
        ext = ["PIPELINING", "8BITMIME", "SIZE 10485760", "ENHANCEDSTATUSCODES"]
        if self.offer_tls:
            ext.append("STARTTLS")
        if not self.offer_tls or not self.opts.get("logindisabled", True):
            ext.append("AUTH PLAIN LOGIN")
        ext += self.opts.get("extra_caps", [])
        lines = ["fake.example"] + ext
        self.conn.send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                               for i, l in enumerate(lines)))

    def cmd_HELO(self, rest):
        self.conn.line("250 fake.example")

    def cmd_STARTTLS(self, rest):
        if self.conn.tls or not self.opts.get("offer_starttls", True):
            self.conn.line("502 5.5.1 STARTTLS not available")
            return
        if self.opts.get("starttls_refused"):
            self.conn.line("454 4.7.0 TLS not available due to temporary reason")
            return
        inject = self.opts.get("inject")
        self.conn.send(b"220 2.0.0 Ready to start TLS\r\n" + (inject or b""))
        self.conn.start_tls()

    def cmd_AUTH(self, rest):
        args = rest.split()
        mech = args[0].upper() if args else ""
        if mech == "PLAIN":
            if len(args) > 1:
                resp = args[1]
            else:
                self.conn.line("334 ")
                resp = self.conn.readline().strip().decode(errors="replace")
            u, p = _sasl_plain(resp)
        elif mech == "LOGIN":
            if len(args) > 1:
                u = base64.b64decode(args[1]).decode(errors="replace")
            else:
                self.conn.line("334 VXNlcm5hbWU6")
                u = base64.b64decode(self.conn.readline().strip()).decode(errors="replace")
            self.conn.line("334 UGFzc3dvcmQ6")
            p = base64.b64decode(self.conn.readline().strip()).decode(errors="replace")
        else:
            self.conn.line("504 5.5.4 unsupported mechanism")
            return
        if u is not None and self.check_login(u, p):
            self.conn.line("235 2.7.0 Authentication successful")
        else:
            self.conn.line("535 5.7.8 Authentication failed")

    def cmd_MAIL(self, rest):
        self.mail_from, self.rcpts = rest, []
        self.conn.line("250 2.1.0 Ok")

    def cmd_RCPT(self, rest):
        self.rcpts.append(rest)
        self.conn.line("250 2.1.5 Ok")

    def cmd_DATA(self, rest):
        self.conn.line("354 End data with <CR><LF>.<CR><LF>")
        lines = []
        while True:
            l = self.conn.readline()
            if l in (b".\r\n", b".\n"):
                break
            lines.append(l[1:] if l.startswith(b".") else l)
        self.server.state.setdefault("smtp_messages", []).append(
            {"from": self.mail_from, "rcpts": list(self.rcpts), "data": b"".join(lines)})
        self.conn.line("250 2.0.0 Ok: queued as FAKE%d" % len(self.server.state["smtp_messages"]))

    def cmd_RSET(self, rest):
        self.mail_from, self.rcpts = None, []
        self.conn.line("250 2.0.0 Ok")

    def cmd_NOOP(self, rest):
        self.conn.line("250 2.0.0 Ok")

    def cmd_QUIT(self, rest):
        self.conn.line("221 2.0.0 Bye")
        raise Closed()



# ---- hostile servers and an IMAP mailbox (tests/integration/test_hardening*.py)
#
# Additive: the scenarios above keep their behaviour. These sessions add,
# for every protocol, through opts:
#   greeting=b"..."        the greeting line sent instead of the normal one
#   raw={VERB: reply}      answer VERB ("UID FETCH", "SELECT", "RETR", "MAIL",
#                          ...) with reply instead: bytes ("$TAG" is replaced
#                          by the IMAP tag) or a callable(session, tag, args)
#                          (tag None for POP3/SMTP); see raw_reply and
#                          endless_reply
#   stall_after_login=True never answer the first command after login
#   drip_after_login=SECS  after login, send every byte SECS apart
# and MailboxImapSession serves folders of messages:
#   folders={"INBOX": [raw, ...], "Work": [...]}  (UIDs 1..n, or give
#       {"uid": u, "raw": b, "flags": "\\Seen"} dicts)
#   uidvalidity=N or {folder: N}  (read at each SELECT: a test may change it
#       between two runs of the client)
#   list_lines=[b'* LIST () "/" "name"', ...] LIST/LSUB answers instead of
#       the folders' names

def raw_reply(data, then=None):
    """A raw= reply: send data, then None (carry on), "close" or "stall"."""
    def reply(session, tag, args):
        d = data.replace(b"$TAG", (tag or "").encode()) if isinstance(data, bytes) else data
        session.conn.send(d)
        if then == "close":
            raise Closed()
        if then == "stall":
            session.conn.drain_until_closed()
            raise Closed()
    return reply


def endless_reply(prefix=b"", chunk=b"x" * 65536):
    """A raw= reply: prefix, then chunk forever (until the client hangs up)."""
    def reply(session, tag, args):
        session.conn.send(prefix.replace(b"$TAG", (tag or "").encode()))
        while not session.server.stopping.is_set():
            session.conn.send(chunk)
        raise Closed()
    return reply


class _HostileMixin:
    def hostile_greeting(self):
        g = self.opts.get("greeting")
        if g is not None:
            self.conn.send(g)
            return True
        return False

    def hostile_dispatch(self, verb, tag, args):
        """True when the command was answered here."""
        if self.authed:
            if self.opts.get("stall_after_login"):
                self.conn.drain_until_closed()
                raise Closed()
            if self.opts.get("drip_after_login") and not self.conn.drip:
                self.conn.drip = self.opts["drip_after_login"]
        raw = self.opts.get("raw") or {}
        if verb in raw:
            r = raw[verb]
            if callable(r):
                r(self, tag, args)
            else:
                self.conn.send(r.replace(b"$TAG", (tag or "").encode()))
            return True
        return False


def _imap_seqset(spec, top):
    """'1:3,7,9:*' -> set of numbers (top stands for *)."""
    out = set()
    for part in spec.split(","):
        a, _, b = part.partition(":")
        a = top if a == "*" else int(a)
        b = a if not b else (top if b == "*" else int(b))
        lo, hi = min(a, b), max(a, b)
        out.update(range(lo, min(hi, max(top, lo)) + 1))
    return out


def _imap_quote(name):
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MailboxImapSession(_HostileMixin, ImapSession):
    def caps(self):
        c = super().caps()
        return c if not self.authed else "IMAP4rev1 SASL-IR LITERAL+ ENABLE UIDPLUS ID"

    def greeting(self):
        if not self.hostile_greeting():
            super().greeting()

    def handle(self, line):
        line = self.read_command(line)
        toks = [m.group(1) if m.group(1) is not None else m.group(2)
                for m in _IMAP_TOKEN.finditer(line.rstrip(b"\r\n"))]
        if len(toks) >= 2:
            tag = toks[0].decode(errors="replace")
            verb = toks[1].decode(errors="replace").upper()
            args = [re.sub(rb"\\(.)", rb"\1", t) for t in toks[2:]]
            if verb == "UID" and args:
                verb, args = "UID " + args[0].decode(errors="replace").upper(), args[1:]
            if self.hostile_dispatch(verb, tag, args):
                return
        # the parent parses again; read_command is a no-op on a full line
        super().handle(line)

    def cmd_AUTHENTICATE(self, tag, args):
        # as the parent, but the tagged OK carries the post-login capabilities
        real = self.conn.line

        def line(t):
            if self.authed and t.startswith(tag + " OK"):
                t = tag + " OK [CAPABILITY %s] Logged in" % self.caps()
            real(t)
        self.conn.line = line
        try:
            super().cmd_AUTHENTICATE(tag, args)
        finally:
            self.conn.line = real

    # the mailbox
    def folders(self):
        st = self.server.state.setdefault("imap", {})
        if "folders" not in st:
            fl = {}
            for name, msgs in (self.opts.get("folders") or {"INBOX": []}).items():
                lst = []
                for i, m in enumerate(msgs, 1):
                    if isinstance(m, dict):
                        lst.append({"uid": m.get("uid", i), "raw": _crlf(m["raw"]),
                                    "flags": m.get("flags", "")})
                    else:
                        lst.append({"uid": i, "raw": _crlf(m), "flags": ""})
                fl[name] = lst
            st["folders"] = fl
        return st["folders"]

    def set_folder(self, name, msgs):
        """Replace a folder's messages (tests, between client runs)."""
        self.folders()[name] = msgs

    def uidvalidity(self, name):
        v = self.opts.get("uidvalidity", 1)
        return v.get(name, 1) if isinstance(v, dict) else v

    def cmd_LIST(self, tag, args, verb=b"LIST"):
        if self.opts.get("list_lines") is not None:
            for l in self.opts["list_lines"]:
                self.conn.send(l.replace(b"* LIST ", b"* " + verb + b" ", 1) + b"\r\n")
        else:
            for name in self.folders():
                self.conn.send(b'* %s (\\HasNoChildren) "/" %s\r\n' % (
                    verb, _imap_quote(name).encode()))
        self.conn.line(tag + " OK %s completed" % verb.decode())

    def cmd_LSUB(self, tag, args):
        self.cmd_LIST(tag, args, b"LSUB")

    def cmd_SELECT(self, tag, args):
        name = args[0].decode(errors="replace") if args else ""
        fl = self.folders()
        if name.upper() == "INBOX":
            name = "INBOX"
        if name not in fl:
            self.conn.line(tag + " NO [NONEXISTENT] no such mailbox")
            return
        self.selected = name
        msgs = fl[name]
        top = max([m["uid"] for m in msgs] or [0])
        self.conn.line("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.conn.line("* %d EXISTS" % len(msgs))
        self.conn.line("* 0 RECENT")
        self.conn.line("* OK [UIDVALIDITY %d] UIDs valid" % self.uidvalidity(name))
        self.conn.line("* OK [UIDNEXT %d] Predicted next UID" % (top + 1))
        self.conn.line(tag + " OK [READ-WRITE] SELECT completed")

    cmd_EXAMINE = cmd_SELECT

    def cmd_STATUS(self, tag, args):
        name = args[0].decode(errors="replace") if args else ""
        msgs = self.folders().get(name, [])
        top = max([m["uid"] for m in msgs] or [0])
        self.conn.line("* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN 0)" % (
            _imap_quote(name), len(msgs), top + 1, self.uidvalidity(name)))
        self.conn.line(tag + " OK STATUS completed")

    def _selected_msgs(self):
        return self.folders().get(getattr(self, "selected", None), [])

    def cmd_UID_SEARCH(self, tag, args):
        msgs = self._selected_msgs()
        top = max([m["uid"] for m in msgs] or [0])
        spec = args[-1].decode() if args else "1:*"
        want = _imap_seqset(spec, top) if re.match(r"^[0-9:*,]+$", spec) else {m["uid"] for m in msgs}
        self.conn.line("* SEARCH" + "".join(" %d" % m["uid"] for m in msgs if m["uid"] in want))
        self.conn.line(tag + " OK SEARCH completed")

    @staticmethod
    def _header_fields(raw, names):
        head = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        out, keep = [], False
        for l in head.split(b"\r\n")[:-1]:
            if l[:1] in (b" ", b"\t"):
                if keep:
                    out.append(l + b"\r\n")
                continue
            keep = l.split(b":", 1)[0].strip().upper() in names
            if keep:
                out.append(l + b"\r\n")
        return b"".join(out) + b"\r\n"

    def cmd_UID_FETCH(self, tag, args):
        msgs = self._selected_msgs()
        top = max([m["uid"] for m in msgs] or [0])
        want = _imap_seqset(args[0].decode(), top) if args else set()
        items = b" ".join(args[1:]).upper()
        names = set()
        m = re.search(rb"HEADER\.FIELDS \(([^)]*)\)", items)
        if m:
            names = set(m.group(1).split())
        for seq, msg in enumerate(msgs, 1):
            if msg["uid"] not in want:
                continue
            raw = msg["raw"]
            parts = [b"UID %d" % msg["uid"]]
            if b"FLAGS" in items:
                parts.append(b"FLAGS (%s)" % msg["flags"].encode())
            if b"INTERNALDATE" in items:
                parts.append(b'INTERNALDATE "01-Jan-2024 10:00:00 +0000"')
            if b"RFC822.SIZE" in items:
                parts.append(b"RFC822.SIZE %d" % len(raw))
            if b"BODYSTRUCTURE" in items:
                parts.append(b'BODYSTRUCTURE ("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "8BIT" %d %d)'
                             % (len(raw), raw.count(b"\n")))
            if m:
                h = self._header_fields(raw, names)
                parts.append(b"BODY[HEADER.FIELDS (%s)] {%d}\r\n" % (m.group(1), len(h)) + h)
            elif b"BODY.PEEK[]" in items or b"BODY[]" in items or b"RFC822" in items.split():
                parts.append(b"BODY[] {%d}\r\n" % len(raw) + raw)
            self.conn.send(b"* %d FETCH (" % seq + b" ".join(parts) + b")\r\n")
        self.conn.line(tag + " OK FETCH completed")

    def cmd_UID_STORE(self, tag, args):
        self.conn.line(tag + " OK STORE completed")

    def cmd_UID_EXPUNGE(self, tag, args):
        self.conn.line(tag + " OK EXPUNGE completed")

    def _ok(self, tag, args):
        self.conn.line(tag + " OK done")

    cmd_CLOSE = cmd_UNSELECT = cmd_EXPUNGE = cmd_CHECK = _ok


class HostilePop3Session(_HostileMixin, Pop3Session):
    def greeting(self):
        if not self.hostile_greeting():
            super().greeting()

    def handle(self, line):
        parts = line.rstrip(b"\r\n").split(b" ")
        verb = parts[0].decode(errors="replace").upper()
        if self.hostile_dispatch(verb, None, parts[1:]):
            return
        super().handle(line)


class HostileSmtpSession(_HostileMixin, SmtpSession):
    def greeting(self):
        if not self.hostile_greeting():
            super().greeting()

    def handle(self, line):
        text = line.rstrip(b"\r\n")
        verb = text.split(b" ", 1)[0].split(b":", 1)[0].decode(errors="replace").upper()
        if self.hostile_dispatch(verb, None, text):
            return
        super().handle(line)


HOSTILE_SESSIONS = {"imap": MailboxImapSession, "pop3": HostilePop3Session,
                    "smtp": HostileSmtpSession}

SESSIONS = {"imap": ImapSession, "pop3": Pop3Session, "smtp": SmtpSession}

# What each protocol injects after its STARTTLS "go ahead" (same packet)
INJECT = {
    "imap": b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN X-INJECTED] injected\r\n",
    "pop3": b"+OK injected\r\n",
    "smtp": b"250 injected\r\n",
}

SCENARIOS = {
    # a well-behaved server (STARTTLS/STLS offered, login only after TLS)
    "normal": {},
    # greeting + capabilities without STARTTLS/STLS, logins accepted in clear
    "no_starttls": {"offer_starttls": False},
    # STARTTLS advertised, but the command is refused; logins then accepted
    "starttls_refused": {"starttls_refused": True, "logindisabled": False},
    # IMAP PREAUTH greeting: already authenticated, STARTTLS impossible
    "imap_preauth": {"preauth": True},
    # extra responses in the same packet as the STARTTLS go-ahead
    "starttls_injection": {"inject": "auto"},
    # accept, then never send a greeting
    "stall_greeting": {"stall_greeting": True},
    # accept, then never answer anything (with --tls implicit: the TLS
    # handshake stalls)
    "stall_handshake": {"stall_handshake": True},
    # everything the server sends goes out one byte every 2 s (see --interval)
    "drip": {"drip": 2.0},
    "disconnect_after_greeting": {"disconnect_after_greeting": True},
    "garbage_greeting": {"garbage_greeting": True},
    # POP3 maildrop serving messages (normal + messages=...)
    "pop3_mailbox": {},
    # --- added for the hardening tests (sessions: HOSTILE_SESSIONS above)
    # IMAP with folders of messages (folders=..., uidvalidity=...); for POP3
    # and SMTP the same as normal. All take greeting=, raw=, list_lines=.
    "imap_mailbox": {"session_classes": HOSTILE_SESSIONS},
    "hostile": {"session_classes": HOSTILE_SESSIONS},
    # log in fine, then never answer again
    "stall_after_login": {"session_classes": HOSTILE_SESSIONS, "stall_after_login": True},
    # log in at full speed, then one byte every 0.5 s (drip_after_login=SECS)
    "drip_after_login": {"session_classes": HOSTILE_SESSIONS, "drip_after_login": 0.5},
}


# --------------------------------------------------------------------------
# server

def _cert_paths(certs=None, cert=None, key=None):
    """Resolve certificate and key. certs: lab env dict, lab dir or certs
    dir; cert: a name (server, selfsigned, expired, wronghost) or path."""
    cdir = None
    if isinstance(certs, dict):
        cdir = os.path.dirname(certs["LAB_CA"])
    elif certs:
        cdir = os.path.join(certs, "certs") if os.path.isdir(os.path.join(certs, "certs")) else certs
    elif os.environ.get("LAB_CA"):
        cdir = os.path.dirname(os.environ["LAB_CA"])
    elif os.environ.get("LAB_DIR"):
        cdir = os.path.join(os.environ["LAB_DIR"], "certs")
    name = cert or "server"
    if os.sep in name or name.endswith(".pem"):
        return name, key or name.replace(".pem", ".key")
    if cdir is None:
        cdir = _private_certs()
    return os.path.join(cdir, name + ".pem"), key or os.path.join(cdir, name + ".key")


_PRIVATE_CERTS = None


def _private_certs():
    """No lab around: make a throwaway CA + certs once per process."""
    global _PRIVATE_CERTS
    if _PRIVATE_CERTS is None:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import lab
        d = tempfile.mkdtemp(prefix="ternfake-certs.")
        lab._make_certs(d)
        _PRIVATE_CERTS = d
    return _PRIVATE_CERTS


class FakeServer:
    """A threaded loopback server running one Session class per connection."""

    def __init__(self, scenario="normal", proto="imap", tls="starttls", log=None,
                 certs=None, cert=None, key=None, port=0, session_class=None, **opts):
        if scenario not in SCENARIOS:
            raise ValueError("unknown scenario %r (have: %s)" % (scenario, ", ".join(SCENARIOS)))
        if proto not in SESSIONS:
            raise ValueError("proto must be imap, pop3 or smtp")
        if tls not in ("starttls", "implicit", "none"):
            raise ValueError("tls must be starttls, implicit or none")
        self.scenario, self.proto, self.tls_mode = scenario, proto, tls
        self.opts = dict(SCENARIOS[scenario])
        self.opts.update(opts)
        if self.opts.get("inject") == "auto":
            self.opts["inject"] = INJECT[proto]
        if isinstance(self.opts.get("inject"), str):
            self.opts["inject"] = self.opts["inject"].encode()
        if tls == "none":
            self.opts["offer_starttls"] = False
        if self.opts.get("drop_at") and isinstance(self.opts["drop_at"], str):
            self.opts["drop_at"] = parse_drop(self.opts["drop_at"])
        self.session_class = (session_class or (self.opts.get("session_classes") or {}).get(proto)
                              or SESSIONS[proto])
        if log is None:
            fd, log = tempfile.mkstemp(prefix="ternfake.", suffix=".log")
            os.close(fd)
        self.log_path = log
        self.log = ByteLog(log)
        self.cert, self.key = _cert_paths(certs, cert, key)
        self.ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ssl_ctx.load_cert_chain(self.cert, self.key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.host = HOST
        self.state = {}          # shared by sessions (pop3 maildrop, smtp messages)
        self.logins = []         # (conn id, user, password, over_tls, accepted)
        self.errors = []
        self.stopping = threading.Event()
        self.conns = []
        self.nconn = 0
        self.lock = threading.Lock()
        self.thread = None

    @property
    def log_file(self):
        return self.log_path

    def start(self):
        self.thread = threading.Thread(target=self._accept_loop, name="fake-accept", daemon=True)
        self.thread.start()
        return self

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                r, _, _ = select.select([self.sock], [], [], 0.2)
                if not r:
                    continue
                s, _ = self.sock.accept()
            except OSError:
                break
            with self.lock:
                self.nconn += 1
                cid = self.nconn
            threading.Thread(target=self._serve, args=(s, cid), daemon=True,
                             name="fake-conn-%d" % cid).start()

    def _serve(self, s, cid):
        conn = Conn(self, s, cid)
        with self.lock:
            self.conns.append(conn)
        self.log.marker(cid, "open")
        if self.opts.get("nodelay"):
            # replies go out line by line: without this, Nagle holds each
            # one until the client's delayed ACK (40 ms)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self.opts.get("stall_handshake"):
                conn.drain_until_closed()
                return
            if self.tls_mode == "implicit":
                conn.start_tls()
            self.session_class(conn, self.opts).run()
        except Closed:
            pass
        except Exception as e:           # a bug in a script: keep it visible
            self.errors.append("conn %d: %r" % (cid, e))
        finally:
            conn.close()
            self.log.marker(cid, "close")
            with self.lock:
                if conn in self.conns:
                    self.conns.remove(conn)

    def connections(self):
        return read_log(self.log_path)

    def cleartext(self):
        return cleartext(self.log_path)

    def stop(self):
        self.stopping.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            c.close()
        if self.thread:
            self.thread.join(2)
        time.sleep(0.05)
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def parse_drop(spec):
    """'RETR:2:100' -> ("RETR", 2, 100); 'DELE' -> ("DELE", None, None)."""
    parts = spec.split(":")
    cmd = parts[0].upper()
    n = int(parts[1]) if len(parts) > 1 and parts[1] not in ("", "*") else None
    b = int(parts[2]) if len(parts) > 2 and parts[2] != "" else None
    return (cmd, n, b)


def serve(scenario="normal", **kw):
    """Create and start a FakeServer (see FakeServer for the options)."""
    return FakeServer(scenario, **kw).start()


def load_messages(d):
    names = sorted(n for n in os.listdir(d) if not n.startswith("."))
    out = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            out.append(f.read())
    return out


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="fake IMAP/POP3/SMTP server (foreground)")
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--proto", choices=sorted(SESSIONS), default="imap")
    ap.add_argument("--tls", choices=("starttls", "implicit", "none"), default="starttls")
    ap.add_argument("--log", required=True, help="append client bytes here")
    ap.add_argument("--port-file", help="write the port here once listening")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lab", help="lab dir for certificates (default: $LAB_DIR)")
    ap.add_argument("--certs", help="directory with <name>.pem/<name>.key")
    ap.add_argument("--cert", default="server",
                    help="server|selfsigned|expired|wronghost or a PEM path")
    ap.add_argument("--key")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--messages", help="directory of messages to serve (POP3; IMAP SELECT count)")
    ap.add_argument("--drop-at", help="CMD[:N[:BYTES]], e.g. RETR:2:100 or QUIT")
    ap.add_argument("--interval", type=float, help="drip interval in seconds (default 2)")
    ap.add_argument("--inject", help="bytes to inject after the STARTTLS go-ahead (\\r\\n escapes)")
    a = ap.parse_args(argv)
    opts = {}
    if a.user is not None:
        opts["user"] = a.user
    if a.password is not None:
        opts["password"] = a.password
    if a.messages:
        opts["messages"] = load_messages(a.messages)
    if a.drop_at:
        opts["drop_at"] = parse_drop(a.drop_at)
    if a.interval is not None:
        opts["drip"] = a.interval
    if a.inject is not None:
        opts["inject"] = a.inject.encode().decode("unicode_escape").encode("latin-1")
    srv = FakeServer(a.scenario, proto=a.proto, tls=a.tls, log=a.log, certs=a.certs or a.lab,
                     cert=a.cert, key=a.key, port=a.port, **opts).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.port)
        os.rename(tmp, a.port_file)
    print("fake %s %s/%s listening on %s:%d" % (a.scenario, a.proto, a.tls, HOST, srv.port), flush=True)
    while not done.wait(0.5):
        pass
    srv.stop()
    for e in srv.errors:
        print("fake: " + e, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
