"""Issue 3 point 10 (and the parts of 7 and 8 that only the binary shows):
`tern read --file` / `--file -` / `--json` and `tern attachments --file`
on local messages, with no account configured, plus the html_filter
configuration key and what reaches a pipe for a hostile message.

No lab and no network: every test runs the binary on files written here.
TERN_BIN names the binary (default build/tern).
"""

import base64
import json
import os
import re
import subprocess

import pytest

SIMPLE = (
    b'From: "Doe, John" <john@example.com>\r\n'
    b"To: Alice <alice@example.org>, bob@example.net (Bob Builder),\r\n"
    b"\tundisclosed-recipients:;\r\n"
    b"Cc: =?UTF-8?B?SsO8cmdlbiBNw7xsbGVy?= <jm@example.de>\r\n"
    b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus\r\n =?ISO-8859-1?Q?K=F6ln?=\r\n"
    b"Date: Fri, 1 Mar 2024 13:00:00 +0100\r\n"
    b"Message-ID: <abc.123@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"preamble, not shown\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"Caf=E9 au lait,=\r\n"
    b" soft break.\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf\r\n"
    b"Content-Disposition: attachment;\r\n"
    b" filename*0*=UTF-8''%E2%82%AC%20report;\r\n"
    b" filename*1=\" 2024.pdf\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"JVBERi0xLjQKJcOkw7zDtsOfCg==\r\n"
    b"--outer\r\n"
    b"Content-Type: text/plain; name=\"=?UTF-8?B?w6TDtsO8LnR4dA==?=\"\r\n"
    b"Content-Disposition: attachment\r\n"
    b"\r\n"
    b"notes\r\n"
    b"--outer--\r\n"
    b"epilogue, not shown\r\n")
PDF = base64.b64decode("JVBERi0xLjQKJcOkw7zDtsOfCg==")

HTML = (b"From: news@example.com\nTo: you@example.com\nSubject: html only\n"
        b"Content-Type: text/html; charset=utf-8\n\n"
        b"<html><head><style>p {}</style></head><body>"
        b"<p>Read <a href=\"https://example.com/a?b=1&amp;c=2\">the article</a>.</p>"
        b"</body></html>\n")

# Escape sequences of every kind, C0/C1/DEL, NUL and bidi controls in From,
# Subject, a file name and the body, raw and behind every encoding.
EVIL = "\x1b[2J\x1b]52;c;ZXZpbA==\x07\x1bP+q\x1b\\\x1b_apc\x1b\\\u009b31m\u202e\u2066\x08\x7f"
HOSTILE = (
    "From: =?UTF-8?B?%s?= <evil@example.com>\r\n"
    "To: \"\x1b]0;title\x07\" <v@example.com>\r\n"
    "Subject: before =?UTF-8?Q?=1B]0;t=07_=C2=9B2J_=E2=80=AE?= after\r\n"
    "Content-Type: multipart/mixed; boundary=X\r\n"
    "\r\n"
    "--X\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "%s\r\n"
    "--X\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Disposition: attachment; filename*=utf-8''%s\r\n"
    "\r\n"
    "data\r\n"
    "--X--\r\n" % (
        base64.b64encode(("name " + EVIL).encode()).decode(),
        base64.b64encode(("first " + EVIL + " last\x00nul\n").encode()).decode(),
        "".join("%%%02X" % b for b in ("../" + EVIL + "x.sh").encode()))).encode()

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.fixture
def run(tern_bin, tmp_path):
    """run(*args, input=b"", config=None) -> CompletedProcess. No account,
    no configuration file unless config (the text of one) is given."""
    home = tmp_path / "home"
    home.mkdir()

    def go(*args, input=b"", config=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TERN_")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
                   XDG_DATA_HOME=str(home / ".local" / "share"))
        cmd = [os.path.abspath(tern_bin)]
        if config is not None:
            path = tmp_path / "config"
            fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(config)
            cmd += ["-c", str(path)]
        return subprocess.run(cmd + [str(a) for a in args], input=input, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60,
                              cwd=str(tmp_path))
    return go


def write(tmp_path, name, raw):
    p = tmp_path / name
    p.write_bytes(raw)
    return p


def test_read_file_text(run, tmp_path):
    """The decoded header block (From, To, Cc, Date, Subject), the text
    part, the attachment list; no preamble or epilogue; nothing on stderr
    although no account or configuration exists."""
    f = write(tmp_path, "m.eml", SIMPLE)
    r = run("read", "--file", f)
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.decode() == (
        "From: Doe, John <john@example.com>\n"
        "To: Alice <alice@example.org>, Bob Builder <bob@example.net>\n"
        "Cc: J\u00fcrgen M\u00fcller <jm@example.de>\n"
        "Date: Fri, 1 Mar 2024 13:00:00 +0100\n"
        "Subject: Gr\u00fc\u00dfe aus K\u00f6ln\n"
        "\n"
        "Caf\u00e9 au lait, soft break.\n"
        "\n"
        "[attachments]\n"
        "  1. \u20ac report 2024.pdf (application/pdf, 19 B)\n"
        "  2. \u00e4\u00f6\u00fc.txt (text/plain, 5 B)\n")
    assert not (tmp_path / "home" / ".local").exists()  # no state written


def test_read_file_json(run, tmp_path):
    f = write(tmp_path, "m.eml", SIMPLE)
    r = run("read", "--file", f, "--json")
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.endswith(b"}\n") and r.stdout.count(b"\n") == 1
    got = json.loads(r.stdout)
    assert list(got) == ["from", "to", "cc", "subject", "date", "message_id", "text",
                         "attachments"]
    assert got == {
        "from": [{"name": "Doe, John", "address": "john@example.com"}],
        "to": [{"name": "Alice", "address": "alice@example.org"},
               {"name": "Bob Builder", "address": "bob@example.net"}],
        "cc": [{"name": "J\u00fcrgen M\u00fcller", "address": "jm@example.de"}],
        "subject": "Gr\u00fc\u00dfe aus K\u00f6ln",
        "date": "2024-03-01T12:00:00Z",
        "message_id": "abc.123@example.com",
        "text": "Caf\u00e9 au lait, soft break.",
        "attachments": [
            {"filename": "\u20ac report 2024.pdf", "content_type": "application/pdf",
             "size": len(PDF)},
            {"filename": "\u00e4\u00f6\u00fc.txt", "content_type": "text/plain", "size": 5},
        ],
    }


def test_read_file_json_nulls(run, tmp_path):
    """Absent or unparseable values are null (never a made-up date), absent
    address headers are empty arrays, no text part is "text": null."""
    f = write(tmp_path, "m.eml", b"From: a@example.com\nDate: the day after tomorrow\n"
                                 b"Content-Type: image/png\nContent-Transfer-Encoding: base64\n"
                                 b"\niVBORw0KGgo=\n")
    got = json.loads(run("read", "--file", f, "--json").stdout)
    assert got == {"from": [{"name": "", "address": "a@example.com"}], "to": [], "cc": [],
                   "subject": None, "date": None, "message_id": None, "text": None,
                   "attachments": [{"filename": "attachment-1.png", "content_type": "image/png",
                                    "size": 8}]}
    r = run("read", "--file", f)
    assert r.returncode == 0
    assert b"Date: the day after tomorrow\n" in r.stdout
    assert b"[this message has no text part]\n" in r.stdout


@pytest.mark.parametrize("args", [["read"], ["read", "--json"], ["attachments"],
                                  ["attachments", "--json"]])
def test_file_dash_reads_stdin(run, tmp_path, args):
    """`--file -` reads the message from standard input: the same output as
    the file."""
    f = write(tmp_path, "m.eml", SIMPLE)
    from_file = run(*args, "--file", f)
    from_stdin = run(*args, "--file", "-", input=SIMPLE)
    assert from_file.returncode == 0 and from_stdin.returncode == 0, (from_file, from_stdin)
    assert from_stdin.stdout == from_file.stdout and from_file.stdout


def test_attachments_list_and_save(run, tmp_path):
    f = write(tmp_path, "m.eml", SIMPLE)
    r = run("attachments", "--file", f)
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.decode().splitlines() == [
        "1\t%d\tapplication/pdf\t\u20ac report 2024.pdf" % len(PDF),
        "2\t5\ttext/plain\t\u00e4\u00f6\u00fc.txt"]
    got = json.loads(run("attachments", "--file", f, "--json").stdout)
    assert got == [{"filename": "\u20ac report 2024.pdf", "content_type": "application/pdf",
                    "size": len(PDF)},
                   {"filename": "\u00e4\u00f6\u00fc.txt", "content_type": "text/plain",
                    "size": 5}]
    out = tmp_path / "saved"
    out.mkdir()
    (out / "\u00e4\u00f6\u00fc.txt").write_bytes(b"mine\n")  # never replaced
    r = run("attachments", "--file", f, "--save", out)
    assert r.returncode == 0 and r.stderr == b"", r
    pdf = out / "\u20ac report 2024.pdf"
    txt = out / "\u00e4\u00f6\u00fc (1).txt"
    assert r.stdout.decode().splitlines() == [str(pdf), str(txt)]
    assert pdf.read_bytes() == PDF and txt.read_bytes() == b"notes"
    assert (out / "\u00e4\u00f6\u00fc.txt").read_bytes() == b"mine\n"
    assert sorted(os.listdir(str(out))) == sorted([pdf.name, txt.name, "\u00e4\u00f6\u00fc.txt"])
    assert os.stat(str(pdf)).st_mode & 0o777 == 0o600


def test_html_filter_config_key(run, tmp_path):
    """Without html_filter: the built-in converter (tags gone, entities
    decoded, the link kept as text). With it: the command's output. A
    failing command falls back to the built-in converter."""
    f = write(tmp_path, "h.eml", HTML)
    builtin = "Read the article <https://example.com/a?b=1&c=2>.\n"
    r = run("read", "--file", f)
    assert r.returncode == 0 and r.stderr == b"", r
    assert r.stdout.decode().endswith("\n\n" + builtin), r.stdout
    assert b"<p>" not in r.stdout and b"style" not in r.stdout
    r = run("read", "--file", f, "--json")
    assert json.loads(r.stdout)["text"] == builtin

    r = run("read", "--file", f, config="[general]\nhtml_filter = tr a-z A-Z\n")
    assert r.returncode == 0, r
    assert b"<P>READ <A HREF=\"HTTPS://EXAMPLE.COM/A?B=1&AMP;C=2\">THE ARTICLE</A>.</P>" \
        in r.stdout, r.stdout
    assert r.stdout.startswith(b"From: news@example.com\n")  # headers untouched

    r = run("read", "--file", f, config="[general]\nhtml_filter = exit 3\n")
    assert r.returncode == 0, r
    assert r.stdout.decode().endswith("\n\n" + builtin), r.stdout


def test_hostile_message_into_a_pipe(run, tmp_path):
    """ESC sequences (CSI, OSC 52, OSC title, DCS, APC), 8-bit CSI, C0, DEL,
    NUL and bidi controls in From, To, Subject, a file name and the body:
    nothing raw reaches stdout (a pipe here), the words around stay."""
    f = write(tmp_path, "evil.eml", HOSTILE)
    outs = {}
    for args in (["read"], ["read", "--json"], ["attachments"], ["attachments", "--json"]):
        r = run(*args, "--file", f)
        assert r.returncode == 0, (args, r)
        for stream in (r.stdout, r.stderr):
            assert b"\x1b" not in stream and b"\x9b" not in stream.replace(b"\xc2\x9b", b"")
            text = stream.decode("utf-8")  # valid UTF-8
            m = UNSAFE.search(text)
            assert m is None, (args, m.group(), text)
        outs[" ".join(args)] = r.stdout.decode()
    text = outs["read"]
    for word in ("name ", "before", "after", "first ", " last", "nul"):
        assert word in text, (word, text)
    data = json.loads(outs["read --json"])
    assert data["subject"].startswith("before ") and data["subject"].endswith(" after")
    assert "first " in data["text"] and " last" in data["text"]
    # saving: one file, inside the directory, with a name made safe
    out = tmp_path / "dl"
    out.mkdir()
    r = run("attachments", "--file", f, "--save", out)
    assert r.returncode == 0, r
    assert b"\x1b" not in r.stdout and not UNSAFE.search(r.stdout.decode("utf-8")), r.stdout
    names = os.listdir(str(out))
    assert len(names) == 1 and names[0].endswith("x.sh"), names
    assert not UNSAFE.search(names[0]) and not names[0].startswith((".", "-"))
    assert (out / names[0]).read_bytes() == b"data"
