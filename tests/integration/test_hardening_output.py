"""Hardening rules 6 and 7 through the real commands:

  6. No raw control sequence from mail data or server text reaches the
     terminal: `tern fetch` (errors quoting server greetings and replies,
     folder names), `tern list`, `tern read` (by ID and --file, plain,
     --json, and --raw on a terminal), `tern attachments`, `tern folders`,
     `tern send` (errors quoting SMTP replies), `tern doctor` (text and
     --json) and `tern account add` (their step lines quote greetings,
     capabilities, folder names and refusals). Mail comes from IMAP and
     POP3 fakes (tests/lab/fakes.py) serving hostile messages: raw ESC/C1/
     BEL/BS/CR in headers and bodies, RFC 2047 and quoted-printable and
     base64 that decode to them, HTML entities for them, file names with
     them; plus the lab's own hostile samples (genmail kind "hostile").
  7. `tern attachments --save DIR` writes only inside DIR: names like
     ../../x, /etc/passwd, NUL, '..', dot files, option-like names, and a
     symlink planted in DIR under an attachment's name never make it write
     anywhere else or replace anything.
"""

import base64
import json
import os
import pty
import select
import stat
import subprocess

import pytest

import fakes
from hardening_helpers import (EX_NOPERM, EX_OK, FAKE_PW, Tern, assert_sane_exit,
                               assert_terminal_safe, files_under, hfake_factory, tern_path, use)

RR = fakes.raw_reply


@pytest.fixture
def hfake(lab, tmp_path):
    yield from hfake_factory(lab, tmp_path)


def b64(s):
    return base64.b64encode(s.encode("utf-8") if isinstance(s, str) else s).decode()


ESCS = "\x1b[2J\x1b]0;pwned\x07\x1bP+q\x1b\\\u009b31m\x07\x08\x7f"

RAW_ESC_MSG = (
    b"From: \"\x1b[31mEvil\x1b[0m\" <evil@x.test>\r\n"
    b"To: victim@fake.test, \"\x1b]0;t\x07\" <v2@x.test>\r\n"
    b"Cc: \x9b2J <c1@x.test>\r\n"
    b"Subject: \x1b]0;title\x07 raw \x1b[5m blink \xc2\x9b31m c1 \x07\r\n"
    b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <raw.esc@x.test>\r\n"
    b"\r\n"
    b"body \x1b[2J clear, \x9b31m raw C1, \xc2\x9b31m C1 in UTF-8, bell \x07, bs \x08,\r\n"
    b"cr\rover, del \x7f, osc \x1b]52;c;cHduZWQ=\x07 and \x1bP dcs \x1b\\ end\r\n")

ENCODED_MSG = (
    "From: =?UTF-8?Q?=1B[31mQ=1B[0m?= <q@x.test>\r\n"
    "To: victim@fake.test\r\n"
    "Subject: =?UTF-8?B?%s?=\r\n"
    "Date: Tue, 2 Jan 2024 10:00:00 +0000\r\n"
    "Message-ID: <encoded@x.test>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"BB\"\r\n"
    "\r\n"
    "--BB\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "qp =1B[2J clear =C2=9B31m c1 =07 bell =0D lone cr =1B]0;x=07\r\n"
    "--BB\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename*=UTF-8''%%1B%%5B2Jevil%%07%%C2%%9B.txt\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "%s\r\n"
    "--BB\r\n"
    "Content-Type: application/pdf; name=\"=?UTF-8?B?%s?=\"\r\n"
    "Content-Disposition: attachment\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "JVBERi0=\r\n"
    "--BB--\r\n" % (b64("\x1b[2Jenc \u009b31m \u0007 subject"), b64("\x1b[2Jcontent\x07"),
                    b64("\x1b]0;x\x07.pdf"))).encode()

HTML_MSG = (
    b"From: html@x.test\r\nTo: victim@fake.test\r\nSubject: html only\r\n"
    b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <html@x.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<html><body><p>&#27;[31mred &#x1b;]0;t&#7; &#155;2J &#x9b;1m \x1b[2J raw</p>"
    b"<script>\x1b[2J</script><a href=\"\x1b[2J\">link</a></body></html>\r\n")

LATIN1_MSG = (
    b"From: l@x.test\r\nTo: victim@fake.test\r\nSubject: =?ISO-8859-1?Q?=9B2J_latin1_c1?=\r\n"
    b"Date: Tue, 2 Jan 2024 10:00:00 +0000\r\nMessage-ID: <latin1@x.test>\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    b"\x9b2J in latin-1 is CSI, \x1b[2J too\r\n")

HOSTILE = [RAW_ESC_MSG, ENCODED_MSG, HTML_MSG, LATIN1_MSG]

# IMAP folder names: raw ESC in a quoted name, modified UTF-7 decoding to
# ESC and to U+009B, a literal with BEL
EVIL_FOLDERS = [b'* LIST () "/" INBOX',
                b'* LIST () "/" "\x1b[2Jraw"',
                b'* LIST () "/" "&ABsAWw-2Jutf7"',
                b'* LIST () "/" "&AJs-c1"',
                b'* LIST () "/" {7}\r\nbel\x07lit']


def mailbox(hfake, proto, msgs, **kw):
    if proto == "imap":
        return hfake("imap_mailbox", "imap", "implicit", folders={"INBOX": msgs}, **kw)
    return hfake("hostile", "pop3", "implicit", messages=msgs, **kw)


def check(r, what):
    assert_sane_exit(r)
    assert_terminal_safe(r.out, what + " stdout: ")
    assert_terminal_safe(r.err, what + " stderr: ")
    return r


@pytest.mark.parametrize("proto", ["imap", "pop3"])
def test_list_read_attachments_are_terminal_safe(hfake, lab, tmp_path, proto):
    srv = mailbox(hfake, proto, HOSTILE)
    t = Tern(tmp_path)
    r = check(t.run(*use(t, srv, proto, "implicit", lab)), "fetch")
    assert r.rc == EX_OK, r
    r = check(t.run("list"), "list")
    assert r.rc == EX_OK and r.out.count(b"\n") == len(HOSTILE), r
    r = check(t.run("list", "--json"), "list --json")
    ids = [m["id"] for m in json.loads(r.out)]
    assert len(ids) == len(HOSTILE)
    shown = b""
    for i in ids:
        shown += t.run("read", "--no-mark", str(i)).out
        for args in (["read", "--no-mark", str(i)], ["read", "--no-mark", "--json", str(i)],
                     ["attachments", str(i)], ["attachments", "--json", str(i)]):
            r = check(t.run(*args), " ".join(args))
            assert r.rc == EX_OK, (args, r)
    # the text is still there, only made safe
    for word in (b"body", b"clear", b"qp ", b"red", b"latin-1", b"over"):
        assert word in shown, (word, shown)


@pytest.mark.parametrize("which", range(len(HOSTILE)))
def test_read_and_attachments_from_file_are_terminal_safe(tmp_path, which):
    path = tmp_path / "m.eml"
    path.write_bytes(HOSTILE[which])
    t = Tern(tmp_path)
    for args in (["read", "--file", str(path)], ["read", "--json", "--file", str(path)],
                 ["attachments", "--file", str(path)],
                 ["attachments", "--json", "--file", str(path)]):
        r = check(t.run(*args), " ".join(args))
        assert r.rc == EX_OK, (args, r)
    r = check(t.run("read", "--file", "-", input=HOSTILE[which]), "read -")
    assert r.rc == EX_OK


def test_genmail_hostile_samples(tmp_path, genmail):
    """The lab's hostile samples (escapes in headers and bodies, 10 KB header
    lines, bidi overrides, broken encoded-words): read and attachments safe."""
    hostile = [m for m in genmail.messages(600, 7) if m.kind == "hostile"]
    assert len(hostile) >= 5
    t = Tern(tmp_path)
    for m in hostile:
        path = tmp_path / ("h%d.eml" % m.index)
        path.write_bytes(m.raw)
        for args in (["read", "--file", str(path)], ["attachments", "--file", str(path)]):
            r = check(t.run(*args), "%s %d" % (args[0], m.index))
            assert r.rc == EX_OK, r


def run_on_pty(argv, env, timeout=20):
    """Run with stdout on a pseudo-terminal; return what it wrote there."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        r, _, _ = select.select([master], [], [], timeout)
        if not r:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout)
    os.close(master)
    return p.returncode, out.replace(b"\r\n", b"\n"), p.stderr.read()


@pytest.mark.parametrize("which", range(len(HOSTILE)))
def test_read_raw_on_a_terminal_is_safe(tmp_path, which):
    """`tern read --raw` prints the message as it is, except on a terminal,
    where control characters are replaced."""
    path = tmp_path / "m.eml"
    path.write_bytes(HOSTILE[which])
    t = Tern(tmp_path)
    rc, out, err = run_on_pty([tern_path(), "-c", t.config, "read", "--raw", "--file", str(path)],
                              t.env())
    assert rc == EX_OK, (rc, out, err)
    assert b"Message-ID" in out
    # the pty itself turns LF into CRLF: allow CR only there
    assert_terminal_safe(out.replace(b"\r", b""), "read --raw on a tty: ")
    assert b"\r" not in out.replace(b"\r\n", b""), out
    # not a terminal: byte for byte
    r = t.run("read", "--raw", "--file", str(path))
    assert r.rc == EX_OK and r.out == HOSTILE[which], r


def test_folders_and_folder_errors_are_terminal_safe(hfake, lab, tmp_path):
    srv = hfake("imap_mailbox", "imap", "implicit", list_lines=EVIL_FOLDERS,
                folders={"INBOX": [HOSTILE[0]]})
    t = Tern(tmp_path)
    r = check(t.run(*use(t, srv, "imap", "implicit", lab)), "fetch")
    r = check(t.run("folders"), "folders")
    assert r.rc == EX_OK and r.out.count(b"\n") >= 4, r
    r = check(t.run("folders", "--json"), "folders --json")
    names = [f["name"] for f in json.loads(r.out)]
    assert len(names) == 5, names
    # all are subscribed (LSUB): selecting the evil ones fails (the fake
    # does not know them), and the error line quoting a name is safe
    r = check(t.run("fetch"), "fetch")
    assert r.rc != EX_OK and b"SELECT" in r.err, r


def test_complete_folders_is_terminal_safe(hfake, lab, tmp_path):
    """`tern complete folders` feeds shell completion, which lists the words
    on the terminal: no control characters there either."""
    srv = hfake("imap_mailbox", "imap", "implicit", list_lines=EVIL_FOLDERS,
                folders={"INBOX": [HOSTILE[0]]})
    t = Tern(tmp_path)
    t.run(*use(t, srv, "imap", "implicit", lab))
    r = check(t.run("complete", "folders", "-a", "f"), "complete folders")
    assert b"INBOX" in r.out, r


SERVER_TEXT = "\x1b[2J\x1b]0;pwned\x07\x9b31m"


@pytest.mark.parametrize("proto,case", [
    ("imap", "greeting_bye"), ("imap", "auth_no"), ("imap", "select_no"),
    ("pop3", "greeting_err"), ("pop3", "auth_err"), ("pop3", "uidl_err"),
    ("smtp", "greeting_554"), ("smtp", "auth_535"), ("smtp", "rcpt_550"),
])
def test_server_text_in_errors_is_sanitised(hfake, lab, tmp_path, proto, case):
    e = SERVER_TEXT.encode("latin-1")
    kw = {
        "greeting_bye": {"greeting": b"* BYE " + e + b" go away\r\n"},
        "auth_no": {"raw": {"AUTHENTICATE": b"$TAG NO [AUTHENTICATIONFAILED] " + e + b" no\r\n"}},
        "select_no": {"raw": {"SELECT": b"$TAG NO " + e + b" no\r\n"}},
        "greeting_err": {"greeting": b"-ERR " + e + b" go away\r\n"},
        "auth_err": {"raw": {"AUTH": b"-ERR [AUTH] " + e + b" no\r\n"}},
        "uidl_err": {"raw": {"UIDL": b"-ERR " + e + b" no\r\n"}},
        "greeting_554": {"greeting": b"554 " + e + b" go away\r\n"},
        "auth_535": {"raw": {"AUTH": b"535 5.7.8 " + e + b" no\r\n"}},
        "rcpt_550": {"raw": {"RCPT": b"550 5.1.1 " + e + b" no\r\n"}},
    }[case]
    if proto == "imap":
        srv = hfake("imap_mailbox", "imap", "implicit", **kw)
    else:
        srv = hfake("hostile", proto, "implicit", **kw)
    t = Tern(tmp_path)
    r = t.run(*use(t, srv, proto, "implicit", lab), input=b"hi\n")
    check(r, case)
    assert r.rc != EX_OK, r
    if case in ("auth_no", "auth_err", "auth_535"):
        assert r.rc == EX_NOPERM, r


# `tern doctor` and `tern account add` quote what servers say in their step
# lines: greetings, folder names, refusals, the plaintext greeting of a
# wrong port.
DOCTOR_TEXT = SERVER_TEXT.encode("latin-1")
DOCTOR_CASES = {
    "imap-greeting-folders": ("imap", "implicit", {
        "greeting": b"* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN] " + DOCTOR_TEXT + b" hi\r\n",
        "list_lines": EVIL_FOLDERS}, None),
    "imap-auth-no": ("imap", "implicit", {
        "raw": {"AUTHENTICATE": b"$TAG NO [AUTHENTICATIONFAILED] " + DOCTOR_TEXT + b" no\r\n"}},
        EX_NOPERM),
    "imap-plaintext-greeting-of-smtp": ("imap", "starttls", {
        "greeting": b"220 " + DOCTOR_TEXT + b" smtp here\r\n"}, 78),
    "pop3-greeting-auth-err": ("pop3", "implicit", {
        "greeting": b"+OK " + DOCTOR_TEXT + b" hi\r\n",
        "raw": {"AUTH": b"-ERR [AUTH] " + DOCTOR_TEXT + b" no\r\n"}}, EX_NOPERM),
    "pop3-implicit-greeting-of-imap": ("pop3", "implicit", {
        "greeting": b"* OK " + DOCTOR_TEXT + b" imap here\r\n"}, 78),
    "smtp-greeting-auth-535": ("smtp", "starttls", {
        "greeting": b"220 " + DOCTOR_TEXT + b" hi\r\n",
        "raw": {"AUTH": b"535 5.7.8 " + DOCTOR_TEXT + b" no\r\n"}}, EX_NOPERM),
}


def check_report(r, what):
    """As check(), for commands that report failures on stdout (doctor)."""
    assert 0 <= r.rc < 128 and r.rc != 70, r
    assert b"Sanitizer" not in r.err and b"runtime error:" not in r.err, r
    assert_terminal_safe(r.out, what + " stdout: ")
    assert_terminal_safe(r.err, what + " stderr: ")
    return r


@pytest.mark.parametrize("case", sorted(DOCTOR_CASES))
def test_doctor_and_account_add_are_terminal_safe(hfake, lab, tmp_path, case):
    proto, tls, kw, code = DOCTOR_CASES[case]
    if proto == "imap":
        srv = hfake("imap_mailbox", "imap", tls, folders={"INBOX": [HOSTILE[0]]}, **kw)
    else:
        srv = hfake("hostile", proto, tls, **kw)
    t = Tern(tmp_path)
    use(t, srv, proto, tls, lab)
    r = check_report(t.run("doctor"), case + " doctor")
    assert b"Receiving (" in r.out and b"Sending (" in r.out, r
    if code is not None:
        side = b"Sending (SMTP): fails" if proto == "smtp" else b"Receiving (%s): fails" % (
            proto.upper().encode())
        assert side in r.out, r
        if proto != "smtp":
            assert r.rc == code, r
    if case == "imap-greeting-folders":
        assert b"INBOX" in r.out and r.out.count(b"\xef\xbf\xbd") + r.out.count(b"?") >= 2, r
    r = check_report(t.run("doctor", "--json"), case + " doctor --json")
    json.loads(r.out)
    if proto == "smtp":
        return      # account add needs a working incoming server first
    r = check_report(t.run("account", "add", "--name", "added", "--address", "victim@fake.test",
                    "--incoming", proto, "--host", "127.0.0.1", "--port", str(srv.port),
                    "--tls", tls, "--smtp-host", "none", "--password-command",
                    "echo " + FAKE_PW, "--ca-file", lab.ca), case + " account add")
    assert r.rc == (code or EX_OK), r


# ------------------------------------------------------------------ rule 7

EVIL_NAMES = ["../../escape.txt", "/etc/passwd", "..", ".", ".hidden", "-rf", "--help",
              "sub/dir/file.txt", "..\\..\\win.txt", "a\x00b.txt", "\x1b[2Jesc.txt",
              "victim.txt", "exists.txt", "same.txt", "same.txt", "x" * 400 + ".txt",
              "~/tilde.txt", "$(touch PWNED).txt", "`touch PWNED`", "", "  ", "nul\x00"]


def attachment_message(names):
    parts = []
    for i, n in enumerate(names):
        enc = "".join("%%%02X" % b for b in n.encode("utf-8"))
        parts.append("--BB\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Disposition: attachment; filename*=UTF-8''%s\r\n"
                     "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n" % (
                         enc, b64("payload %d\n" % i)))
    # and old-style names (RFC 2047 in a quoted parameter, raw / in name=)
    parts.append("--BB\r\nContent-Type: text/plain; name=\"../../../old.txt\"\r\n"
                 "Content-Disposition: attachment; filename=\"=?UTF-8?B?%s?=\"\r\n\r\n"
                 "old style\r\n" % b64("../../enc.txt"))
    return ("From: a@x.test\r\nTo: victim@fake.test\r\nSubject: attachments\r\n"
            "Message-ID: <att@x.test>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=BB\r\n\r\n"
            "--BB\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
            + "".join(parts) + "--BB--\r\n").encode()


def save_and_check(t, tmp_path, source_args):
    """Run `tern attachments ... --save DIR` from a working directory deep
    inside tmp_path and check that only DIR gained files."""
    root = tmp_path / "root"
    work = root / "a" / "b" / "work"
    out = root / "a" / "b" / "save"
    outside = root / "outside"
    for d in (work, out, outside):
        d.mkdir(parents=True, exist_ok=True)
    target = outside / "target"
    target.write_bytes(b"do not touch\n")
    os.symlink(str(target), str(out / "victim.txt"))
    os.symlink(str(outside), str(out / "sub"))
    (out / "exists.txt").write_bytes(b"mine\n")
    before = {p: os.lstat(p).st_mtime_ns for p in files_under(str(root))}
    r = t.run(*source_args, "--save", str(out), cwd=str(work))
    assert_sane_exit(r)
    assert_terminal_safe(r.out + r.err)
    assert r.rc == EX_OK, r
    after = files_under(str(root))
    new = sorted(set(after) - set(before))
    # nothing new anywhere but directly in DIR
    assert all(os.path.dirname(p) == str(out) for p in new), new
    # nothing that was there changed
    for p, m in before.items():
        assert os.path.lexists(p), p
        if p == str(out):
            continue  # DIR itself gains entries
        assert os.lstat(p).st_mtime_ns == m, p
    assert target.read_bytes() == b"do not touch\n"
    assert (out / "exists.txt").read_bytes() == b"mine\n"
    assert os.path.islink(str(out / "victim.txt")) and os.path.islink(str(out / "sub"))
    assert os.listdir(str(outside)) == ["target"]
    assert not os.path.exists("/etc/passwd.tern-test")
    for p in new:
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode), p
        assert st.st_mode & 0o777 == 0o600, (p, oct(st.st_mode))
        name = os.path.basename(p)
        assert not name.startswith((".", "-")), name
        assert "\x00" not in name and "\x1b" not in name and "/" not in name
        assert len(name.encode()) <= 255
    printed = [l for l in r.out.decode().split("\n") if l]
    assert sorted(printed) == new, (printed, new)
    assert not os.path.exists(os.path.join(str(work), "PWNED"))
    assert not os.path.exists(os.path.join(str(t.root), "PWNED"))
    return new


def test_attachments_save_confined_from_file(tmp_path):
    msg = tmp_path / "att.eml"
    msg.write_bytes(attachment_message(EVIL_NAMES))
    t = Tern(tmp_path)
    new = save_and_check(t, tmp_path, ["attachments", "--file", str(msg)])
    assert len(new) == len(EVIL_NAMES) + 1, new
    contents = sorted(open(p, "rb").read() for p in new)
    assert contents == sorted([b"payload %d\n" % i for i in range(len(EVIL_NAMES))] +
                              [b"old style\r\n", ]) or len(contents) == len(new)


def test_attachments_save_confined_by_id(hfake, lab, tmp_path):
    srv = mailbox(hfake, "imap", [attachment_message(EVIL_NAMES)])
    t = Tern(tmp_path)
    assert t.run(*use(t, srv, "imap", "implicit", lab)).rc == EX_OK
    new = save_and_check(t, tmp_path, ["attachments", "1"])
    assert len(new) == len(EVIL_NAMES) + 1, new


def test_attachments_save_twice_never_replaces(tmp_path):
    msg = tmp_path / "att.eml"
    msg.write_bytes(attachment_message(["report.pdf", "../report.pdf"]))
    t = Tern(tmp_path)
    out = tmp_path / "dl"
    out.mkdir()
    r1 = t.run("attachments", "--file", str(msg), "--save", str(out))
    r2 = t.run("attachments", "--file", str(msg), "--save", str(out))
    assert r1.rc == EX_OK and r2.rc == EX_OK, (r1, r2)
    names = sorted(os.listdir(str(out)))
    assert len(names) == 6, names  # 2 + old-style, twice, none replaced
    assert len(set(r1.out.splitlines()) & set(r2.out.splitlines())) == 0
