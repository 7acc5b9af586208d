"""`tern read ID` and `tern attachments ID` against the lab (Dovecot IMAPS and
POP3S): header-only IMAP sync then bodies fetched on demand (BODY.PEEK[],
never setting \\Seen by itself), \\Seen set after showing (or queued when the
server is unreachable and replayed by the next fetch), reading offline from
the body cache, POP3 messages read from the Maildir and marked seen there,
the account search without -a, and the exit codes.

Fixtures `lab`, `make_user` and `tern_bin` come from conftest.py. Each test
has its own lab users, config file and XDG data dir. The server side is
checked with doveadm, the index with sqlite3.
"""

import base64
import imaplib
import json
import os
import socket
import sqlite3
import subprocess
import time

import pytest

EX_OK, EX_USAGE, EX_NOINPUT, EX_TEMPFAIL = 0, 64, 66, 75
SEEN = 1

PDF_BYTES = bytes(range(256)) * 7 + b"%PDF-1.4 tail"
NOTES_TEXT = "caf\u00e9 \u2014 na\u00efve notes\n"


def plain_message(i, subject=None):
    return ("From: Sender %d <s%d@example.org>\nTo: rcpt@lab.test\nSubject: %s\n"
            "Date: Tue, 2 Jan 2024 10:00:%02d +0000\nMessage-ID: <r%d.%d@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: 8bit\n\nHello number %d, caf\u00e9.\nSecond line.\n"
            % (i, i, subject or "plain %d" % i, i % 60, i, os.getpid(), i)).encode()


def attach_message(i):
    pdf = base64.encodebytes(PDF_BYTES).decode()
    notes = NOTES_TEXT.encode("utf-8")
    qp = "".join("=%02X" % b if b > 126 or b == 61 else chr(b) for b in notes)
    return ("From: Attacher <att@example.org>\nTo: rcpt@lab.test\nSubject: with files %d\n"
            "Date: Tue, 2 Jan 2024 11:00:00 +0000\nMessage-ID: <a%d.%d@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=b\"\n\n"
            "--=b\nContent-Type: text/plain\n\nsee the two files\n"
            "--=b\nContent-Type: application/pdf; name=report.pdf\n"
            "Content-Disposition: attachment; filename=report.pdf\n"
            "Content-Transfer-Encoding: base64\n\n%s"
            "--=b\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Disposition: attachment; filename=notes.txt\n"
            "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
            "--=b--\n" % (i, i, os.getpid(), pdf, qp)).encode()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_login(lab, user):
    """Dovecot sees a new user once the users dir mtime moves: wait for it."""
    deadline = time.monotonic() + 5
    while True:
        try:
            with imaplib.IMAP4_SSL("127.0.0.1", lab.imaps_port, ssl_context=lab.ssl_context()) as c:
                c.login(user.address, user.password)
                c.logout()
            return
        except imaplib.IMAP4.error:
            assert time.monotonic() < deadline, "lab user never became valid"
            time.sleep(0.05)


class Home:
    """A config file with some accounts plus an XDG data dir."""

    def __init__(self, root, tern_bin):
        self.root = root
        self.bin = tern_bin
        self.config = root / "config"
        self.data = root / "data"
        self.accounts = {}   # name -> dict of keys, in order

    def add(self, name, lab, user, incoming="imap", port=None, **extra):
        keys = {"address": user.address, "incoming": incoming, "host": "127.0.0.1",
                "port": port or (lab.imaps_port if incoming == "imap" else lab.pop3s_port),
                "tls": "implicit", "password": user.password, "ca_file": lab.ca,
                "timeout": 10}
        keys.update(extra)
        self.accounts[name] = keys
        self.write()

    def set_port(self, name, port):
        self.accounts[name]["port"] = port
        self.write()

    def write(self):
        lines = []
        for name, keys in self.accounts.items():
            lines.append("[account %s]" % name)
            lines += ["%s = %s" % kv for kv in keys.items()]
            lines.append("")
        self.config.write_text("\n".join(lines))
        os.chmod(self.config, 0o600)

    def data_dir(self, name):
        return self.data / "tern" / name

    def env(self):
        e = dict(os.environ)
        e["XDG_DATA_HOME"] = str(self.data)
        e.pop("TERN_CONFIG", None)
        return e

    def tern(self, *args, ok=True, stdin=None):
        p = subprocess.run([self.bin, "-c", str(self.config)] + [str(a) for a in args],
                           env=self.env(), input=stdin, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if ok and p.returncode != 0:
            raise AssertionError("tern %s -> %d\n%s\n%s" % (
                " ".join(map(str, args)), p.returncode, p.stdout.decode(errors="replace"),
                p.stderr.decode(errors="replace")))
        return p

    def q(self, name, sql, *args):
        with sqlite3.connect(str(self.data_dir(name) / "index.sqlite")) as d:
            return d.execute(sql, args).fetchall()

    def msg(self, name, subject):
        """(id, uid, flags, body_path) of the message with that subject."""
        rows = self.q(name, "select id, uid, flags, body_path from messages where subject = ?",
                      subject)
        assert len(rows) == 1, rows
        return rows[0]

    def pending(self, name):
        return self.q(name, "select message_id, op, arg from pending order by id")


def server_flags(lab, user, folder="INBOX"):
    """{uid: set of flags} as Dovecot has them."""
    p = lab.doveadm("fetch", "-u", user.address, "uid flags", "mailbox", folder, "all")
    out, uid = {}, None
    for line in p.stdout.splitlines():
        if line.startswith("uid: "):
            uid = int(line[5:])
        elif line.startswith("flags:") and uid is not None:
            out[uid] = set(line[6:].split())
    return out


def read_file_json(home, raw, tmp_path, name="raw.eml"):
    path = tmp_path / name
    path.write_bytes(raw)
    return json.loads(home.tern("read", "--file", path, "--json").stdout)


@pytest.fixture
def imap_home(lab, make_user, tmp_path, tern_bin):
    user = make_user()
    wait_login(lab, user)
    home = Home(tmp_path, tern_bin)
    home.add("mail", lab, user)
    raws = {"plain 1": plain_message(1), "plain 2": plain_message(2),
            "with files 3": attach_message(3)}
    lab.put_messages(user, list(raws.values()))
    home.tern("fetch", "-a", "mail")
    return home, user, raws


# ------------------------------------------------------------------- IMAP

def test_imap_read_fetches_body_on_demand_and_marks_seen(lab, imap_home, tmp_path):
    home, user, raws = imap_home
    # header-only sync: no body is local yet, nothing is seen
    assert all(r[0] is None for r in home.q("mail", "select body_path from messages"))
    mid, uid, flags, _ = home.msg("mail", "plain 1")
    assert flags & SEEN == 0
    assert "\\Seen" not in server_flags(lab, user)[uid]

    # --no-mark: the body comes down (BODY.PEEK[]), nothing is marked anywhere
    p = home.tern("read", mid, "--json", "--no-mark")
    got = json.loads(p.stdout)
    assert got == read_file_json(home, raws["plain 1"], tmp_path)
    assert got["subject"] == "plain 1" and "caf\u00e9" in got["text"]
    _, _, flags, body = home.msg("mail", "plain 1")
    assert body and os.path.isfile(body)
    assert flags & SEEN == 0
    assert "\\Seen" not in server_flags(lab, user)[uid]
    assert home.pending("mail") == []
    with open(body, "rb") as f:
        assert f.read().replace(b"\r\n", b"\n") == raws["plain 1"]

    # a plain read: same text as --file, then \Seen on the server and locally
    p = home.tern("read", mid)
    f = tmp_path / "p1.eml"
    f.write_bytes(raws["plain 1"])
    assert p.stdout == home.tern("read", "--file", f).stdout
    assert b"Hello number 1" in p.stdout
    assert "\\Seen" in server_flags(lab, user)[uid]
    assert home.msg("mail", "plain 1")[2] & SEEN
    assert home.pending("mail") == []
    # the other messages were not touched
    other = home.msg("mail", "plain 2")
    assert "\\Seen" not in server_flags(lab, user)[other[1]] and other[3] is None

    # a first read without --no-mark fetches and marks in one go
    mid2, uid2, _, _ = home.msg("mail", "plain 2")
    got = json.loads(home.tern("read", "-a", "mail", mid2, "--json").stdout)
    assert got == read_file_json(home, raws["plain 2"], tmp_path)
    assert "\\Seen" in server_flags(lab, user)[uid2]

    # --raw gives the message as the server has it
    p = home.tern("read", mid, "--raw")
    assert p.stdout.replace(b"\r\n", b"\n") == raws["plain 1"]


def test_imap_offline_read_from_cache_and_queued_seen(lab, imap_home, tmp_path):
    home, user, raws = imap_home
    m1 = home.msg("mail", "plain 1")
    m2 = home.msg("mail", "plain 2")
    m3 = home.msg("mail", "with files 3")
    home.tern("read", m1[0], "--no-mark")   # cache 1, unread
    home.tern("read", m2[0])                # cache 2, seen
    want1 = home.tern("read", m1[0], "--json", "--no-mark").stdout

    home.set_port("mail", closed_port())    # the server is now unreachable
    # a cached, already seen message: no network needed at all
    p = home.tern("read", m2[0])
    assert b"Hello number 2" in p.stdout and p.stderr == b""
    # a cached unread one: shown, and \Seen is queued for the next fetch
    p = home.tern("read", m1[0], "--json")
    assert p.stdout == want1
    assert b"offline" in p.stderr
    assert home.msg("mail", "plain 1")[2] & SEEN
    assert home.pending("mail") == [(m1[0], 1, str(SEEN))]
    assert "\\Seen" not in server_flags(lab, user)[m1[1]]
    # not cached: the body cannot be had -> 75, and it is not marked
    p = home.tern("read", m3[0], ok=False)
    assert p.returncode == EX_TEMPFAIL, p
    assert p.stdout == b""
    assert home.msg("mail", "with files 3")[2] & SEEN == 0
    p = home.tern("attachments", m3[0], ok=False)
    assert p.returncode == EX_TEMPFAIL, p

    # back online: the next fetch replays the queue
    home.set_port("mail", lab.imaps_port)
    home.tern("fetch", "-a", "mail")
    assert home.pending("mail") == []
    srv = server_flags(lab, user)
    assert "\\Seen" in srv[m1[1]] and "\\Seen" in srv[m2[1]] and "\\Seen" not in srv[m3[1]]
    assert home.msg("mail", "plain 1")[2] & SEEN


def test_imap_attachments_by_id(lab, imap_home, tmp_path):
    home, user, raws = imap_home
    mid, uid, _, _ = home.msg("mail", "with files 3")
    lst = home.tern("attachments", mid).stdout.decode().splitlines()
    assert len(lst) == 2
    assert lst[0].split("\t") == ["1", str(len(PDF_BYTES)), "application/pdf", "report.pdf"]
    assert lst[1].split("\t")[2:] == ["text/plain", "notes.txt"]
    # same as --file on the same raw message: the body as the server sent
    # it (CRLF), which the cache keeps byte for byte
    body = home.msg("mail", "with files 3")[3]
    with open(body, "rb") as fh:
        cached = fh.read()
    assert cached.replace(b"\r\n", b"\n") == raws["with files 3"]
    f = tmp_path / "att.eml"
    f.write_bytes(cached)
    assert home.tern("attachments", "--file", f, "--json").stdout == \
        home.tern("attachments", mid, "--json").stdout

    out = tmp_path / "saved"
    out.mkdir()
    p = home.tern("attachments", mid, "--save", out, "--json")
    saved = json.loads(p.stdout)
    assert [a["filename"] for a in saved] == ["report.pdf", "notes.txt"]
    assert (out / "report.pdf").read_bytes() == PDF_BYTES
    # a text part keeps the line ends of the message it came from (CRLF here)
    assert (out / "notes.txt").read_bytes().replace(b"\r\n", b"\n") == \
        NOTES_TEXT.encode("utf-8")
    assert saved[0]["path"] == str(out / "report.pdf")
    # listing or saving attachments is not reading: nothing marked
    assert "\\Seen" not in server_flags(lab, user)[uid]
    assert home.msg("mail", "with files 3")[2] & SEEN == 0


def test_imap_unknown_and_bad_ids(lab, imap_home):
    home, _, _ = imap_home
    p = home.tern("read", "999999", ok=False)
    assert p.returncode == EX_NOINPUT and b"999999" in p.stderr and p.stdout == b""
    p = home.tern("attachments", "-a", "mail", "999999", ok=False)
    assert p.returncode == EX_NOINPUT and b"999999" in p.stderr
    for bad in ("abc", "0", "-5x", "99999999999999999999999"):
        assert home.tern("read", bad, ok=False).returncode == EX_USAGE
    assert home.tern("read", "1", "2", ok=False).returncode == EX_USAGE
    assert home.tern("read", "-a", "nosuch", "1", ok=False).returncode == EX_USAGE
    assert home.tern("read", "1", "--file", "/dev/null", ok=False).returncode == EX_USAGE


# ------------------------------------------------------------------- POP3

def maildir_names(md):
    return {sub: sorted(os.listdir(os.path.join(md, sub))) for sub in ("new", "cur")}


def test_pop3_read_from_maildir_marks_seen_locally(lab, make_user, tmp_path, tern_bin):
    user = make_user()
    wait_login(lab, user)
    home = Home(tmp_path, tern_bin)
    home.add("pop", lab, user, incoming="pop3")
    raws = [plain_message(10), plain_message(11), attach_message(12)]
    lab.put_messages(user, raws)
    home.tern("fetch", "-a", "pop")
    md = home.data_dir("pop") / "Maildir"
    assert len(maildir_names(md)["new"]) == 3
    m10 = home.msg("pop", "plain 10")
    m11 = home.msg("pop", "plain 11")

    # reading needs no server: point the account at a closed port
    home.set_port("pop", closed_port())
    got = json.loads(home.tern("read", m10[0], "--json").stdout)
    assert got == read_file_json(home, raws[0], tmp_path)
    # marked seen: index flag and the Maildir name (cur/...:2,S)
    assert home.msg("pop", "plain 10")[2] & SEEN
    names = maildir_names(md)
    base = os.path.basename(m10[3])
    assert base + ":2,S" in names["cur"] and base not in names["new"]
    assert home.pending("pop") == []
    # read again from its new place
    p = home.tern("read", m10[0], "--raw")
    assert p.stdout == raws[0]

    # --no-mark leaves the file in new/ and the flag unset
    home.tern("read", m11[0], "--no-mark")
    assert os.path.basename(m11[3]) in maildir_names(md)["new"]
    assert home.msg("pop", "plain 11")[2] & SEEN == 0

    # attachments by ID from the Maildir
    m12 = home.msg("pop", "with files 12")
    out = tmp_path / "out"
    out.mkdir()
    home.tern("attachments", m12[0], "--save", out)
    assert (out / "report.pdf").read_bytes() == PDF_BYTES
    assert home.msg("pop", "with files 12")[2] & SEEN == 0

    # unknown ID
    p = home.tern("read", "4242", ok=False)
    assert p.returncode == EX_NOINPUT and b"4242" in p.stderr
    # the file vanished from the Maildir: also 66, with a clear message
    os.unlink(md / "new" / os.path.basename(m11[3]))
    p = home.tern("read", m11[0], ok=False)
    assert p.returncode == EX_NOINPUT and b"Maildir" in p.stderr


def test_id_search_across_accounts(lab, make_user, tmp_path, tern_bin):
    """Without -a: the default account first, then the only other account
    holding the ID; several holding it is ambiguous (64, naming them)."""
    users = [make_user() for _ in range(3)]
    for u in users:
        wait_login(lab, u)
    home = Home(tmp_path, tern_bin)
    for name, u, n in (("first", users[0], 1), ("second", users[1], 3), ("third", users[2], 2)):
        home.add(name, lab, u, incoming="pop3")
        lab.put_messages(u, [plain_message(100 * n + i, subject="%s %d" % (name, i))
                             for i in range(n)])
        home.tern("fetch", "-a", name)
    # ID 1: in all three; the default (first) wins
    assert json.loads(home.tern("read", "1", "--json", "--no-mark").stdout)["subject"] == "first 0"
    # ID 3: only in "second"
    assert json.loads(home.tern("read", "3", "--json", "--no-mark").stdout)["subject"] == \
        "second 2"
    # ID 2: in second and third, not in the default
    p = home.tern("read", "2", ok=False)
    assert p.returncode == EX_USAGE
    assert b"second" in p.stderr and b"third" in p.stderr and b"-a" in p.stderr
    assert json.loads(home.tern("read", "-a", "third", "2", "--json").stdout)["subject"] == \
        "third 1"
    assert home.msg("third", "third 1")[2] & SEEN
    assert home.msg("second", "second 1")[2] & SEEN == 0
    # ID 4: nowhere; the error names the accounts searched
    p = home.tern("read", "4", ok=False)
    assert p.returncode == EX_NOINPUT
    assert all(n in p.stderr for n in (b"first", b"second", b"third"))
    p = home.tern("read", "-a", "first", "3", ok=False)
    assert p.returncode == EX_NOINPUT and b"first" in p.stderr
