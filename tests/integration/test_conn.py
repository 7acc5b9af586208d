"""Integration tests for core/conn through the conn-check tool.

Real servers: the lab (Dovecot + Postfix) via the `lab` and `user` fixtures
of tests/integration/conftest.py. Hostile or broken servers: the lab's
scripted fakes (`fake` fixture, tests/lab/fakes.py) and, for what those do
not script (SASL mechanism choice, XOAUTH2, bad certificates per protocol,
dripping or stalled logout, cancel), the small TLS fakes below. Both log
every byte the client sends, decrypted, so tests can prove that no
credential left the client.

conn-check is found as $CONN_CHECK, else next to $TERN_BIN
(<build>/core/conn/conn-check), else build/core/conn/conn-check.
"""

import base64
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EX_OK, EX_UNAVAILABLE, EX_TEMPFAIL, EX_PROTOCOL, EX_NOPERM = 0, 69, 75, 76, 77

# (proto, tls) -> lab port name
LAB_PORT = {
    ("imap", "starttls"): "imap", ("imap", "implicit"): "imaps",
    ("pop3", "starttls"): "pop3", ("pop3", "implicit"): "pop3s",
    ("smtp", "starttls"): "smtp", ("smtp", "implicit"): "smtps",
}
MODES = sorted(LAB_PORT)
PROTOS = ("imap", "pop3", "smtp")


def conn_check_path():
    if os.environ.get("CONN_CHECK"):
        return os.environ["CONN_CHECK"]
    tern = os.environ.get("TERN_BIN")
    if tern:
        return os.path.join(os.path.dirname(tern), "core", "conn", "conn-check")
    return os.path.join(TOP, "build", "core", "conn", "conn-check")


class Result:
    def __init__(self, rc, out, err, secs):
        self.rc, self.out, self.err, self.secs = rc, out, err, secs

    def __repr__(self):
        return "rc=%d %.2fs\nstdout: %s\nstderr: %s" % (self.rc, self.secs, self.out, self.err)


def run_check(proto, tls, port, user=None, password=None, ca=None, pin=None, timeout=None,
              deadline=None, debug=False, show_cert=False, auth=None, request=False,
              cancel_after=None, lines=False, limit=60):
    args = [conn_check_path(), "--proto", proto, "--tls", tls, "--host", "127.0.0.1",
            "--port", str(port)]
    env = dict(os.environ)
    if user:
        args += ["--user", user]
    if password is not None:
        env["CONN_TEST_SECRET"] = password
        args += ["--password-env", "CONN_TEST_SECRET"]
    if auth:
        args += ["--auth", auth]
    if ca:
        args += ["--ca", ca]
    if pin:
        args += ["--pin", pin]
    if timeout:
        args += ["--timeout", str(timeout)]
    if deadline:
        args += ["--deadline", str(deadline)]
    if debug:
        args.append("--debug")
    if show_cert:
        args.append("--show-cert")
    if request:
        args.append("--request")
    if cancel_after:
        args += ["--cancel-after", str(cancel_after)]
    if lines:
        args.append("--lines")
    t0 = time.monotonic()
    p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=limit)
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"), time.monotonic() - t0)


def spki_pin(pem_path):
    """curl-style pin of a certificate, computed with openssl (independent
    of the GnuTLS code under test)."""
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"],
                         check=True, stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, stdout=subprocess.PIPE).stdout
    import hashlib
    return "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def secret_forms(user, password):
    """Every form a password can take on the wire or in a trace."""
    b = password.encode()
    forms = {password, base64.b64encode(b).decode(),
             base64.b64encode(b"\0" + user.encode() + b"\0" + b).decode(),
             base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + b).decode()}
    return forms


def assert_no_secret(text, user, password):
    for f in secret_forms(user, password):
        assert f not in text, "secret form %r leaked" % f
    # Any base64-looking token must not decode to something holding it.
    for tok in re.findall(r"[A-Za-z0-9+/]{8,}={0,2}", text):
        try:
            raw = base64.b64decode(tok + "=" * (-len(tok) % 4))
        except Exception:
            continue
        assert password.encode() not in raw, "base64 token %r decodes to the secret" % tok


# --------------------------------------------------------------------------
# certificates: the lab's when there is a lab, else $CONN_TEST_CERTS (a
# directory laid out like the lab's certs/) for work without the lab.

CERT_KEYS = {"ca": "LAB_CA", "other_ca": "LAB_OTHER_CA", "server": "LAB_CERT_SERVER",
             "server_key": "LAB_KEY_SERVER", "selfsigned": "LAB_CERT_SELFSIGNED",
             "selfsigned_key": "LAB_KEY_SELFSIGNED", "expired": "LAB_CERT_EXPIRED",
             "expired_key": "LAB_KEY_EXPIRED", "wronghost": "LAB_CERT_WRONGHOST",
             "wronghost_key": "LAB_KEY_WRONGHOST"}
CERT_FILES = {"ca": "ca.pem", "other_ca": "other-ca.pem", "server": "server.pem",
              "server_key": "server.key", "selfsigned": "selfsigned.pem",
              "selfsigned_key": "selfsigned.key", "expired": "expired.pem",
              "expired_key": "expired.key", "wronghost": "wronghost.pem",
              "wronghost_key": "wronghost.key"}


@pytest.fixture
def certs(request):
    d = os.environ.get("CONN_TEST_CERTS")
    if d:
        return {k: os.path.join(d, v) for k, v in CERT_FILES.items()}
    lab = request.getfixturevalue("lab")
    return {k: lab.info[v] for k, v in CERT_KEYS.items()}


# --------------------------------------------------------------------------
# scripted fake servers

class Chan:
    """A server-side connection that logs every byte the client sends."""

    def __init__(self, server, sock):
        self.server, self.sock, self.buf, self.tls = server, sock, b"", False

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError
            self.server.record(data, self.tls)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("latin-1")

    def send(self, text):
        self.sock.sendall(text.encode("latin-1"))

    def starttls(self):
        self.sock = self.server.ctx.wrap_socket(self.sock, server_side=True)
        self.tls = True
        self.server.events.append("tls-up")


class Fake:
    """IMAP/POP3/SMTP server with knobs for the failure modes under test.

    offer_starttls: advertise STARTTLS/STLS; mechs: SASL mechanisms offered
    after TLS; inject: send an extra line in the same write as the STARTTLS
    reply (CVE-2021-22947 style); greeting/logout: None, "stall" or "drip"
    (one byte every 2 s)."""

    def __init__(self, proto, tls, cert, key, user="u@fake.test", password="fake-pw-1",
                 offer_starttls=True, mechs=("PLAIN", "LOGIN"), inject=False, greeting=None,
                 logout=None, token=None, sasl_ir=True):
        self.proto, self.mode = proto, tls
        self.user, self.password, self.token = user, password, token
        self.offer_starttls, self.mechs, self.inject = offer_starttls, mechs, inject
        self.greeting_mode, self.logout_mode = greeting, logout
        self.sasl_ir = sasl_ir
        self.initial_responses = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.log = bytearray()       # everything the client sent
        self.tls_log = bytearray()   # the part sent inside TLS
        self.events, self.auth_lines = [], []
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def record(self, data, tls):
        with self.lock:
            self.log += data
            if tls:
                self.tls_log += data

    def stop(self):
        self.stopping.set()
        self.lsock.close()

    def accept_loop(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def serve(self, s):
        ch = Chan(self, s)
        try:
            if self.mode == "implicit":
                ch.starttls()
            greeting = {"imap": "* OK fake IMAP ready\r\n", "pop3": "+OK fake POP3 ready\r\n",
                        "smtp": "220 fake.test ESMTP fake\r\n"}[self.proto]
            self.slow(ch, greeting, self.greeting_mode)
            getattr(self, "serve_" + self.proto)(ch)
        except (EOFError, OSError, ssl.SSLError) as e:
            self.events.append("closed: %s" % type(e).__name__)
        finally:
            try:
                s.close()
                ch.sock.close()
            except OSError:
                pass

    def slow(self, ch, text, mode):
        if mode == "stall":
            self.stopping.wait(120)
            return
        if mode == "drip":
            for c in text:
                ch.send(c)
                if self.stopping.wait(2):
                    return
            return
        ch.send(text)

    def check_plain(self, b64):
        try:
            parts = base64.b64decode(b64).split(b"\0")
        except Exception:
            return False
        return len(parts) == 3 and parts[1].decode() == self.user and \
            parts[2].decode() == self.password

    def check_xoauth2(self, b64):
        try:
            raw = base64.b64decode(b64).decode()
        except Exception:
            return False
        return raw == "user=%s\x01auth=Bearer %s\x01\x01" % (self.user, self.token)

    def sasl(self, ch, mech, ir, prompt):
        """Run one SASL exchange; prompt(text) sends a continuation."""
        mech = mech.upper()
        self.auth_lines.append(mech)
        if mech == "PLAIN" and "PLAIN" in self.mechs:
            if ir is None:
                prompt("")
                ir = ch.readline()
            return self.check_plain(ir)
        if mech == "LOGIN" and "LOGIN" in self.mechs:
            if ir is None:
                prompt(base64.b64encode(b"Username:").decode())
                ir = ch.readline()
            prompt(base64.b64encode(b"Password:").decode())
            pw = ch.readline()
            try:
                return base64.b64decode(ir).decode() == self.user and \
                    base64.b64decode(pw).decode() == self.password
            except Exception:
                return False
        if mech == "XOAUTH2" and "XOAUTH2" in self.mechs:
            if ir is None:
                prompt("")
                ir = ch.readline()
            return self.check_xoauth2(ir)
        return False

    def serve_imap(self, ch):
        while True:
            line = ch.readline()
            tag, _, rest = line.partition(" ")
            cmd, _, args = rest.partition(" ")
            cmd = cmd.upper()
            if cmd == "CAPABILITY":
                caps = "IMAP4rev1"
                if not ch.tls and self.offer_starttls:
                    caps += " STARTTLS LOGINDISABLED"
                if ch.tls:
                    caps += "".join(" AUTH=" + m for m in self.mechs)
                    if self.sasl_ir:
                        caps += " SASL-IR"
                ch.send("* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
            elif cmd == "STARTTLS" and self.offer_starttls and not ch.tls:
                extra = "* OK [ALERT] injected\r\n" if self.inject else ""
                ch.send("%s OK begin TLS\r\n%s" % (tag, extra))
                ch.starttls()
            elif cmd == "AUTHENTICATE":
                mech, _, ir = args.partition(" ")
                self.initial_responses.append(bool(ir))
                ok = self.sasl(ch, mech, ir or None, lambda t: ch.send("+ %s\r\n" % t))
                ch.send("%s OK logged in\r\n" % tag if ok else
                        "%s NO [AUTHENTICATIONFAILED] Authentication failed.\r\n" % tag)
            elif cmd == "LOGIN":
                self.auth_lines.append("LOGIN")
                ch.send("%s NO LOGIN refused by fake\r\n" % tag)
            elif cmd == "NOOP":
                self.events.append("NOOP")
                ch.send("%s OK NOOP done\r\n" % tag)
            elif cmd == "LOGOUT":
                self.slow(ch, "* BYE fake logging out\r\n%s OK LOGOUT completed\r\n" % tag,
                          self.logout_mode)
                return
            else:
                ch.send("%s BAD unknown command\r\n" % tag)

    def serve_pop3(self, ch):
        while True:
            line = ch.readline()
            cmd, _, args = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "CAPA":
                caps = "+OK\r\nTOP\r\nUIDL\r\n"
                if ch.tls and self.mechs:
                    caps += "SASL %s\r\n" % " ".join(self.mechs)
                if not ch.tls and self.offer_starttls:
                    caps += "STLS\r\n"
                ch.send(caps + ".\r\n")
            elif cmd == "STLS" and self.offer_starttls and not ch.tls:
                extra = "+OK injected\r\n" if self.inject else ""
                ch.send("+OK begin TLS\r\n%s" % extra)
                ch.starttls()
            elif cmd == "AUTH":
                mech, _, ir = args.partition(" ")
                self.initial_responses.append(bool(ir))
                ok = self.sasl(ch, mech, ir or None, lambda t: ch.send("+ %s\r\n" % t))
                ch.send("+OK logged in\r\n" if ok else "-ERR [AUTH] Authentication failed.\r\n")
            elif cmd in ("USER", "PASS", "APOP"):
                self.auth_lines.append(cmd)
                ch.send("-ERR not here\r\n")
            elif cmd == "NOOP":
                self.events.append("NOOP")
                ch.send("+OK\r\n")
            elif cmd == "QUIT":
                self.slow(ch, "+OK fake signing off\r\n", self.logout_mode)
                return
            else:
                ch.send("-ERR unknown command\r\n")

    def serve_smtp(self, ch):
        while True:
            line = ch.readline()
            cmd, _, args = line.partition(" ")
            cmd = cmd.upper()
            if cmd in ("EHLO", "HELO"):
                lines = ["fake.test greets %s" % args]
                if not ch.tls and self.offer_starttls:
                    lines.append("STARTTLS")
                if ch.tls and self.mechs:
                    lines.append("AUTH " + " ".join(self.mechs))
                lines.append("8BITMIME")
                ch.send("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", l)
                                for i, l in enumerate(lines)))
            elif cmd == "STARTTLS" and self.offer_starttls and not ch.tls:
                extra = "250 injected\r\n" if self.inject else ""
                ch.send("220 2.0.0 ready for TLS\r\n%s" % extra)
                ch.starttls()
            elif cmd == "AUTH":
                mech, _, ir = args.partition(" ")
                self.initial_responses.append(bool(ir))
                ok = self.sasl(ch, mech, ir or None, lambda t: ch.send("334 %s\r\n" % t))
                ch.send("235 2.7.0 Authentication successful\r\n" if ok else
                        "535 5.7.8 Error: authentication failed\r\n")
            elif cmd == "NOOP":
                self.events.append("NOOP")
                ch.send("250 2.0.0 Ok\r\n")
            elif cmd == "QUIT":
                self.slow(ch, "221 2.0.0 Bye\r\n", self.logout_mode)
                return
            else:
                ch.send("502 5.5.2 unknown command\r\n")


@pytest.fixture
def fakes(certs):
    made = []

    def make(proto, tls, cert="server", **kw):
        f = Fake(proto, tls, certs[cert], certs[cert + "_key"], **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.stop()


CRED_RE = re.compile(rb"(?im)^(?:\S+ )?(?:LOGIN|AUTHENTICATE|AUTH|USER|PASS|APOP)\b")


def assert_no_credentials_sent(fake, password):
    assert not CRED_RE.search(bytes(fake.log)), bytes(fake.log)
    assert not fake.auth_lines
    for f in secret_forms(fake.user, password):
        assert f.encode() not in fake.log


# --------------------------------------------------------------------------
# tests against the fakes: every protocol and TLS mode where it applies

@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_login_ok(fakes, certs, proto, tls):
    f = fakes(proto, tls)
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_OK, r
    assert "ok:" in r.out
    assert f.auth_lines == ["PLAIN"], f.auth_lines
    assert "tls-up" in f.events


@pytest.mark.parametrize("req", [False, True])
@pytest.mark.parametrize("proto", PROTOS)
def test_fake_server_lines_hook(fakes, certs, proto, req):
    f = fakes(proto, "starttls")
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"], lines=True,
                  request=req)
    assert r.rc == EX_OK, r
    got = [l[6:] for l in r.out.splitlines() if l.startswith("line: ")]
    greeting = {"imap": "* OK fake IMAP ready", "pop3": "+OK fake POP3 ready",
                "smtp": "220 fake.test ESMTP fake"}[proto]
    final = {"imap": "OK logged in", "pop3": "+OK logged in", "smtp": "235 2.7.0"}[proto]
    assert got and got[0] == greeting, got
    assert any(final in l for l in got), got
    if req:
        assert any("NOOP" in l or l.startswith("250 2.0.0 Ok") or l == "+OK" for l in got), got


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_initial_response(fakes, certs, proto):
    # One round trip: PLAIN with an initial response...
    f = fakes(proto, "implicit")
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_OK and f.initial_responses == [True], (r, f.initial_responses)


def test_fake_imap_without_sasl_ir(fakes, certs):
    # ... but IMAP only when the server announces SASL-IR (RFC 4959); else
    # the continuation, which the trace must mask too.
    f = fakes("imap", "starttls", sasl_ir=False, password="NoIR-Secret-pw")
    r = run_check("imap", "starttls", f.port, f.user, f.password, ca=certs["ca"], debug=True)
    assert r.rc == EX_OK, r
    assert f.initial_responses == [False] and f.auth_lines == ["PLAIN"]
    assert "C: [redacted]" in r.err, r
    assert_no_secret(r.err + r.out, f.user, f.password)


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_login_fallback_to_sasl_login(fakes, certs, proto):
    f = fakes(proto, "implicit", mechs=("CRAM-MD5", "LOGIN"))
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_OK, r
    assert f.auth_lines == ["LOGIN"], f.auth_lines


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_plain_preferred_over_others(fakes, certs, proto):
    f = fakes(proto, "starttls", mechs=("CRAM-MD5", "DIGEST-MD5", "NTLM", "LOGIN", "PLAIN"))
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_OK, r
    assert f.auth_lines == ["PLAIN"], f.auth_lines


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_no_usable_mechanism(fakes, certs, proto):
    f = fakes(proto, "implicit", mechs=("CRAM-MD5", "DIGEST-MD5", "NTLM"))
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "no login method" in r.err or "offers no AUTH" in r.err, r
    assert_no_credentials_sent(f, f.password)


def test_fake_smtp_without_auth_is_refused(fakes, certs):
    f = fakes("smtp", "starttls", mechs=())
    r = run_check("smtp", "starttls", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "offers no AUTH" in r.err, r
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_wrong_password(fakes, certs, proto, tls):
    f = fakes(proto, tls)
    r = run_check(proto, tls, f.port, f.user, "not-the-password", ca=certs["ca"])
    assert r.rc == EX_NOPERM, r
    assert "refused the password for %s" % f.user in r.err, r


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_no_starttls_refused_before_credentials(fakes, certs, proto):
    f = fakes(proto, "starttls", offer_starttls=False)
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "does not offer STARTTLS" in r.err and "refusing" in r.err, r
    assert "tls-up" not in f.events
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_starttls_injection(fakes, certs, proto):
    f = fakes(proto, "starttls", inject=True)
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc != EX_OK, r
    assert r.rc == EX_PROTOCOL, r
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("proto,tls", MODES)
@pytest.mark.parametrize("cert,why", [("selfsigned", "self-signed"),
                                      ("expired", "expired"),
                                      ("wronghost", "wrong host")])
def test_fake_bad_certificate_refused(fakes, certs, proto, tls, cert, why):
    f = fakes(proto, tls, cert=cert)
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "certificate not trusted" in r.err and why in r.err, r
    assert "SHA-256 fingerprint" in r.err and "pin = sha256//" in r.err, r
    assert len(bytes(f.tls_log)) == 0, bytes(f.tls_log)
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_other_ca_refused(fakes, certs, proto, tls):
    f = fakes(proto, tls)
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["other_ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "unknown CA" in r.err, r
    assert len(bytes(f.tls_log)) == 0


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_pin(fakes, certs, proto, tls):
    pin = spki_pin(certs["selfsigned"])
    f = fakes(proto, tls, cert="selfsigned")
    # Without trust, the refusal names the pin to use, which is the same
    # value openssl computes from the certificate.
    r = run_check(proto, tls, f.port, f.user, f.password, show_cert=True)
    assert r.rc == EX_UNAVAILABLE, r
    assert "pin: " + pin in r.out, r
    assert pin in r.err, r
    # The right pin alone is enough (no CA).
    r = run_check(proto, tls, f.port, f.user, f.password, pin=pin)
    assert r.rc == EX_OK, r
    # A wrong pin (another key) is refused before any credential.
    n_auth = len(f.auth_lines)
    bad = spki_pin(certs["server"])
    f2 = fakes(proto, tls, cert="selfsigned")
    r = run_check(proto, tls, f2.port, f2.user, f2.password, pin=bad)
    assert r.rc == EX_UNAVAILABLE, r
    assert "server key changed: pin mismatch" in r.err, r
    assert len(bytes(f2.tls_log)) == 0
    assert_no_credentials_sent(f2, f2.password)
    assert n_auth == 1


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_pin_and_ca_both_enforced(fakes, certs, proto, tls):
    f = fakes(proto, tls, cert="server")
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"],
                  pin=spki_pin(certs["server"]))
    assert r.rc == EX_OK, r
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"],
                  pin=spki_pin(certs["selfsigned"]))
    assert r.rc == EX_UNAVAILABLE and "pin mismatch" in r.err, r


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_implicit_port_spoken_as_starttls_and_back(fakes, certs, proto):
    # starttls client -> implicit TLS server: the client waits for a
    # plaintext greeting that never comes (the server waits for a TLS
    # hello): bounded by the timeout.
    f = fakes(proto, "implicit")
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"], timeout="1.5")
    assert r.rc == EX_TEMPFAIL, r
    assert "timed out" in r.err
    assert r.secs < 6
    # implicit client -> plaintext (STARTTLS) server: TLS handshake error
    # with a hint about the mode.
    f = fakes(proto, "starttls")
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"], timeout=3)
    assert r.rc == EX_UNAVAILABLE, r
    assert "TLS" in r.err and "tls = starttls" in r.err, r
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_drip_logout_hits_deadline(fakes, certs, proto, tls):
    # After login the stream is ours (not libcurl's): same rules.
    f = fakes(proto, tls, logout="drip")
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"], timeout=5,
                  deadline=3)
    assert r.rc == EX_TEMPFAIL, r
    assert "timed out" in r.err, r
    assert r.secs < 3 + 2, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_stall_logout_hits_timeout(fakes, certs, proto, tls):
    f = fakes(proto, tls, logout="stall")
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"], timeout="1.5")
    assert r.rc == EX_TEMPFAIL, r
    assert "timed out" in r.err, r
    assert r.secs < 1.5 + 2, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_debug_trace_redacts(fakes, certs, proto, tls):
    f = fakes(proto, tls, password="Tr4ce-Secret-pw")
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"], debug=True)
    assert r.rc == EX_OK, r
    assert "debug: C:" in r.err and "debug: S:" in r.err, r
    assert "[redacted]" in r.err, r
    assert_no_secret(r.err + r.out, f.user, f.password)


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_debug_trace_redacts_sasl_login(fakes, certs, proto):
    f = fakes(proto, "starttls", mechs=("LOGIN",), password="L0gin-Secret-pw")
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"], debug=True)
    assert r.rc == EX_OK, r
    assert_no_secret(r.err + r.out, f.user, f.password)


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_xoauth2(fakes, certs, proto):
    token = "ya29.fake-token-abcdef"
    f = fakes(proto, "implicit", mechs=("PLAIN", "XOAUTH2"), token=token)
    r = run_check(proto, "implicit", f.port, f.user, token, ca=certs["ca"], auth="xoauth2",
                  debug=True)
    assert r.rc == EX_OK, r
    assert f.auth_lines == ["XOAUTH2"], f.auth_lines
    assert_no_secret(r.err + r.out, f.user, token)
    r = run_check(proto, "implicit", f.port, f.user, "wrong-token", ca=certs["ca"],
                  auth="xoauth2")
    assert r.rc == EX_NOPERM, r
    assert "refused the OAuth2 token" in r.err


# Request-style handles (conn_handle_new): the same option set, checked
# through libcurl's own protocol code.

@pytest.mark.parametrize("proto,tls", MODES)
def test_fake_request_handle(fakes, certs, proto, tls):
    f = fakes(proto, tls, password="Req-Secret-pw9")
    r = run_check(proto, tls, f.port, f.user, f.password, ca=certs["ca"], request=True,
                  debug=True, show_cert=True)
    assert r.rc == EX_OK, r
    assert "pin: " + spki_pin(certs["server"]) in r.out, r
    assert "NOOP" in f.events and f.auth_lines == ["PLAIN"], (f.events, f.auth_lines)
    assert_no_secret(r.err + r.out, f.user, f.password)
    r = run_check(proto, tls, f.port, f.user, "wrong", ca=certs["ca"], request=True)
    assert r.rc == EX_NOPERM and "refused the password" in r.err, r


@pytest.mark.parametrize("proto", PROTOS)
def test_fake_request_handle_refusals(fakes, certs, proto):
    f = fakes(proto, "starttls", offer_starttls=False)
    r = run_check(proto, "starttls", f.port, f.user, f.password, ca=certs["ca"], request=True)
    assert r.rc == EX_UNAVAILABLE and "does not offer STARTTLS" in r.err, r
    assert_no_credentials_sent(f, f.password)
    f = fakes(proto, "implicit", cert="expired")
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"], request=True,
                  show_cert=True)
    assert r.rc == EX_UNAVAILABLE and "expired" in r.err, r
    assert "problem: certificate expired" in r.out, r
    f = fakes(proto, "implicit", mechs=())
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"], request=True)
    assert r.rc == EX_UNAVAILABLE, r
    assert "NOOP" not in f.events
    assert_no_credentials_sent(f, f.password)


@pytest.mark.parametrize("where", ["greeting", "logout"])
@pytest.mark.parametrize("proto", PROTOS)
def test_fake_cancel(fakes, certs, proto, where):
    f = fakes(proto, "implicit", **{where: "stall"})
    r = run_check(proto, "implicit", f.port, f.user, f.password, ca=certs["ca"], timeout=20,
                  cancel_after="0.8")
    assert r.rc == EX_TEMPFAIL and "canceled" in r.err, r
    assert r.secs < 0.8 + 1.5, r


def test_connection_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    r = run_check("imap", "implicit", port, "u", "p")
    assert r.rc == EX_TEMPFAIL, r
    assert "connection refused" in r.err


def test_bad_pin_syntax_is_config_error():
    r = run_check("imap", "implicit", 993, "u", "p", pin="sha256//tooshort")
    assert r.rc == 78, r
    assert "invalid pin" in r.err


# --------------------------------------------------------------------------
# tests against the lab's real servers (Dovecot IMAP/POP3, Postfix
# submission 587 STARTTLS and 465 implicit)

def lab_port(lab, proto, tls):
    return lab.ports[LAB_PORT[(proto, tls)]]


@pytest.mark.parametrize("proto,tls", MODES)
def test_lab_login(lab, user, proto, tls):
    r = run_check(proto, tls, lab_port(lab, proto, tls), user.login, user.password, ca=lab.ca)
    assert r.rc == EX_OK, r
    assert "logged out" in r.out
    assert r.secs < 5, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_lab_wrong_password(lab, user, proto, tls):
    r = run_check(proto, tls, lab_port(lab, proto, tls), user.login, user.password + "-wrong",
                  ca=lab.ca)
    assert r.rc == EX_NOPERM, r
    assert "refused the password for %s" % user.login in r.err, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_lab_other_ca_refused(lab, user, certs, proto, tls):
    r = run_check(proto, tls, lab_port(lab, proto, tls), user.login, user.password,
                  ca=certs["other_ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "certificate not trusted" in r.err and "unknown CA" in r.err, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_lab_pin_without_ca(lab, user, certs, proto, tls):
    port = lab_port(lab, proto, tls)
    r = run_check(proto, tls, port, user.login, user.password, pin=spki_pin(certs["server"]))
    assert r.rc == EX_OK, r
    r = run_check(proto, tls, port, user.login, user.password, pin=spki_pin(certs["selfsigned"]))
    assert r.rc == EX_UNAVAILABLE and "pin mismatch" in r.err, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_lab_debug_trace_has_no_password(lab, user, proto, tls):
    r = run_check(proto, tls, lab_port(lab, proto, tls), user.login, user.password, ca=lab.ca,
                  debug=True)
    assert r.rc == EX_OK, r
    assert "debug: C:" in r.err and "[redacted]" in r.err, r
    assert_no_secret(r.err + r.out, user.login, user.password)


# --------------------------------------------------------------------------
# the same hostile scenarios against the lab's fakes (tests/lab/fakes.py), an
# independent implementation that logs every client byte with TLS markers

@pytest.fixture
def labfake(fake):
    def make(scenario, proto, tls, **kw):
        return fake(scenario, proto=proto, tls=tls, user="u@fake.test", password="LabFake-pw-7",
                    **kw)
    return make


LAB_CRED_RE = re.compile(rb"(?im)^(?:\S+ )?(?:LOGIN|AUTHENTICATE|AUTH|USER|PASS|APOP)\b")


def assert_lab_fake_got_no_credentials(srv):
    for c in srv.connections():
        assert not LAB_CRED_RE.search(c.plain), c.plain
        assert not LAB_CRED_RE.search(c.tls), c.tls
        for f in secret_forms("u@fake.test", "LabFake-pw-7"):
            assert f.encode() not in c.plain + c.tls
    assert srv.logins == []


@pytest.mark.parametrize("proto,tls", MODES)
def test_labfake_normal(labfake, certs, proto, tls):
    srv = labfake("normal", proto, tls)
    r = run_check(proto, tls, srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"])
    assert r.rc == EX_OK, r
    assert [(l[1], l[3], l[4]) for l in srv.logins] == [("u@fake.test", True, True)]
    assert all(c.tls_started for c in srv.connections())


@pytest.mark.parametrize("proto", PROTOS)
def test_labfake_no_starttls(labfake, certs, proto):
    srv = labfake("no_starttls", proto, "starttls")
    r = run_check(proto, "starttls", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "does not offer STARTTLS" in r.err, r
    assert_lab_fake_got_no_credentials(srv)


@pytest.mark.parametrize("proto", PROTOS)
def test_labfake_starttls_refused(labfake, certs, proto):
    srv = labfake("starttls_refused", proto, "starttls")
    r = run_check(proto, "starttls", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert "STARTTLS" in r.err and "refusing" in r.err, r
    assert_lab_fake_got_no_credentials(srv)


@pytest.mark.parametrize("proto", PROTOS)
def test_labfake_starttls_injection(labfake, certs, proto):
    srv = labfake("starttls_injection", proto, "starttls")
    r = run_check(proto, "starttls", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"])
    assert r.rc != EX_OK, r
    assert_lab_fake_got_no_credentials(srv)


def test_labfake_imap_preauth(labfake, certs):
    srv = labfake("imap_preauth", "imap", "starttls")
    r = run_check("imap", "starttls", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"])
    assert r.rc == EX_UNAVAILABLE, r
    assert_lab_fake_got_no_credentials(srv)


@pytest.mark.parametrize("proto,tls", MODES)
def test_labfake_stall_greeting(labfake, certs, proto, tls):
    srv = labfake("stall_greeting", proto, tls)
    r = run_check(proto, tls, srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"], timeout=2)
    assert r.rc == EX_TEMPFAIL and "timed out" in r.err, r
    assert r.secs < 2 + 2, r
    assert_lab_fake_got_no_credentials(srv)


@pytest.mark.parametrize("proto", PROTOS)
def test_labfake_stall_handshake(labfake, certs, proto):
    srv = labfake("stall_handshake", proto, "implicit")
    r = run_check(proto, "implicit", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"],
                  timeout=2)
    assert r.rc == EX_TEMPFAIL and "timed out" in r.err, r
    assert r.secs < 2 + 2, r


@pytest.mark.parametrize("proto,tls", MODES)
def test_labfake_drip(labfake, certs, proto, tls):
    srv = labfake("drip", proto, tls)
    r = run_check(proto, tls, srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"],
                  timeout=5, deadline=3)
    # the stall/drip at the greeting (libcurl's phase) for every mode here;
    # after login (tern's own stream) in test_fake_*_logout_*
    assert r.rc == EX_TEMPFAIL and "timed out" in r.err, r
    assert r.secs < 3 + 2, r


@pytest.mark.parametrize("proto", PROTOS)
def test_labfake_garbage_or_disconnect(labfake, certs, proto):
    for scenario in ("garbage_greeting", "disconnect_after_greeting"):
        srv = labfake(scenario, proto, "starttls")
        r = run_check(proto, "starttls", srv.port, "u@fake.test", "LabFake-pw-7", ca=certs["ca"],
                      timeout=2)
        assert r.rc in (EX_TEMPFAIL, EX_PROTOCOL), (scenario, r)
        assert r.err.count("\n") == 1, r
        assert_lab_fake_got_no_credentials(srv)
