"""Helpers for the hardening tests (tests/integration/test_hardening_*.py).

Every test there drives the real user-facing commands (`tern fetch` for IMAP
and POP3 accounts, `tern send` for SMTP, `tern list/read/folders/
attachments`) against the lab's scripted fakes (tests/lab/fakes.py, `fake`
fixture of conftest.py) or the lab's real servers, with a private config
file and data directory per test.

    t = Tern(tmp_path)
    t.account("f", **fake_account(srv, "imap", "starttls", lab))
    r = t.run("fetch", "-a", "f")          # Result: rc, out, err (bytes), secs
"""

import base64
import os
import re
import resource
import socket
import subprocess
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EX_OK, EX_USAGE, EX_DATAERR, EX_NOINPUT = 0, 64, 65, 66
EX_UNAVAILABLE, EX_SOFTWARE, EX_TEMPFAIL, EX_PROTOCOL = 69, 70, 75, 76
EX_NOPERM, EX_CONFIG = 77, 78

FAKE_USER = "victim@fake.test"
FAKE_PW = "Hardening-Secret-pw-42"

# (proto, tls) pairs: IMAP 143/993, POP3 110/995, SMTP 587/465
MODES = [("imap", "starttls"), ("imap", "implicit"), ("pop3", "starttls"),
         ("pop3", "implicit"), ("smtp", "starttls"), ("smtp", "implicit")]
PROTOS = ("imap", "pop3", "smtp")

# What must never cross before TLS (rule 1): credentials and mail commands.
PRE_TLS_FORBIDDEN = re.compile(
    rb"(?im)^(?:\S+ )?(?:LOGIN|AUTHENTICATE|AUTH|USER|PASS|APOP|MAIL|RCPT|DATA|RETR|TOP|DELE|"
    rb"SELECT|EXAMINE|FETCH|UID|LIST|LSUB|STATUS|STAT|UIDL)\b")
CRED_RE = re.compile(rb"(?im)^(?:\S+ )?(?:LOGIN|AUTHENTICATE|AUTH|USER|PASS|APOP)\b")


def tern_path():
    return os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")


_asan = {}


def is_asan(path=None):
    """True for a sanitizer build (its address space cannot be limited)."""
    path = path or tern_path()
    if path not in _asan:
        with open(path, "rb") as f:
            data = f.read()
        _asan[path] = b"__asan_init" in data or b"AddressSanitizer" in data
    return _asan[path]


class Result:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs

    @property
    def text(self):
        return self.err.decode("utf-8", "replace")

    @property
    def stdout(self):
        return self.out.decode("utf-8", "replace")

    def __repr__(self):
        return "rc=%d %.2fs\nstdout: %r\nstderr: %r" % (self.rc, self.secs, self.out[-3000:],
                                                        self.err[-3000:])


def _limit_as(nbytes):
    def f():
        resource.setrlimit(resource.RLIMIT_AS, (nbytes, nbytes))
    return f


class Tern:
    """A config file and XDG data dir for one test."""

    def __init__(self, root):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.config = os.path.join(self.root, "config")
        self.data = os.path.join(self.root, "data")
        self.accounts = []
        self.general = {}

    def account(self, name, **keys):
        self.accounts = [(n, k) for n, k in self.accounts if n != name] + [(name, keys)]
        self.write()
        return name

    def write(self, mode=0o600):
        lines = []
        if self.general:
            lines.append("[general]")
            lines += ["%s = %s" % kv for kv in self.general.items()]
            lines.append("")
        for name, keys in self.accounts:
            lines.append("[account %s]" % name)
            for k, v in keys.items():
                if v is None:
                    continue
                if isinstance(v, bool):
                    v = "yes" if v else "no"
                lines.append("%s = %s" % (k, v))
            lines.append("")
        if os.path.exists(self.config):
            os.unlink(self.config)
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines))
        os.chmod(self.config, mode)

    def data_dir(self, name):
        return os.path.join(self.data, "tern", name)

    def env(self):
        e = dict(os.environ)
        e["XDG_DATA_HOME"] = self.data
        e["XDG_CONFIG_HOME"] = os.path.join(self.root, "xdgconfig")
        e["HOME"] = self.root
        for k in ("TERN_CONFIG", "TERN_ACCOUNT"):
            e.pop(k, None)
        return e

    def run(self, *args, input=b"", timeout=60, debug=False, limit_as=None, cwd=None):
        cmd = [tern_path(), "-c", self.config] + (["--debug"] if debug else []) + list(args)
        if isinstance(input, str):
            input = input.encode()
        t0 = time.monotonic()
        p = subprocess.run(cmd, env=self.env(), input=input, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, cwd=cwd or self.root,
                           preexec_fn=_limit_as(limit_as) if limit_as else None)
        return Result(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fake_account(srv, proto, tls, lab, timeout=5, ca=None, **extra):
    """Account keys for a fake server: incoming for IMAP/POP3, smtp_* for
    SMTP (the incoming side then points at a closed port)."""
    keys = {"address": FAKE_USER, "password": FAKE_PW, "timeout": timeout,
            "ca_file": lab.ca if ca is None else (ca or None)}
    if proto == "smtp":
        keys.update({"incoming": "pop3", "host": "127.0.0.1", "port": closed_port(),
                     "tls": "implicit", "smtp_host": "127.0.0.1", "smtp_port": srv.port,
                     "smtp_tls": tls})
    else:
        keys.update({"incoming": proto, "host": "127.0.0.1", "port": srv.port, "tls": tls})
    keys.update(extra)
    return keys


def use(t, srv, proto, tls, lab, **kw):
    """Point account 'f' of t at srv; returns the command line that
    exercises the protocol ('fetch' or 'send')."""
    t.account("f", **fake_account(srv, proto, tls, lab, **kw))
    return proto_args(proto)


def proto_args(proto, name="f"):
    if proto == "smtp":
        return ["send", "-a", name, "--no-queue", "--to", "rcpt@example.test", "--subject",
                "hardening"]
    return ["fetch", "-a", name]


def exercise(t, srv, proto, tls, lab, timeout_s=60, **kw):
    args = use(t, srv, proto, tls, lab, **kw)
    return t.run(*args, input=b"hello\n", timeout=timeout_s)


def assert_sane_exit(r, one_line=True):
    """No crash, no sanitizer report, a clean one-line error."""
    assert 0 <= r.rc < 128, r
    assert r.rc != EX_SOFTWARE, r
    assert b"AddressSanitizer" not in r.err and b"runtime error:" not in r.err, r
    assert b"LeakSanitizer" not in r.err, r
    if one_line and r.rc:
        lines = [l for l in r.err.split(b"\n") if l and not l.startswith(b"tern: debug:")]
        assert lines, r
        assert all(l.startswith(b"tern") for l in lines), r


def pre_tls(srv):
    return b"".join(c.plain for c in srv.connections())


def post_tls(srv):
    return b"".join(c.tls for c in srv.connections())


def secret_forms(user=FAKE_USER, password=FAKE_PW):
    b = password.encode()
    return {password.encode(), base64.b64encode(b),
            base64.b64encode(b"\0" + user.encode() + b"\0" + b),
            base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + b)}


def assert_no_secret(data, user=FAKE_USER, password=FAKE_PW):
    if isinstance(data, str):
        data = data.encode()
    for f in secret_forms(user, password):
        assert f not in data, "secret form %r leaked" % f
    for tok in re.findall(rb"[A-Za-z0-9+/]{8,}={0,2}", data):
        try:
            raw = base64.b64decode(tok + b"=" * (-len(tok) % 4))
        except Exception:
            continue
        assert password.encode() not in raw, "base64 token %r decodes to the secret" % tok


def assert_no_credentials(srv):
    """Nothing of the credentials reached the fake, in clear or in TLS."""
    for c in srv.connections():
        assert not CRED_RE.search(c.plain), c.plain
        assert not CRED_RE.search(c.tls), c.tls
        assert_no_secret(c.plain + c.tls)
    assert srv.logins == [], srv.logins


def assert_nothing_in_clear(srv):
    """Rule 1: no credential and no mail command before TLS."""
    for c in srv.connections():
        assert not PRE_TLS_FORBIDDEN.search(c.plain), c.plain
        assert_no_secret(c.plain)
    assert all(l[3] for l in srv.logins), srv.logins


# C0 controls except TAB and LF, DEL, and C1 controls (as characters).
_CTRL = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")


def assert_terminal_safe(data, what=""):
    """No raw control sequence: no ESC / other C0 (but TAB, LF), no DEL, no
    C1 (U+0080-U+009F, e.g. the 8-bit CSI U+009B), no undecodable bytes
    that a terminal might take as C1."""
    assert b"\x1b" not in data, "%sESC reached the terminal: %r" % (what, data[:2000])
    text = data.decode("utf-8", "replace")
    m = _CTRL.search(text)
    assert m is None, "%scontrol character %r in %r" % (what, m.group(0),
                                                        text[max(0, m.start() - 60):m.end() + 60])


def spki_pin(pem_path):
    """curl-style pin of a certificate, computed with openssl."""
    import hashlib
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"], check=True,
                         stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         stdout=subprocess.PIPE).stdout
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def make_message(subject="hello", sender="Sender <s@example.test>", body="body\n", extra="",
                 msgid=None):
    msgid = msgid or "<%s@example.test>" % re.sub(r"[^a-z0-9]", "", subject.lower())[:20]
    return ("From: %s\nTo: victim@fake.test\nSubject: %s\nDate: Tue, 2 Jan 2024 10:00:00 +0000\n"
            "Message-ID: %s\n%s\n%s" % (sender, subject, msgid, extra, body)).encode("utf-8",
                                                                                   "surrogateescape")


def files_under(root):
    out = []
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            out.append(os.path.join(d, n))
    return sorted(out)


def _quick_stop(srv):
    """FakeServer.stop without its joins and sleeps (hundreds of fakes per
    run): the accept thread sees `stopping` within 0.2 s on its own."""
    srv.stopping.set()
    try:
        srv.sock.close()
    except OSError:
        pass
    with srv.lock:
        conns = list(srv.conns)
    for c in conns:
        c.close()
    srv.log.close()


def hfake_factory(lab, tmp_path):
    """Generator behind the `hfake` fixtures: make(scenario, proto, tls,
    **opts) -> a started FakeServer that knows FAKE_USER / FAKE_PW."""
    import fakes
    made = []

    def make(scenario, proto, tls, **kw):
        kw.setdefault("user", FAKE_USER)
        kw.setdefault("password", FAKE_PW)
        kw.setdefault("nodelay", True)
        log = os.path.join(str(tmp_path), "fake%d-%s-%s-%s.log" % (len(made) + 1, scenario, proto,
                                                                  tls))
        srv = fakes.serve(scenario, proto=proto, tls=tls, log=log, certs=lab.info, **kw)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        _quick_stop(srv)
