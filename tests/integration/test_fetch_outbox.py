"""`tern fetch` sends the outbox at its end (issue 6, point 5): the same
flush as `tern queue --flush`, backoff respected.

Real lab: the account fetches over POP3S from Dovecot and submits to the
lab's Postfix (STARTTLS), which delivers into the recipient's Maildir. The
outbox is filled while SMTP is unreachable: a closed port, as in
test_send.py, then the config is pointed back at the real server.
"""

import json
import os
import subprocess
import time

from hardening_helpers import closed_port
from pop3_helpers import EX_NOPERM, EX_OK, EX_TEMPFAIL, Home, lab_account, tern_bin, wait_login


def make_home(lab, user, tmp_path, smtp_port, **extra):
    wait_login(lab, user)
    home = Home(tmp_path)
    keys = lab_account(lab, user, timeout=10, smtp_host="127.0.0.1", smtp_port=smtp_port,
                       smtp_tls="starttls", **extra)
    home.add("main", **keys)
    return home


def set_smtp_port(home, port):
    home.accounts[0][1]["smtp_port"] = port
    home.write()


def send(home, rcpt, subject):
    p = subprocess.run([tern_bin(), "-c", home.config, "send", "--to", rcpt.address,
                        "--subject", subject], input=b"body of " + subject.encode() + b"\n",
                       env=home.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    return p.returncode, p.stderr.decode(errors="replace")


def outbox(home, sub="meta"):
    d = os.path.join(home.data_dir("main"), "outbox", sub)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def attempts(home):
    r = home.run("queue", "--json")
    assert r.rc == EX_OK, r
    return [e["attempts"] for e in json.loads(r.out)]


def fetch_log(home):
    with open(os.path.join(home.data_dir("main"), "fetch.log")) as f:
        return f.read()


def delivered(lab, rcpt, subject, wait=15.0):
    """The recipient's messages with this subject, once delivery settled:
    at least one (or `wait` seconds passed), then a pause in which a second
    copy would show up."""
    needle = ("Subject: " + subject).encode()

    def hits():
        out = []
        for p in lab.messages(rcpt):
            with open(p, "rb") as f:
                raw = f.read()
            if needle in raw:
                out.append(raw)
        return out

    deadline = time.monotonic() + wait
    while not hits() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    return hits()


def queue_while_down(lab, user, make_user, tmp_path, subject):
    home = make_home(lab, user, tmp_path, closed_port())
    rcpt = make_user()
    rc, err = send(home, rcpt, subject)
    assert rc == EX_TEMPFAIL and "queued" in err, err
    assert len(outbox(home)) == 1 and len(outbox(home, "new")) == 1
    return home, rcpt


def test_fetch_sends_queued_message_once(lab, user, make_user, tmp_path):
    home, rcpt = queue_while_down(lab, user, make_user, tmp_path, "queued then fetched")
    set_smtp_port(home, lab.smtp_port)
    r = home.run("fetch")
    assert r.rc == EX_OK, r
    assert r.out == "main: 0 new, 0 deleted from server, 1 queued sent\n", r
    assert r.err == "", r
    assert outbox(home) == [] and outbox(home, "new") == []
    got = delivered(lab, rcpt, "queued then fetched")
    assert len(got) == 1 and b"body of queued then fetched" in got[0]
    assert "outbox ok: 1 sent" in fetch_log(home)
    # a second fetch has nothing to send and says nothing about it
    r = home.run("fetch")
    assert r.rc == EX_OK and r.out == "main: 0 new, 0 deleted from server\n", r
    r = home.run("fetch", "--json")
    assert r.rc == EX_OK, r
    (obj,) = json.loads(r.out)
    assert obj == {"name": "main", "new": 0, "deleted": 0, "sent": 0, "errors": []}
    assert len(delivered(lab, rcpt, "queued then fetched", wait=0)) == 1


def test_fetch_failing_flush_then_backoff(lab, user, make_user, tmp_path):
    home, rcpt = queue_while_down(lab, user, make_user, tmp_path, "waits for its turn")
    (a0,) = attempts(home)  # send counts its own try; the entry is due at once
    # still down: the flush fails, is reported (also with -q), counts for
    # the exit code and goes to the log; the incoming side is fine
    r = home.run("fetch", "-q")
    assert r.rc == EX_TEMPFAIL, r
    assert r.out == "", r
    lines = r.err.splitlines()
    assert lines and all(l.startswith("tern: main: ") for l in lines), r
    assert "outbox" in lines[0] and "still queued (attempt %d)" % (a0 + 1) in lines[0], r
    assert "outbox failed" in fetch_log(home)
    assert attempts(home) == [a0 + 1]
    # the server is back, but the next try is a minute away: left alone
    set_smtp_port(home, lab.smtp_port)
    r = home.run("fetch", "--json")
    assert r.rc == EX_OK, r
    (obj,) = json.loads(r.out)
    assert obj["sent"] == 0 and obj["errors"] == [], obj
    assert set(obj) == {"name", "new", "deleted", "sent", "errors"}
    assert attempts(home) == [a0 + 1]
    assert delivered(lab, rcpt, "waits for its turn", wait=2.0) == []
    # it was deliverable all along: a forced flush sends it
    r = home.run("queue", "--flush", "--force")
    assert r.rc == EX_OK, r
    assert len(delivered(lab, rcpt, "waits for its turn")) == 1
    assert outbox(home) == []


def test_incoming_failure_still_flushes(lab, user, make_user, tmp_path):
    """Sending is a separate side: a refused login does not keep the queue
    back, and its exit code (77) outranks nothing-wrong on the outbox."""
    home, rcpt = queue_while_down(lab, user, make_user, tmp_path, "sent despite login")
    keys = home.accounts[0][1]
    keys["smtp_port"] = lab.smtp_port
    keys["smtp_password"] = user.password
    keys["password"] = user.password + "-wrong"
    home.write()
    r = home.run("fetch", "--json")
    assert r.rc == EX_NOPERM, r
    (obj,) = json.loads(r.out)
    assert obj["sent"] == 1 and len(obj["errors"]) == 1, obj
    assert outbox(home) == []
    assert len(delivered(lab, rcpt, "sent despite login")) == 1
