"""Integration tests for the IMAP driver (core/imap) and the commands on it
(tern fetch, folders, flag, move, delete) against the lab's real Dovecot
over IMAPS (CONDSTORE, QRESYNC, MOVE, SPECIAL-USE, LIST-STATUS).

The `lab` fixture comes from tests/integration/conftest.py (TERN_LAB_DIR
names a running lab to reuse). Every test makes its own lab user and its own
data directory, so tests are independent.
The index is checked with python's sqlite3; the server side with doveadm.
Bodies are fetched with build/core/imap/imap-tool (the driver's fetch_body,
without the CLI).

tern is $TERN_BIN (default build/tern); imap-tool sits next to it in
<build>/core/imap/imap-tool.
"""

import imaplib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

def tern_bin():
    return os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")


def imap_tool():
    return os.path.join(os.path.dirname(tern_bin()), "core", "imap", "imap-tool")


_users = itertools.count(1)

SEEN, ANSWERED, FLAGGED, DELETED = 1, 2, 4, 8


def make_message(i, attach=False, subject=None):
    subj = subject or "message %d" % i
    head = ("From: Sender %d <s%d@example.org>\nTo: rcpt@lab.test\nSubject: %s\n"
            "Date: Tue, 2 Jan 2024 10:%02d:%02d +0000\nMessage-ID: <m%d.%d@example.org>\n"
            % (i, i, subj, (i // 60) % 60, i % 60, i, os.getpid()))
    if not attach:
        return (head + "\nbody of %d\n" % i).encode()
    return (head + "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: text/plain\n\nsee attached\n--b\n"
            "Content-Type: application/pdf; name=a.pdf\nContent-Disposition: attachment; "
            "filename=a.pdf\nContent-Transfer-Encoding: base64\n\nJVBERi0=\n--b--\n").encode()


class Account:
    """A lab user plus a tern config and data dir for it."""

    def __init__(self, lab, tmp_path, folders=None, offline=False):
        self.lab = lab
        self.name = "imapt%d_%d" % (os.getpid(), next(_users))
        self.user = lab.add_user(self.name, "pw-" + self.name)
        # Dovecot notices a changed users file only when its mtime moves
        # (one-second steps): wait until the new user can log in.
        deadline = time.monotonic() + 5
        while not self.can_login():
            assert time.monotonic() < deadline, "lab user never became valid"
            time.sleep(0.05)
        self.tmp = tmp_path
        self.xdg = tmp_path / "xdg"
        self.config = tmp_path / "config"
        self.folders = folders
        self.offline = offline
        self.write_config(lab.imaps_port)

    def can_login(self):
        try:
            with imaplib.IMAP4_SSL("127.0.0.1", self.lab.imaps_port,
                                   ssl_context=self.lab.ssl_context()) as c:
                c.login(self.user.address, self.user.password)
                c.logout()
            return True
        except imaplib.IMAP4.error:
            return False

    def write_config(self, port):
        lines = ["[account %s]" % self.name, "address = %s" % self.user.address,
                 "incoming = imap", "host = 127.0.0.1", "port = %d" % port,
                 "tls = implicit", "password = %s" % self.user.password,
                 "ca_file = %s" % self.lab.ca, "timeout = 10"]
        if self.folders:
            lines.append("folders = %s" % ", ".join(self.folders))
        if self.offline:
            lines.append("offline = yes")
        self.config.write_text("\n".join(lines) + "\n")
        os.chmod(self.config, 0o600)

    @property
    def data_dir(self):
        return self.xdg / "tern" / self.name

    def env(self):
        e = dict(os.environ)
        e["XDG_DATA_HOME"] = str(self.xdg)
        e.pop("TERN_CONFIG", None)
        return e

    def tern(self, *args, check=True, timeout=120):
        p = subprocess.run([tern_bin(), "-c", str(self.config)] + list(args), env=self.env(),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("tern %s -> %d\n%s\n%s" % (" ".join(args), p.returncode,
                                                            p.stdout.decode(), p.stderr.decode()))
        return p

    def fetch(self, *extra, **kw):
        return self.tern("fetch", "-a", self.name, *extra, **kw)

    def tool(self, *args, check=True):
        p = subprocess.run([imap_tool(), str(self.config), self.name] + list(args),
                           env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=120)
        if check and p.returncode != 0:
            raise AssertionError("imap-tool %s -> %d\n%s" % (args, p.returncode,
                                                             p.stderr.decode()))
        return p

    def db(self):
        return sqlite3.connect(str(self.data_dir / "index.sqlite"))

    def q(self, sql, *args):
        with self.db() as d:
            return d.execute(sql, args).fetchall()

    def folder_id(self, name):
        r = self.q("select id from folders where name = ?", name)
        return r[0][0] if r else None

    def msgs(self, folder="INBOX"):
        """{uid: (id, flags, subject)} for one folder."""
        fid = self.folder_id(folder)
        return {u: (i, f, s) for i, u, f, s in
                self.q("select id, uid, flags, subject from messages where folder_id = ?", fid)}

    def put(self, raws, folder="INBOX", flags=""):
        return self.lab.put_messages(self.user, raws, folder=folder, flags=flags)

    def doveadm(self, *args, check=True, input=None):
        return self.lab.doveadm(*args, check=check, input=input)

    def server_flags(self, folder="INBOX"):
        """{uid: set of flags} as Dovecot has them."""
        p = self.doveadm("fetch", "-u", self.user.address, "uid flags", "mailbox", folder, "all")
        out, uid = {}, None
        for line in p.stdout.splitlines():
            if line.startswith("uid: "):
                uid = int(line[5:])
            elif line.startswith("flags:") and uid is not None:
                out[uid] = set(line[6:].split())
        return out

    def server_uids(self, folder="INBOX"):
        return sorted(self.server_flags(folder))


@pytest.fixture
def acct(lab, tmp_path):
    return Account(lab, tmp_path)


def trace_commands(stderr):
    """IMAP commands tern sent after login (from the --debug trace)."""
    return re.findall(r"C: A[1-9]\d* (.*)", stderr.decode(errors="replace"))


# --------------------------------------------------------------------------

def test_first_sync_and_no_change_resync(acct):
    n = 3000
    acct.put([make_message(i, attach=(i % 100 == 0)) for i in range(n)])
    t0 = time.monotonic()
    p = acct.fetch()
    secs = time.monotonic() - t0
    assert b"%d new" % n in p.stdout
    rows = acct.q("select uid, subject, from_addr, has_attachments, size, internaldate "
                  "from messages order by uid")
    assert len(rows) == n
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert rows[0][1] == "message 0" and rows[0][2] == "s0@example.org"
    assert sum(r[3] for r in rows) == n // 100            # from BODYSTRUCTURE
    assert all(r[4] > 0 and r[5] is not None for r in rows)
    inbox = acct.q("select uidvalidity, uidnext, highestmodseq from folders where name='INBOX'")[0]
    assert inbox[0] > 0 and inbox[1] == n + 1 and inbox[2] > 0
    # nothing changed: one burst (ENABLE + LIST-STATUS) and LOGOUT, no SELECT
    p = acct.tern("--debug", "fetch", "-a", acct.name)
    cmds = trace_commands(p.stderr)
    assert not any(c.startswith("SELECT") for c in cmds), cmds
    assert len(cmds) <= 3, cmds
    assert len(acct.q("select id from messages")) == n
    print("first sync of %d messages: %.2fs" % (n, secs))


def test_other_client_changes_show_up(acct):
    acct.put([make_message(i) for i in range(50)])
    acct.fetch()
    before = acct.msgs()
    u = acct.user.address
    acct.doveadm("flags", "add", "-u", u, "\\Flagged \\Seen", "mailbox", "INBOX", "uid", "5")
    acct.doveadm("flags", "add", "-u", u, "\\Answered", "mailbox", "INBOX", "uid", "6")
    acct.doveadm("expunge", "-u", u, "mailbox", "INBOX", "uid", "7:9")
    acct.put([make_message(1000, subject="late arrival")])
    acct.fetch()
    after = acct.msgs()
    assert after[5][1] == FLAGGED | SEEN and after[6][1] == ANSWERED
    assert 7 not in after and 8 not in after and 9 not in after
    assert after[51][2] == "late arrival"
    assert len(after) == 50 - 3 + 1
    # ids are stable across syncs
    assert all(after[u][0] == before[u][0] for u in after if u in before)
    # a flag removed elsewhere comes back too
    acct.doveadm("flags", "remove", "-u", u, "\\Flagged", "mailbox", "INBOX", "uid", "5")
    acct.fetch()
    assert acct.msgs()[5][1] == SEEN


def test_flag_in_tern_reaches_server(acct):
    acct.put([make_message(i) for i in range(5)])
    acct.fetch()
    m = acct.msgs()
    acct.tern("flag", "-a", acct.name, str(m[2][0]), str(m[3][0]), "+seen", "+flagged")
    srv = acct.server_flags()
    assert {"\\Seen", "\\Flagged"} <= srv[2] and {"\\Seen", "\\Flagged"} <= srv[3]
    assert "\\Seen" not in srv[1]
    acct.tern("flag", "-a", acct.name, str(m[2][0]), "-flagged", "+answered")
    srv = acct.server_flags()
    assert srv[2] == {"\\Seen", "\\Answered"}
    assert acct.msgs()[2][1] == SEEN | ANSWERED
    assert acct.q("select count(*) from pending")[0][0] == 0
    # bad input is a usage error, nothing changes
    p = acct.tern("flag", "-a", acct.name, str(m[1][0]), "+bogus", check=False)
    assert p.returncode == 64
    p = acct.tern("flag", "-a", acct.name, "999999", "+seen", check=False)
    assert p.returncode != 0


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_offline_changes_replay(acct):
    acct.put([make_message(i) for i in range(10)])
    acct.fetch()
    m = acct.msgs()
    acct.write_config(closed_port())              # "offline"
    p = acct.tern("flag", "-a", acct.name, str(m[1][0]), "+flagged")
    assert b"queued" in p.stderr
    p = acct.tern("move", "-a", acct.name, str(m[2][0]), "Archive")
    assert b"queued" in p.stderr
    acct.tern("flag", "-a", acct.name, str(m[3][0]), "+seen")
    acct.tern("delete", "-a", acct.name, "--expunge", str(m[4][0]))
    assert acct.q("select count(*) from pending")[0][0] == 4
    assert acct.msgs()[1][1] == FLAGGED                # visible locally at once
    srv = acct.server_flags()
    assert "\\Flagged" not in srv[1] and 2 in srv and 4 in srv
    # meanwhile another client expunges message 3: its queued change is dropped
    acct.doveadm("expunge", "-u", acct.user.address, "mailbox", "INBOX", "uid", "3")
    p = acct.fetch(check=False)
    assert p.returncode == 75                          # still offline
    acct.write_config(acct.lab.imaps_port)
    acct.fetch()
    srv = acct.server_flags()
    assert "\\Flagged" in srv[1]
    assert 2 not in srv and 3 not in srv and 4 not in srv
    archive = acct.server_flags("Archive")
    assert len(archive) == 1
    assert acct.q("select count(*) from pending")[0][0] == 0
    # the moved message kept its id, now in Archive under its new UID
    arch = acct.msgs("Archive")
    assert [v[0] for v in arch.values()] == [m[2][0]]
    assert 3 not in acct.msgs() and 4 not in acct.msgs()


def test_move_and_delete(acct):
    acct.put([make_message(i) for i in range(6)])
    acct.fetch()
    m = acct.msgs()
    acct.tern("move", "-a", acct.name, str(m[1][0]), str(m[2][0]), "Archive")
    assert sorted(acct.server_uids()) == [3, 4, 5, 6]
    assert len(acct.server_uids("Archive")) == 2
    assert sorted(v[0] for v in acct.msgs("Archive").values()) == sorted([m[1][0], m[2][0]])
    acct.tern("delete", "-a", acct.name, str(m[3][0]))
    assert len(acct.server_uids("Trash")) == 1 and 3 not in acct.server_uids()
    trash_id = list(acct.msgs("Trash").values())[0][0]
    assert trash_id == m[3][0]
    # deleting from Trash removes it for good
    acct.tern("delete", "-a", acct.name, str(trash_id))
    assert acct.server_uids("Trash") == []
    acct.tern("delete", "-a", acct.name, "--expunge", str(m[4][0]))
    assert acct.server_uids() == [5, 6]
    p = acct.tern("move", "-a", acct.name, str(m[5][0]), "NoSuchFolder", check=False)
    assert p.returncode == 66
    acct.fetch()
    assert sorted(acct.msgs()) == [5, 6]


def test_body_fetch_peeks_and_caches(acct):
    raw = make_message(7, attach=True)
    acct.put([raw])
    acct.fetch()
    mid = acct.msgs()[1][0]
    path = acct.tool("body", str(mid)).stdout.decode().strip()
    data = open(path, "rb").read()
    assert data.replace(b"\r\n", b"\n") == raw
    assert re.search(r"/cache/\d+/\d+/1$", path)        # numbers only
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert "\\Seen" not in acct.server_flags()[1]      # BODY.PEEK
    assert acct.q("select body_path from messages where id=?", mid)[0][0] == path
    # cached: a second fetch needs no server (offline works)
    acct.write_config(closed_port())
    assert acct.tool("body", str(mid)).stdout.decode().strip() == path
    # unknown id
    assert acct.tool("body", "424242", check=False).returncode != 0


def test_uidvalidity_change_drops_stale_cache(lab, tmp_path):
    acct = Account(lab, tmp_path, folders=["INBOX", "Work"])
    acct.put([make_message(i) for i in range(3)])
    acct.put([make_message(100 + i) for i in range(4)], folder="Work")
    acct.fetch()
    work = acct.msgs("Work")
    assert len(work) == 4
    old_ids = sorted(v[0] for v in work.values())
    path = acct.tool("body", str(old_ids[0])).stdout.decode().strip()
    assert os.path.exists(path)
    old_validity = acct.q("select uidvalidity from folders where name='Work'")[0][0]
    # queue a change for a Work message while offline
    acct.write_config(closed_port())
    acct.tern("flag", "-a", acct.name, str(old_ids[1]), "+flagged")
    acct.write_config(lab.imaps_port)
    u = acct.user.address
    acct.doveadm("mailbox", "delete", "-u", u, "Work")
    acct.doveadm("mailbox", "create", "-s", "-u", u, "Work")
    acct.put([make_message(200 + i, subject="fresh %d" % i) for i in range(2)], folder="Work")
    new_validity = int(re.search(r"uidvalidity=(\d+)", acct.doveadm(
        "mailbox", "status", "-u", u, "uidvalidity", "Work").stdout).group(1))
    assert new_validity != old_validity
    acct.fetch()
    work = acct.msgs("Work")
    assert sorted(v[2] for v in work.values()) == ["fresh 0", "fresh 1"]
    assert not set(v[0] for v in work.values()) & set(old_ids)
    assert acct.q("select uidvalidity from folders where name='Work'")[0][0] == new_validity
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    assert acct.q("select count(*) from pending")[0][0] == 0
    assert all("\\Flagged" not in f for f in acct.server_flags("Work").values())
    assert len(acct.msgs()) == 3


def test_kill9_mid_sync_then_resume(acct):
    n = 12000
    acct.put([make_message(i) for i in range(n)])
    env = acct.env()
    proc = subprocess.Popen([tern_bin(), "-c", str(acct.config), "fetch", "-a", acct.name],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = acct.data_dir / "index.sqlite"
    killed_at = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(str(db), timeout=0.05) as d:
                    c = d.execute("select count(*) from messages").fetchone()[0]
            except sqlite3.Error:
                c = 0
            if c > 0:
                os.kill(proc.pid, signal.SIGKILL)
                killed_at = c
                break
        time.sleep(0.002)
    proc.wait()
    assert killed_at is not None, "sync finished before it could be killed"
    with acct.db() as d:
        assert d.execute("pragma integrity_check").fetchone()[0] == "ok"
        part = d.execute("select count(*) from messages").fetchone()[0]
        wm = d.execute("select uidnext from folders where name='INBOX'").fetchone()[0]
    assert 0 < part < n
    # committed in bounded transactions; every UID below the watermark
    # (index_folder.uidnext) is there, rows above it may be too (Dovecot
    # answers pipelined FETCHes in parallel), nothing is half-stored
    have = {r[0] for r in acct.q("select uid from messages")}
    assert set(range(1, max(wm, 1))) <= have
    assert acct.q("select count(*) from messages where subject is null")[0][0] == 0
    acct.fetch()
    rows = acct.q("select uid from messages order by uid")
    assert [r[0] for r in rows] == list(range(1, n + 1))
    assert acct.q("select count(distinct message_id) from messages")[0][0] == n


def test_folders_listing(acct):
    u = acct.user.address
    acct.doveadm("mailbox", "create", "-s", "-u", u, "Entwürfe")
    acct.doveadm("mailbox", "create", "-u", u, "Unsubscribed")
    acct.put([make_message(i) for i in range(4)])
    acct.doveadm("save", "-u", u, "-m", "Entwürfe", input=make_message(10))
    acct.fetch()
    acct.tern("flag", "-a", acct.name, str(acct.msgs()[1][0]), "+seen")
    p = acct.tern("folders", "-a", acct.name, "--json")
    fl = {f["name"]: f for f in json.loads(p.stdout)}
    assert fl["INBOX"]["total"] == 4 and fl["INBOX"]["unread"] == 3
    assert fl["Entwürfe"]["total"] == 1 and fl["Entwürfe"]["subscribed"]
    assert fl["Trash"]["special_use"] == "trash" and fl["Sent"]["special_use"] == "sent"
    assert fl["Unsubscribed"]["subscribed"] is False
    assert list(fl)[0] == "INBOX"
    raw = acct.q("select remote_name from folders where name='Entwürfe'")[0][0]
    assert raw == "Entw&APw-rfe"
    p = acct.tern("folders", "-a", acct.name)
    assert p.stdout.decode().splitlines()[0].startswith("INBOX")
    # a folder deleted on the server disappears
    acct.doveadm("mailbox", "delete", "-u", u, "Unsubscribed")
    fl = {f["name"] for f in json.loads(acct.tern("folders", "-a", acct.name, "--json").stdout)}
    assert "Unsubscribed" not in fl
    # offline: the last known list, with a note
    acct.write_config(closed_port())
    p = acct.tern("folders", "-a", acct.name)
    assert b"offline" in p.stderr and b"INBOX" in p.stdout


def test_configured_folders_and_offline_prefetch(lab, tmp_path):
    acct = Account(lab, tmp_path, folders=["Work"], offline=True)
    acct.put([make_message(i) for i in range(3)])
    acct.put([make_message(100 + i) for i in range(5)], folder="Work")
    acct.fetch()
    assert len(acct.msgs("Work")) == 5
    assert acct.msgs("INBOX") == {}                  # not configured
    paths = [r[0] for r in acct.q("select body_path from messages")]
    assert len(paths) == 5 and all(p and os.path.exists(p) for p in paths)
    assert all("\\Seen" not in f for f in acct.server_flags("Work").values())
    # a folder name that does not exist is reported, the rest still syncs
    acct.folders = ["Work", "Nope"]
    acct.write_config(lab.imaps_port)
    acct.put([make_message(200)], folder="Work")
    p = acct.fetch(check=False)
    assert p.returncode != 0 and b"Nope" in p.stderr
    assert len(acct.msgs("Work")) == 6
