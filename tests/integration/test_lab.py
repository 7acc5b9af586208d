"""The lab itself works: Python's own imaplib/poplib/smtplib against the
private Dovecot and Postfix, TLS verified with the lab CA; plus the fakes
and the mail generator."""

import email
import email.policy
import imaplib
import json
import os
import poplib
import re
import smtplib
import socket
import subprocess
import sys
import time
import uuid

import pytest

import fakes as fakesmod
import lab as labmod

TIMEOUT = 15


def imap_starttls(lab):
    c = imaplib.IMAP4(lab.host, lab.imap_port, timeout=TIMEOUT)
    c.starttls(lab.ssl_context())
    return c


def imaps(lab):
    return imaplib.IMAP4_SSL(lab.host, lab.imaps_port, ssl_context=lab.ssl_context(), timeout=TIMEOUT)


def pop3_stls(lab):
    p = poplib.POP3(lab.host, lab.pop3_port, timeout=TIMEOUT)
    p.stls(lab.ssl_context())
    return p


def pop3s(lab):
    return poplib.POP3_SSL(lab.host, lab.pop3s_port, context=lab.ssl_context(), timeout=TIMEOUT)


def smtp_submission(lab):
    s = smtplib.SMTP(lab.host, lab.smtp_port, timeout=TIMEOUT)
    s.starttls(context=lab.ssl_context())
    return s


def smtps(lab):
    return smtplib.SMTP_SSL(lab.host, lab.smtps_port, context=lab.ssl_context(), timeout=TIMEOUT)


# ------------------------------------------------------------------ env

def test_env_files(lab):
    env = {}
    with open(os.path.join(lab.dir, "lab.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            env[k] = v
    with open(os.path.join(lab.dir, "lab.json")) as f:
        js = json.load(f)
    assert set(env) == set(js)
    for k in ("LAB_DIR", "LAB_HOST", "LAB_IMAP_PORT", "LAB_IMAPS_PORT", "LAB_POP3_PORT",
              "LAB_POP3S_PORT", "LAB_SMTP_PORT", "LAB_SMTPS_PORT", "LAB_CA", "LAB_OTHER_CA",
              "LAB_CERT_SELFSIGNED", "LAB_KEY_SELFSIGNED", "LAB_CERT_EXPIRED", "LAB_KEY_EXPIRED",
              "LAB_CERT_WRONGHOST", "LAB_KEY_WRONGHOST", "LAB_ALICE_USER", "LAB_ALICE_PASS",
              "LAB_ALICE_MAILDIR", "LAB_BOB_USER", "LAB_BOB_PASS", "LAB_BOB_MAILDIR"):
        assert k in env, k
    assert env["LAB_HOST"] == "127.0.0.1"
    for k, v in js.items():
        if k.startswith(("LAB_CERT_", "LAB_KEY_")) or k in ("LAB_CA", "LAB_OTHER_CA"):
            assert os.path.isfile(v), k
    st = lab.status()
    assert st["dovecot"] and st["postfix"] and all(st["ports"].values()), st


def test_bad_certificates_are_bad(lab):
    out = subprocess.run(["openssl", "x509", "-noout", "-checkend", "0", "-in", lab.info["LAB_CERT_EXPIRED"]],
                         capture_output=True, text=True)
    assert out.returncode != 0 and "will expire" in out.stdout
    for cert, ca, ok in (("LAB_CERT_SERVER", "LAB_CA", True), ("LAB_CERT_EXPIRED", "LAB_CA", False),
                         ("LAB_CERT_WRONGHOST", "LAB_CA", True), ("LAB_CERT_SELFSIGNED", "LAB_CA", False),
                         ("LAB_CERT_SERVER", "LAB_OTHER_CA", False)):
        r = subprocess.run(["openssl", "verify", "-CAfile", lab.info[ca], lab.info[cert]],
                           capture_output=True, text=True)
        assert (r.returncode == 0) == ok, (cert, ca, r.stdout, r.stderr)
    r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", lab.info["LAB_CERT_SERVER"]],
                       capture_output=True, text=True)
    assert "DNS:localhost" in r.stdout and "IP Address:127.0.0.1" in r.stdout
    r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", lab.info["LAB_CERT_WRONGHOST"]],
                       capture_output=True, text=True)
    assert "wrong.example" in r.stdout and "localhost" not in r.stdout


def test_default_users(lab):
    for name in ("alice", "bob"):
        u = lab.user(name)
        c = imaps(lab)
        c.login(u.address, u.password)
        c.logout()


# ------------------------------------------------------------------ IMAP

def test_imap_starttls_login(lab, user):
    c = imaplib.IMAP4(lab.host, lab.imap_port, timeout=TIMEOUT)
    assert "STARTTLS" in c.capabilities
    c.starttls(lab.ssl_context())
    typ, _ = c.login(user.address, user.password)
    assert typ == "OK"
    typ, caps = c.capability()
    caps = caps[0].decode().split()
    for cap in ("IDLE", "CONDSTORE", "QRESYNC", "MOVE", "SPECIAL-USE", "UIDPLUS", "ENABLE"):
        assert cap in caps, caps
    typ, lines = c.list()
    names = {l.decode().rsplit(" ", 1)[-1].strip('"'): l.decode() for l in lines}
    for folder, use in (("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"),
                        ("Junk", "\\Junk"), ("Archive", "\\Archive")):
        assert folder in names and use in names[folder], lines
    c.logout()


def test_imaps_login(lab, user):
    c = imaps(lab)
    assert c.login(user.address, user.password)[0] == "OK"
    c.logout()


def test_imap_wrong_password(lab, user):
    c = imaps(lab)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(user.address, user.password + "x")
    c.logout()


def test_imap_plaintext_login_refused(lab, user):
    # Dovecot counts 127.0.0.1 -> 127.0.0.1 as secured; the lab must not.
    c = imaplib.IMAP4(lab.host, lab.imap_port, timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error):
        c.login(user.address, user.password)
    c.shutdown()
    c = imaplib.IMAP4(lab.host, lab.imap_port, timeout=TIMEOUT)
    with pytest.raises(imaplib.IMAP4.error):
        c.authenticate("PLAIN", lambda _: ("\0%s\0%s" % (user.address, user.password)).encode())
    c.shutdown()
    # the same credentials work once TLS is on
    c = imap_starttls(lab)
    assert c.login(user.address, user.password)[0] == "OK"
    c.logout()


# ------------------------------------------------------------------ POP3

def test_pop3_stls_login(lab, user):
    p = poplib.POP3(lab.host, lab.pop3_port, timeout=TIMEOUT)
    assert "STLS" in p.capa()
    p.stls(lab.ssl_context())
    p.user(user.address)
    assert p.pass_(user.password).startswith(b"+OK")
    caps = p.capa()
    assert "PIPELINING" in caps and "UIDL" in caps and "TOP" in caps
    p.quit()


def test_pop3s_login(lab, user):
    p = pop3s(lab)
    p.user(user.address)
    assert p.pass_(user.password).startswith(b"+OK")
    p.quit()


def test_pop3_plaintext_login_refused(lab, user):
    p = poplib.POP3(lab.host, lab.pop3_port, timeout=TIMEOUT)
    with pytest.raises(poplib.error_proto):
        p.user(user.address)
        p.pass_(user.password)
    p.close()
    p = poplib.POP3(lab.host, lab.pop3_port, timeout=TIMEOUT)
    import base64
    tok = base64.b64encode(("\0%s\0%s" % (user.address, user.password)).encode()).decode()
    with pytest.raises(poplib.error_proto):
        p._shortcmd("AUTH PLAIN " + tok)
    p.close()


# ------------------------------------------------------------------ SMTP

def test_smtp_plaintext_has_no_auth(lab, user):
    s = smtplib.SMTP(lab.host, lab.smtp_port, timeout=TIMEOUT)
    s.ehlo()
    assert s.has_extn("starttls") and not s.has_extn("auth")
    with pytest.raises(smtplib.SMTPException):
        s.login(user.address, user.password)
    code, _ = s.mail(user.address)
    assert code == 530
    s.close()


def test_smtp_requires_auth(lab, user, make_user):
    rcpt = make_user()
    s = smtp_submission(lab)
    s.ehlo()
    for ext in ("pipelining", "8bitmime", "size", "auth"):
        assert s.has_extn(ext), ext
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        s.sendmail(user.address, [rcpt.address], b"Subject: no auth\n\nx\n")
    s.close()
    s = smtps(lab)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        s.login(user.address, user.password + "x")
    s.close()


@pytest.mark.parametrize("port", ["submission", "submissions"])
def test_smtp_send_then_fetch(lab, user, make_user, port):
    rcpt = make_user()
    tag = uuid.uuid4().hex
    s = smtp_submission(lab) if port == "submission" else smtps(lab)
    s.login(user.address, user.password)
    msg = ("From: <%s>\nTo: <%s>\nSubject: loop %s\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
           "Grüße %s\n" % (user.address, rcpt.address, tag, tag)).encode()
    t0 = time.monotonic()
    s.sendmail(user.address, [rcpt.address], msg)
    s.quit()
    paths = lab.wait_for_messages(rcpt, 1, match=tag, timeout=TIMEOUT)
    latency = time.monotonic() - t0
    print("delivery latency %.3fs" % latency)
    assert latency < 5
    with open(paths[0], "rb") as f:
        raw = f.read()
    assert ("Grüße %s" % tag).encode() in raw
    # and it is there over IMAP
    c = imaps(lab)
    c.login(rcpt.address, rcpt.password)
    c.select("INBOX")
    typ, data = c.search(None, "SUBJECT", tag)
    assert data[0].split(), data
    c.logout()


def test_external_recipients_land_in_sink(lab, user):
    tag = uuid.uuid4().hex
    s = smtps(lab)
    s.login(user.address, user.password)
    s.sendmail(user.address, ["someone@example.com"], ("Subject: out %s\n\nx\n" % tag).encode())
    s.quit()
    assert lab.wait_for_messages("sink", 1, match=tag, timeout=TIMEOUT)


# ------------------------------------------------------------------ users, seeding, doveadm

def test_add_user_at_runtime(lab):
    # a connection made before the user exists, a login right after adding
    for i in range(5):
        c = imaps(lab)
        u = lab.add_user("runtime-%s" % uuid.uuid4().hex[:8], "pass: with spaces %d" % i)
        assert c.login(u.address, u.password)[0] == "OK"
        c.logout()
        p = pop3s(lab)
        p.user(u.address)
        assert p.pass_(u.password).startswith(b"+OK")
        p.quit()
    with pytest.raises(labmod.LabError):
        lab.add_user(u.name, "again")


def test_put_message_visible(lab, user, genmail):
    msgs = list(genmail.generate(6, seed=42))
    lab.put_message(user, msgs[0])                        # new/
    lab.put_message(user, msgs[1], flags="S")             # cur/, \Seen
    lab.put_messages(user, msgs[2:4], flags="")           # cur/, no flags
    lab.put_message(user, msgs[4], folder="Archive")      # a special-use folder
    lab.put_message(user, msgs[5], folder="Projects/2024")  # a new nested folder
    c = imaps(lab)
    c.login(user.address, user.password)
    typ, data = c.select("INBOX")
    assert int(data[0]) == 4
    typ, data = c.fetch("1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert sorted(b.replace(b"\r\n", b"\n") for b in bodies) == sorted(msgs[:4])
    typ, data = c.search(None, "SEEN")
    assert len(data[0].split()) == 1
    for folder, want in (("Archive", msgs[4]), ("Projects/2024", msgs[5])):
        typ, data = c.select('"%s"' % folder)
        assert typ == "OK" and int(data[0]) == 1, (folder, data)
        typ, data = c.fetch("1", "(BODY.PEEK[])")
        assert data[0][1].replace(b"\r\n", b"\n") == want
    typ, data = c.lsub()
    assert any(b"Projects/2024" in l for l in data), data
    c.logout()
    p = pop3s(lab)
    p.user(user.address)
    p.pass_(user.password)
    count, size = p.stat()
    assert count == 4
    uidls = [l.split()[1].decode() for l in p.uidl()[1]]
    assert all(re.fullmatch(r"[0-9a-fA-F]{16}", u) for u in uidls), uidls
    got = []
    for n in range(1, count + 1):
        resp, lines, octets = p.retr(n)
        got.append(b"\n".join(lines) + b"\n")
    assert sorted(got) == sorted(msgs[:4])
    p.quit()
    # UIDLs are stable across sessions
    p = pop3s(lab)
    p.user(user.address)
    p.pass_(user.password)
    assert [l.split()[1].decode() for l in p.uidl()[1]] == uidls
    p.quit()


def test_pop3_sizes_match_list(lab, user, genmail):
    msgs = list(genmail.generate(20, seed=7))
    lab.put_messages(user, msgs)
    p = pop3s(lab)
    p.user(user.address)
    p.pass_(user.password)
    listing = [int(l.split()[1]) for l in p.list()[1]]
    crlf_sizes = sorted(len(m) + m.count(b"\n") for m in msgs)
    assert sorted(listing) == crlf_sizes
    p.quit()


def test_doveadm_flags(lab, user):
    lab.put_messages(user, [b"Subject: a\n\nx\n", b"Subject: b\n\ny\n"], flags="")
    c = imaps(lab)
    c.login(user.address, user.password)
    c.select("INBOX")
    lab.doveadm("flags", "add", "-u", user.address, "\\Flagged", "mailbox", "INBOX", "uid", "2")
    c.noop()
    typ, data = c.uid("FETCH", "1:*", "(FLAGS)")
    # (imaplib also hands back the unsolicited FETCH the NOOP brought)
    flags = {int(m.group(1)): d for d in data for m in [re.search(rb"UID (\d+)", d)] if m}
    assert b"\\Flagged" in flags[2] and b"\\Flagged" not in flags[1]
    c.logout()
    out = lab.doveadm("search", "-u", user.address, "mailbox", "INBOX", "ALL").stdout
    assert len(out.splitlines()) == 2


def test_cli(lab, tmp_path):
    py = sys.executable
    lab_py = os.path.join(os.path.dirname(labmod.__file__), "lab.py")
    r = subprocess.run([py, lab_py, "status", lab.dir], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([py, lab_py, "adduser", lab.dir, "cli-" + uuid.uuid4().hex[:6], "pw"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "@lab.test" in r.stdout, r.stderr
    name = r.stdout.split("@")[0]
    f = tmp_path / "m.eml"
    f.write_bytes(b"Subject: via cli\n\nbody\n")
    r = subprocess.run([py, lab_py, "put", lab.dir, name, str(f), str(f)], capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout.split()) == 2, r.stderr
    assert len(lab.messages(name)) == 2


# ------------------------------------------------------------------ fakes and genmail

def test_fake_logs_cleartext_and_tls(lab, fake):
    srv = fake("normal", proto="imap", tls="starttls")
    c = imaplib.IMAP4(lab.host, srv.port, timeout=TIMEOUT)
    c.starttls(lab.ssl_context())
    c.login("someone", "sekrit-pw")
    c.logout()
    srv.stop()
    (conn,) = srv.connections()
    assert b"STARTTLS" in conn.plain and b"sekrit-pw" not in conn.plain
    assert b"sekrit-pw" in conn.tls and conn.tls_started and conn.closed
    srv2 = fake("no_starttls", proto="pop3", tls="starttls")
    p = poplib.POP3(lab.host, srv2.port, timeout=TIMEOUT)
    assert "STLS" not in p.capa()
    p.user("x")
    p.pass_("in-clear")
    p.quit()
    srv2.stop()
    assert b"PASS in-clear" in srv2.cleartext()


def test_fake_pop3_drop_mid_retr(lab, fake, genmail):
    msgs = list(genmail.generate(3, seed=3))
    srv = fake("pop3_mailbox", proto="pop3", tls="implicit", messages=msgs, drop_at="RETR:2:50")
    p = poplib.POP3_SSL(lab.host, srv.port, context=lab.ssl_context(), timeout=TIMEOUT)
    p.user("u")
    p.pass_("p")
    assert p.stat()[0] == 3
    assert b"\n".join(p.retr(1)[1]) + b"\n" == msgs[0]
    with pytest.raises((poplib.error_proto, OSError, EOFError)):
        p.retr(2)


def test_fake_cli(lab, tmp_path):
    port_file = tmp_path / "port"
    log = tmp_path / "log"
    proc = subprocess.Popen([sys.executable, fakesmod.__file__, "stall_greeting", "--proto", "smtp",
                             "--tls", "implicit", "--log", str(log), "--port-file", str(port_file),
                             "--lab", lab.dir], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not port_file.exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        port = int(port_file.read_text())
        s = socket.create_connection((lab.host, port), timeout=TIMEOUT)
        ss = lab.ssl_context().wrap_socket(s, server_hostname="localhost")
        ss.settimeout(0.3)
        with pytest.raises(socket.timeout):
            ss.recv(1)
        ss.close()
    finally:
        proc.terminate()
        proc.wait(10)
    assert b"#### fake conn=1 tls" in log.read_bytes()


def test_genmail_deterministic_and_parseable(genmail):
    a = list(genmail.messages(300, seed=9))
    b = list(genmail.generate(300, seed=9))
    assert [m.raw for m in a] == b
    assert list(genmail.generate(5, seed=10)) != b[:5]
    kinds = {m.kind for m in a}
    assert {"plain", "alternative", "attachment", "reply", "latin1", "utf8_qp"} <= kinds
    assert any(b"\x1b]0;pwned\x07" in m.raw for m in a)
    ids = {m.message_id for m in a}
    for m in a:
        assert b"\r\n" not in m.raw
        msg = email.message_from_bytes(m.raw, policy=email.policy.default)
        if m.kind == "reply":
            assert msg["In-Reply-To"] in ids
        if m.kind != "hostile":
            for part in msg.walk():
                if not part.is_multipart():
                    part.get_content()
    sizes = sorted(len(m.raw) for m in a)
    assert 1500 < sizes[len(sizes) // 2] < 20000
