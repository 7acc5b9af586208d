"""Helpers shared by test_pop3.py and test_fetch_faults.py (POP3 + `tern fetch`).

Storage convention checked here: tern stores POP3 messages LF-normalised
(every CRLF the server sends becomes LF), like Maildir MDAs do. The lab's
server-side Maildir files are LF too, so a downloaded message must equal
the file that was put on the server byte for byte.
"""

import json
import os
import random
import subprocess
import sys
import time

try:
    import pytest
except ImportError:  # bench/pop3 uses these helpers without pytest
    pytest = None

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "tests", "lab"))

EX_OK, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM, EX_CONFIG = 0, 75, 76, 77, 78


def tern_bin():
    b = os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")
    if not os.path.exists(b):
        pytest.fail("tern binary not found: %s (set TERN_BIN)" % b)
    return b


class Result:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs

    def __repr__(self):
        return "rc=%d %.2fs\nstdout: %s\nstderr: %s" % (self.rc, self.secs, self.out,
                                                        self.err[-3000:])


class Home:
    """A config file plus XDG data dir for one test; accounts are dicts of
    config keys."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.config = os.path.join(self.root, "config")
        self.data = os.path.join(self.root, "data")
        self.accounts = []

    def add(self, name, **keys):
        self.accounts.append((name, keys))
        self.write()

    def write(self):
        lines = []
        for name, keys in self.accounts:
            lines.append("[account %s]" % name)
            for k, v in keys.items():
                if isinstance(v, bool):
                    v = "yes" if v else "no"
                lines.append("%s = %s" % (k, v))
            lines.append("")
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines))

    def data_dir(self, name):
        return os.path.join(self.data, "tern", name)

    def maildir(self, name):
        return os.path.join(self.data_dir(name), "Maildir")

    def index(self, name):
        return os.path.join(self.data_dir(name), "index.sqlite")

    def env(self):
        e = dict(os.environ)
        e["XDG_DATA_HOME"] = self.data
        e["XDG_CONFIG_HOME"] = os.path.join(self.root, "xdgconfig")
        e.pop("TERN_CONFIG", None)
        return e

    def run(self, *args, timeout=120, debug=False):
        cmd = [tern_bin(), "-c", self.config] + (["--debug"] if debug else []) + list(args)
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                      p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)

    def popen(self, *args, debug=False):
        cmd = [tern_bin(), "-c", self.config] + (["--debug"] if debug else []) + list(args)
        return subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)


def maildir_files(md):
    """Paths of messages in new/ and cur/ (tmp/ is never a message)."""
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, n) for n in os.listdir(d) if not n.startswith(".")]
    return sorted(out)


def maildir_contents(md):
    res = []
    for p in maildir_files(md):
        with open(p, "rb") as f:
            res.append(f.read())
    return res


def assert_exactly_once(stored, expected, what=""):
    """stored and expected are lists of bytes: same multiset, and no message
    twice (every expected message is distinct by construction)."""
    assert len(set(expected)) == len(expected), "test bug: duplicate expected messages"
    dup = len(stored) - len(set(stored))
    assert dup == 0, "%s%d duplicated message(s) in the Maildir" % (what, dup)
    missing = [m[:80] for m in expected if m not in set(stored)]
    extra = [m[:80] for m in stored if m not in set(expected)]
    assert not missing, "%s%d message(s) missing, e.g. %r" % (what, len(missing), missing[:2])
    assert not extra, "%s%d unexpected/altered message(s), e.g. %r" % (what, len(extra),
                                                                       extra[:2])


# ---------------------------------------------------------------- messages

_WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
          "november oscar papa quebec romeo sierra tango uniform victor whiskey xray "
          "yankee zulu").split()


def gen_messages(seed, n, small=False, tag="m"):
    """n distinct LF-terminated messages with the shapes that break POP3
    clients: lines starting with '.', '..', a lone '.', 'From ', long lines,
    8-bit bytes, CR inside a line, empty body, header-only, large base64
    attachments. small=True keeps each under ~2 KB (fault tests)."""
    rnd = random.Random(seed)
    msgs = []
    for i in range(n):
        kind = rnd.randrange(10)
        hdr = ("From: Sender %d <s%d@example.test>\nTo: someone@lab.test\n"
               "Subject: %s %d %s\nMessage-ID: <%s.%d.%d@example.test>\n"
               "Date: Sun, 22 Nov 2026 10:%02d:00 +0000\n" % (
                   i, i, tag, i, rnd.choice(_WORDS), tag, seed, i, i % 60))
        body = []
        nlines = rnd.randrange(1, 8 if small else 60)
        for _ in range(nlines):
            r = rnd.random()
            if r < 0.1:
                body.append("." + " ".join(rnd.choice(_WORDS) for _ in range(5)))
            elif r < 0.15:
                body.append("..double dot")
            elif r < 0.2:
                body.append(".")
            elif r < 0.25:
                body.append("From the desk of someone")
            elif r < 0.3:
                body.append("")
            else:
                body.append(" ".join(rnd.choice(_WORDS) for _ in range(rnd.randrange(1, 15))))
        if kind == 0 and not small:
            body.append("x" * rnd.randrange(1000, 20000))  # a very long line
        if kind == 1:
            hdr += "MIME-Version: 1.0\nContent-Type: text/plain; charset=iso-8859-1\n"
            body.append("caf\xe9 na\xefve \xfcber")
        if kind == 2 and not small:
            import base64
            blob = base64.encodebytes(rnd.randbytes(rnd.randrange(1000, 150000))).decode()
            hdr += ("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b%d\n" % i)
            body = ["--b%d" % i, "Content-Type: text/plain", "", "see attachment",
                    "--b%d" % i, "Content-Type: application/octet-stream",
                    "Content-Transfer-Encoding: base64", "", blob.rstrip("\n"),
                    "--b%d--" % i]
        if kind == 3:
            body.append("a line with a\rcarriage return inside")
        if kind == 4:
            body = []  # empty body
        text = hdr + "\n" + "".join(l + "\n" for l in body)
        msgs.append(text.encode("latin-1"))
    return msgs


# -------------------------------------------------------------------- lab

_own_lab = None


def get_lab(request):
    """The conftest `lab` fixture when there is one; else $TERN_LAB_DIR (a
    running lab); else a lab started here for the session."""
    global _own_lab
    try:
        return request.getfixturevalue("lab")
    except pytest.FixtureLookupError:
        pass
    import lab as labmod
    if os.environ.get("TERN_LAB_DIR"):
        return labmod.Lab(os.environ["TERN_LAB_DIR"])
    if _own_lab is None:
        if os.geteuid() != 0:
            pytest.skip("the lab needs root")
        _own_lab = labmod.start()
        request.session.config.add_cleanup(lambda: _own_lab.stop(remove=True))
    return _own_lab


_user_seq = [0]


def wait_login(lab, user, timeout=5.0):
    """Dovecot checks its users file at most once a second: poll a real
    POP3S login until the new user is accepted."""
    import poplib
    deadline = time.monotonic() + timeout
    while True:
        try:
            p = poplib.POP3_SSL("127.0.0.1", lab.pop3s_port, context=lab.ssl_context(),
                                timeout=5)
            try:
                p.user(user.address)
                p.pass_(user.password)
                return
            finally:
                try:
                    p.quit()
                except Exception:
                    pass
        except poplib.error_proto:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def new_user(lab, prefix="p"):
    """A fresh lab user that can log in."""
    _user_seq[0] += 1
    name = "%s%d-%d-%d" % (prefix, os.getpid(), int(time.time() * 1000) % 100000, _user_seq[0])
    u = lab.add_user(name, "pw-" + name + "-x")
    wait_login(lab, u)
    return u


def lab_account(lab, user, tls="implicit", **extra):
    keys = {
        "address": user.address,
        "incoming": "pop3",
        "host": "127.0.0.1",
        "port": lab.pop3s_port if tls == "implicit" else lab.pop3_port,
        "tls": tls,
        "password": user.password,
        "ca_file": lab.ca,
        "timeout": 20,
    }
    keys.update(extra)
    return keys


def server_messages(lab, user):
    out = []
    for p in lab.messages(user):
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def ledger(home, name):
    import sqlite3
    con = sqlite3.connect(home.index(name))
    try:
        return con.execute("select uidl, message_id, downloaded_at, deleted_at from pop3_uidl "
                           "order by uidl").fetchall()
    finally:
        con.close()


def parse_json(out):
    data = json.loads(out)
    assert isinstance(data, list)
    return data


def report(request, text):
    """Put a line into the suite's output. The suite runs pytest -q
    without -s, so print() is captured and shown only for a failing test,
    and run.sh keeps nothing but its console output: write the line past
    the capture through pytest's terminal reporter (stderr when there is
    none), and record it in the JUnit XML as a property too."""
    request.node.user_properties.append(("coverage", text))
    pm = request.config.pluginmanager
    capman = pm.getplugin("capturemanager")
    tr = pm.getplugin("terminalreporter")

    def write():
        if tr is not None:
            tr.ensure_newline()
            tr.write_line(text)
        else:
            sys.__stderr__.write(text + "\n")
            sys.__stderr__.flush()

    if capman is not None:
        with capman.global_and_fixture_disabled():
            write()
    else:
        write()


def maildir_host():
    """This host's name as core/maildir puts it into file names."""
    import socket
    out = []
    for b in socket.gethostname().encode() or b"localhost":
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in ".-_"):
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return "".join(out)
