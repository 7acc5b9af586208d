"""`tern fetch` on POP3 accounts against the real lab (Dovecot POP3 with
STLS and POP3S): download-and-delete byte for byte, keep, keep_days, the
per-account lock, exit codes, -q and --json.

tern stores messages LF-normalised (as Maildir MDAs do); the lab's
server-side files are LF, so stored == put, byte for byte.
"""

import fcntl
import json
import os
import sqlite3
import time

import pytest

from pop3_helpers import (EX_CONFIG, EX_NOPERM, EX_OK, EX_TEMPFAIL, Home, assert_exactly_once,
                          gen_messages, get_lab, lab_account, ledger, maildir_contents,
                          maildir_files, new_user, parse_json, server_messages)


@pytest.fixture
def plab(request):
    return get_lab(request)


def setup_account(plab, tmp_path, n, seed, tls="implicit", name="work", msgs=None, **extra):
    user = new_user(plab)
    if msgs is None:
        msgs = gen_messages(seed, n, tag=name)
    if msgs:
        plab.put_messages(user, msgs)
    home = Home(tmp_path)
    home.add(name, **lab_account(plab, user, tls=tls, **extra))
    return user, msgs, home


@pytest.mark.parametrize("tls,n", [("implicit", 300), ("starttls", 60)])
def test_download_and_delete(plab, tmp_path, tls, n):
    """genmail's varied messages plus the shapes that break POP3 clients
    (dot lines, a lone ".", CR inside a line, empty bodies, long lines,
    base64 attachments): stored byte for byte, server empty."""
    import genmail
    msgs = list(genmail.generate(n - n // 4, seed=n)) + gen_messages(n, n // 4, tag=tls)
    user, msgs, home = setup_account(plab, tmp_path, n, seed=n, tls=tls, msgs=msgs)
    assert len(server_messages(plab, user)) == n
    r = home.run("fetch")
    assert r.rc == EX_OK, r
    assert r.out == "work: %d new, %d deleted from server\n" % (n, n), r
    assert r.err == ""
    assert_exactly_once(maildir_contents(home.maildir("work")), msgs)
    assert server_messages(plab, user) == [], "server Maildir not empty"
    # Ledger: every UIDL recorded and marked deleted after QUIT.
    rows = ledger(home, "work")
    assert len(rows) == n and all(r[3] > 0 for r in rows)
    # Index rows point at the stored files.
    con = sqlite3.connect(home.index("work"))
    paths = [p for (p,) in con.execute("select body_path from messages")]
    subjects = [x for (x,) in con.execute("select subject from messages where subject <> ''")]
    con.close()
    assert sorted(paths) == maildir_files(home.maildir("work"))
    # Header fields were indexed through core/mime (every message has a Subject).
    assert len(subjects) == n
    # Private data: data dir and Maildir are 0700.
    assert os.stat(home.data_dir("work")).st_mode & 0o777 == 0o700
    assert os.stat(home.maildir("work")).st_mode & 0o777 == 0o700
    # A second run finds nothing and changes nothing.
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 0 new, 0 deleted from server\n", r
    assert len(maildir_files(home.maildir("work"))) == n
    log = open(os.path.join(home.data_dir("work"), "fetch.log")).read().splitlines()
    assert len(log) == 2 and "fetch ok: %d new, %d deleted from server" % (n, n) in log[0]


def test_keep_mode_downloads_once(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 40, seed=7, keep=True)
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 40 new, 0 deleted from server\n", r
    assert len(server_messages(plab, user)) == 40
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 0 new, 0 deleted from server\n", r
    # New mail arrives: only it is downloaded.
    more = gen_messages(8, 5, tag="later")
    plab.put_messages(user, more)
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 5 new, 0 deleted from server\n", r
    assert_exactly_once(maildir_contents(home.maildir("work")), msgs + more)
    assert len(server_messages(plab, user)) == 45
    assert all(not row[3] for row in ledger(home, "work"))


def test_keep_days(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 20, seed=9, keep=True, keep_days=3)
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 20 new, 0 deleted from server\n", r
    # Age half of the downloads by 4 days, one by exactly 2 days.
    rows = ledger(home, "work")
    old = [u for (u, _, _, _) in rows[:10]]
    con = sqlite3.connect(home.index("work"))
    now = int(time.time())
    for u in old:
        con.execute("update pop3_uidl set downloaded_at = ? where uidl = ?", (now - 4 * 86400, u))
    con.execute("update pop3_uidl set downloaded_at = ? where uidl = ?",
                (now - 2 * 86400, rows[10][0]))
    con.commit()
    con.close()
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 0 new, 10 deleted from server\n", r
    assert len(server_messages(plab, user)) == 10
    assert len(maildir_files(home.maildir("work"))) == 20
    # The deleted ones are marked deleted (QUIT said +OK) ...
    marked = {u for (u, _, _, d) in ledger(home, "work") if d}
    assert marked == set(old)
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "work: 0 new, 0 deleted from server\n", r
    # ... and forgotten once the server no longer lists them; the young
    # ones stay recorded (never downloaded twice).
    left = {u for (u, _, _, _) in ledger(home, "work")}
    assert not (left & set(old)) and len(left) == 10
    assert len(maildir_files(home.maildir("work"))) == 20


def test_lock_held_skips_account(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 5, seed=11)
    home.add("other", **lab_account(plab, new_user(plab), keep=True))
    os.makedirs(home.data_dir("work"), mode=0o700)
    fd = os.open(os.path.join(home.data_dir("work"), "lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = home.run("fetch")
    finally:
        os.close(fd)
    assert r.rc == EX_TEMPFAIL, r
    lines = r.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tern: work: skipped: another tern"), r
    assert r.out == "other: 0 new, 0 deleted from server\n", r
    assert len(server_messages(plab, user)) == 5 and maildir_files(home.maildir("work")) == []
    r = home.run("fetch", "-a", "work")
    assert r.rc == EX_OK and r.out == "work: 5 new, 5 deleted from server\n", r


def test_concurrent_fetch_hits_lock(plab, tmp_path):
    """Two real `tern fetch` at once on 1500 messages: one of them gets the
    lock, the other exits 75 with one line; nothing is stored twice."""
    user, msgs, home = setup_account(plab, tmp_path, 1500, seed=12)
    p1 = home.popen("fetch")
    # Wait until the first holds the lock (the log/index appear after it).
    deadline = time.monotonic() + 10
    while not os.path.exists(home.index("work")) and time.monotonic() < deadline:
        time.sleep(0.005)
    r2 = home.run("fetch")
    out1, err1 = p1.communicate(timeout=120)
    assert p1.returncode == EX_OK, err1
    assert r2.rc == EX_TEMPFAIL, r2
    assert len(r2.err.splitlines()) == 1 and "another tern" in r2.err
    assert r2.out == ""
    assert_exactly_once(maildir_contents(home.maildir("work")), msgs)
    assert server_messages(plab, user) == []


def test_wrong_password(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 3, seed=13, password="wrong")
    before = sorted(plab.messages(user))
    r = home.run("fetch")
    assert r.rc == EX_NOPERM, r
    assert len(r.err.splitlines()) == 1 and "refused" in r.err, r
    assert sorted(plab.messages(user)) == before
    assert maildir_files(home.maildir("work")) == []
    r = home.run("fetch", "--json")
    assert r.rc == EX_NOPERM
    (obj,) = parse_json(r.out)
    assert obj["name"] == "work" and obj["new"] == 0 and len(obj["errors"]) == 1


def test_quiet_and_json(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 4, seed=14)
    r = home.run("fetch", "-q")
    assert r.rc == EX_OK and r.out == "" and r.err == "", r
    assert len(maildir_files(home.maildir("work"))) == 4
    plab.put_messages(user, gen_messages(15, 3, tag="j"))
    r = home.run("fetch", "--json", "-a", "work")
    assert r.rc == EX_OK, r
    data = json.loads(r.out)
    assert data == [{"name": "work", "new": 3, "deleted": 3, "errors": []}]


def test_one_failing_account_does_not_stop_others(plab, tmp_path):
    home = Home(tmp_path)
    bad = new_user(plab)
    good = new_user(plab)
    msgs = gen_messages(16, 6, tag="good")
    plab.put_messages(good, msgs)
    home.add("bad", **lab_account(plab, bad, password="nope"))
    home.add("down", **lab_account(plab, good, port=1))  # nothing listens on port 1
    home.add("good", **lab_account(plab, good))
    r = home.run("fetch", "--json")
    assert r.rc == EX_NOPERM, r  # auth (77) outranks network (75)
    data = {o["name"]: o for o in parse_json(r.out)}
    assert data["good"]["new"] == 6 and data["good"]["deleted"] == 6 and not data["good"]["errors"]
    assert data["bad"]["errors"] and data["down"]["errors"]
    assert len(r.err.splitlines()) == 2
    assert_exactly_once(maildir_contents(home.maildir("good")), msgs)
    r = home.run("fetch", "-a", "down", "-q")
    assert r.rc == EX_TEMPFAIL and r.out == "" and len(r.err.splitlines()) == 1, r


def test_config_error_exit_78(tmp_path):
    home = Home(tmp_path)
    with open(home.config, "w") as f:
        f.write("[account x]\nincoming = pop3\nhots = typo\n")
    os.chmod(home.config, 0o600)
    r = home.run("fetch")
    assert r.rc == EX_CONFIG, r
    r = home.run("fetch", "-a", "nosuch")
    assert r.rc != EX_OK


def test_fetch_log_rotates(plab, tmp_path):
    user, msgs, home = setup_account(plab, tmp_path, 0, seed=17)
    os.makedirs(home.data_dir("work"), mode=0o700)
    log = os.path.join(home.data_dir("work"), "fetch.log")
    with open(log, "w") as f:
        f.write("x" * (300 << 10))
    r = home.run("fetch")
    assert r.rc == EX_OK, r
    assert os.path.getsize(log + ".1") == 300 << 10
    assert "fetch ok: 0 new, 0 deleted" in open(log).read()
