"""Hardening rule 13: secrets.

  - The password (and its base64 / SASL PLAIN / LOGIN forms) never appears
    in `tern --debug` output of fetch (IMAP, POP3) or send (SMTP), in any
    TLS mode, with the SASL mechanism PLAIN or LOGIN, against the fakes and
    the lab's real Dovecot and Postfix; nor in the fetch log; nor in the
    command line or environment of tern or any process it starts (checked
    in /proc while tern is logged in).
  - A config holding a literal password is refused (exit 78) when group or
    others can read it, for every command that would use it.
  - password_command runs without a shell unless the user wrote shell
    syntax; a failing command's output (the password) is not echoed.
"""

import os
import stat
import subprocess
import time

import pytest

from hardening_helpers import (EX_CONFIG, EX_OK, FAKE_PW, MODES, Tern,
                               assert_no_secret, assert_sane_exit, fake_account, hfake_factory,
                               make_message, proto_args, tern_path, use)


@pytest.fixture
def hfake(lab, tmp_path):
    yield from hfake_factory(lab, tmp_path)


def mailbox(hfake, proto, tls, **kw):
    if proto == "imap":
        return hfake("imap_mailbox", proto, tls, folders={"INBOX": [make_message("s")]}, **kw)
    if proto == "pop3":
        return hfake("hostile", proto, tls, messages=[make_message("s")], **kw)
    return hfake("hostile", proto, tls, **kw)


def fetch_log(t):
    p = os.path.join(t.data_dir("f"), "fetch.log")
    if not os.path.exists(p):
        return b""
    with open(p, "rb") as f:
        return f.read()


@pytest.mark.parametrize("proto,tls", MODES)
def test_debug_output_and_log_have_no_password(hfake, lab, tmp_path, proto, tls):
    srv = mailbox(hfake, proto, tls)
    t = Tern(tmp_path)
    r = t.run(*use(t, srv, proto, tls, lab), input=b"hi\n", debug=True)
    assert r.rc == EX_OK, r
    assert b"debug:" in r.err and b"[redacted]" in r.err, r
    assert_no_secret(r.out + r.err)
    assert_no_secret(fetch_log(t))
    assert [l[3:] for l in srv.logins] == [(True, True)]
    # the wrong password too (a refused login is where traces are longest)
    t.account("f", **dict(t.accounts[0][1], password=FAKE_PW + "-wrong"))
    r = t.run(*proto_args(proto), input=b"hi\n", debug=True)
    assert r.rc != EX_OK, r
    assert_no_secret(r.out + r.err, password=FAKE_PW + "-wrong")
    assert_no_secret(fetch_log(t), password=FAKE_PW + "-wrong")


# (the IMAP and POP3 fakes speak only SASL PLAIN; LOGIN for those is in
# test_conn.py::test_fake_debug_trace_redacts_sasl_login)
LOGIN_ONLY = {"smtp": {"raw": {"EHLO": b"250-fake.example\r\n250 AUTH LOGIN\r\n"}}}


@pytest.mark.parametrize("proto", ["smtp"])
def test_debug_output_has_no_password_sasl_login(hfake, lab, tmp_path, proto):
    """SASL LOGIN sends the password alone, base64: redacted as well."""
    srv = mailbox(hfake, proto, "implicit", **LOGIN_ONLY[proto])
    t = Tern(tmp_path)
    r = t.run(*use(t, srv, proto, "implicit", lab), input=b"hi\n", debug=True)
    assert r.rc == EX_OK, r
    assert srv.logins and srv.logins[0][4], srv.logins
    assert_no_secret(r.out + r.err)


def wait_login(lab, user, proto):
    """Dovecot re-reads its users file at most once a second."""
    import imaplib
    deadline = time.monotonic() + 5
    while True:
        try:
            with imaplib.IMAP4_SSL("127.0.0.1", lab.imaps_port, ssl_context=lab.ssl_context()) as c:
                c.login(user.address, user.password)
                return
        except imaplib.IMAP4.error:
            assert time.monotonic() < deadline
            time.sleep(0.1)


LAB_PORTS = {("imap", "starttls"): "imap", ("imap", "implicit"): "imaps",
             ("pop3", "starttls"): "pop3", ("pop3", "implicit"): "pop3s",
             ("smtp", "starttls"): "smtp", ("smtp", "implicit"): "smtps"}


@pytest.mark.parametrize("proto,tls", MODES)
def test_debug_output_has_no_password_real_servers(lab, user, tmp_path, proto, tls):
    wait_login(lab, user, proto)
    port = lab.ports[LAB_PORTS[(proto, tls)]]
    keys = {"address": user.address, "password": user.password, "ca_file": lab.ca,
            "timeout": 10}
    if proto == "smtp":
        keys.update(incoming="imap", host="127.0.0.1", port=lab.imaps_port, tls="implicit",
                    smtp_host="127.0.0.1", smtp_port=port, smtp_tls=tls)
        args = ["send", "-a", "f", "--no-queue", "--to", user.address, "--subject", "secret"]
    else:
        keys.update(incoming=proto, host="127.0.0.1", port=port, tls=tls)
        args = ["fetch", "-a", "f"]
    t = Tern(tmp_path)
    t.account("f", **keys)
    r = t.run(*args, input=b"hi\n", debug=True)
    assert r.rc == EX_OK, r
    assert b"[redacted]" in r.err
    assert_no_secret(r.out + r.err, user.address, user.password)
    assert_no_secret(fetch_log(t), user.address, user.password)


@pytest.mark.parametrize("proto", ["imap", "pop3", "smtp"])
@pytest.mark.parametrize("source", ["literal", "command"])
def test_password_not_in_any_process_argv_or_environment(hfake, lab, tmp_path, proto, source):
    """While tern is logged in (the fake then stalls), no process on the
    machine has the password in its command line or environment."""
    srv = hfake("stall_after_login", proto, "implicit",
                **({"folders": {"INBOX": []}} if proto == "imap" else {}))
    t = Tern(tmp_path)
    extra = {}
    if source == "command":
        script = tmp_path / "pw.sh"
        script.write_text("#!/bin/sh\nprintf '%%s\\n' '%s'\n" % FAKE_PW)
        script.chmod(0o700)
        extra = {"password": None, "password_command": str(script)}
    args = use(t, srv, proto, "implicit", lab, timeout=10, **extra)
    body = tmp_path / "body.txt"
    body.write_bytes(b"hi\n")
    with open(str(body), "rb") as stdin:
        p = subprocess.Popen([tern_path(), "-c", t.config] + args, env=t.env(), stdin=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not srv.logins and time.monotonic() < deadline:
            time.sleep(0.02)
        assert srv.logins and srv.logins[0][4], srv.logins
        seen = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            for what in ("cmdline", "environ"):
                try:
                    with open("/proc/%s/%s" % (pid, what), "rb") as f:
                        data = f.read()
                except OSError:
                    continue
                seen += 1
                assert FAKE_PW.encode() not in data, (pid, what, data[:200])
        assert seen > 2
    finally:
        p.kill()
        p.communicate()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606])
@pytest.mark.parametrize("cmd", ["fetch", "send", "list", "folders"])
def test_literal_password_in_readable_config_refused(hfake, lab, tmp_path, mode, cmd):
    srv = mailbox(hfake, "imap", "implicit")
    t = Tern(tmp_path)
    t.account("f", **fake_account(srv, "imap", "implicit", lab, smtp_host="127.0.0.1",
                                  smtp_port=srv.port, smtp_tls="implicit"))
    t.write(mode=mode)
    args = {"fetch": ["fetch"], "send": ["send", "--no-queue", "--to", "x@example.test"],
            "list": ["list"], "folders": ["folders"]}[cmd]
    r = t.run(*args, input=b"hi\n")
    assert_sane_exit(r)
    assert r.rc == EX_CONFIG, r
    assert FAKE_PW.encode() not in r.err + r.out
    assert srv.connections() == [], "connected with a password from a readable file"


def test_literal_password_private_config_accepted(hfake, lab, tmp_path):
    srv = mailbox(hfake, "imap", "implicit")
    t = Tern(tmp_path)
    use(t, srv, "imap", "implicit", lab)
    assert stat.S_IMODE(os.stat(t.config).st_mode) == 0o600
    r = t.run("fetch")
    assert r.rc == EX_OK, r


def test_smtp_password_in_readable_config_refused(hfake, lab, tmp_path):
    srv = mailbox(hfake, "smtp", "implicit")
    t = Tern(tmp_path)
    keys = fake_account(srv, "smtp", "implicit", lab)
    script = tmp_path / "pw.sh"
    script.write_text("#!/bin/sh\necho incoming-pw\n")
    script.chmod(0o700)
    keys.update(password=None, password_command=str(script), smtp_password=FAKE_PW)
    t.account("f", **keys)
    t.write(mode=0o644)
    r = t.run("send", "--no-queue", "--to", "x@example.test", input=b"hi\n")
    assert r.rc == EX_CONFIG, r
    assert srv.connections() == []


def write_probe(tmp_path, name="probe.sh"):
    """A password command that records how it was started."""
    out = tmp_path / (name + ".out")
    script = tmp_path / name
    script.write_text("#!/bin/sh\n"
                      "{ echo \"parent=$(cat /proc/$PPID/comm)\"; echo \"argc=$#\";"
                      " for a in \"$@\"; do echo \"arg=$a\"; done; } > '%s'\n"
                      "printf '%%s\\n' '%s'\n" % (out, FAKE_PW))
    script.chmod(0o700)
    return script, out


def test_password_command_runs_without_shell(hfake, lab, tmp_path):
    srv = mailbox(hfake, "imap", "implicit")
    script, out = write_probe(tmp_path)
    t = Tern(tmp_path)
    use(t, srv, "imap", "implicit", lab, password=None,
        password_command="%s first second" % script)
    r = t.run("fetch")
    assert r.rc == EX_OK, r
    rec = out.read_text().split("\n")
    assert "parent=tern" in rec, rec
    assert rec[1:4] == ["argc=2", "arg=first", "arg=second"], rec
    assert srv.logins[0][4]


def test_password_command_with_shell_syntax_uses_a_shell(hfake, lab, tmp_path):
    srv = mailbox(hfake, "imap", "implicit")
    script, out = write_probe(tmp_path)
    t = Tern(tmp_path)
    use(t, srv, "imap", "implicit", lab, password=None,
        password_command="%s 'one arg' | cat" % script)
    r = t.run("fetch")
    assert r.rc == EX_OK, r
    rec = out.read_text().split("\n")
    assert rec[0] in ("parent=sh", "parent=dash", "parent=bash"), rec
    assert rec[1:3] == ["argc=1", "arg=one arg"], rec


def test_failing_password_command_does_not_echo_output(hfake, lab, tmp_path):
    srv = mailbox(hfake, "imap", "implicit")
    script = tmp_path / "fail.sh"
    script.write_text("#!/bin/sh\necho '%s'\necho 'some error' >&2\nexit 3\n" % FAKE_PW)
    script.chmod(0o700)
    t = Tern(tmp_path)
    use(t, srv, "imap", "implicit", lab, password=None, password_command=str(script))
    r = t.run("fetch", debug=True)
    assert_sane_exit(r, one_line=False)  # the command's own stderr passes through
    assert r.rc == EX_CONFIG, r
    assert_no_secret(r.out + r.err)
    assert_no_secret(fetch_log(t))
    assert srv.connections() == [] or srv.logins == []


# `tern doctor --debug` and `tern account add --debug` log in too (the lab's
# Dovecot and Postfix, every protocol and TLS mode): their traces are
# redacted the same way, with the right password and with a wrong one.
DOCTOR_MODES = [("imap", "starttls", "implicit"), ("imap", "implicit", "starttls"),
                ("pop3", "starttls", "implicit"), ("pop3", "implicit", "starttls")]


@pytest.mark.parametrize("incoming,tls,smtp_tls", DOCTOR_MODES)
def test_doctor_and_account_add_debug_have_no_password(lab, user, tmp_path, incoming, tls,
                                                        smtp_tls):
    wait_login(lab, user, incoming)
    port = lab.ports[LAB_PORTS[(incoming, tls)]]
    smtp_port = lab.ports[LAB_PORTS[("smtp", smtp_tls)]]
    t = Tern(tmp_path)
    good = {"address": user.address, "incoming": incoming, "host": "127.0.0.1", "port": port,
            "tls": tls, "password_command": "echo " + user.password, "ca_file": lab.ca,
            "timeout": 10, "smtp_host": "127.0.0.1", "smtp_port": smtp_port,
            "smtp_tls": smtp_tls}
    t.account("good", **good)
    wrong = user.password + "-wrong"
    t.account("bad", **dict(good, password_command="echo " + wrong))
    r = t.run("doctor", "-a", "good", "-a", "bad", debug=True)
    assert r.rc == 77, r                          # "bad": password refused
    assert r.err.count(b"[redacted]") >= 4, r     # both sides of both accounts logged in
    assert b"accepted the password" in r.out and b"refused the password" in r.out, r
    for pw in (user.password, wrong):
        assert_no_secret(r.out + r.err, user.address, pw)
    # account add probes and logs in on both sides as well
    r = t.run("account", "add", "--name", "added", "--address", user.address, "--incoming",
              incoming, "--host", "127.0.0.1", "--port", str(port), "--tls", tls,
              "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_port), "--smtp-tls", smtp_tls,
              "--password-command", "echo " + user.password, "--ca-file", lab.ca, debug=True)
    assert r.rc == EX_OK, r
    assert r.err.count(b"[redacted]") >= 2, r
    assert_no_secret(r.out + r.err, user.address, user.password)
