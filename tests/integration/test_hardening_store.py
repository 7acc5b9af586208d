"""Hardening rules 8, 10 and 12 through `tern fetch` / `tern read` against
the lab's fakes (tests/lab/fakes.py):

  8. POP3: nothing deleted before it is stored; a RETR cut off (mid-body or
     before the final '.') or refused is a failure and its message is not
     deleted; after any drop a clean run leaves every message exactly once.
     (The seeded fault-injection and kill -9 runs are in
     test_fetch_faults.py; these add the STLS mode and the lab's own fake.)
 10. A UIDVALIDITY change invalidates the folder: old rows and cached
     bodies go, the new messages under the same UIDs are shown (never a
     stale cached body).
 12. Names from servers (POP3 UIDLs, IMAP folder names, UIDs) are never
     used raw in paths nor given to a shell.
"""

import json
import os
import re

import pytest

from hardening_helpers import (EX_NOINPUT, EX_OK, EX_PROTOCOL, EX_TEMPFAIL, Tern,
                               assert_sane_exit, assert_terminal_safe, files_under,
                               hfake_factory, make_message, use)


@pytest.fixture
def hfake(lab, tmp_path):
    yield from hfake_factory(lab, tmp_path)


def listed(t):
    r = t.run("list", "--json")
    assert r.rc == EX_OK, r
    return json.loads(r.out)


def maildir_msgs(t):
    md = os.path.join(t.data_dir("f"), "Maildir")
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if os.path.isdir(d):
            for n in sorted(os.listdir(d)):
                with open(os.path.join(d, n), "rb") as f:
                    out.append(f.read())
    return out


def lf(raw):
    return raw.replace(b"\r\n", b"\n")


# ------------------------------------------------------------------ rule 8

POP_MSGS = [make_message("pop %d" % i, body="line %d\n.dot line\n..two\n" % i) for i in range(4)]


def pop3(hfake, tls="starttls", **kw):
    return hfake("pop3_mailbox", "pop3", tls, messages=POP_MSGS, **kw)


def exactly_once(t, srv):
    got = maildir_msgs(t)
    assert sorted(got) == sorted(lf(m) for m in POP_MSGS), got
    assert len(set(got)) == len(got)
    assert len(srv.state["pop3"]["gone"]) == len(POP_MSGS)


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
@pytest.mark.parametrize("drop", ["RETR:2:60", "RETR:3:5", "RETR:1", "DELE", "QUIT"])
def test_pop3_drop_then_clean_run(hfake, lab, tmp_path, tls, drop):
    srv = pop3(hfake, tls, drop_at=drop)
    t = Tern(tmp_path)
    args = use(t, srv, "pop3", tls, lab)
    r = t.run(*args)
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL, r
    # nothing deleted that is not stored (deletions commit at QUIT)
    gone = srv.state.get("pop3", {}).get("gone", set())
    stored = maildir_msgs(t)
    assert len(gone) <= len(stored)
    if drop.startswith("RETR"):
        n = int(drop.split(":")[1])
        assert lf(POP_MSGS[n - 1]) not in stored, "a cut-off message was stored"
        cut = [c for c in srv.connections()][0].tls
        assert not re.search(rb"(?m)^DELE %d\r$" % n, cut), "DELE of a message never received"
    assert os.listdir(os.path.join(t.data_dir("f"), "Maildir", "tmp")) == []
    srv.opts.pop("drop_at")
    r = t.run(*args)
    assert r.rc == EX_OK, r
    exactly_once(t, srv)
    r = t.run(*args)
    assert r.rc == EX_OK and r.out == b"f: 0 new, 0 deleted from server\n", r
    exactly_once(t, srv)


def test_pop3_retr_refused_never_deleted(hfake, lab, tmp_path):
    def retr(session, tag, args):
        if args and args[0] == b"2":
            session.conn.line("-ERR [SYS/TEMP] not now")
        else:
            session.cmd_RETR([a.decode() for a in args])
    srv = hfake("hostile", "pop3", "starttls", messages=POP_MSGS, raw={"RETR": retr})
    t = Tern(tmp_path)
    args = use(t, srv, "pop3", "starttls", lab)
    r = t.run(*args)
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL, r
    sent = b"".join(c.tls for c in srv.connections())
    assert b"DELE 2\r\n" not in sent
    assert "uid00000002" not in srv.state["pop3"]["gone"]
    srv.opts.pop("raw")
    assert t.run(*args).rc == EX_OK
    exactly_once(t, srv)


def test_pop3_unterminated_retr_is_failure(hfake, lab, tmp_path):
    """The connection ends after a whole message but before its '.': not
    stored, not deleted."""
    def retr(session, tag, args):
        if args and args[0] == b"1":
            session.conn.send(b"+OK\r\n" + POP_MSGS[0].replace(b"\n", b"\r\n"))
            raise __import__("fakes").Closed()
        session.cmd_RETR([a.decode() for a in args])
    srv = hfake("hostile", "pop3", "implicit", messages=POP_MSGS, raw={"RETR": retr})
    t = Tern(tmp_path)
    args = use(t, srv, "pop3", "implicit", lab)
    r = t.run(*args)
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL, r
    assert lf(POP_MSGS[0]) not in maildir_msgs(t)
    assert srv.state.get("pop3", {}).get("gone", set()) == set()
    srv.opts.pop("raw")
    assert t.run(*args).rc == EX_OK
    exactly_once(t, srv)


# ------------------------------------------------------------------ rule 10

def test_uidvalidity_change_invalidates_folder(hfake, lab, tmp_path):
    old = [make_message("old one", body="OLD BODY one\n"), make_message("old two")]
    srv = hfake("imap_mailbox", "imap", "implicit", folders={"INBOX": old}, uidvalidity=7)
    t = Tern(tmp_path)
    args = use(t, srv, "imap", "implicit", lab)
    assert t.run(*args).rc == EX_OK
    before = {m["subject"]: m["id"] for m in listed(t)}
    assert sorted(before) == ["old one", "old two"]
    r = t.run("read", "--no-mark", str(before["old one"]))
    assert r.rc == EX_OK and b"OLD BODY one" in r.out, r
    cache = os.path.join(t.data_dir("f"), "cache")
    cached = [p for p in files_under(cache) if os.path.isfile(p)]
    assert cached and all(re.search(r"/cache/\d+/7/\d+$", p) for p in cached), cached
    # the server recreates the folder: new UIDVALIDITY, other messages
    # under the same UIDs
    new = [make_message("new one", body="NEW BODY one\n")]
    srv.server_state = srv.state["imap"]["folders"]["INBOX"] = [
        {"uid": 1, "raw": new[0].replace(b"\n", b"\r\n"), "flags": ""}]
    srv.opts["uidvalidity"] = 8
    r = t.run(*args)
    assert r.rc == EX_OK, r
    after = listed(t)
    assert [m["subject"] for m in after] == ["new one"], after
    assert not {m["id"] for m in after} & set(before.values())
    r = t.run("read", "--no-mark", str(after[0]["id"]))
    assert r.rc == EX_OK, r
    assert b"NEW BODY one" in r.out and b"OLD BODY" not in r.out, r
    r = t.run("read", "--no-mark", str(before["old one"]))
    assert r.rc == EX_NOINPUT, r
    assert not any(os.path.exists(p) for p in cached), cached
    assert not any("/7/" in p for p in files_under(cache))


def test_uidvalidity_change_without_cached_body(hfake, lab, tmp_path):
    """Same, for a message only listed (header sync), then its body read
    after the change: the new message's body, not the old one's."""
    srv = hfake("imap_mailbox", "imap", "starttls",
                folders={"INBOX": [make_message("a", body="BODY A\n"),
                                   make_message("b", body="BODY B\n")]}, uidvalidity=1)
    t = Tern(tmp_path)
    args = use(t, srv, "imap", "starttls", lab)
    assert t.run(*args).rc == EX_OK
    srv.state["imap"]["folders"]["INBOX"] = [
        {"uid": 2, "raw": make_message("c", body="BODY C\n").replace(b"\n", b"\r\n"), "flags": ""}]
    srv.opts["uidvalidity"] = 2
    assert t.run(*args).rc == EX_OK
    got = listed(t)
    assert [m["subject"] for m in got] == ["c"], got
    r = t.run("read", "--no-mark", str(got[0]["id"]))
    assert r.rc == EX_OK and b"BODY C" in r.out, r


# ------------------------------------------------------------------ rule 12

# RFC 1939 unique-ids are 0x21-0x7E: ${IFS} stands in for the space
EVIL_UIDLS = ["../../etc", "/abs/path", "..", ".", "~root", "-rf", "$(touch${IFS}PWNED)",
              "`touch${IFS}PWNED`", "a;touch${IFS}PWNED", "a|touch${IFS}PWNED", "%2e%2e%2f",
              "x/../../y", "con", "nul", "a\\b", "'\"quotes\"'", "*", "?"]


def shell_ran(*dirs):
    return [os.path.join(d, "PWNED") for d in dirs if os.path.exists(os.path.join(d, "PWNED"))]


@pytest.mark.parametrize("keep", [False, True])
def test_pop3_uidl_names_never_paths(hfake, lab, tmp_path, keep):
    msgs = [make_message("uidl %d" % i) for i in range(len(EVIL_UIDLS))]
    srv = hfake("pop3_mailbox", "pop3", "implicit", messages=msgs, uidls=EVIL_UIDLS)
    t = Tern(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    args = use(t, srv, "pop3", "implicit", lab, keep=keep)
    r = t.run(*args, cwd=str(work))
    assert_sane_exit(r)
    assert r.rc == EX_OK, r
    assert len(maildir_msgs(t)) == len(msgs)
    data = os.path.join(t.root, "data")
    for p in files_under(str(tmp_path)):
        rel = os.path.relpath(p, str(tmp_path))
        parts = rel.split(os.sep)
        assert not {"etc", "abs", "y", "PWNED"} & set(parts), rel
        assert not any(("$(" in x or "`" in x or ";" in x or "|" in x) for x in parts), rel
    assert not shell_ran(str(work), str(tmp_path), t.root, data)
    # the ledger knows them: a second run downloads nothing again
    r = t.run(*args, cwd=str(work))
    assert r.rc == EX_OK and b"0 new" in r.out, r
    assert len(maildir_msgs(t)) == len(msgs)
    for m in listed(t):
        assert t.run("read", "--no-mark", str(m["id"])).rc == EX_OK


EVIL_FOLDERS = ["../../escape", "a/../../b", "..", ".", "/abs", "~", "-rf", "$(touch PWNED)",
                "`touch PWNED`", "x;touch PWNED", "&AAA-nul", "&AC8-slash", "trail/"]


@pytest.mark.parametrize("offline", [False, True])
def test_imap_folder_names_never_paths(hfake, lab, tmp_path, offline):
    folders = {"INBOX": [make_message("inbox")]}
    for i, name in enumerate(EVIL_FOLDERS):
        folders[name] = [make_message("in folder %d" % i, body="folder body %d\n" % i)]
    srv = hfake("imap_mailbox", "imap", "implicit", folders=folders)
    t = Tern(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    args = use(t, srv, "imap", "implicit", lab, offline=offline)
    r = t.run(*args, cwd=str(work))
    assert_sane_exit(r)
    assert r.rc in (EX_OK, EX_PROTOCOL), r
    r = t.run("folders", "--json", cwd=str(work))
    assert r.rc == EX_OK, r
    assert_terminal_safe(r.out)
    msgs = listed(t)
    assert len(msgs) >= 1 + len(EVIL_FOLDERS) - 2, msgs  # names tern may refuse: &AAA-, trail/
    for m in msgs:
        r = t.run("read", "--no-mark", str(m["id"]), cwd=str(work))
        assert_sane_exit(r)
        assert r.rc == EX_OK, r
        r = t.run("attachments", str(m["id"]), cwd=str(work))
        assert_sane_exit(r)
    data = os.path.realpath(os.path.join(t.root, "data"))
    for p in files_under(str(tmp_path)):
        rel = os.path.relpath(p, str(tmp_path))
        parts = rel.split(os.sep)
        assert not {"escape", "abs", "b", "PWNED", "-rf", "~"} & set(parts), rel
        assert not any(("$(" in x or "`" in x or ";" in x) for x in parts), rel
    for p in files_under(os.path.join(data, "tern", "f", "cache")):
        assert re.search(r"/cache(/\d+)*$", p), p
    assert not shell_ran(str(work), str(tmp_path), t.root)
    assert not os.path.exists("/abs") and not os.path.exists("/escape")
