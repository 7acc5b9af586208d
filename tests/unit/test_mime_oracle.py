#!/usr/bin/env python3
"""Oracle test: generate messages with Python's email package, read them
with `tern read --file X --json`, and compare subject, From, the plain text
and the attachment names and decoded sizes with Python's own parse of the
same bytes. Then hostile messages through the real binary: no ESC, C1 or
bidi control may reach stdout (text, --json, attachments, and --raw on a
pseudo-terminal).

usage: test_mime_oracle.py TERN_BINARY [COUNT]
Prints 'N passed, N failed' and exits non-zero on any mismatch.
"""
import email
import email.policy
import json
import os
import pty
import re
import random
import subprocess
import sys
import tempfile
from email.message import EmailMessage

NAMES = ["Doe, John", "Ren\u00e9e O'Brien", "\u5f20\u4f1f", "plain", "M\u00fcller (Sales)",
         "Quote \" Inside", "\u0417\u0430\u0445\u0430\u0440"]
WORDS = ["hello", "caf\u00e9", "\u00fcber", "report", "\u65e5\u672c\u8a9e", "meeting",
         "na\u00efve", "\u20ac100", "tomorrow", "re:", "emoji \U0001F600", "a,b;c"]
FILES = ["report.pdf", "\u00fcbersicht.xlsx", "\u65e5\u672c.txt", "with space.doc",
         "very-" + "long-" * 20 + "name.bin", "na\u00efve r\u00e9sum\u00e9.pdf", "x.y.z.tar.gz"]


def make(rng, i):
    m = EmailMessage()
    name = rng.choice(NAMES)
    m["From"] = f'{email.utils.formataddr((name, f"user{i}@example.com"))}'
    m["To"] = "rcpt@example.org, Other <other@example.org>"
    m["Subject"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))
    m["Date"] = email.utils.formatdate(1700000000 + i * 3600, localtime=False)
    m["Message-ID"] = f"<{i}.oracle@example.com>"
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 15)))
                     for _ in range(rng.randint(1, 8))) + "\n"
    cte = rng.choice([None, "quoted-printable", "base64", "8bit"])
    if cte:
        m.set_content(body, cte=cte)
    else:
        m.set_content(body)
    if rng.random() < 0.3:
        m.add_alternative("<p>" + body + "</p>", subtype="html")
    for _ in range(rng.randint(0, 3)):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 5000)))
        m.add_attachment(data, maintype="application", subtype="octet-stream",
                         filename=rng.choice(FILES))
    pol = email.policy.SMTP if rng.random() < 0.5 else email.policy.default
    return m.as_bytes(policy=pol)


def python_view(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    frm = [(a.display_name, a.addr_spec) for a in msg["from"].addresses]
    atts = []
    for part in msg.walk():
        fn = part.get_filename()
        if fn is not None:
            atts.append((fn, len(part.get_payload(decode=True) or b"")))
    body = msg.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else None
    if text is not None:
        text = text.replace("\r\n", "\n")  # tern gives LF line ends
    return str(msg["subject"]), frm, atts, text


UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "mime")


def unsafe(out):
    """Why out is unsafe for a terminal, or None."""
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"invalid UTF-8 ({e})"
    m = UNSAFE.search(text.replace("\r\n", "\n"))
    return f"control U+{ord(m.group()):04X} at {m.start()}" if m else None


def run_on_pty(argv):
    """Run argv with stdout on a pseudo-terminal; return what it printed."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, TERN_CONFIG="/nonexistent"))
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=30)
    os.close(master)
    return out


def hostile(tern, d):
    """Hostile messages through the binary; returns (passed, failed)."""
    msgs = [open(os.path.join(DATA, "hostile.eml"), "rb").read()]
    evil = ["\x1b[2J", "\x1b]52;c;ZXZpbA==\x07", "\u009b31m", "\u202egnp.exe", "\x07",
            "\x1bP+q\x1b\\", "\u2066x\u2069"]
    for i, e in enumerate(evil):
        m = EmailMessage()
        m["From"] = email.utils.formataddr((f"name {e}", "a@example.com"))
        m["Subject"] = f"subject {e} end"
        m.set_content(f"body {e} end\n")
        m.add_alternative(f"<p>html {e} &#27;[1m &#x9b;</p>", subtype="html")
        m.add_attachment(b"x", maintype="application", subtype="octet-stream",
                         filename=f"../{e}file{i}.sh")
        msgs.append(m.as_bytes(policy=email.policy.default))
        msgs.append(b"Subject: raw " + e.encode() + b"\nFrom: " + e.encode() +
                    b" <x@y>\nContent-Type: text/html\n\n<b>" + e.encode() + b"</b>\n")
    passed = failed = 0
    for i, raw in enumerate(msgs):
        path = os.path.join(d, f"hostile{i}.eml")
        with open(path, "wb") as f:
            f.write(raw)
        for args in (["read", "--file", path], ["read", "--file", path, "--json"],
                     ["attachments", "--file", path], ["attachments", "--file", path, "--json"]):
            r = subprocess.run([tern] + args, capture_output=True, timeout=30,
                               env=dict(os.environ, TERN_CONFIG="/nonexistent"))
            why = unsafe(r.stdout) or unsafe(r.stderr)
            if r.returncode != 0 or why:
                failed += 1
                print(f"hostile {i} {' '.join(args[:1] + args[3:])}: exit {r.returncode} {why}")
            else:
                passed += 1
        out = run_on_pty([tern, "read", "--raw", "--file", path])
        why = unsafe(out) if out else "no output"
        if why:
            failed += 1
            print(f"hostile {i} --raw on a terminal: {why}")
        else:
            passed += 1
    # --raw into a pipe is byte-exact.
    r = subprocess.run([tern, "read", "--raw", "--file", os.path.join(d, "hostile0.eml")],
                       capture_output=True, timeout=30)
    if r.stdout == msgs[0]:
        passed += 1
    else:
        failed += 1
        print("--raw into a pipe changed the bytes")
    return passed, failed


def main():
    tern = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    rng = random.Random(20240301)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as d:
        for i in range(count):
            raw = make(rng, i)
            path = os.path.join(d, f"m{i}.eml")
            with open(path, "wb") as f:
                f.write(raw)
            r = subprocess.run([tern, "read", "--file", path, "--json"], capture_output=True,
                               timeout=30, env=dict(os.environ, TERN_CONFIG="/nonexistent"))
            problems = []
            if r.returncode != 0:
                problems.append(f"exit {r.returncode}: {r.stderr!r}")
            else:
                got = json.loads(r.stdout)
                subj, frm, atts, text = python_view(raw)
                if got["subject"] != subj:
                    problems.append(f"subject {got['subject']!r} != {subj!r}")
                gfrm = [(a["name"], a["address"]) for a in got["from"]]
                if gfrm != frm:
                    problems.append(f"from {gfrm!r} != {frm!r}")
                gatts = [(a["filename"], a["size"]) for a in got["attachments"]]
                if gatts != atts:
                    problems.append(f"attachments {gatts!r} != {atts!r}")
                if (got["text"] or "").rstrip("\n") != (text or "").rstrip("\n"):
                    problems.append(f"text {got['text']!r} != {text!r}")
                if got["date"] is None:
                    problems.append("date not parsed")
                if got["message_id"] != f"{i}.oracle@example.com":
                    problems.append(f"message_id {got['message_id']!r}")
            if problems:
                failed += 1
                if failed <= 10:
                    print(f"message {i}: " + "; ".join(problems))
                    sys.stdout.flush()
            else:
                passed += 1
        p, f = hostile(tern, d)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
