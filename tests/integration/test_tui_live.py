"""The TUI against a live (or misbehaving) server: Ctrl-C cancels a network
operation without leaving tern, IMAP IDLE brings new mail in without the
periodic check, a dropped connection is reported and `$` reconnects, and
Ctrl-Z / fg gives the terminal back and redraws.

Driven in tmux with the helpers of test_tui.py (Term, Home). Stalling and
dropping servers are tests/lab/fakes.py's; new mail and dropped connections
on the real side come from the lab's Dovecot (`doveadm kick`).
"""

import json
import os
import re
import time
import uuid

import pytest

import fakes
from test_tui import TMUX, WAIT, Home, Term, mailbox, status_line


def to_imap(home, lab, check_interval=0, port=None, host="127.0.0.1", timeout=None):
    """Rewrite the fixture's POP3 account as an IMAP account (own data dir)."""
    with open(home.config) as f:
        text = f.read()
    text = text.replace("incoming = pop3", "incoming = imap").replace(
        "port = %d" % lab.pop3s_port, "port = %d" % (port or lab.imaps_port)).replace(
        "keep = yes\n", "").replace("[account main]", "[account imap]").replace(
        "check_interval = 0", "check_interval = %d" % check_interval)
    if timeout is not None:
        text = text.replace("timeout = 10", "timeout = %d" % timeout)
    with open(home.config, "w") as f:
        f.write(text)


@pytest.fixture
def home(tmp_path, lab, user, make_user, tern_bin):
    if not TMUX:
        pytest.fail("tmux is needed for the TUI tests (tests/deps.sh installs it)")
    peer = make_user()
    h = Home(str(tmp_path), lab, user, peer, tern_bin)
    lab.put_messages(user, list(reversed(mailbox(user, peer))))
    yield h
    h.close()


def plain(subject, n):
    return ("From: Fake <fake@example.org>\r\nTo: me@example.org\r\nSubject: %s\r\n"
            "Date: Mon, 0%d Jan 2024 10:00:00 +0000\r\nMessage-ID: <fake%d@example.org>\r\n"
            "\r\nbody %d\r\n" % (subject, n, n, n)).encode()


def stall_bodies(session, tag, args):
    """raw= reply for UID FETCH: headers as usual, a body request never
    answered (the connection stays open until the client leaves)."""
    items = b" ".join(args).upper()
    if b"BODY.PEEK[]" in items or b"BODY[]" in items:
        session.conn.drain_until_closed()
        raise fakes.Closed()
    fakes.MailboxImapSession.cmd_UID_FETCH(session, tag, args)


class IdleSession(fakes.MailboxImapSession):
    """The fake mailbox with IDLE (answers DONE like a real server)."""

    def caps(self):
        c = super().caps()
        return c + " IDLE" if self.authed else c


def responsive(t):
    """tern still reads keys: the help screen opens and closes."""
    t.keys("?")
    t.wait("Keys of the index screen")
    t.keys("q")
    t.wait(lambda s: "Keys of the index screen" not in s)


def test_ctrl_c_cancels_a_stalled_body_fetch(home, lab, fake):
    srv = fake("imap_mailbox", proto="imap", tls="implicit",
               folders={"INBOX": [plain("Stalled body", 1), plain("Second one", 2)]},
               raw={"UID FETCH": stall_bodies})
    # a long timeout: only Ctrl-C can end the wait in the test's time
    to_imap(home, lab, port=srv.port, timeout=60)
    rc, out, err = home.run("fetch")
    assert rc == 0, err
    t = home.start()
    t.wait("Stalled body")
    t.keys("Enter")
    t.wait("fetching the message")
    time.sleep(1.0)  # the request is out and the server is silent
    assert "fetching the message" in status_line(t.screen())
    start = time.monotonic()
    t.keys("C-c")
    sc = t.wait("canceled")
    took = time.monotonic() - start
    assert took < 5, "cancel took %.1f s" % took
    assert "not fetched" in sc
    assert "Stalled body" in sc  # still the index, not a dead screen
    responsive(t)
    # the next action connects again (headers only: the fake answers them)
    t.keys("$")
    t.wait(lambda s: "no new mail" in s or "new message" in s)
    home.quit(t)
    assert len(srv.connections()) >= 2


def test_ctrl_c_cancels_a_stalled_sync(home, lab, fake):
    srv = fake("stall_after_login", proto="imap", tls="implicit")
    to_imap(home, lab, port=srv.port, timeout=60)
    t = home.start()
    t.keys("$")
    t.wait("syncing")
    time.sleep(1.0)
    start = time.monotonic()
    t.keys("C-c")
    sc = t.wait("sync canceled")
    assert time.monotonic() - start < 5
    assert "syncing" not in status_line(sc)
    responsive(t)
    home.quit(t)


def test_idle_brings_new_mail_without_polling(home, lab):
    # check_interval large: only IDLE can show the new message in time
    to_imap(home, lab, check_interval=3600)
    rc, out, err = home.run("fetch")
    assert rc == 0, err
    t = home.start()
    t.wait("Question for you")
    t.wait("watching (IDLE)")
    time.sleep(0.5)
    subject = "Arrived while idling %d" % os.getpid()
    lab.put_message(home.user, ("From: Idle Sender <idle@example.org>\nTo: %s\n"
                                "Subject: %s\nDate: Fri, 08 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <idle%d@lab.test>\n\nhello\n" % (
                                    home.user.address, subject, os.getpid())).encode())
    start = time.monotonic()
    t.wait(subject, timeout=15)
    took = time.monotonic() - start
    assert took < 10, "new mail took %.1f s" % took
    # and IDLE is taken up again afterwards
    t.wait("watching (IDLE)")
    home.quit(t)


def test_dropped_connection_is_reported_and_dollar_reconnects(home, lab):
    to_imap(home, lab, check_interval=3600)
    rc, out, err = home.run("fetch")
    assert rc == 0, err
    t = home.start()
    t.wait("Question for you")
    t.wait("watching (IDLE)")
    # the server drops every connection of the user (as on a restart)
    lab.doveadm("kick", home.user.address)
    sc = t.wait("lost the server")
    assert "Question for you" in sc
    subject = "After the drop %d" % os.getpid()
    lab.put_message(home.user, ("From: Later <later@example.org>\nTo: %s\nSubject: %s\n"
                                "Date: Sat, 09 Mar 2024 10:00:00 +0000\n"
                                "Message-ID: <drop%d@lab.test>\n\nhi\n" % (
                                    home.user.address, subject, os.getpid())).encode())
    t.keys("$")
    t.wait(subject)
    t.wait("watching (IDLE)")
    home.quit(t)


def test_fake_server_gone_and_back(home, lab, fake):
    srv = fake("imap_mailbox", proto="imap", tls="implicit",
               folders={"INBOX": [plain("First fake", 1)]}, session_class=IdleSession)
    port = srv.port
    to_imap(home, lab, port=port, timeout=10)
    rc, out, err = home.run("fetch")
    assert rc == 0, err
    t = home.start()
    t.wait("First fake")
    t.wait("watching (IDLE)")
    srv.stop()  # closes the listening socket and every connection
    t.wait("lost the server")
    t.keys("$")
    t.wait("sync failed")
    responsive(t)
    srv2 = fake("imap_mailbox", proto="imap", tls="implicit", port=port,
                folders={"INBOX": [plain("First fake", 1), plain("Second fake", 2)]},
                session_class=IdleSession)
    assert srv2.port == port
    t.keys("$")
    t.wait("Second fake")
    home.quit(t)


def test_ctrl_z_gives_the_terminal_back_and_fg_redraws(home, lab, tmp_path):
    to_imap(home, lab)
    rc, out, err = home.run("fetch")
    assert rc == 0, err
    # a shell with job control in the pane, as a user has (its prompt and
    # job messages on the terminal, not in the wrapper's stderr file)
    t = Term(home.tmp, home.env(PS1="sh$ "), ["bash", "--norc", "--noprofile", "-i"])
    home.terms.append(t)
    t.type("exec 2>&1")
    t.keys("Enter")
    t.wait("sh$")
    t.type("cd %s && export T=%s" % (tmp_path, os.path.abspath(home.tern)))
    t.keys("Enter")
    t.type('"$T" tui 2>e.txt')
    t.keys("Enter")
    t.wait("Question for you")
    t.keys("C-z")
    sc = t.wait(lambda s: "Stopped" in s)
    assert "Question for you" not in sc  # the shell's screen is back
    t.type("fg")
    t.keys("Enter")
    sc = t.wait("resumed")
    assert "Question for you" in sc
    responsive(t)
    t.keys("q")
    t.wait(lambda s: "Question for you" not in s)
    t.type('echo "EXIT=$?"')  # after fg: the job's own status
    t.keys("Enter")
    sc = t.wait(lambda s: re.search(r"^EXIT=\d+", s, re.M))
    assert re.search(r"^EXIT=0$", sc, re.M), sc
    with open(os.path.join(str(tmp_path), "e.txt")) as f:
        assert f.read() == ""


def test_ctrl_c_during_send_keeps_the_message_in_the_outbox(home, lab, fake):
    home.fetch()
    srv = fake("stall_after_login", proto="smtp", tls="starttls")
    with open(home.config) as f:
        text = f.read()
    with open(home.config, "w") as f:
        f.write(text.replace("smtp_port = %d" % lab.smtp_port, "smtp_port = %d" % srv.port)
                .replace("timeout = 10", "timeout = 60"))
    tag = uuid.uuid4().hex[:12]
    t = home.start(TUI_TO=home.peer.address, TUI_SUBJECT="Canceled %s" % tag,
                   TUI_BODY="Sent once, %s." % tag)
    t.wait("Question for you")
    t.keys("m")
    t.wait("y:Send")
    t.keys("y")
    t.wait("sending")
    time.sleep(1.0)  # logged in; MAIL FROM is never answered
    start = time.monotonic()
    t.keys("C-c")
    sc = t.wait("sending canceled")
    assert time.monotonic() - start < 5
    assert "stays in the outbox" in sc
    responsive(t)
    home.quit(t)
    rc, out, err = home.run("queue", "--json")
    assert rc == 0, err
    entries = json.loads(out)
    assert len(entries) == 1 and tag in entries[0]["subject"], out
    # the real server back: the queued message goes out, once
    home.write()
    rc, out, err = home.run("queue", "--flush", "--force")
    assert rc == 0, (out, err)
    lab.wait_for_messages(home.peer, match=tag, timeout=WAIT)
    time.sleep(1.0)
    assert len(lab.wait_for_messages(home.peer, match=tag, timeout=WAIT)) == 1
    rc, out, err = home.run("queue", "--json")
    assert rc == 0 and json.loads(out) == [], out
