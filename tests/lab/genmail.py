#!/usr/bin/python3
"""Deterministic generator of varied RFC 5322 messages for tern's tests,
benchmarks and demo.

    genmail.py --count N [--seed S] --out DIR          # DIR/000001.eml ...
    genmail.py --count N [--seed S] --lab LABDIR --user alice [--folder F]

The same (count, seed) always gives the same bytes. Messages are
LF-terminated, as Maildir stores them. Mixture (by weight): plain ASCII,
UTF-8 8bit/quoted-printable/base64, ISO-8859-1, multipart/alternative with
HTML, multipart/mixed with attachments (binary, text, RFC 2231 names),
replies forming threads (In-Reply-To/References), RFC 2047 subjects and
names (German, Japanese, emoji), and a few hostile ones (terminal escape
sequences in headers, very long header lines, bidi overrides, long lines,
malformed encoded-words). Sizes are mostly 2-20 KB, about 1% are larger
(100 KB - 2 MB).

From Python:

    import genmail
    for m in genmail.messages(100, seed=1):   # Msg(index, kind, message_id,
        ...                                   #     subject, raw)
    raws = list(genmail.generate(100, seed=1))  # just the bytes
"""

import base64
import binascii
import os
import random
import sys
import time
from collections import namedtuple

Msg = namedtuple("Msg", "index kind message_id subject raw")

# (display name, address, charset for RFC 2047)
PEOPLE = [
    ("Alice Example", "alice@lab.test", None),
    ("Bob Builder", "bob@lab.test", None),
    ("Jürgen Müller", "juergen@example.de", "iso-8859-1"),
    ("Zoë Äpfelbaum", "zoe@example.de", "utf-8"),
    ("山田 太郎", "taro@example.jp", "utf-8"),
    ("佐藤 花子", "hanako@example.jp", "iso-2022-jp"),
    ("🎉 Party Bot", "party@example.com", "utf-8"),
    ("O'Brien, Seán", "sean@example.ie", "utf-8"),
    ("Mailing List", "list@lists.example.org", None),
    ("", "noreply@example.com", None),
    ("François Déjà", "francois@example.fr", "iso-8859-1"),
    ("Ελένη Παπαδοπούλου", "eleni@example.gr", "utf-8"),
]

SUBJECTS_ASCII = [
    "Quarterly report", "Lunch on Friday?", "Meeting notes", "Re: build is broken",
    "Invoice #4711", "Your order has shipped", "Weekly digest", "Question about the API",
    "Holiday schedule", "Fwd: interesting article", "Server maintenance tonight",
    "Draft proposal v3", "Code review request", "Happy birthday!", "Travel plans",
]
SUBJECTS_UTF8 = [
    "Grüße aus München", "Über die Änderungen im Büro", "Straßenfest am Wochenende",
    "会議の議事録", "来週の予定について", "お疲れ様です", "🎉 Party tonight! 🍕🍺",
    "Café au lait ☕ et croissants", "Ελληνικά θέματα", "Привет из Москвы",
    "naïve résumé — déjà vu", "✔ Task done ✅", "数学 ∑ ∫ ≠ ≈",
]
SUBJECTS_LATIN1 = ["Grüße aus Köln", "Réunion à 14h", "Año nuevo", "Smörgåsbord"]

WORDS_EN = ("the of and to in is that it for was on are as with be at by this have from or "
            "one had not but what all were when we there can an your which their said if do "
            "will each about how up out them then she many some so these would other into has "
            "more her two like him see time could no make than first been its who now people "
            "my made over did down only way find use may water long little very after words "
            "called just where most know get through back much go good new write our me man "
            "too any day same right look think also around another came come work three must "
            "because does part even place well such here take why help put different away "
            "again off went old number great tell men say small every found still between "
            "mail server client message folder thread inbox draft attachment release build").split()
WORDS_DE = ("und der die das ist nicht ein eine zu mit für auf Größe Straße Übung Äpfel "
            "Öl schön grün müssen können Brötchen Käse Bücher über für heißen Fußball "
            "Mädchen Gemütlichkeit Weißwurst Grüße Tschüß morgen heute gestern").split()
PHRASES_JA = ["今日は良い天気ですね。", "会議は午後三時からです。", "よろしくお願いします。",
              "資料を添付しました。", "ご確認ください。", "東京駅で会いましょう。",
              "メールの件、承知しました。", "新しいバージョンをリリースしました。"]
EMOJI = "😀🎉🍕🍺☕✅🚀🔥💡📎📅🌍"

HOSTILE_SUBJECTS = [
    "\x1b]0;pwned\x07Totally normal subject",
    "\x1b[31mRED ALERT\x1b[0m please read",
    "\x1b[2J\x1b[Hscreen cleared",
    "Invoice \u202egpj.exe\u202c",                  # bidi override
    "tab\there and\x08backspace and \x7fDEL",
    "=?UTF-8?B?not-base64!!?= broken encoded word",
    "=?UTF-8?Q?\x1b]0;pwned\x07?= escape inside encoded word",
]

Person = namedtuple("Person", "name addr charset")
PEOPLE = [Person(*p) for p in PEOPLE]


# --------------------------------------------------------------------------
# encoding helpers

def _encode_word_b(text, charset="utf-8"):
    """RFC 2047 B encoding, split into encoded-words of <= 75 chars without
    splitting multi-byte characters."""
    out, cur = [], ""
    limit = 45  # bytes of payload per word -> 60 base64 chars + overhead < 75
    for ch in text:
        if len((cur + ch).encode(charset)) > limit:
            out.append(cur)
            cur = ""
        cur += ch
    if cur:
        out.append(cur)
    cs = charset.upper()
    return "\n ".join("=?%s?B?%s?=" % (cs, base64.b64encode(w.encode(charset)).decode())
                      for w in out)


def _encode_word_q(text, charset="iso-8859-1"):
    raw = text.encode(charset)
    out = []
    for b in raw:
        c = chr(b)
        if c == " ":
            out.append("_")
        elif c.isalnum() and b < 128:
            out.append(c)
        else:
            out.append("=%02X" % b)
    return "=?%s?Q?%s?=" % (charset.upper(), "".join(out))


def _encode_header_text(text, rng, charset=None):
    if all(ord(c) < 128 for c in text):
        return text
    if charset == "iso-8859-1":
        try:
            return _encode_word_q(text, "iso-8859-1")
        except UnicodeEncodeError:
            pass
    if charset == "iso-2022-jp":
        try:
            return _encode_word_b(text, "iso-2022-jp")
        except UnicodeEncodeError:
            pass
    if rng.random() < 0.3:
        return "=?UTF-8?Q?%s?=" % "".join(
            c if (c.isalnum() and ord(c) < 128) else ("_" if c == " " else
            "".join("=%02X" % b for b in c.encode())) for c in text)
    return _encode_word_b(text)


def _addr(p, rng):
    if not p.name:
        return p.addr
    name = p.name
    if all(ord(c) < 128 for c in name):
        if any(c in name for c in ",.'\"()<>@;:"):
            name = '"%s"' % name.replace('"', '\\"')
        return "%s <%s>" % (name, p.addr)
    return "%s <%s>" % (_encode_header_text(name, rng, p.charset), p.addr)


def _wrap(words, width=72):
    lines, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = w if not cur else cur + " " + w
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def _fold(name, value):
    """Fold a header at spaces to ~76 columns."""
    line = "%s: %s" % (name, value)
    if len(line) <= 78 or "\n" in value:
        return line
    out, cur = [], ""
    for tok in line.split(" "):
        if cur and len(cur) + 1 + len(tok) > 76:
            out.append(cur)
            cur = " " + tok
        else:
            cur = tok if not cur else cur + " " + tok
    out.append(cur)
    return "\n".join(out)


def _qp(text_bytes):
    return binascii.b2a_qp(text_bytes, istext=True, header=False).decode("ascii").replace("\r\n", "\n")


def _b64(data):
    return base64.encodebytes(data).decode("ascii")


# --------------------------------------------------------------------------
# the generator

class _Pools:
    """Pre-generated paragraphs, so bodies are joins of existing strings."""

    def __init__(self, rng):
        def para(words, n):
            return _wrap([rng.choice(words) for _ in range(n)])
        self.en = [para(WORDS_EN, rng.randint(20, 120)).capitalize() + "." for _ in range(300)]
        self.de = [para(WORDS_DE + WORDS_EN, rng.randint(20, 100)) + "." for _ in range(150)]
        self.ja = ["".join(rng.choice(PHRASES_JA) for _ in range(rng.randint(3, 12)))
                   for _ in range(100)]
        self.emoji = [para(WORDS_EN + list(EMOJI), rng.randint(10, 60)) for _ in range(50)]

    def body(self, rng, size, lang="en"):
        src = {"en": self.en, "de": self.de, "ja": self.ja, "mix": self.en + self.de + self.ja + self.emoji}[lang]
        parts, n = [], 0
        while n < size:
            p = rng.choice(src)
            parts.append(p)
            n += len(p.encode()) + 2
        return "\n\n".join(parts) + "\n"


KINDS = [  # (kind, weight)
    ("plain", 22), ("utf8_8bit", 10), ("utf8_qp", 10), ("utf8_b64", 5), ("latin1", 6),
    ("alternative", 18), ("attachment", 10), ("reply", 14), ("hostile", 2), ("large", 0.4),
    ("japanese", 2),
]


def _size(rng):
    # mostly 2-20 KB, log-uniform-ish
    return int(2000 * (10 ** rng.random()))


def messages(count, seed=1, start_date=1704067200):
    """Yield Msg(index, kind, message_id, subject, raw) for index 1..count."""
    rng = random.Random(seed)
    pools = _Pools(random.Random(seed * 7919 + 1))
    kinds = [k for k, _ in KINDS]
    weights = [w for _, w in KINDS]
    t = start_date
    threads = []      # (message_id, subject, references)
    for i in range(1, count + 1):
        t += rng.randint(30, 7200)
        kind = rng.choices(kinds, weights)[0]
        if kind == "reply" and not threads:
            kind = "plain"
        sender, rcpt = rng.sample(PEOPLE, 2)
        msgid = "<gen%d.%06d@%s>" % (seed, i, "lab.test")
        headers = []
        date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
        in_reply = refs = None
        if kind == "reply":
            parent_id, parent_subj, parent_refs = rng.choice(threads[-200:])
            subj = parent_subj if parent_subj.lower().startswith("re:") else "Re: " + parent_subj
            in_reply = parent_id
            refs = (parent_refs + [parent_id])[-10:]
        elif kind in ("utf8_8bit", "utf8_qp", "utf8_b64", "japanese") or rng.random() < 0.15:
            subj = rng.choice(SUBJECTS_UTF8)
        elif kind == "latin1":
            subj = rng.choice(SUBJECTS_LATIN1)
        else:
            subj = rng.choice(SUBJECTS_ASCII)
        if kind == "hostile":
            subj = rng.choice(HOSTILE_SUBJECTS)
        subj_hdr = subj if kind == "hostile" else _encode_header_text(
            subj, rng, "iso-8859-1" if kind == "latin1" else None)
        if kind != "reply":
            threads.append((msgid, subj, []))
        else:
            threads.append((msgid, subj, refs))

        headers.append("Return-Path: <%s>" % sender.addr)
        headers.append(_fold("From", _addr(sender, rng)))
        to = [_addr(rcpt, rng)]
        if rng.random() < 0.2:
            to += [_addr(p, rng) for p in rng.sample(PEOPLE, rng.randint(1, 4))]
        headers.append(_fold("To", ", ".join(to)))
        if rng.random() < 0.1:
            headers.append(_fold("Cc", _addr(rng.choice(PEOPLE), rng)))
        headers.append("Subject: " + subj_hdr if kind == "hostile" else _fold("Subject", subj_hdr))
        headers.append("Date: " + date)
        headers.append("Message-ID: " + msgid)
        if in_reply:
            headers.append("In-Reply-To: " + in_reply)
            headers.append(_fold("References", " ".join(refs)))
        if sender.addr.startswith("list@"):
            headers.append("List-Id: Example list <list.lists.example.org>")
            headers.append("List-Unsubscribe: <mailto:unsubscribe@lists.example.org>")
        headers.append("MIME-Version: 1.0")
        if kind == "hostile":
            headers += _hostile_headers(rng, i)

        size = _size(rng)
        body_hdrs, body = _body(kind, rng, pools, size, i, seed)
        head = ("\n".join(headers + body_hdrs) + "\n\n").encode("utf-8")
        yield Msg(i, kind, msgid, subj, head + (body if isinstance(body, bytes) else body.encode("utf-8")))


def _hostile_headers(rng, i):
    h = []
    h.append("X-Long-Header: " + "x" * rng.randint(1000, 10000))     # one unfolded line
    h.append("X-Escape: \x1b]0;pwned\x07\x1b[?1049h")
    h.append("To: " + ", ".join("user%d@example.com" % n for n in range(300)))  # 2nd To, ~6 KB
    h.append("Keywords: " + "\u202e" + "reversed")
    return h


def _text_part_headers(charset, cte):
    return ["Content-Type: text/plain; charset=%s" % charset,
            "Content-Transfer-Encoding: %s" % cte]


def _body(kind, rng, pools, size, i, seed):
    if kind in ("plain", "reply", "hostile"):
        text = pools.body(rng, size, "en")
        if kind == "reply":
            quoted = "\n".join("> " + l for l in pools.body(rng, 600, "en").splitlines())
            text = pools.body(rng, max(300, size // 3), "en") + "\nOn some date, someone wrote:\n" + quoted + "\n"
        if kind == "hostile":
            text = ("Hostile body: \x1b]0;pwned\x07 \x1b[31mred\x1b[0m\n" +
                    "A" * 20000 + "\n" + text)   # a 20 KB line
        return _text_part_headers("us-ascii", "7bit"), text
    if kind == "utf8_8bit":
        return _text_part_headers("utf-8", "8bit"), pools.body(rng, size, "mix")
    if kind == "utf8_qp":
        return _text_part_headers("utf-8", "quoted-printable"), _qp(pools.body(rng, size, "mix").encode())
    if kind == "utf8_b64":
        return _text_part_headers("utf-8", "base64"), _b64(pools.body(rng, size, "mix").encode())
    if kind == "japanese":
        text = pools.body(rng, size, "ja")
        if rng.random() < 0.5:
            return _text_part_headers("iso-2022-jp", "7bit"), text.encode("iso-2022-jp").decode("ascii")
        return _text_part_headers("utf-8", "base64"), _b64(text.encode())
    if kind == "latin1":
        text = pools.body(rng, size, "de")
        data = text.encode("iso-8859-1", "replace")
        if rng.random() < 0.5:
            return _text_part_headers("iso-8859-1", "quoted-printable"), _qp(data)
        return _text_part_headers("iso-8859-1", "8bit"), data   # real 8-bit Latin-1 bytes
    boundary = "=_gen%d_%06d_%08x" % (seed, i, rng.getrandbits(32))
    if kind == "alternative":
        text = pools.body(rng, size // 2, "mix")
        html = "<html><body>\n" + "".join(
            "<p>%s</p>\n" % p.replace("&", "&amp;").replace("<", "&lt;") for p in text.split("\n\n")) + \
            '<p><a href="https://example.com/x?a=1&amp;b=2">a link</a></p>\n</body></html>\n'
        parts = [
            "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
            _qp(text.encode()),
            "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
            _qp(html.encode()),
        ]
        return (['Content-Type: multipart/alternative; boundary="%s"' % boundary],
                _multipart(boundary, parts))
    # attachment / large
    text = pools.body(rng, 500, "en")
    parts = ["Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text]
    n_att = 1 if kind == "large" else rng.randint(1, 3)
    for a in range(n_att):
        if kind == "large":
            blob = rng.randbytes(int(100_000 * (20 ** rng.random())))  # 100 KB - 2 MB
        else:
            blob = rng.randbytes(max(200, size // (n_att + 1)))
        choice = rng.random()
        if choice < 0.4:
            parts.append('Content-Type: application/octet-stream; name="data%d.bin"\n'
                         'Content-Disposition: attachment; filename="data%d.bin"\n'
                         "Content-Transfer-Encoding: base64\n\n%s" % (a, a, _b64(blob)))
        elif choice < 0.7:
            # RFC 2231 encoded non-ASCII file name (and RFC 2047 name= for old clients)
            fname = rng.choice(["Übersicht März.pdf", "報告書.pdf", "résumé 🎉.png", "naïve.txt"])
            enc = "".join(c if (c.isalnum() and ord(c) < 128) or c in ".-_" else
                          "".join("%%%02X" % b for b in c.encode()) for c in fname)
            parts.append("Content-Type: application/pdf;\n name=\"%s\"\n"
                         "Content-Disposition: attachment;\n filename*=UTF-8''%s\n"
                         "Content-Transfer-Encoding: base64\n\n%s"
                         % (_encode_word_b(fname).replace("\n ", ""), enc, _b64(blob)))
        else:
            t = pools.body(rng, len(blob), "en")
            parts.append('Content-Type: text/plain; charset=us-ascii; name="notes.txt"\n'
                         'Content-Disposition: attachment; filename="notes.txt"\n'
                         "Content-Transfer-Encoding: 7bit\n\n" + t)
    if rng.random() < 0.3:
        # a small inline PNG-looking image
        png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(300)
        parts.append('Content-Type: image/png; name="pixel.png"\nContent-Disposition: inline; filename="pixel.png"\n'
                     "Content-ID: <pixel%d@lab.test>\nContent-Transfer-Encoding: base64\n\n%s" % (i, _b64(png)))
    return (['Content-Type: multipart/mixed; boundary="%s"' % boundary],
            "This is a multi-part message in MIME format.\n\n" + _multipart(boundary, parts))


def _multipart(boundary, parts):
    return "".join("--%s\n%s\n" % (boundary, p.rstrip("\n") + "\n") for p in parts) + "--%s--\n" % boundary


def generate(count, seed=1):
    """Yield the raw bytes of COUNT messages."""
    for m in messages(count, seed):
        yield m.raw


def write(out, count, seed=1):
    os.makedirs(out, exist_ok=True)
    paths = []
    for m in messages(count, seed):
        p = os.path.join(out, "%06d.eml" % m.index)
        with open(p, "wb") as f:
            f.write(m.raw)
        paths.append(p)
    return paths


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="deterministic sample mail generator")
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="write DIR/NNNNNN.eml")
    ap.add_argument("--lab", help="lab directory: put the messages into --user's Maildir")
    ap.add_argument("--user", default="alice")
    ap.add_argument("--folder", default="INBOX")
    ap.add_argument("--flags", default=None, help="Maildir flags (puts into cur/, e.g. '' or S)")
    a = ap.parse_args(argv)
    if not a.out and not a.lab:
        ap.error("need --out or --lab")
    if a.out:
        write(a.out, a.count, a.seed)
    if a.lab:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import lab
        L = lab.Lab(a.lab)
        L.put_messages(a.user, generate(a.count, a.seed), a.folder, a.flags)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
