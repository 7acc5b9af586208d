#!/usr/bin/env python3
"""`tern list` against indexes built by make-index (see meson.build).

usage: test_list.py TERN MAKE_INDEX
Prints one line per failed check and exits 1 when any failed.
"""
import json
import re
import os
import resource
import subprocess
import sys
import tempfile

TERN, MAKE_INDEX = sys.argv[1], sys.argv[2]
failures = 0
checks = 0


def check(cond, what):
    global failures, checks
    checks += 1
    if not cond:
        failures += 1
        print("FAIL:", what)


# folder uid date flags size att from_name from_addr to subject message_id
WORK_ROWS = [
    ("INBOX", 1, 1709294400, "S", 1234, 0, "Alice", "alice@example.org",
     "Me <me@example.org>", "Hello there", "m1@example.org"),
    ("INBOX", 2, 1709380800, "-", 20480, 1, "", "bob@example.org",
     "me@example.org", "100% sure about a_b", "m2@example.org"),
    ("INBOX", 3, "-", "-", 10, 0, "", "", "", "", ""),
    ("INBOX", 4, 1709467200, "FA", 3000000, 0, "Mallory\\xe2\\x80\\xae", "mal@example.org",
     "me@example.org", "evil \\e]0;pwned\\x07 title \\e[31mred", "m4@example.org"),
    ("Archive", 1, 1600000000, "S", 500, 0, "Zoë Ünïcode", "zoe@example.org",
     "me@example.org", "it's \"quoted\" 100 percent", "m5@example.org"),
]
PLAY_ROWS = [
    ("INBOX", 1, 1709400000, "-", 42, 0, "Carol", "carol@example.org", "", "from play",
     "p1@example.org"),
]
FIELDS = {"id", "account", "folder", "uid", "date", "from", "to", "subject", "flags",
          "size", "has_attachments", "message_id"}


def make_index(path, rows):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    text = "".join("\t".join(str(f) for f in r) + "\n" for r in rows)
    p = subprocess.run([MAKE_INDEX, path], input=text.encode(), capture_output=True)
    if p.returncode:
        sys.exit("make-index failed: " + p.stderr.decode(errors="replace"))


def run(env, *args):
    p = subprocess.run([TERN, "-c", env["cfg"], "list", *args], capture_output=True,
                       env=env["env"])
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def run_json(env, *args):
    rc, out, err = run(env, "--json", *args)
    check(rc == 0, "list --json %s: exit %d (%s)" % (" ".join(args), rc, err.strip()))
    try:
        return json.loads(out.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        check(False, "list --json %s: not JSON: %s" % (" ".join(args), e))
        return []


def account(name, proto="imap"):
    return ("[account %s]\naddress = %s@example.org\nincoming = %s\nhost = mail.example.org\n"
            "password_command = true\n\n" % (name, name, proto))


def main():
    with tempfile.TemporaryDirectory(prefix="tern-list-") as tmp:
        data = os.path.join(tmp, "data")
        cfg = os.path.join(tmp, "config")
        with open(cfg, "w") as f:
            f.write(account("work") + account("home", "pop3") + account("play"))
        os.chmod(cfg, 0o600)
        env = {"cfg": cfg, "env": dict(os.environ, XDG_DATA_HOME=data, HOME=tmp, TZ="UTC",
                                       LC_ALL="C.UTF-8")}
        env["env"].pop("TERN_CONFIG", None)
        make_index(os.path.join(data, "tern/work/index.sqlite"), WORK_ROWS)
        make_index(os.path.join(data, "tern/play/index.sqlite"), PLAY_ROWS)

        # All accounts, newest first across accounts, unknown date last.
        rows = run_json(env)
        check(len(rows) == 6, "all: %d rows" % len(rows))
        subjects = [r["subject"] for r in rows]
        check(subjects[0].startswith("evil") and subjects[1] == "from play"
              and subjects[2] == "100% sure about a_b" and subjects[3] == "Hello there"
              and subjects[4].startswith("it's") and subjects[5] is None,
              "all: order %r" % subjects)
        check(all(set(r) == FIELDS for r in rows), "all: exactly the documented fields")
        check(not os.path.exists(os.path.join(data, "tern/home")),
              "an account without an index gets no index created by list")

        by_subject = {r["subject"]: r for r in rows}
        h = by_subject.get("Hello there", {})
        check(h.get("account") == "work" and h.get("folder") == "INBOX" and h.get("uid") == 1,
              "fields: account/folder/uid %r" % h)
        check(h.get("date") == "2024-03-01T12:00:00Z", "fields: date %r" % h.get("date"))
        check(h.get("from") == "Alice <alice@example.org>", "fields: from %r" % h.get("from"))
        check(h.get("to") == "Me <me@example.org>", "fields: to")
        check(h.get("flags") == ["seen"], "fields: flags %r" % h.get("flags"))
        check(h.get("size") == 1234 and h.get("has_attachments") is False, "fields: size/att")
        check(h.get("message_id") == "m1@example.org", "fields: message_id")
        check(isinstance(h.get("id"), int) and h["id"] > 0, "fields: id")
        b = by_subject.get("100% sure about a_b", {})
        check(b.get("from") == "bob@example.org" and b.get("flags") == []
              and b.get("has_attachments") is True, "fields: bare address, unread, attachment")
        e = rows[0]
        check(e.get("flags") == ["answered", "flagged"], "fields: flags order %r" % e.get("flags"))
        check("\x1b" in e.get("subject", ""), "JSON keeps the data (escaped in the text)")
        empty = rows[5]
        check(empty["date"] is None and empty["from"] is None and empty["to"] is None
              and empty["message_id"] is None, "fields: nulls %r" % empty)

        # JSON text itself has no raw control bytes.
        rc, out, _ = run(env, "--json")
        check(b"\x1b" not in out and b"\\u001b" in out, "JSON escapes ESC")

        # -a, -f, -n, --unread, --search.
        work = run_json(env, "-a", "work")
        check(len(work) == 5 and all(r["account"] == "work" for r in work), "-a work")
        check(run_json(env, "-a", "home") == [], "-a home (no index): empty")
        rc, out, err = run(env, "-a", "home", "--json")
        check(out == b"[]\n", "empty JSON is []: %r" % out)
        rc, out, err = run(env, "-a", "nosuch")
        check(rc != 0 and "nosuch" in err, "-a nosuch fails: %d %r" % (rc, err))
        arch = run_json(env, "-f", "Archive")
        check([r["uid"] for r in arch] == [1] and arch[0]["folder"] == "Archive", "-f Archive")
        rc, out, err = run(env, "-f", "Nope")
        check(rc != 0 and "Nope" in err, "-f Nope fails")
        two = run_json(env, "-n", "2")
        check([r["subject"] for r in two] == subjects[:2], "-n 2 across accounts")
        one = run_json(env, "-a", "work", "-n", "1")
        check(len(one) == 1 and one[0]["subject"].startswith("evil"), "-a work -n 1")
        unread = run_json(env, "--unread")
        check(len(unread) == 4 and all("seen" not in r["flags"] for r in unread),
              "--unread: %d" % len(unread))
        for text, want in [("100%", ["100% sure about a_b"]),
                           ("%", ["100% sure about a_b"]),
                           ("a_b", ["100% sure about a_b"]),
                           ("_", ["100% sure about a_b"]),
                           ("it's", ["it's \"quoted\" 100 percent"]),
                           ("\"quoted\"", ["it's \"quoted\" 100 percent"]),
                           ("HELLO", ["Hello there"]),
                           ("alice@", ["Hello there"]),
                           ("carol", ["from play"]),
                           ("100", ["100% sure about a_b", "it's \"quoted\" 100 percent"]),
                           ("no such text", [])]:
            got = [r["subject"] for r in run_json(env, "--search", text)]
            check(got == want, "--search %r: %r" % (text, got))
        got = run_json(env, "--unread", "--search", "100", "-a", "work")
        check([r["subject"] for r in got] == ["100% sure about a_b"], "--unread --search")

        for bad in (["-n", "0"], ["-n", "x"], ["-n", "-1"], ["-n"], ["--bogus"], ["-a"]):
            rc, _, _ = run(env, *bad)
            check(rc == 64, "usage error for %r: exit %d" % (bad, rc))

        # Text output: one line per message, placeholders instead of
        # escape sequences and bidi overrides, flags and marks.
        rc, out, err = run(env)
        check(rc == 0, "text: exit %d %s" % (rc, err))
        text = out.decode("utf-8", errors="replace")
        lines = text.splitlines()
        check(len(lines) == 6, "text: %d lines" % len(lines))
        check(b"\x1b" not in out and b"\x07" not in out and "\u202e" not in text,
              "text: no ESC, BEL or bidi override")
        evil = lines[0] if lines else ""
        check("\ufffd" in evil and "title" in evil and "red" in evil,
              "text: placeholder shown, text around kept: %r" % evil)
        check(evil.startswith("work"), "text: account column with several accounts")
        check(re.search(r"\s[0-9]+ NFA  2024-03-03 12:00 +2\.9M  ", evil) is not None,
              "text: id, flags N F A, date, size: %r" % evil)
        bob = next((l for l in lines if "100% sure" in l), "")
        check(re.search(r"\s[0-9]+ N  @ 2024-03-02 12:00 +20K  bob@example\.org +100% sure", bob)
              is not None, "text: unread, attachment, date, size, sender: %r" % bob)
        check("(no subject)" in lines[-1] and "(unknown)" in lines[-1] and " - " in lines[-1],
              "text: placeholders for empty fields: %r" % lines[-1])
        rc, out, _ = run(env, "-a", "work", "-n", "1")
        check(not out.decode().startswith("work"), "text: no account column with -a")
        zoe = [l for l in lines if "Zo" in l]
        check(zoe and "Zoë Ünïcode" in zoe[0], "text: UTF-8 names intact")

        # Timing: 50,000 messages, list -n 50, CPU of the tern process.
        make_index(os.path.join(data, "tern/big/index.sqlite"), [])
        p = subprocess.run([MAKE_INDEX, os.path.join(data, "tern/big/index.sqlite"), "--bulk",
                            "50000"], capture_output=True)
        check(p.returncode == 0, "make-index --bulk")
        with open(cfg, "a") as f:
            f.write(account("big"))
        for args in (["-a", "big", "-n", "50"], ["-n", "50"], ["-a", "big", "-n", "50", "--unread"],
                     ["-a", "big", "-n", "50", "--json"], ["-a", "big", "-n", "50", "--search", "number 4999"],
                     ["-a", "big"]):
            best = None
            for _ in range(3):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                rc, out, err = run(env, *args)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
                best = cpu if best is None else min(best, cpu)
            nlines = len(out.splitlines())
            check(rc == 0, "timing run %r: exit %d %s" % (args, rc, err))
            print("timing: tern list %-45s over 50,000: %6.1f ms CPU (best of 3), %d lines"
                  % (" ".join(args), best, nlines))
        check(len(run_json(env, "-a", "big", "-n", "50")) == 50, "big -n 50 gives 50")

    print("test_list: %d checks, %d failed" % (checks, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
