"""Issue 5 audit: the IMAP header-only sync items that test_imap.py and
test_read_id.py did not cover (see tests/COVERAGE-imap.md):

  - a new delivery through the lab's SMTP submission shows after a sync, and
    `tern list` on the synced index (exact JSON fields, -f, -n, --unread,
    --search, ids = index ids)
  - `folders =` unset: every subscribed folder, INBOX selected first, an
    unsubscribed folder left alone
  - move and delete on a server without MOVE (RFC 6851): UID COPY, then
    STORE \\Deleted and UID EXPUNGE of exactly those UIDs; ids kept
  - an index written with the frozen version-1 schema is opened (migrated
    to the current version) and resynced without refetching headers or
    losing cached bodies
  - text attachments get the same LF bytes via IMAP (CRLF cache) and POP3
    (LF Maildir); base64 parts stay byte-exact; the cache itself untouched
  - `tern fetch --bodies` prefetches bodies without setting \\Seen

Server without MOVE: Dovecot behind a small TLS proxy (NoMoveProxy) that
drops MOVE from every CAPABILITY it passes on and answers a MOVE command
with BAD itself, so a MOVE cannot slip through. It logs the commands.
"""

import base64
import json
import os
import re
import select
import smtplib
import socket
import sqlite3
import ssl
import threading
import time
import uuid

import pytest

from test_imap import Account, closed_port, make_message, trace_commands
from test_read_id import Home, wait_login

SEEN, ANSWERED, FLAGGED = 1, 2, 4
LIST_FIELDS = {"id", "account", "folder", "uid", "date", "from", "to", "subject", "flags",
               "size", "has_attachments", "message_id"}


@pytest.fixture
def acct(lab, tmp_path):
    return Account(lab, tmp_path)


def list_json(acct, *args):
    return json.loads(acct.tern("list", "-a", acct.name, "--json", *args).stdout)


# ------------------------------------------------- delivery via SMTP, list

def test_smtp_delivery_shows_after_sync_and_list(acct, lab):
    acct.put([make_message(i) for i in range(5)])
    acct.fetch()
    token = uuid.uuid4().hex
    msg = ("From: Far Away <far@example.net>\r\nTo: %s\r\nSubject: via smtp %s\r\n"
           "Date: Wed, 3 Jan 2024 09:00:00 +0000\r\nMessage-ID: <%s@example.net>\r\n"
           "\r\ndelivered by postfix\r\n" % (acct.user.address, token, token))
    with smtplib.SMTP("127.0.0.1", lab.smtp_port, timeout=20) as s:
        s.starttls(context=lab.ssl_context())
        s.login(acct.user.address, acct.user.password)
        s.sendmail("far@example.net", [acct.user.address], msg.encode())
    lab.wait_for_messages(acct.user, count=1, match=token)
    p = acct.fetch()
    assert b"1 new" in p.stdout
    got = [v for v in acct.msgs().values() if v[2] == "via smtp " + token]
    assert len(got) == 1
    new_id = got[0][0]

    # tern list on what the sync stored: exactly the documented fields
    rows = list_json(acct)
    assert len(rows) == 6
    assert all(set(r) == LIST_FIELDS for r in rows)
    index_ids = {v[0]: u for u, v in acct.msgs().items()}
    assert {r["id"]: r["uid"] for r in rows} == index_ids
    top = rows[0]                                   # newest first: the 2024-01-03 one
    assert top["id"] == new_id and top["account"] == acct.name and top["folder"] == "INBOX"
    assert top["from"] == "Far Away <far@example.net>"
    assert top["to"] == acct.user.address and top["message_id"] == token + "@example.net"
    assert top["date"] == "2024-01-03T09:00:00Z" and top["flags"] == []
    assert top["size"] > 0 and top["has_attachments"] is False
    assert [r["id"] for r in list_json(acct, "-n", "2")] == [r["id"] for r in rows[:2]]
    assert [r["id"] for r in list_json(acct, "--search", token)] == [new_id]
    assert list_json(acct, "-f", "Trash") == []
    acct.tern("flag", "-a", acct.name, str(new_id), "+seen")
    unread = list_json(acct, "--unread")
    assert len(unread) == 5 and new_id not in [r["id"] for r in unread]
    new_uid = index_ids[new_id]
    assert "\\Seen" in acct.server_flags()[new_uid]
    acct.tern("flag", "-a", acct.name, str(new_id), "-seen")
    assert "\\Seen" not in acct.server_flags()[new_uid]
    assert len(list_json(acct, "--unread")) == 6
    # offline: the same listing from the index alone
    acct.write_config(closed_port())
    assert [r["id"] for r in list_json(acct)] == [r["id"] for r in rows]
    text = acct.tern("list", "-a", acct.name).stdout.decode()
    assert len(text.splitlines()) == 6 and ("via smtp " + token) in text.splitlines()[0]


# ------------------------------------------------- folders = (default)

def test_default_folders_all_subscribed_inbox_first(acct):
    u = acct.user.address
    acct.doveadm("mailbox", "create", "-s", "-u", u, "Alpha")   # sorts before INBOX
    acct.doveadm("mailbox", "create", "-u", u, "Hidden")        # not subscribed
    acct.put([make_message(i) for i in range(2)], folder="Alpha")
    acct.doveadm("save", "-u", u, "-m", "Hidden", input=make_message(50))
    acct.put([make_message(100 + i) for i in range(3)])
    p = acct.tern("--debug", "fetch", "-a", acct.name)
    selects = [c for c in trace_commands(p.stderr) if re.match(r"(SELECT|EXAMINE) ", c)]
    assert selects and selects[0].split()[1].strip('"') == "INBOX", selects
    assert any('"Alpha"' in c for c in selects[1:]), selects
    assert not any("Hidden" in c for c in selects), selects
    assert len(acct.msgs("INBOX")) == 3 and len(acct.msgs("Alpha")) == 2
    assert acct.msgs("Hidden") == {}
    # subscribing it later brings it in at the next sync
    acct.doveadm("mailbox", "subscribe", "-u", u, "Hidden")
    acct.fetch()
    assert len(acct.msgs("Hidden")) == 1


# ------------------------------------------------- a server without MOVE

class NoMoveProxy:
    """TLS in front of the lab's Dovecot IMAPS without the MOVE extension."""

    def __init__(self, lab):
        self.lab = lab
        self.commands = []
        self.srv_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.srv_ctx.load_cert_chain(lab.info["LAB_CERT_SERVER"], lab.info["LAB_KEY_SERVER"])
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.stopping = True
        self.listener.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            c = self.srv_ctx.wrap_socket(conn, server_side=True)
            s = self.lab.ssl_context().wrap_socket(
                socket.create_connection(("127.0.0.1", self.lab.imaps_port)),
                server_hostname="127.0.0.1")
        except (OSError, ssl.SSLError):
            conn.close()
            return
        try:
            self._pump(c, s)
        except (OSError, ssl.SSLError):
            pass
        finally:
            c.close()
            s.close()

    @staticmethod
    def _send(sock, data):
        sock.setblocking(True)
        sock.sendall(data)
        sock.setblocking(False)

    def _pump(self, c, s):
        buf = {c: b"", s: b""}
        raw = {c: 0, s: 0}            # literal bytes still to pass through
        for x in (c, s):
            x.setblocking(False)
        while True:
            ready = [x for x in (c, s) if x.pending()]
            if not ready:
                ready, _, _ = select.select([c, s], [], [], 60)
                if not ready:
                    return
            for x in ready:
                try:
                    data = x.recv(65536)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    continue
                if not data:
                    return
                buf[x] += data
                self._lines(x, c if x is s else s, buf, raw, from_client=x is c)

    def _lines(self, x, other, buf, raw, from_client):
        out = b""
        while buf[x]:
            if raw[x]:
                n = min(raw[x], len(buf[x]))
                out += buf[x][:n]
                buf[x] = buf[x][n:]
                raw[x] -= n
                continue
            i = buf[x].find(b"\n")
            if i < 0:
                break
            line, buf[x] = buf[x][:i + 1], buf[x][i + 1:]
            m = re.search(rb"\{(\d+)\+?\}\r?\n$", line)
            if m:
                raw[x] = int(m.group(1))
            if from_client:
                self.commands.append(line.decode(errors="replace").rstrip("\r\n"))
                mv = re.match(rb"(\S+) (?:UID )?MOVE ", line, re.I)
                if mv:
                    self._send(x, mv.group(1) + b" BAD MOVE is not offered here\r\n")
                    continue
            elif b"CAPABILITY" in line.upper():
                line = re.sub(rb" MOVE(?=[ \]\r\n])", b"", line, flags=re.I)
            out += line
        if out:
            self._send(other, out)


@pytest.fixture
def nomove(lab):
    p = NoMoveProxy(lab)
    yield p
    p.stop()


def test_move_and_delete_without_move_capability(acct, nomove):
    acct.put([make_message(i) for i in range(6)])
    acct.write_config(nomove.port)
    acct.fetch()
    assert any("UID FETCH" in c for c in nomove.commands), "tern went through the proxy"
    m = acct.msgs()
    u = acct.user.address
    # another client marked uid 6 \Deleted without expunging: tern's UID
    # EXPUNGE must not take it along
    acct.doveadm("flags", "add", "-u", u, "\\Deleted", "mailbox", "INBOX", "uid", "6")
    nomove.commands.clear()
    acct.tern("move", "-a", acct.name, str(m[1][0]), str(m[2][0]), "Archive")
    cmds = [re.sub(r"^\S+ ", "", c) for c in nomove.commands]
    assert not any(re.match(r"(UID )?MOVE ", c, re.I) for c in cmds), cmds
    copy = [i for i, c in enumerate(cmds) if re.match(r"UID COPY 1:2 \"?Archive\"? *$", c)]
    store = [i for i, c in enumerate(cmds)
             if re.match(r"UID STORE 1:2 \+FLAGS(\.SILENT)? \(\\Deleted\)", c)]
    expunge = [i for i, c in enumerate(cmds) if c == "UID EXPUNGE 1:2"]
    assert copy and store and expunge and copy[0] < store[0] < expunge[0], cmds
    assert acct.server_uids() == [3, 4, 5, 6]            # 6 (\Deleted by others) kept
    arch = acct.server_flags("Archive")
    assert len(arch) == 2 and all("\\Deleted" not in f for f in arch.values())
    assert sorted(v[0] for v in acct.msgs("Archive").values()) == sorted([m[1][0], m[2][0]])
    assert 1 not in acct.msgs() and 2 not in acct.msgs()

    # delete goes to Trash the same way, keeping its id
    nomove.commands.clear()
    acct.tern("delete", "-a", acct.name, str(m[3][0]))
    cmds = [re.sub(r"^\S+ ", "", c) for c in nomove.commands]
    assert any(re.match(r"UID COPY 3 \"?Trash\"?", c) for c in cmds), cmds
    assert "UID EXPUNGE 3" in cmds and not any("MOVE" in c.upper() for c in cmds), cmds
    assert acct.server_uids() == [4, 5, 6] and len(acct.server_uids("Trash")) == 1
    assert [v[0] for v in acct.msgs("Trash").values()] == [m[3][0]]
    # --expunge: no copy at all
    nomove.commands.clear()
    acct.tern("delete", "-a", acct.name, "--expunge", str(m[4][0]))
    cmds = [re.sub(r"^\S+ ", "", c) for c in nomove.commands]
    assert not any("COPY" in c for c in cmds) and "UID EXPUNGE 4" in cmds, cmds
    assert acct.server_uids() == [5, 6] and len(acct.server_uids("Trash")) == 1
    acct.fetch()
    assert acct.q("select count(*) from pending")[0][0] == 0


# ------------------------------------------------- index format version 1

# The version-1 schema exactly as tern 1 released it (core/index/index.c
# schema_v1). Frozen here on purpose: a later version must still open and
# migrate a file made with it.
SCHEMA_V1 = """
PRAGMA application_id = 1952805486;
CREATE TABLE folders (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, remote_name TEXT, delim TEXT,
  special_use TEXT, subscribed INTEGER NOT NULL DEFAULT 1,
  uidvalidity INTEGER NOT NULL DEFAULT 0, uidnext INTEGER NOT NULL DEFAULT 0,
  highestmodseq INTEGER NOT NULL DEFAULT 0, last_sync INTEGER NOT NULL DEFAULT 0);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  folder_id INTEGER NOT NULL REFERENCES folders(id) ON DELETE CASCADE,
  uid INTEGER NOT NULL, flags INTEGER NOT NULL DEFAULT 0, keywords TEXT, date INTEGER,
  internaldate INTEGER, size INTEGER NOT NULL DEFAULT 0, from_name TEXT, from_addr TEXT,
  to_text TEXT, cc_text TEXT, subject TEXT, message_id TEXT, in_reply_to TEXT,
  references_ TEXT, list_id TEXT, has_attachments INTEGER NOT NULL DEFAULT 0,
  body_path TEXT, UNIQUE (folder_id, uid));
CREATE INDEX messages_folder_date ON messages (folder_id, date DESC, id DESC);
CREATE INDEX messages_date ON messages (date DESC, id DESC);
CREATE INDEX messages_message_id ON messages (message_id);
CREATE INDEX messages_unread ON messages (date DESC, id DESC) WHERE (flags & 1) = 0;
CREATE INDEX messages_folder_unread ON messages (folder_id, date DESC, id DESC)
  WHERE (flags & 1) = 0;
CREATE TABLE pending (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  op INTEGER NOT NULL, arg TEXT, created INTEGER NOT NULL);
CREATE INDEX pending_message ON pending (message_id);
CREATE TABLE pop3_uidl (
  uidl TEXT PRIMARY KEY, message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL,
  downloaded_at INTEGER NOT NULL, deleted_at INTEGER);
CREATE INDEX pop3_uidl_message ON pop3_uidl (message_id);
PRAGMA user_version = 1;
"""
V1_COLUMNS = {
    "folders": "id, name, remote_name, delim, special_use, subscribed, uidvalidity, uidnext, "
               "highestmodseq, last_sync",
    "messages": "id, folder_id, uid, flags, keywords, date, internaldate, size, from_name, "
                "from_addr, to_text, cc_text, subject, message_id, in_reply_to, references_, "
                "list_id, has_attachments, body_path",
    "pending": "id, message_id, op, arg, created",
}


def test_version1_index_migrates_without_refetch(acct):
    acct.put([make_message(i) for i in range(20)])
    acct.fetch()
    before = acct.msgs()
    body = acct.tern("read", "-a", acct.name, "--no-mark", str(before[4][0])).stdout
    with acct.db() as d:
        current_version = d.execute("pragma user_version").fetchone()[0]
        app_id = d.execute("pragma application_id").fetchone()[0]
        saved = {t: d.execute("select %s from %s" % (cols, t)).fetchall()
                 for t, cols in V1_COLUMNS.items()}
    # rebuild the index as a version-1 file holding the same data
    db = acct.data_dir / "index.sqlite"
    v1 = acct.data_dir / "v1.sqlite"
    with sqlite3.connect(str(v1)) as d:
        d.executescript(SCHEMA_V1)
        for t, cols in V1_COLUMNS.items():
            for row in saved[t]:
                d.execute("insert into %s (%s) values (%s)" % (
                    t, cols, ",".join("?" * len(row))), row)
    d.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    os.rename(str(v1), str(db))
    # meanwhile on the server: two new messages and a flag
    acct.put([make_message(100 + i) for i in range(2)])
    acct.doveadm("flags", "add", "-u", acct.user.address, "\\Flagged", "mailbox", "INBOX",
                 "uid", "3")
    p = acct.tern("--debug", "fetch", "-a", acct.name)
    assert b"2 new" in p.stdout
    header_sets = [c.split()[2] for c in trace_commands(p.stderr)
                   if c.startswith("UID FETCH") and "HEADER.FIELDS" in c]
    assert header_sets, "the new messages were fetched"
    for s in header_sets:                 # only UIDs above the old 20
        for part in s.split(","):
            assert int(part.split(":")[0]) > 20, header_sets
    with acct.db() as d:
        assert d.execute("pragma user_version").fetchone()[0] == current_version
        assert d.execute("pragma application_id").fetchone()[0] == app_id
    after = acct.msgs()
    assert len(after) == 22
    assert all(after[u][0] == before[u][0] for u in before)       # ids kept
    assert after[3][1] & FLAGGED
    # the cached body is still used: readable offline
    acct.write_config(closed_port())
    assert acct.tern("read", "-a", acct.name, "--no-mark", str(before[4][0])).stdout == body


# ------------------------------------------------- attachments: line ends

CRLF_DATA = b"line one\r\nline two\r\n\x00\xff binary\r\n"
NOTES = "caf\u00e9 notes\nsecond line\n".encode("utf-8")
PDF = bytes(range(256)) * 3


def mixed_message(tag):
    qp = "".join("=%02X" % b if b > 126 or b == 61 else chr(b) for b in NOTES)
    return ("From: Att <att@example.org>\nTo: rcpt@lab.test\nSubject: line ends %s\n"
            "Date: Tue, 2 Jan 2024 11:00:00 +0000\nMessage-ID: <le%s@example.org>\n"
            "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=b\"\n\n"
            "--=b\nContent-Type: text/plain\n\nsee the files\n"
            "--=b\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Disposition: attachment; filename=notes.txt\n"
            "Content-Transfer-Encoding: quoted-printable\n\n%s\n"
            "--=b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=plain.txt\n"
            "\nalpha\nbeta\n\n"
            "--=b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=encr.txt\n"
            "Content-Transfer-Encoding: quoted-printable\n\nkeep=0D=0Aexplicit\n"
            "--=b\nContent-Type: text/plain\nContent-Disposition: attachment; filename=crlf.txt\n"
            "Content-Transfer-Encoding: base64\n\n%s"
            "--=b\nContent-Type: application/pdf\nContent-Disposition: attachment; "
            "filename=r.pdf\nContent-Transfer-Encoding: base64\n\n%s"
            "--=b--\n" % (tag, tag, qp, base64.encodebytes(CRLF_DATA).decode(),
                          base64.encodebytes(PDF).decode())).encode()


def test_text_attachments_same_bytes_via_imap_and_pop3(lab, make_user, tmp_path, tern_bin):
    iu, pu = make_user(), make_user()
    wait_login(lab, iu)
    wait_login(lab, pu)
    home = Home(tmp_path, tern_bin)
    home.add("imap", lab, iu)
    home.add("pop", lab, pu, incoming="pop3")
    raw = mixed_message(uuid.uuid4().hex[:8])
    lab.put_messages(iu, [raw])
    lab.put_messages(pu, [raw])
    home.tern("fetch")
    iid = home.q("imap", "select id from messages")[0][0]
    pid = home.q("pop", "select id from messages")[0][0]
    saved = {}
    for name, mid in (("imap", iid), ("pop", pid)):
        out = tmp_path / ("out-" + name)
        out.mkdir()
        home.tern("attachments", "-a", name, mid, "--save", out)
        saved[name] = {f: (out / f).read_bytes() for f in os.listdir(out)}
    want = {"notes.txt": NOTES, "plain.txt": b"alpha\nbeta\n", "encr.txt": b"keep\r\nexplicit",
            "crlf.txt": CRLF_DATA, "r.pdf": PDF}
    for name in ("imap", "pop"):
        assert set(saved[name]) == set(want), (name, sorted(saved[name]))
        for f, data in want.items():
            got = saved[name][f]
            assert got == data, (name, f, got)
    assert saved["imap"] == saved["pop"]
    # the listing (sizes) and the reading agree across the protocols too
    def strip(js):
        return [{k: v for k, v in a.items() if k != "path"} for a in json.loads(js)]
    assert strip(home.tern("attachments", "-a", "imap", iid, "--json").stdout) == \
        strip(home.tern("attachments", "-a", "pop", pid, "--json").stdout)
    ri = json.loads(home.tern("read", "-a", "imap", iid, "--json", "--no-mark").stdout)
    rp = json.loads(home.tern("read", "-a", "pop", pid, "--json", "--no-mark").stdout)
    assert ri == rp
    # the cache keeps the server's bytes (CRLF): --raw unchanged
    body = home.q("imap", "select body_path from messages")[0][0]
    with open(body, "rb") as f:
        cached = f.read()
    assert b"\r\n" in cached and cached.replace(b"\r\n", b"\n") == raw
    assert home.tern("read", "-a", "imap", iid, "--raw", "--no-mark").stdout == cached
    # --file on the CRLF copy saves the same LF text
    out = tmp_path / "out-file"
    out.mkdir()
    f = tmp_path / "crlf.eml"
    f.write_bytes(cached)
    home.tern("attachments", "--file", f, "--save", out)
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == saved["imap"]


def test_local_line_ends_keep_data_parts(tmp_path, tern_bin):
    """--file, no server: what the LF rule touches and what it must not."""
    home = Home(tmp_path, tern_bin)
    inner = b"From: x@example.org\r\nSubject: inner\r\n\r\nforwarded\r\ntext\r\n"
    raw = (b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=X\r\n\r\n"
           b"--X\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
           b"--X\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Disposition: attachment; filename=data.bin\r\n\r\n"
           b"raw\r\nbytes\rhere\r\n\r\n"
           b"--X\r\nContent-Type: text/plain\r\n"
           b"Content-Disposition: attachment; filename=cr.txt\r\n\r\n"
           b"lone\rcr\r\nend\r\n"
           b"--X\r\nContent-Type: message/rfc822\r\n"
           b"Content-Disposition: attachment; filename=fwd.eml\r\n\r\n" + inner +
           b"--X--\r\n")
    f = tmp_path / "m.eml"
    f.write_bytes(raw)
    out = tmp_path / "out"
    out.mkdir()
    home.tern("attachments", "--file", f, "--save", out)
    got = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert got["data.bin"] == b"raw\r\nbytes\rhere\r\n"      # not text: byte for byte
    assert got["cr.txt"] == b"lone\rcr\nend"                   # CRLF -> LF, lone CR kept
    # message/rfc822 is mail text: LF (the line end before the boundary is
    # the boundary's)
    assert got["fwd.eml"] == inner.replace(b"\r\n", b"\n")[:-1]
    # the text and the text attachments' sizes are the same as from an LF
    # copy; only the data part differs (its CRs are data)
    lf = tmp_path / "lf.eml"
    lf.write_bytes(raw.replace(b"\r\n", b"\n"))
    a = json.loads(home.tern("read", "--file", f, "--json").stdout)
    b = json.loads(home.tern("read", "--file", lf, "--json").stdout)
    sizes = lambda m: {x["filename"]: x["size"] for x in m.pop("attachments")}
    sa, sb = sizes(a), sizes(b)
    assert a == b and sa.pop("data.bin") == 17 and sb.pop("data.bin") == 15 and sa == sb


# ------------------------------------------------- fetch --bodies

def test_fetch_bodies_prefetches_without_seen(acct):
    acct.put([make_message(i, attach=(i == 0)) for i in range(4)])
    acct.fetch()
    assert all(r[0] is None for r in acct.q("select body_path from messages"))
    acct.fetch("--bodies")
    paths = [r[0] for r in acct.q("select body_path from messages")]
    assert len(paths) == 4 and all(p and os.path.isfile(p) for p in paths)
    assert all("\\Seen" not in f for f in acct.server_flags().values())
    acct.write_config(closed_port())
    mid = acct.msgs()[2][0]
    assert b"body of 1" in acct.tern("read", "-a", acct.name, "--no-mark", str(mid)).stdout


# ------------------------------------------------- folded headers in list

def test_list_shows_tab_folded_subject_with_a_space(acct):
    """Outlook folds long headers with CRLF TAB: the unfolded TAB is
    whitespace, shown as a space, not as a placeholder between words."""
    msg = ("From: Folder\r\n\t<fold@example.net>\r\nTo: %s\r\n"
           "Subject: Meeting about the\r\n\tquarterly report\r\n"
           "Date: Wed, 3 Jan 2024 09:00:00 +0000\r\nMessage-ID: <fold@example.net>\r\n"
           "\r\nbody\r\n" % acct.user.address)
    acct.put([msg.encode()])
    acct.fetch()
    out = acct.tern("list", "-a", acct.name).stdout.decode()
    assert "Meeting about the quarterly report" in out
    assert "\ufffd" not in out and "\t" not in out
