"""Integration tests for sending: `tern send`, sendmail mode, `tern queue`.

Real servers: the lab's Postfix submission (STARTTLS on `smtp`, implicit TLS
on `smtps`) delivering over LMTP into Dovecot Maildirs, through the `lab`
and `user` fixtures of conftest.py; delivered files are read back from the
recipients' Maildirs. Hostile or broken servers: the small scripted SMTP
fake below (one thread per connection; it logs every line the client sends,
after TLS decryption, so a test can prove what never reached the wire).
"""

import base64
import email
import email.policy
import os
import re
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")

EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT = 0, 64, 65, 66
EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 69, 75, 77, 78


# ---------------------------------------------------------------- helpers

def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Env:
    """A config dir + data dir for one test, and a way to run tern."""

    def __init__(self, tmp_path, lab, user):
        self.tmp, self.lab, self.user = tmp_path, lab, user
        self.config = os.path.join(tmp_path, "config")
        self.data = os.path.join(tmp_path, "data")
        self.write()

    def write(self, smtp_port=None, smtp_tls="starttls", extra="", host="127.0.0.1"):
        if smtp_port is None:
            smtp_port = self.lab.smtp_port if smtp_tls == "starttls" else self.lab.smtps_port
        text = (
            "[account main]\n"
            "address = %s\n"
            "name = Test User\n"
            "incoming = pop3\n"
            "host = 127.0.0.1\n"
            "port = %d\n"
            "tls = implicit\n"
            "password = %s\n"
            "ca_file = %s\n"
            "timeout = 10\n"
            "smtp_host = %s\n"
            "smtp_port = %d\n"
            "smtp_tls = %s\n%s"
        ) % (self.user.address, self.lab.pop3s_port, self.user.password, self.lab.ca, host,
             smtp_port, smtp_tls, extra)
        with open(self.config, "w") as f:
            f.write(text)
        os.chmod(self.config, 0o600)

    def env(self):
        e = dict(os.environ)
        e["TERN_CONFIG"] = self.config
        e["XDG_DATA_HOME"] = self.data
        e.pop("TERN_ACCOUNT", None)
        return e

    def run(self, args, input=b"", prog=None, timeout=60):
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run([prog or TERN] + args, input=input, env=self.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    @property
    def account_dir(self):
        return os.path.join(self.data, "tern", "main")

    def outbox(self, sub="meta"):
        d = os.path.join(self.account_dir, "outbox", sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def sent_copies(self):
        d = os.path.join(self.account_dir, "Maildir", ".Sent")
        out = []
        for sub in ("new", "cur"):
            if os.path.isdir(os.path.join(d, sub)):
                out += [os.path.join(d, sub, n) for n in os.listdir(os.path.join(d, sub))]
        return out


@pytest.fixture
def env(tmp_path, lab, user):
    return Env(str(tmp_path), lab, user)


def new_user(lab):
    name = "r" + uuid.uuid4().hex[:10]
    return lab.add_user(name, "pw-" + name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def strip_trace(raw):
    """The message as the client sent it: drop the header fields the
    servers put on top (Return-Path, Delivered-To, Received)."""
    lines = raw.split(b"\n")
    i = 0
    while i < len(lines):
        l = lines[i]
        if re.match(rb"(?i)^(Return-Path|Delivered-To|Received):", l):
            i += 1
            while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
                i += 1
            continue
        break
    return b"\n".join(lines[i:])


def parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def only_message(lab, user, match=None):
    paths = lab.wait_for_messages(user, 1, match=match)
    time.sleep(0.3)  # a second copy would show up now
    paths = lab.messages(user) if match is None else lab.wait_for_messages(user, 1, match=match)
    assert len(paths) == 1, paths
    return read(paths[0])


# ---------------------------------------------------------------- a fake SMTP server

class FakeSMTP:
    """A scripted submission server on 127.0.0.1.

    mode: "starttls" (EHLO offers STARTTLS, then AUTH after TLS),
          "nostarttls" (EHLO without STARTTLS, offers AUTH in clear),
          "plain" (a plaintext server; for clients that expect implicit TLS).
    rcpt_replies: {address: "550 5.1.1 ..."}; mail_reply: reply to MAIL;
    drop_after: close the connection right after that many 250s to DATA.
    Every line received (decrypted) is in .log; messages in .messages."""

    def __init__(self, lab, mode="starttls", rcpt_replies=None, mail_reply=None,
                 drop_after=None):
        self.lab, self.mode = lab, mode
        self.rcpt_replies = rcpt_replies or {}
        self.mail_reply = mail_reply
        self.drop_after = drop_after
        self.log, self.messages, self.connections = [], [], 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        certs = os.path.join(lab.dir, "certs")
        self.ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ctx.load_cert_chain(os.path.join(certs, "server.pem"),
                                 os.path.join(certs, "server.key"))
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopped = True
        self.sock.close()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self._session(c)
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _session(self, c):
        c.settimeout(15)
        f = c.makefile("rwb", buffering=0)

        def say(line):
            f.write(line.encode() + b"\r\n")

        say("220 fake ESMTP")
        while True:
            l = f.readline()
            if not l:
                return
            self.log.append(l)
            cmd = l.rstrip(b"\r\n").decode(errors="replace")
            up = cmd.upper()
            if up.startswith("EHLO") or up.startswith("HELO"):
                caps = ["250-fake", "250-PIPELINING", "250-8BITMIME", "250-SIZE 10000000"]
                if self.mode == "starttls":
                    caps.append("250-STARTTLS")
                else:
                    caps.append("250-AUTH PLAIN LOGIN")
                caps.append("250 ENHANCEDSTATUSCODES")
                for x in caps:
                    say(x)
            elif up == "STARTTLS" and self.mode == "starttls":
                say("220 2.0.0 go ahead")
                c = self.ctx.wrap_socket(c, server_side=True)
                f = c.makefile("rwb", buffering=0)
                self.log.append(b"--TLS--\n")
                first = f.readline()
                if first:
                    self.log.append(first)
                    self._rest(c, f, first)
                return
            elif up.startswith("AUTH"):
                say("235 2.7.0 ok")
            elif up.startswith("QUIT"):
                say("221 bye")
                return
            elif up.startswith("MAIL") or up.startswith("RCPT") or up == "DATA":
                say("530 5.7.0 Must issue a STARTTLS command first")
            else:
                say("502 5.5.2 what")

    def _rest(self, c, f, first):
        """The session after STARTTLS (first is the first line read)."""
        def say(line):
            f.write(line.encode() + b"\r\n")

        def nextline():
            l = f.readline()
            if l:
                self.log.append(l)
            return l

        sent_ok = 0
        l = first
        while l:
            cmd = l.rstrip(b"\r\n").decode(errors="replace")
            up = cmd.upper()
            if up.startswith("EHLO"):
                for x in ["250-fake", "250-PIPELINING", "250-8BITMIME", "250-SIZE 10000000",
                          "250-AUTH PLAIN LOGIN XOAUTH2", "250 ENHANCEDSTATUSCODES"]:
                    say(x)
            elif up.startswith("AUTH"):
                say("235 2.7.0 ok")
            elif up.startswith("MAIL FROM:"):
                say(self.mail_reply or "250 2.1.0 ok")
            elif up.startswith("RCPT TO:"):
                m = re.match(r"RCPT TO:<([^>]*)>", cmd, re.I)
                addr = m.group(1) if m else ""
                say(self.rcpt_replies.get(addr, "250 2.1.5 ok"))
            elif up == "RSET":
                say("250 2.0.0 ok")
            elif up == "NOOP":
                say("250 2.0.0 ok")
            elif up == "DATA":
                say("354 go")
                body = []
                while True:
                    d = f.readline()
                    if not d:
                        return
                    if d == b".\r\n":
                        break
                    body.append(d)
                self.messages.append(b"".join(body))
                say("250 2.0.0 queued as F%d" % len(self.messages))
                sent_ok += 1
                if self.drop_after is not None and sent_ok >= self.drop_after:
                    c.shutdown(socket.SHUT_RDWR)
                    return
            elif up.startswith("QUIT"):
                say("221 bye")
                return
            else:
                say("502 5.5.2 what")
            l = nextline()

    def commands(self):
        return [l for l in self.log if l != b"--TLS--\n"]


@pytest.fixture
def fakes(lab):
    made = []

    def make(**kw):
        fk = FakeSMTP(lab, **kw)
        made.append(fk)
        return fk
    yield make
    for fk in made:
        fk.close()


# ---------------------------------------------------------------- building messages

def test_send_all_options(env, lab):
    to1, to2, cc, bcc = new_user(lab), new_user(lab), new_user(lab), new_user(lab)
    att_dir = os.path.join(env.tmp, "att")
    os.makedirs(att_dir)
    binpath = os.path.join(att_dir, "r\u00e9sum\u00e9 (final).bin")
    blob = bytes((i * 37 + 11) % 256 for i in range(70000))
    with open(binpath, "wb") as f:
        f.write(blob)
    pdf = os.path.join(att_dir, "doc.pdf")
    with open(pdf, "wb") as f:
        f.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n")
    body = "Hallo J\u00fcrgen,\n\ngr\u00fc\u00dfe aus K\u00f6ln.\n.\n..\n.x\nend\n"
    subject = "Gr\u00fc\u00dfe \u2014 a long subject line " + "word " * 30
    p = env.run(["send", "--to", "J\u00fcrgen M\u00fcller <%s>" % to1.address,
                 "--to", "%s,%s" % (to2.address, to2.address), "--cc", cc.address,
                 "--bcc", bcc.address, "--subject", subject, "--reply-to", "Replies <%s>" % cc.address,
                 "--header", "X-Tern-Test: yes \u2713", "--header", "In-Reply-To: <abc@example.org>",
                 "--attach", binpath, "--attach", pdf], input=body.encode())
    assert p.returncode == EX_OK, p.err
    assert "sent to 4 recipients" in p.out
    raws = [only_message(lab, u) for u in (to1, to2, cc, bcc)]
    for raw in raws:
        assert b"\r" not in raw.replace(b"\r\n", b"")
        assert not re.search(rb"(?im)^bcc:", raw), "Bcc transmitted"
        assert bcc.address.encode() not in strip_trace(raw)
        for line in strip_trace(raw).split(b"\n"):
            assert len(line) <= 78 or line.startswith(b"=?") is False and len(line) <= 998
    # the four copies are the same message
    assert len({strip_trace(r) for r in raws}) == 1
    m = parse(raws[0])
    assert m["Subject"] == subject
    assert m["To"].addresses[0].display_name == "J\u00fcrgen M\u00fcller"
    assert m["To"].addresses[0].addr_spec == to1.address
    assert len(m["To"].addresses) == 3
    assert m["Cc"].addresses[0].addr_spec == cc.address
    assert m["Reply-To"].addresses[0].display_name == "Replies"
    assert m["From"].addresses[0].addr_spec == env.user.address
    assert m["From"].addresses[0].display_name == "Test User"
    assert m["X-Tern-Test"] == "yes \u2713"
    assert m["In-Reply-To"] == "<abc@example.org>"
    assert re.fullmatch(r"<\d{14}\.[0-9a-f]{32}@lab\.test>", m["Message-ID"])
    assert m["Date"].datetime is not None
    assert m["MIME-Version"] == "1.0"
    parts = list(m.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[0].get_content() == body
    assert parts[1].get_filename() == "r\u00e9sum\u00e9 (final).bin"
    assert parts[1]["Content-Transfer-Encoding"] == "base64"
    assert parts[1].get_content() == blob
    assert parts[2].get_content_type() == "application/pdf"
    assert parts[2].get_filename() == "doc.pdf"
    assert parts[2].get_content() == read(pdf)
    # the copy in Sent keeps Bcc
    copies = env.sent_copies()
    assert len(copies) == 1
    sent = read(copies[0])
    assert re.search(rb"(?m)^Bcc: " + re.escape(bcc.address.encode()) + rb"\r?$", sent)
    assert copies[0].endswith(":2,S")


def test_dots_long_lines_and_encodings(env, lab):
    rc = new_user(lab)
    long_line = "".join(chr(ord("a") + i % 26) for i in range(2000))
    body = ".\n..\n.leading\nFrom the start\ntrailing   \n%s\nlast" % long_line
    p = env.run(["send", "--to", rc.address, "--subject", "dots"], input=body.encode())
    assert p.returncode == EX_OK, p.err
    raw = only_message(lab, rc)
    for line in raw.split(b"\n"):
        assert len(line) <= 998
    m = parse(raw)
    assert m["Content-Transfer-Encoding"] == "quoted-printable"
    assert m.get_content() == body + "\n"


def test_ascii_body_7bit(env, lab):
    rc = new_user(lab)
    body = "plain\n.\n..two\n"
    p = env.run(["send", "--to", rc.address], input=body)
    assert p.returncode == EX_OK, p.err
    raw = only_message(lab, rc)
    assert raw.endswith(b"\n\nplain\n.\n..two\n")
    assert b"Content-Transfer-Encoding: 7bit" in raw
    assert b"\nSubject:" not in raw


def test_implicit_tls_465(env, lab):
    rc = new_user(lab)
    env.write(smtp_tls="implicit")
    p = env.run(["send", "--to", rc.address, "--subject", "via 465"], input="hi\n")
    assert p.returncode == EX_OK, p.err
    assert b"Subject: via 465" in only_message(lab, rc)


# ---------------------------------------------------------------- -t, sendmail, batch

READY = (b"Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
         b"From: Test User <%(from)s>\n"
         b"To: <%(to)s>\n"
         b"Cc: Group: %(cc)s;\n"
         b"Bcc: %(bcc)s\n"
         b"Subject: ready made\n"
         b"Message-ID: <ready.%(tag)s@lab.test>\n"
         b"\n"
         b"first\n"
         b".\n"
         b"..two dots\n"
         b".x\n"
         b"last\n")


def ready(env, to, cc, bcc, tag):
    return READY % {b"from": env.user.address.encode(), b"to": to.address.encode(),
                    b"cc": cc.address.encode(), b"bcc": bcc.address.encode(),
                    b"tag": tag.encode()}


def test_t_byte_for_byte(env, lab):
    to, cc, bcc, extra = new_user(lab), new_user(lab), new_user(lab), new_user(lab)
    msg = ready(env, to, cc, bcc, "t1")
    p = env.run(["send", "-t", "-i", "-oi", "-odi", "-oem", extra.address], input=msg)
    assert p.returncode == EX_OK, p.err
    expect = re.sub(rb"(?m)^Bcc: .*\n", b"", msg)
    for u in (to, cc, bcc, extra):
        assert strip_trace(only_message(lab, u)) == expect
    copies = env.sent_copies()
    assert len(copies) == 1 and read(copies[0]).replace(b"\r\n", b"\n") == msg


def test_sendmail_symlink(env, lab, tmp_path):
    to, cc, bcc = new_user(lab), new_user(lab), new_user(lab)
    link = os.path.join(str(tmp_path), "sendmail")
    os.symlink(TERN, link)
    msg = ready(env, to, cc, bcc, "sm1")
    p = env.run(["-oi", "-t", "-f", env.user.address, "-F", "Ignored Name"], input=msg,
                prog=link)
    assert p.returncode == EX_OK, p.err
    assert p.out == ""  # sendmail is silent
    expect = re.sub(rb"(?m)^Bcc: .*\n", b"", msg)
    for u in (to, cc, bcc):
        assert strip_trace(only_message(lab, u)) == expect
    # without -i a lone dot ends the input; recipients from the arguments only
    r2 = new_user(lab)
    p = env.run([r2.address], input=b"Subject: dot\n\nbefore\n.\nafter\n", prog=link)
    assert p.returncode == EX_OK, p.err
    raw = only_message(lab, r2)
    assert b"before\n" in raw and b"after" not in raw
    assert re.search(rb"(?m)^From: Test User <%s>$" % re.escape(env.user.address.encode()), raw)
    # -bp lists the queue
    p = env.run(["-bp"], prog=link)
    assert p.returncode == EX_OK and "outbox empty" in p.out


def test_batch_one_connection(env, lab):
    rcpts = [new_user(lab) for _ in range(7)]
    files = []
    for i, u in enumerate(rcpts):
        path = os.path.join(env.tmp, "m%d.eml" % i)
        with open(path, "wb") as f:
            f.write(b"From: %s\nTo: %s\nSubject: batch %d\n\nbody %d\n.\n" % (
                env.user.address.encode(), u.address.encode(), i, i))
        files.append(path)
    t0 = time.time()
    p = env.run(["send", "--batch"] + files)
    assert p.returncode == EX_OK, p.err
    assert len(p.out.strip().split("\n")) == 7
    for i, (path, u) in enumerate(zip(files, rcpts)):
        assert "%s: sent to 1 recipient" % path in p.out
        raw = only_message(lab, u)
        assert b"Subject: batch %d" % i in raw and raw.endswith(b"\nbody %d\n.\n" % i)
    # one SMTP session carried all seven
    log = read(os.path.join(lab.dir, "log", "postfix.log")).decode(errors="replace")
    assert re.search(r"disconnect from .* mail=7 rcpt=7 data=7 quit=1", log), log[-2000:]


def test_batch_missing_file_reported(env, lab):
    u = new_user(lab)
    good = os.path.join(env.tmp, "good.eml")
    with open(good, "wb") as f:
        f.write(b"To: %s\nSubject: ok\n\nok\n" % u.address.encode())
    p = env.run(["send", "--batch", os.path.join(env.tmp, "missing.eml"), good])
    assert p.returncode == EX_NOINPUT
    assert "missing.eml" in p.err
    assert b"Subject: ok" in only_message(lab, u)


# ---------------------------------------------------------------- hostile input

INJECTIONS = [
    ["--to", "a@lab.test\r\nRCPT TO:<evil@lab.test>"],
    ["--to", "a@lab.test\nRSET"],
    ["--to", "evil@lab.test> NOTIFY=NEVER"],
    ["--to", "x@lab.test", "--subject", "hi\r\nBcc: evil@lab.test"],
    ["--to", "x@lab.test", "--subject", "hi\nBcc: evil@lab.test"],
    ["--to", "x@lab.test", "--header", "X-A: b\r\nBcc: evil@lab.test"],
    ["--to", "x@lab.test", "--header", "X-A: b\rBcc: evil@lab.test"],
    ["--to", "x@lab.test", "--from", "me@lab.test\r\nBcc: evil@lab.test"],
    ["--to", "x@lab.test", "--reply-to", "r@lab.test\nBcc: evil@lab.test"],
    ["--to", "Evil\r\nBcc: e@lab.test <x@lab.test>"],
]


@pytest.mark.parametrize("args", INJECTIONS)
def test_injection_rejected(env, fakes, args):
    fk = fakes(mode="starttls")
    env.write(smtp_port=fk.port)
    p = env.run(["send"] + args, input="body\n")
    assert p.returncode == EX_DATAERR, (p.returncode, p.err)
    assert fk.connections == 0 and fk.log == []


@pytest.mark.parametrize("args,inp", [
    (["-t", "-f", "me@lab.test\r\nRSET"], b"To: x@lab.test\n\nhi\n"),
    (["-t"], b"To: x@lab.test\n\nnul\0byte\n"),
    (["-t", "x@lab.test\r\nRSET"], b"To: y@lab.test\n\nhi\n"),
    (["-t", "-F", "Name\r\nBcc: evil@lab.test"], b"To: y@lab.test\n\nhi\n"),
])
def test_injection_rejected_t(env, fakes, args, inp):
    fk = fakes(mode="starttls")
    env.write(smtp_port=fk.port)
    p = env.run(["send"] + args, input=inp)
    assert p.returncode == EX_DATAERR, (p.returncode, p.err)
    assert fk.connections == 0


def test_missing_attachment_fails_first(env, fakes):
    fk = fakes(mode="starttls")
    env.write(smtp_port=fk.port)
    p = env.run(["send", "--to", "x@lab.test", "--attach", "/nonexistent/x.pdf"], input="hi\n")
    assert p.returncode == EX_NOINPUT, p.err
    assert "/nonexistent/x.pdf" in p.err
    assert fk.connections == 0
    unreadable = os.path.join(env.tmp, "secret")
    os.mkdir(unreadable)
    p = env.run(["send", "--to", "x@lab.test", "--attach", unreadable], input="hi\n")
    assert p.returncode == EX_NOINPUT and fk.connections == 0


def test_usage_errors(env):
    assert env.run(["send"]).returncode == EX_USAGE
    assert env.run(["send", "--to", "a@lab.test", "-t"]).returncode == EX_USAGE
    assert env.run(["send", "--to", "a@lab.test", "--header", "Bcc: x@lab.test"],
                   input="x").returncode == EX_USAGE
    assert env.run(["send", "--bogus"]).returncode == EX_USAGE
    assert env.run(["send", "--to", "not-an-address"], input="x").returncode == EX_DATAERR


# ---------------------------------------------------------------- TLS policy, fakes

def test_no_starttls_never_auth(env, fakes):
    fk = fakes(mode="nostarttls")
    env.write(smtp_port=fk.port)
    p = env.run(["send", "--no-queue", "--to", "x@lab.test"], input="hi\n")
    assert p.returncode not in (EX_OK, EX_TEMPFAIL), p.err
    sent = b"".join(fk.commands()).upper()
    assert b"AUTH" not in sent and b"MAIL FROM" not in sent
    assert env.user.password.encode() not in b"".join(fk.log)
    assert fk.connections == 1
    # without --no-queue it is not queued either: this needs a human
    p = env.run(["send", "--to", "x@lab.test"], input="hi\n")
    assert p.returncode not in (EX_OK, EX_TEMPFAIL)
    assert env.outbox() == []


def test_implicit_tls_against_plaintext(env, fakes):
    fk = fakes(mode="plain")
    env.write(smtp_port=fk.port, smtp_tls="implicit")
    t0 = time.monotonic()
    p = env.run(["send", "--no-queue", "--to", "x@lab.test"], input="hi\n", timeout=30)
    assert time.monotonic() - t0 < 20
    assert p.returncode not in (EX_OK,) and p.returncode < 128, p.err
    assert "tern:" in p.err
    assert not any(b"AUTH" in l.upper() for l in fk.log)


def test_rejected_recipient_named(env, fakes):
    fk = fakes(mode="starttls",
               rcpt_replies={"nobody@lab.test": "550 5.1.1 <nobody@lab.test>: User unknown"})
    env.write(smtp_port=fk.port)
    p = env.run(["send", "--to", "ok@lab.test", "--to", "nobody@lab.test"], input="hi\n")
    assert p.returncode == EX_UNAVAILABLE, p.err
    assert "nobody@lab.test" in p.err and "550 5.1.1" in p.err
    assert "sent to 1 of 2 recipients" in p.err
    assert len(fk.messages) == 1
    # all refused: nothing sent, message kept in failed/
    fk2 = fakes(mode="starttls",
                rcpt_replies={"nobody@lab.test": "550 5.1.1 <nobody@lab.test>: User unknown"})
    env.write(smtp_port=fk2.port)
    p = env.run(["send", "--to", "nobody@lab.test"], input="hi\n")
    assert p.returncode == EX_UNAVAILABLE
    assert "nobody@lab.test" in p.err
    assert all(m == b"" for m in fk2.messages)  # at most the lone dot (RFC 2920 3.1)
    assert len(env.outbox("failed")) == 2  # message and its .meta


def test_pipelined_commands_on_the_wire(env, fakes):
    """MAIL, RCPT and DATA of one message go out before any reply is read,
    and the server sees exactly the envelope given."""
    fk = fakes(mode="starttls")
    env.write(smtp_port=fk.port)
    p = env.run(["send", "--to", "a@lab.test", "--cc", "b@lab.test", "--bcc", "c@lab.test"],
                input="hi\n")
    assert p.returncode == EX_OK, p.err
    cmds = [l.rstrip(b"\r\n") for l in fk.commands()]
    i = [k for k, l in enumerate(cmds) if l.startswith(b"MAIL FROM")][0]
    assert cmds[i].startswith(b"MAIL FROM:<%s>" % env.user.address.encode())
    assert cmds[i + 1:i + 5] == [b"RCPT TO:<a@lab.test>", b"RCPT TO:<b@lab.test>",
                                 b"RCPT TO:<c@lab.test>", b"DATA"]
    assert not re.search(rb"(?im)^bcc:", fk.messages[0])
    assert not re.search(rb"[\s<,:]c@lab\.test", fk.messages[0])


def test_xoauth2_token_from_command(env, fakes):
    fk = fakes(mode="starttls")
    env.write(smtp_port=fk.port,
              extra="smtp_auth = xoauth2\nsmtp_password_command = echo tok-123\n")
    p = env.run(["send", "--to", "x@lab.test"], input="hi\n")
    assert p.returncode == EX_OK, p.err
    auth = [l for l in fk.commands() if l.upper().startswith(b"AUTH")]
    assert len(auth) == 1
    word = auth[0].split()
    assert word[1] == b"XOAUTH2"
    tok = base64.b64decode(word[2])
    assert tok == b"user=%s\x01auth=Bearer tok-123\x01\x01" % env.user.address.encode()
    assert len(fk.messages) == 1


# ---------------------------------------------------------------- outbox

def test_outbox_unreachable_then_flush(env, lab):
    rc = new_user(lab)
    env.write(smtp_port=closed_port())
    p = env.run(["send", "--to", rc.address, "--subject", "queued one"], input="later\n")
    assert p.returncode == EX_TEMPFAIL, p.err
    assert "queued" in p.err
    assert len(env.outbox("meta")) == 1 and len(env.outbox("new")) == 1
    p = env.run(["queue"])
    assert p.returncode == EX_OK and "queued one" in p.out and rc.address in p.out
    p = env.run(["queue", "--json"])
    assert '"state": "queued"' in p.out
    # still down: an attempt is counted, the entry stays
    p = env.run(["queue", "--flush"])
    assert p.returncode == EX_TEMPFAIL
    assert len(env.outbox("meta")) == 1
    # fixed: --force (the next try is a minute away) delivers exactly once
    env.write()
    p = env.run(["queue", "--flush"])
    assert p.returncode == EX_TEMPFAIL and "not due" in p.err
    p = env.run(["queue", "--flush", "--force"])
    assert p.returncode == EX_OK, p.err
    assert "sent to 1 recipient" in p.out
    assert env.outbox("meta") == [] and env.outbox("new") == []
    p = env.run(["queue", "--flush", "--force"])
    assert p.returncode == EX_OK
    raw = only_message(lab, rc)
    assert b"Subject: queued one" in raw
    assert len(env.sent_copies()) == 1


def test_outbox_flush_right_after_queueing(env, lab):
    """A message queued by send is due at once: the next plain flush sends it."""
    rc = new_user(lab)
    env.write(smtp_port=closed_port())
    assert env.run(["send", "--to", rc.address], input="x\n").returncode == EX_TEMPFAIL
    env.write()
    p = env.run(["queue", "--flush"])
    assert p.returncode == EX_OK, p.err
    only_message(lab, rc)


def test_no_queue(env):
    env.write(smtp_port=closed_port())
    p = env.run(["send", "--no-queue", "--to", "x@lab.test"], input="x\n")
    assert p.returncode == EX_TEMPFAIL
    assert env.outbox() == []


def test_temp_failure_queues(env, fakes):
    fk = fakes(mode="starttls", mail_reply="451 4.3.0 try again later")
    env.write(smtp_port=fk.port)
    p = env.run(["send", "--to", "x@lab.test"], input="x\n")
    assert p.returncode == EX_TEMPFAIL and "451 4.3.0" in p.err
    assert len(env.outbox()) == 1
    # a permanent refusal on flush: moved to failed/, never dropped
    fk.mail_reply = "554 5.7.1 go away"
    p = env.run(["queue", "--flush", "--force"])
    assert p.returncode == EX_UNAVAILABLE and "554 5.7.1" in p.err
    assert env.outbox() == [] and len(env.outbox("failed")) == 2


def test_never_sent_twice(env, lab, fakes):
    """The server takes message 1 then drops the line: message 1 is done
    (its 250 was recorded before anything else), message 2 stays queued;
    the next flush sends only message 2."""
    env.write(smtp_port=closed_port())
    for i in range(2):
        p = env.run(["send", "--to", "r%d@lab.test" % i, "--subject", "m%d" % i], input="x\n")
        assert p.returncode == EX_TEMPFAIL
    assert len(env.outbox()) == 2
    fk = fakes(mode="starttls", drop_after=1)
    env.write(smtp_port=fk.port)
    p = env.run(["queue", "--flush", "--force"])
    assert p.returncode == EX_TEMPFAIL, p.err
    assert len(fk.messages) == 1 and b"Subject: m0" in fk.messages[0]
    assert len(env.outbox()) == 1
    fk.drop_after = None
    p = env.run(["queue", "--flush", "--force"])
    assert p.returncode == EX_OK, p.err
    assert len(fk.messages) == 2 and b"Subject: m1" in fk.messages[1]
    assert env.outbox() == []
    assert sum(b"Subject: m0" in m for m in fk.messages) == 1


def test_queue_delete(env):
    env.write(smtp_port=closed_port())
    assert env.run(["send", "--to", "x@lab.test"], input="x\n").returncode == EX_TEMPFAIL
    (qid,) = env.outbox()
    p = env.run(["queue", "--delete", qid])
    assert p.returncode == EX_OK
    assert env.outbox() == [] and qid in env.outbox("failed")
