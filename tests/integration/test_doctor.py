"""`tern doctor` against the lab (Dovecot + Postfix) and scripted fakes.

Each test writes its own config (0600) into a temporary home and runs
`tern -c CONFIG doctor ...`, mostly with --json so the assertions look at
the step ids, the side (receiving / sending) and the exit code rather than
at wording. The fakes log every byte the client sends, before and after
TLS, so the tests can show that no password crossed in clear.

Fixtures from conftest.py: lab, user, fake, tern_bin.
"""

import base64
import hashlib
import json
import os
import socket
import subprocess
import time

import pytest

import fakes

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 0, 64, 69, 75, 77, 78


# --------------------------------------------------------------------------
# helpers

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def section(name, **keys):
    out = "[account %s]\n" % name
    for k, v in keys.items():
        if v is not None:
            out += "%s = %s\n" % (k, v)
    return out


def imap_account(lab, user, name="t", **over):
    keys = dict(address=user.address, incoming="imap", host="127.0.0.1",
                port=lab.imaps_port, tls="implicit",
                password_command="echo %s" % user.password, ca_file=lab.ca, timeout=5,
                smtp_host="127.0.0.1", smtp_port=lab.smtp_port, smtp_tls="starttls")
    keys.update(over)
    return section(name, **keys)


class Home:
    def __init__(self, tmp_path, tern_bin):
        self.dir = str(tmp_path)
        self.tern = tern_bin
        self.config = os.path.join(self.dir, "config")
        self.env = dict(os.environ)
        self.env.update(HOME=self.dir, XDG_CONFIG_HOME=os.path.join(self.dir, "xdg-config"),
                        XDG_DATA_HOME=os.path.join(self.dir, "data"), LC_ALL="C.UTF-8")
        self.env.pop("TERN_CONFIG", None)

    def write(self, text, mode=0o600):
        with open(self.config, "w") as f:
            f.write(text)
        os.chmod(self.config, mode)

    def read(self):
        with open(self.config) as f:
            return f.read()

    def run(self, *args, input=None, timeout=120):
        p = subprocess.run([self.tern, "-c", self.config] + list(args), env=self.env,
                           input=input if input is not None else "",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        return p

    def doctor(self, *args):
        p = self.run("doctor", "--json", *args)
        try:
            data = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("doctor --json printed no JSON: rc=%d\n%s\n%s" % (
                p.returncode, p.stdout, p.stderr))
        return p.returncode, data


@pytest.fixture
def home(tmp_path, tern_bin):
    return Home(tmp_path, tern_bin)


def steps(side):
    return {s["step"]: s for s in side["steps"]}


def failed(side):
    """(step id, detail) of the failing step, or None."""
    bad = [s for s in side["steps"] if not s["ok"]]
    assert len(bad) <= 1, bad  # a side stops at its first failure (outbox aside)
    return (bad[0]["step"], bad[0]["detail"]) if bad else None


def only_account(data):
    assert len(data["accounts"]) == 1, data
    return data["accounts"][0]


def openssl_facts(pem_path):
    """SHA-256 fingerprint and curl-style pin, computed with openssl (not
    with the GnuTLS code under test)."""
    fp = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-fingerprint",
                         "-sha256"], check=True, stdout=subprocess.PIPE, text=True).stdout
    fp = fp.strip().split("=", 1)[1].upper()
    pub = subprocess.run(["openssl", "x509", "-in", pem_path, "-noout", "-pubkey"],
                         check=True, stdout=subprocess.PIPE).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         check=True, stdout=subprocess.PIPE).stdout
    return fp, "sha256//" + base64.b64encode(hashlib.sha256(der).digest()).decode()


def secret_forms(user, password):
    b = password.encode()
    return {b, base64.b64encode(b),
            base64.b64encode(b"\0" + user.encode() + b"\0" + b),
            base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + b)}


def assert_nothing_secret_in_clear(srv, user, password):
    for c in srv.connections():
        for form in secret_forms(user, password):
            assert form not in c.plain, "password form %r sent in clear: %r" % (form, c.plain)
        for verb in (b"AUTHENTICATE", b"AUTH ", b"LOGIN", b"USER ", b"PASS "):
            assert verb not in c.plain.upper(), "%r sent in clear: %r" % (verb, c.plain)
    for login in srv.logins:
        assert login[3], "a login went over a connection without TLS: %r" % (login,)


# --------------------------------------------------------------------------
# all well

def test_lab_imap_all_ok(lab, user, home):
    home.write("# my config\n" + imap_account(lab, user))
    rc, data = home.doctor()
    assert rc == EX_OK, data
    a = only_account(data)
    assert a["name"] == "t" and a["ok"] is True
    for side in ("receiving", "sending"):
        assert a[side]["ok"] is True and a[side]["status"] == "ok", a[side]
        assert failed(a[side]) is None
    r = steps(a["receiving"])
    assert list(r) == ["config", "resolve", "connect", "tls-mode", "certificate", "password",
                       "login", "capabilities", "folders", "sent-folder"]
    for cap in ("IDLE", "CONDSTORE", "QRESYNC", "MOVE", "SPECIAL-USE"):
        assert cap in r["capabilities"]["detail"]
    assert "lacks" not in r["capabilities"]["detail"]
    assert "INBOX" in r["folders"]["detail"] and "Sent" in r["folders"]["detail"]
    assert "Sent" in r["sent-folder"]["detail"] and "\\Sent" in r["sent-folder"]["detail"]
    s = steps(a["sending"])
    assert list(s) == ["config", "resolve", "connect", "tls-mode", "starttls", "certificate",
                       "capabilities", "password", "login", "outbox"]
    for cap in ("SIZE", "8BITMIME", "PIPELINING", "PLAIN", "LOGIN"):
        assert cap in s["capabilities"]["detail"]
    assert s["outbox"]["detail"] == "empty"
    # the text form: marks and the verdict in plain words
    p = home.run("doctor")
    assert p.returncode == EX_OK, p.stdout + p.stderr
    assert "\u2717" not in p.stdout and p.stdout.count("\u2713") == 20, p.stdout
    assert "Receiving (IMAP): works." in p.stdout
    assert "Sending (SMTP): works." in p.stdout


def test_lab_pop3_ok_counts_messages_and_keep(lab, user, home):
    lab.put_messages(user, [b"Subject: one\n\nbody\n", b"Subject: two\n\nbody\n"])
    home.write(section("p", address=user.address, incoming="pop3", host="127.0.0.1",
                       port=lab.pop3_port, tls="starttls", keep="yes",
                       password_command="echo " + user.password, ca_file=lab.ca, timeout=5,
                       smtp_host="127.0.0.1", smtp_port=lab.smtps_port, smtp_tls="implicit"))
    rc, data = home.doctor()
    assert rc == EX_OK, data
    a = only_account(data)
    r = steps(a["receiving"])
    assert a["receiving"]["protocol"] == "POP3"
    assert "starttls" in r and r["starttls"]["ok"]
    assert "UIDL" in r["capabilities"]["detail"] and "PIPELINING" in r["capabilities"]["detail"]
    assert r["messages"]["detail"].startswith("2 messages")
    assert "keep = yes" in r["messages"]["detail"]
    assert steps(a["sending"])["tls-mode"]["ok"]


def test_no_smtp_host_is_not_a_failure(lab, user, home):
    home.write(imap_account(lab, user, smtp_host=None, smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    assert rc == EX_OK
    a = only_account(data)
    assert a["receiving"]["ok"] is True
    assert a["sending"]["configured"] is False
    assert "smtp_host" in a["sending"]["verdict"]


# --------------------------------------------------------------------------
# broken setups: the right step, the right side, the right exit code

def test_closed_incoming_port(lab, user, home):
    home.write(imap_account(lab, user, port=free_port()))
    rc, data = home.doctor()
    assert rc == EX_TEMPFAIL
    a = only_account(data)
    step, detail = failed(a["receiving"])
    assert step == "connect" and "refused" in detail
    assert a["sending"]["ok"] is True
    p = home.run("doctor")
    assert "Receiving (IMAP): fails \u2014" in p.stdout and "refused" in p.stdout
    assert "Sending (SMTP): works." in p.stdout


def test_closed_smtp_port(lab, user, home):
    home.write(imap_account(lab, user, smtp_port=free_port()))
    rc, data = home.doctor()
    assert rc == EX_TEMPFAIL
    a = only_account(data)
    assert a["receiving"]["ok"] is True
    step, detail = failed(a["sending"])
    assert step == "connect" and "refused" in detail


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_implicit_tls_against_starttls_port(lab, user, home, proto):
    port = lab.imap_port if proto == "imap" else lab.pop3_port
    home.write(imap_account(lab, user, incoming=proto, port=port, tls="implicit"))
    rc, data = home.doctor()
    assert rc == EX_CONFIG
    a = only_account(data)
    step, detail = failed(a["receiving"])
    assert step == "tls-mode"
    assert "plaintext greeting" in detail and "tls = implicit" in detail
    assert "STARTTLS" in detail
    assert a["sending"]["ok"] is True


def test_starttls_against_implicit_smtp_port(lab, user, home):
    home.write(imap_account(lab, user, smtp_port=lab.smtps_port, smtp_tls="starttls",
                            timeout=2))
    rc, data = home.doctor()
    assert rc == EX_CONFIG
    a = only_account(data)
    assert a["receiving"]["ok"] is True
    step, detail = failed(a["sending"])
    assert step == "tls-mode"
    assert detail == ("port %d expects TLS from the first byte, but smtp_tls = starttls"
                      % lab.smtps_port)


def test_starttls_against_implicit_imap_port(lab, user, home):
    home.write(imap_account(lab, user, port=lab.imaps_port, tls="starttls", timeout=2))
    rc, data = home.doctor()
    assert rc == EX_CONFIG
    step, detail = failed(only_account(data)["receiving"])
    assert step == "tls-mode" and "expects TLS from the first byte" in detail


def test_unknown_ca_shows_certificate_and_how_to_trust(lab, user, home):
    home.write(imap_account(lab, user, ca_file=lab.info["LAB_OTHER_CA"]))
    rc, data = home.doctor()
    assert rc == EX_UNAVAILABLE
    a = only_account(data)
    fp, pin = openssl_facts(lab.info["LAB_CERT_SERVER"])
    for side in ("receiving", "sending"):
        step, detail = failed(a[side])
        assert step == "certificate", a[side]
        assert "unknown CA" in detail or "not trusted" in detail
        hint = steps(a[side])["certificate"]["hint"]
        assert fp in hint and pin in hint
        assert "tern lab CA" in hint          # the issuer
        assert "expires:" in hint
        assert "ca_file" in hint and "tern doctor --trust -a t" in hint


def test_wrong_password_both_sides(lab, user, home):
    home.write(imap_account(lab, user, password_command="echo not-" + user.password))
    rc, data = home.doctor()
    assert rc == EX_NOPERM
    a = only_account(data)
    for side in ("receiving", "sending"):
        step, detail = failed(a[side])
        assert step == "login" and "refused the password for " + user.address in detail


def test_wrong_smtp_password_only_sending_fails(lab, user, home):
    home.write(imap_account(lab, user, smtp_password_command="echo nope"))
    rc, data = home.doctor()
    assert rc == EX_NOPERM
    a = only_account(data)
    assert a["receiving"]["ok"] is True
    step, detail = failed(a["sending"])
    assert step == "login" and "refused the password" in detail
    p = home.run("doctor")
    assert "Receiving (IMAP): works." in p.stdout
    assert "Sending (SMTP): fails \u2014 the server refused the password for %s" % user.address \
        in p.stdout


def test_password_command_failing(lab, user, home):
    home.write(imap_account(lab, user, password_command="false"))
    rc, data = home.doctor()
    assert rc == EX_CONFIG
    step, _ = failed(only_account(data)["receiving"])
    assert step == "password"


def test_config_error_is_reported_as_a_step(home):
    home.write("[account x]\naddress = a@b.c\nincoming = imap\nhots = typo\n")
    rc, data = home.doctor()
    assert rc == EX_CONFIG
    assert data["config"]["ok"] is False and "hots" in data["config"]["detail"]
    p = home.run("doctor")
    assert p.returncode == EX_CONFIG and "\u2717 configuration" in p.stdout


def test_unknown_account(lab, user, home):
    home.write(imap_account(lab, user))
    p = home.run("doctor", "-a", "nope")
    assert p.returncode == EX_CONFIG and "nope" in p.stderr


def test_several_accounts_worst_exit_code(lab, user, home):
    home.write(imap_account(lab, user, name="good") + "\n" +
               imap_account(lab, user, name="badpw", password_command="echo x") + "\n" +
               imap_account(lab, user, name="closed", port=free_port(), smtp_host=None,
                            smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    assert [a["name"] for a in data["accounts"]] == ["good", "badpw", "closed"]
    assert [a["ok"] for a in data["accounts"]] == [True, False, False]
    assert rc == EX_NOPERM          # a refused password outranks a closed port
    rc, data = home.doctor("-a", "closed")
    assert rc == EX_TEMPFAIL and len(data["accounts"]) == 1


def test_outbox_state(lab, user, home):
    home.write(imap_account(lab, user, smtp_port=free_port()))
    p = home.run("send", "--to", "x@lab.test", "--subject", "queued", input="hello\n")
    assert p.returncode == EX_TEMPFAIL, p.stderr      # queued
    rc, data = home.doctor()
    s = steps(only_account(data)["sending"])
    assert "1 message waiting to be sent" in s["outbox"]["detail"]
    assert s["outbox"]["status"] == "warn"


# --------------------------------------------------------------------------
# fakes: no STARTTLS, and no password in clear

@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
def test_fake_without_starttls(lab, user, home, fake, proto):
    srv = fake("no_starttls", proto=proto, tls="starttls")
    if proto == "smtp":
        text = imap_account(lab, user, smtp_port=srv.port,
                            smtp_password_command="echo fake-pw-77")
        side, other = "sending", "receiving"
    else:
        text = imap_account(lab, user, incoming=proto, port=srv.port, tls="starttls",
                            password_command="echo fake-pw-77", smtp_host=None,
                            smtp_port=None, smtp_tls=None)
        side, other = "receiving", "sending"
    home.write(text)
    rc, data = home.doctor()
    assert rc == EX_UNAVAILABLE
    a = only_account(data)
    step, detail = failed(a[side])
    assert step == "starttls" and "does not offer STARTTLS" in detail
    assert failed(a[other]) is None
    assert_nothing_secret_in_clear(srv, user.address, "fake-pw-77")
    assert srv.connections(), "the doctor never reached the fake"


@pytest.mark.parametrize("proto,tls", [("imap", "starttls"), ("imap", "implicit"),
                                       ("pop3", "starttls"), ("smtp", "starttls")])
def test_fake_login_only_inside_tls(lab, user, home, fake, proto, tls):
    srv = fake("normal", proto=proto, tls=tls, user=user.address, password="s3cret-fake")
    if proto == "smtp":
        text = imap_account(lab, user, smtp_port=srv.port, smtp_tls=tls,
                            smtp_password_command="echo s3cret-fake")
    else:
        text = imap_account(lab, user, incoming=proto, port=srv.port, tls=tls,
                            password_command="echo s3cret-fake", smtp_host=None,
                            smtp_port=None, smtp_tls=None)
    home.write(text)
    rc, data = home.doctor()
    a = only_account(data)
    side = a["sending" if proto == "smtp" else "receiving"]
    assert steps(side)["login"]["ok"], side
    assert any(l[4] for l in srv.logins), srv.logins
    # the log works: the login is there, inside TLS
    assert any(b"AUTH" in c.tls.upper() for c in srv.connections())
    assert_nothing_secret_in_clear(srv, user.address, "s3cret-fake")


# --------------------------------------------------------------------------
# pinning: --trust and a changed key

def test_trust_yes_writes_pin_that_works_without_ca_file(lab, user, home):
    text = ("# comment at the top\n\n" +
            imap_account(lab, user, ca_file=None) +
            "# a comment after the section\n\n[account other]\n# inside other\n"
            "address = o@x.test\nincoming = pop3\nhost = 127.0.0.1\n"
            "password_command = echo x\n")
    home.write(text)
    rc, data = home.doctor("-a", "t")
    assert rc == EX_UNAVAILABLE
    assert failed(only_account(data)["receiving"])[0] == "certificate"
    # no terminal and no --yes: nothing written
    p = home.run("doctor", "--trust", "-a", "t")
    assert p.returncode == EX_USAGE and home.read() == text
    fp, pin = openssl_facts(lab.info["LAB_CERT_SERVER"])
    p = home.run("doctor", "--trust", "--yes", "-a", "t")
    assert p.returncode == EX_OK, p.stdout + p.stderr
    assert fp in p.stdout and "tern lab CA" in p.stdout and "expires:" in p.stdout
    new = home.read()
    # exactly one line added, inside [account t], the rest byte for byte
    added = [l for l in new.splitlines() if l not in text.splitlines()]
    assert added == ["pin = " + pin]
    assert new.replace("pin = %s\n" % pin, "", 1) == text
    assert new.index("pin = ") < new.index("# a comment after the section")
    assert os.stat(home.config).st_mode & 0o777 == 0o600
    rc, data = home.doctor("-a", "t")
    assert rc == EX_OK, data
    a = only_account(data)
    assert "matches the pin" in steps(a["receiving"])["certificate"]["detail"]
    assert "matches the pin" in steps(a["sending"])["certificate"]["detail"]
    # pinned already: nothing to do
    p = home.run("doctor", "--trust", "--yes", "-a", "t")
    assert p.returncode == EX_OK and "already pinned" in p.stdout and home.read() == new


def test_wrong_pin_is_a_changed_key(lab, user, home):
    bad = "sha256//" + base64.b64encode(b"\x01" * 32).decode()
    home.write(imap_account(lab, user, ca_file=None, pin=bad))
    rc, data = home.doctor()
    assert rc == EX_UNAVAILABLE
    a = only_account(data)
    for side in ("receiving", "sending"):
        step, detail = failed(a[side])
        assert step == "certificate" and "key changed" in detail and bad in detail
    before = home.read()
    p = home.run("doctor", "--trust", "--yes")
    assert p.returncode == EX_UNAVAILABLE
    assert "CHANGED" in p.stdout and "--replace" in p.stderr
    assert home.read() == before
    p = home.run("doctor", "--trust", "--yes", "--replace")
    assert p.returncode == EX_OK, p.stdout + p.stderr
    _, pin = openssl_facts(lab.info["LAB_CERT_SERVER"])
    assert "pin = %s\n" % pin in home.read() and bad not in home.read()
    rc, _ = home.doctor()
    assert rc == EX_OK


def test_pin_with_wrong_ca_file_fails_on_the_ca(lab, user, home):
    _, pin = openssl_facts(lab.info["LAB_CERT_SERVER"])
    home.write(imap_account(lab, user, ca_file=lab.info["LAB_OTHER_CA"], pin=pin,
                            smtp_host=None, smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    assert rc == EX_UNAVAILABLE
    step, detail = failed(only_account(data)["receiving"])
    assert step == "certificate" and "key changed" not in detail


def test_name_does_not_resolve(lab, user, home):
    home.write(imap_account(lab, user, host="nonexistent.invalid"))
    rc, data = home.doctor()
    a = only_account(data)
    step, detail = failed(a["receiving"])
    assert step == "resolve" and "nonexistent.invalid" in detail
    # "no such host" is a typo to fix (78); a resolver that cannot answer is
    # a temporary problem (75): which one depends on the machine's DNS
    assert rc in (EX_CONFIG, EX_TEMPFAIL)
    assert a["sending"]["ok"] is True


@pytest.mark.parametrize("cert,why", [("wronghost", "wrong host"), ("expired", "expired"),
                                      ("selfsigned", "self-signed")])
def test_bad_certificates_named_and_no_login_attempted(lab, user, home, fake, cert, why):
    srv = fake("normal", proto="imap", tls="implicit", cert=cert)
    home.write(imap_account(lab, user, port=srv.port, password_command="echo s3cret-cert",
                            smtp_host=None, smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    assert rc == EX_UNAVAILABLE
    step, detail = failed(only_account(data)["receiving"])
    assert step == "certificate" and why in detail
    assert not srv.logins                      # the password never left tern
    for c in srv.connections():
        assert b"AUTH" not in c.tls.upper() and b"s3cret" not in c.tls


@pytest.mark.parametrize("scenario,step,words,code", [
    ("garbage_greeting", "tls-mode", "does not greet like an IMAP server", 76),
    ("stall_greeting", "tls-mode", "no greeting within 2 s", EX_TEMPFAIL),
    ("disconnect_after_greeting", "starttls", "closed the connection", EX_TEMPFAIL),
    ("imap_preauth", "tls-mode", "PREAUTH", EX_UNAVAILABLE),
])
def test_misbehaving_servers(lab, user, home, fake, scenario, step, words, code):
    srv = fake(scenario, proto="imap", tls="starttls")
    home.write(imap_account(lab, user, port=srv.port, tls="starttls", timeout=2,
                            password_command="echo s3cret-odd", smtp_host=None,
                            smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    got = failed(only_account(data)["receiving"])
    assert got and got[0] == step and words in got[1], got
    assert rc == code
    assert_nothing_secret_in_clear(srv, user.address, "s3cret-odd")


# --------------------------------------------------------------------------
# wrong port: another protocol answers there (the lab's real servers)

@pytest.mark.parametrize("incoming,tls,port_name,smtp_tls,smtp_port_name,side,found", [
    # IMAP with implicit TLS pointed at POP3S: TLS works, then a POP3 greeting
    ("imap", "implicit", "pop3s_port", None, None, "receiving", "a POP3"),
    # POP3 with STARTTLS pointed at the submission port
    ("pop3", "starttls", "smtp_port", None, None, "receiving", "an SMTP"),
    # SMTP with implicit TLS pointed at IMAPS, and with STARTTLS at IMAP
    ("imap", "implicit", "imaps_port", "implicit", "imaps_port", "sending", "an IMAP"),
    ("imap", "implicit", "imaps_port", "starttls", "imap_port", "sending", "an IMAP"),
])
def test_wrong_port_names_the_protocol_that_answers(lab, user, home, incoming, tls, port_name,
                                                    smtp_tls, smtp_port_name, side, found):
    over = dict(incoming=incoming, tls=tls, port=getattr(lab, port_name), timeout=20)
    if smtp_tls:
        over.update(smtp_tls=smtp_tls, smtp_port=getattr(lab, smtp_port_name))
    home.write(imap_account(lab, user, **over))
    t0 = time.monotonic()
    rc, data = home.doctor()
    took = time.monotonic() - t0
    assert rc == EX_CONFIG, data
    a = only_account(data)
    step, detail = failed(a[side])
    want = "SMTP" if side == "sending" else incoming.upper()
    assert step == "tls-mode", (step, detail)
    assert "greets like %s server" % found in detail and "not %s: wrong port?" % want in detail
    s = steps(a[side])
    assert "certificate" not in s           # not mistaken for a trust problem
    assert "uses port" in s["tls-mode"]["hint"]
    other = "receiving" if side == "sending" else "sending"
    assert a[other]["ok"] is True
    # the greeting of the other protocol ends the wait: no 20 s timeout
    assert took < 10, took
    p = home.run("doctor")
    assert "wrong port?\n" in p.stdout and "wrong port?." not in p.stdout, p.stdout


# --------------------------------------------------------------------------
# TLS works, then the session fails: not a certificate problem

def stall_after_greeting(session, tag, args):
    session.conn.drain_until_closed()
    raise fakes.Closed()


def close_capability_inside_tls(session, tag, args):
    if session.conn.tls:
        raise fakes.Closed()
    session.cmd_CAPABILITY(tag, args)


@pytest.mark.parametrize("case,tls,scenario,opts,step,words,code", [
    ("silent-after-handshake", "implicit", "stall_greeting", {}, "greeting",
     "no greeting within 2 s after the TLS handshake", EX_TEMPFAIL),
    ("garbage-after-handshake", "implicit", "garbage_greeting", {}, "tls-mode",
     "does not greet like an IMAP server", 76),
    ("closed-after-greeting", "implicit", "disconnect_after_greeting", {}, "capabilities",
     "right after the greeting", EX_TEMPFAIL),
    ("closed-after-starttls", "starttls", "hostile",
     {"raw": {"CAPABILITY": close_capability_inside_tls}}, "capabilities",
     "right after STARTTLS", EX_TEMPFAIL),
])
def test_failure_after_tls_is_not_a_certificate_problem(lab, user, home, fake, case, tls,
                                                        scenario, opts, step, words, code):
    srv = fake(scenario, proto="imap", tls=tls, **opts)
    home.write(imap_account(lab, user, port=srv.port, tls=tls, timeout=2,
                            password_command="echo s3cret-after", smtp_host=None,
                            smtp_port=None, smtp_tls=None))
    rc, data = home.doctor()
    side = only_account(data)["receiving"]
    got = failed(side)
    assert got and got[0] == step and words in got[1], got
    assert rc == code, data
    s = steps(side)
    if step != "tls-mode":
        # the handshake verified the certificate: shown as such, no trust advice
        assert s["certificate"]["ok"] and "trusted" in s["certificate"]["detail"], s
        assert "ca_file" not in (s[step].get("hint") or "")
    assert_nothing_secret_in_clear(srv, user.address, "s3cret-after")
    assert not srv.logins
