#!/usr/bin/python3
"""Seed a lab user's INBOX with N generated messages for bench/imap/run.sh.

    gen.py LAB_DIR USER COUNT

Messages vary like real mail: 1-3 recipients, a few list messages with
List-Id, replies with In-Reply-To/References chains, encoded-word subjects,
some multipart/alternative and some with an attachment; bodies of 1-20 KB.
Deterministic (seeded), so runs are comparable.
"""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "lab"))
import lab  # noqa: E402

WORDS = ("meeting report budget release patch review draft invoice travel plan update "
         "question answer server backup schedule lunch project quarterly minutes "
         "feedback proposal").split()
NAMES = ("Alice Bob Carol Dave Erin Frank Grace Heidi Ivan Judy Mallory Niaj Olivia "
         "Peggy Rupert Sybil Trent Victor Walter").split()


def message(rng, i):
    frm = rng.choice(NAMES)
    to = ", ".join("%s <%s@example.org>" % (n, n.lower()) for n in rng.sample(NAMES, rng.randint(1, 3)))
    subj = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
    if i % 17 == 0:
        subj = "=?UTF-8?Q?R=C3=BCckmeldung?= " + subj
    if i % 5 == 0:
        subj = "Re: " + subj
    h = ["From: %s <%s@example.com>" % (frm, frm.lower()),
         "To: " + to,
         "Subject: " + subj,
         "Date: %s, %02d %s 2024 %02d:%02d:%02d +0100" % (
             rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri"]), rng.randint(1, 28),
             rng.choice(["Jan", "Feb", "Mar", "Apr", "May", "Jun"]), rng.randint(0, 23),
             rng.randint(0, 59), rng.randint(0, 59)),
         "Message-ID: <%d.%d@bench.example.com>" % (i, rng.randint(0, 1 << 30))]
    if i % 3 == 0:
        h.append("Cc: %s <%s@example.net>" % (rng.choice(NAMES), rng.choice(NAMES).lower()))
    if i % 5 == 0 and i > 0:
        refs = " ".join("<%d.ref@bench.example.com>" % rng.randint(0, i) for _ in range(rng.randint(1, 6)))
        h.append("In-Reply-To: <%d.ref@bench.example.com>" % (i - 1))
        h.append("References: " + refs)
    if i % 7 == 0:
        h.append("List-Id: Bench list <bench.lists.example.com>")
    h.append("Received: from mx%d.example.com by mail.example.org; Tue, 2 Jan 2024 10:00:00 +0000" % (i % 9))
    h.append("X-Mailer: bench %d" % i)
    body = "\n".join(" ".join(rng.choice(WORDS) for _ in range(12)) for _ in range(rng.randint(5, 120)))
    if i % 10 == 0:
        h += ["MIME-Version: 1.0", "Content-Type: multipart/mixed; boundary=\"b%d\"" % i]
        att = ("QUJD" * 19 + "\n") * rng.randint(5, 60)
        body = ("--b{0}\nContent-Type: text/plain; charset=utf-8\n\n{1}\n--b{0}\n"
                "Content-Type: application/pdf; name=\"r{0}.pdf\"\n"
                "Content-Disposition: attachment; filename=\"r{0}.pdf\"\n"
                "Content-Transfer-Encoding: base64\n\n{2}--b{0}--\n").format(i, body, att)
    elif i % 4 == 0:
        h += ["MIME-Version: 1.0", "Content-Type: multipart/alternative; boundary=\"a%d\"" % i]
        body = ("--a{0}\nContent-Type: text/plain; charset=utf-8\n\n{1}\n--a{0}\n"
                "Content-Type: text/html; charset=utf-8\n\n<p>{1}</p>\n--a{0}--\n").format(i, body)
    else:
        h.append("Content-Type: text/plain; charset=utf-8")
    return ("\n".join(h) + "\n\n" + body + "\n").encode()


def main():
    d, user, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    L = lab.Lab(d)
    rng = random.Random(42)
    batch = []
    for i in range(n):
        batch.append(message(rng, i))
        if len(batch) == 2000:
            L.put_messages(user, batch, flags=rng.choice(["", "S"]))
            batch = []
    if batch:
        L.put_messages(user, batch, flags="")


if __name__ == "__main__":
    main()
