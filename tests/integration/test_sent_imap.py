"""Copy to Sent for IMAP accounts (core/imap APPEND through core/outbox).

An IMAP account of a fresh lab user sends with `tern send` through the
lab's Postfix; the copy is read back from the lab's Dovecot with imaplib
(the server's view: folder, count, flags, bytes). The lab creates Drafts,
Sent, Trash, Junk and Archive as special-use folders at first login.

tern is $TERN_BIN (default build/tern).
"""

import email
import email.policy
import imaplib
import os
import re
import socket
import subprocess
import time
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TERN = os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")

EX_OK, EX_TEMPFAIL = 0, 75


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def imap_utf7(name):
    """RFC 3501 modified UTF-7 (what the server stores)."""
    out, run = [], []

    def flush():
        if run:
            b = "".join(run).encode("utf-16-be")
            import base64
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run.append(ch)
    flush()
    return "".join(out)


class Acct:
    """A lab user with an IMAP account in tern (SMTP through the lab's
    submission port)."""

    def __init__(self, lab, tmp_path, extra=""):
        self.lab = lab
        self.user = lab.add_user("sent" + uuid.uuid4().hex[:10], "pw-" + uuid.uuid4().hex[:10])
        deadline = time.monotonic() + 5
        while not self._can_login():
            assert time.monotonic() < deadline, "lab user never became valid"
            time.sleep(0.05)
        self.tmp = str(tmp_path)
        self.config = os.path.join(self.tmp, "config")
        self.data = os.path.join(self.tmp, "data")
        self.write(extra=extra)

    def _can_login(self):
        try:
            c = self.connect()
            c.logout()
            return True
        except imaplib.IMAP4.error:
            return False

    def write(self, imap_port=None, extra=""):
        text = (
            "[account main]\n"
            "address = %s\n"
            "name = Sent Tester\n"
            "incoming = imap\n"
            "host = 127.0.0.1\n"
            "port = %d\n"
            "tls = implicit\n"
            "password = %s\n"
            "ca_file = %s\n"
            "timeout = 10\n"
            "smtp_host = 127.0.0.1\n"
            "smtp_port = %d\n"
            "smtp_tls = starttls\n%s"
        ) % (self.user.address, imap_port or self.lab.imaps_port, self.user.password,
             self.lab.ca, self.lab.smtp_port, extra)
        with open(self.config, "w") as f:
            f.write(text)
        os.chmod(self.config, 0o600)

    def run(self, args, input=b"", timeout=60):
        e = dict(os.environ)
        e["TERN_CONFIG"] = self.config
        e["XDG_DATA_HOME"] = self.data
        e.pop("TERN_ACCOUNT", None)
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run([TERN] + args, input=input, env=e, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        p.out = p.stdout.decode(errors="replace")
        p.err = p.stderr.decode(errors="replace")
        return p

    def connect(self):
        c = imaplib.IMAP4_SSL("127.0.0.1", self.lab.imaps_port,
                              ssl_context=self.lab.ssl_context())
        c.login(self.user.address, self.user.password)
        return c

    def folder(self, raw="Sent"):
        """[(flags, bytes)] of every message in folder `raw` (server name)."""
        c = self.connect()
        try:
            typ, count = c.select('"%s"' % raw, readonly=True)
            assert typ == "OK", "no folder %r on the server" % raw
            out = []
            if int(count[0]) == 0:
                return out
            typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[])")
            if typ == "OK":
                for item in data:
                    if isinstance(item, tuple):
                        flags = re.search(rb"FLAGS \(([^)]*)\)", item[0]).group(1).split()
                        out.append((flags, item[1]))
            return out
        finally:
            c.logout()

    def folders(self, cmd="LIST"):
        c = self.connect()
        try:
            typ, data = (c.list() if cmd == "LIST" else c.lsub())
            return [d.decode() for d in data if d]
        finally:
            c.logout()

    @property
    def outbox_meta(self):
        d = os.path.join(self.data, "tern", "main", "outbox", "meta")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


def wait_delivered(lab, user, token, count=1):
    paths = lab.wait_for_messages(user, count, match=token.encode())
    time.sleep(0.3)  # a second copy would show up now
    paths = lab.wait_for_messages(user, count, match=token.encode())
    assert len(paths) == count, paths
    with open(paths[0], "rb") as f:
        return f.read()


def new_rcpt(lab):
    name = "r" + uuid.uuid4().hex[:10]
    return lab.add_user(name, "pw-" + name)


def send(acct, to, bcc, token, extra_args=()):
    return acct.run(["send", "--to", to.address, "--bcc", bcc.address, "--subject",
                     "sent copy " + token] + list(extra_args),
                    input="body of %s\n.leading dot\n" % token)


def test_send_appends_one_seen_copy_with_bcc(lab, tmp_path):
    acct = Acct(lab, tmp_path)
    to, hidden = new_rcpt(lab), new_rcpt(lab)
    token = uuid.uuid4().hex
    p = send(acct, to, hidden, token)
    assert p.returncode == EX_OK, p.err
    assert "sent to 2 recipients" in p.out
    assert p.err == "", p.err  # no note: the copy was made
    delivered = wait_delivered(lab, to, token)
    assert b"Bcc:" not in delivered
    wait_delivered(lab, hidden, token)
    copies = acct.folder("Sent")
    assert len(copies) == 1, copies
    flags, raw = copies[0]
    assert b"\\Seen" in flags
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] == hidden.address
    assert msg["To"] == to.address
    assert msg["Subject"] == "sent copy " + token
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert ("body of %s" % token).encode() in raw
    # the message as delivered (without Bcc) is the copy without its Bcc field
    assert re.sub(rb"(?m)^Bcc: [^\r\n]*\r\n", b"", raw) in delivered.replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n")
    assert acct.outbox_meta == []
    assert acct.run(["queue"]).out.strip() == "outbox empty"


def test_save_sent_no_appends_nothing(lab, tmp_path):
    acct = Acct(lab, tmp_path, extra="save_sent = no\n")
    to, hidden = new_rcpt(lab), new_rcpt(lab)
    token = uuid.uuid4().hex
    p = send(acct, to, hidden, token)
    assert p.returncode == EX_OK, p.err
    wait_delivered(lab, to, token)
    assert acct.folder("Sent") == []
    assert acct.outbox_meta == []


def test_imap_down_then_flush_appends_once(lab, tmp_path):
    acct = Acct(lab, tmp_path)
    acct.write(imap_port=closed_port())
    to, hidden = new_rcpt(lab), new_rcpt(lab)
    token = uuid.uuid4().hex
    p = send(acct, to, hidden, token)
    # the send itself succeeded: exit 0, the copy is a note
    assert p.returncode == EX_OK, p.err
    assert "sent to 2 recipients" in p.err or "sent to 2 recipients" in p.out
    assert "copy to Sent failed" in p.err and "kept in the outbox" in p.err
    wait_delivered(lab, to, token)
    assert acct.folder("Sent") == []
    (qid,) = acct.outbox_meta
    q = acct.run(["queue"])
    assert q.returncode == EX_OK
    assert "sent, copy to Sent pending" in q.out and qid in q.out
    assert '"state": "sent"' in acct.run(["queue", "--json"]).out
    # still down: the entry stays, exit 75, nothing stored
    f = acct.run(["queue", "--flush"])
    assert f.returncode == EX_TEMPFAIL, f.err
    assert "copy to Sent failed" in f.err
    assert acct.outbox_meta == [qid]
    assert acct.folder("Sent") == []
    # back up: exactly one copy, the entry is gone
    acct.write()
    f = acct.run(["queue", "--flush"])
    assert f.returncode == EX_OK, f.err
    assert "copied to Sent" in f.out
    assert acct.outbox_meta == []
    f = acct.run(["queue", "--flush", "--force"])
    assert f.returncode == EX_OK, f.err
    copies = acct.folder("Sent")
    assert len(copies) == 1, copies
    flags, raw = copies[0]
    assert b"\\Seen" in flags
    assert ("Bcc: %s" % hidden.address).encode() in raw
    assert ("sent copy " + token).encode() in raw
    # the recipient still has one message: the flush resent nothing
    wait_delivered(lab, to, token)


def test_sent_folder_created_with_utf7_name(lab, tmp_path):
    name = "Gesendet \u00dc & Co"
    acct = Acct(lab, tmp_path, extra="sent_folder = %s\n" % name)
    to, hidden = new_rcpt(lab), new_rcpt(lab)
    token = uuid.uuid4().hex
    p = send(acct, to, hidden, token)
    assert p.returncode == EX_OK, p.err
    assert p.err == "", p.err
    raw_name = imap_utf7(name)
    assert raw_name == "Gesendet &ANw- &- Co"
    assert any(raw_name in l for l in acct.folders("LIST")), acct.folders("LIST")
    assert any(raw_name in l for l in acct.folders("LSUB"))  # subscribed when created
    copies = acct.folder(raw_name)
    assert len(copies) == 1 and b"\\Seen" in copies[0][0]
    assert acct.folder("Sent") == []
    # a second send goes to the same folder (no second CREATE needed)
    token2 = uuid.uuid4().hex
    assert send(acct, to, hidden, token2).returncode == EX_OK
    assert len(acct.folder(raw_name)) == 2


def test_sent_folder_from_server_then_index(lab, tmp_path):
    """Never synced: the server's LIST names the \\Sent folder; after a
    fetch the index does, and no LIST is sent."""
    acct = Acct(lab, tmp_path)
    to, hidden = new_rcpt(lab), new_rcpt(lab)
    p = acct.run(["--debug", "send", "--to", to.address, "--subject", "one"], input="x\n")
    assert p.returncode == EX_OK, p.err
    assert re.search(r"C: A\d+ LIST \(SPECIAL-USE\) \"\" \"\*\"", p.err), p.err
    assert re.search(r'C: A\d+ APPEND "Sent" \(\\Seen\) "[^"]+" \{\d+\+\}', p.err), p.err
    assert acct.run(["fetch"]).returncode == EX_OK
    p = acct.run(["--debug", "send", "--to", to.address, "--bcc", hidden.address,
                  "--subject", "two"], input="y\n")
    assert p.returncode == EX_OK, p.err
    assert not re.search(r"C: A\d+ LIST", p.err), p.err
    assert re.search(r'C: A\d+ APPEND "Sent" ', p.err), p.err
    # the message text never reaches the trace
    assert "Subject: two" not in p.err
    assert len(acct.folder("Sent")) == 2
