"""Hardening rules 4 and 5 through `tern fetch`, `tern read` and `tern send`
against hostile fakes (tests/lab/fakes.py: scenarios imap_mailbox and
hostile, whose raw= replies put any bytes on the wire):

  4. Sizes from the server (IMAP literals, RFC822.SIZE, EXISTS, UIDNEXT,
     UIDs; POP3 message numbers and RETR size hints; SMTP SIZE): more than
     19 digits, negative, above the cap -> a clean protocol error (exit 76;
     75 where the documented meaning is "try again later") or, for pure
     hints, ignored - and memory stays bounded: tern runs under an address
     space limit (RLIMIT_AS, 256 MiB; not for the ASan build, which
     reserves terabytes) against servers announcing 10^18-byte literals,
     sending hundreds of MB of body, or lines without end.
  5. Parsers are total on garbage: truncated, unbalanced, NUL bytes, huge
     lines, deep nesting, unknown tags, binary noise -> a one-line error,
     no crash, no sanitizer report, no hang (every run has a time limit).
"""

import json
import os

import pytest

import fakes
from hardening_helpers import (EX_OK, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE, Tern,
                               assert_sane_exit, assert_terminal_safe, hfake_factory, is_asan,
                               make_message, proto_args, use)

MEM_LIMIT = 256 << 20
RR, ENDLESS = fakes.raw_reply, fakes.endless_reply
MSGS = [make_message("first one"), make_message("second one")]


@pytest.fixture
def hfake(lab, tmp_path):
    yield from hfake_factory(lab, tmp_path)


def limit():
    return None if is_asan() else MEM_LIMIT


def hostile(hfake, lab, tmp_path, proto, raw, tls="implicit", timeout=5, wall=30, **kw):
    """Run the protocol's command against a fake answering with raw=...;
    returns (tern, server, result)."""
    if proto == "imap":
        kw.setdefault("folders", {"INBOX": MSGS})
        srv = hfake("imap_mailbox", proto, tls, raw=raw, **kw)
    else:
        if proto == "pop3":
            kw.setdefault("messages", MSGS)
        srv = hfake("hostile", proto, tls, raw=raw, **kw)
    t = Tern(tmp_path)
    args = use(t, srv, proto, tls, lab, timeout=timeout)
    r = t.run(*args, input=b"hello\n", timeout=wall, limit_as=limit())
    assert_sane_exit(r)
    assert r.secs < wall - 1, r
    return t, srv, r


def bounded(prefix, chunk, total):
    """A raw= reply: prefix, then total bytes of chunk, then hang up."""
    def reply(session, tag, args):
        session.conn.send(prefix.replace(b"$TAG", (tag or "").encode()))
        sent = 0
        while sent < total and not session.server.stopping.is_set():
            session.conn.send(chunk)
            sent += len(chunk)
        raise fakes.Closed()
    return reply


def fetch_item(body):
    """A UID FETCH answer: the untagged bytes, then OK."""
    return RR(body + b"$TAG OK FETCH completed\r\n")


def lit(data):
    return b"{%d}\r\n" % len(data) + data


def only_body_fetch(reply):
    """raw= handler for UID FETCH: hostile only for the body download (tern
    read), the normal mailbox for the header sync."""
    def handler(session, tag, args):
        if b"BODY.PEEK[]" in b" ".join(args).upper() or b"BODY[]" in b" ".join(args).upper():
            reply(session, tag, args)
        else:
            session.cmd_UID_FETCH(tag, args)
    return handler


def listed(t):
    r = t.run("list", "--json")
    assert r.rc == EX_OK, r
    assert_terminal_safe(r.out)
    return json.loads(r.out)


def nothing_lost(t, srv, proto):
    """After the hostile run, the same server behaves: one clean fetch
    brings every message, exactly once (a failure must not have moved a
    watermark past mail it never stored, nor stored anything twice)."""
    srv.opts.pop("raw", None)
    r = t.run(*proto_args(proto), timeout=30)
    assert r.rc == EX_OK, r
    got = listed(t)
    if proto == "imap":
        assert sorted(m["uid"] for m in got) == [1, 2], got
    else:
        assert sorted(m["subject"] for m in got) == ["first one", "second one"], got
    r = t.run("list")
    assert r.rc == EX_OK, r
    assert_terminal_safe(r.out)


def item(seq, uid, subject=b"first one", size=b"100"):
    """One FETCH item of the header sync, every number given as bytes."""
    h = b"Subject: " + subject + b"\r\nMessage-ID: <" + uid + b"@x>\r\n\r\n"
    return (b"* " + seq + b" FETCH (UID " + uid + b" FLAGS () RFC822.SIZE " + size +
            b' INTERNALDATE "01-Jan-2024 10:00:00 +0000" BODY[HEADER.FIELDS (SUBJECT MESSAGE-ID)] '
            + lit(h) + b")\r\n")


SECOND = item(b"2", b"2", b"second one")


def then_normal(garbage):
    """A UID FETCH handler: garbage first, then the mailbox's real answer."""
    def handler(session, tag, args):
        session.conn.send(garbage.replace(b"$TAG", tag.encode()))
        session.cmd_UID_FETCH(tag, args)
    return handler


# ======================================================= rule 4: IMAP sizes

@pytest.mark.parametrize("size", [b"1000000000000000000", b"99999999999999999999",
                                  b"18446744073709551616", b"-1", b"1099511627777",
                                  b"5000000"])
@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_imap_header_literal_size(hfake, lab, tmp_path, size, tls):
    """A literal in the header sync announcing 10^18 bytes, 20 digits,
    2^64, a negative size, more than any literal, or more than the in-memory
    cap (1 MiB), followed by endless bytes: refused from the announcement."""
    raw = {"UID FETCH": ENDLESS(b"* 1 FETCH (UID 1 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {"
                                + size + b"}\r\n")}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw, tls=tls)
    assert r.rc == EX_PROTOCOL, r
    assert r.secs < 10, r
    assert listed(t) == []
    nothing_lost(t, srv, "imap")


@pytest.mark.parametrize("size", [b"3000000000", b"1000000000000000000", b"99999999999999999999",
                                  b"-7"])
def test_imap_body_literal_size(hfake, lab, tmp_path, size):
    """`tern read` of a message whose BODY[] literal is above the body cap
    (2 GiB), 10^18, 20 digits or negative: refused before reading it, no
    file left in the cache."""
    raw = {"UID FETCH": only_body_fetch(ENDLESS(b"* 1 FETCH (UID 1 BODY[] {" + size + b"}\r\n"))}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw)
    assert r.rc == EX_OK, r
    ids = [m["id"] for m in listed(t)]
    assert len(ids) == 2
    r = t.run("read", str(ids[0]), timeout=30, limit_as=limit())
    assert_sane_exit(r)
    assert r.rc == EX_PROTOCOL, r
    assert r.secs < 10, r
    cache = os.path.join(t.data_dir("f"), "cache")
    assert [f for _, _, fs in os.walk(cache) for f in fs] == []


def test_imap_body_huge_stream_memory_bounded(hfake, lab, tmp_path):
    """A BODY[] literal of 1 GB of which the server sends 300 MB, then hangs
    up: streamed (never held in memory: tern runs under a 256 MiB address
    space limit), the cut-off download fails and leaves no file."""
    raw = {"UID FETCH": only_body_fetch(bounded(b"* 1 FETCH (UID 1 BODY[] {1000000000}\r\n",
                                                (b"x" * 998 + b"\r\n") * 256, 300 << 20))}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw)
    ids = [m["id"] for m in listed(t)]
    r = t.run("read", str(ids[0]), timeout=60, limit_as=limit())
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL, r
    cache = os.path.join(t.data_dir("f"), "cache")
    assert [f for _, _, fs in os.walk(cache) for f in fs] == []


@pytest.mark.parametrize("where", ["UID FETCH", "SELECT", "LIST"])
def test_imap_endless_line(hfake, lab, tmp_path, where):
    raw = {where: ENDLESS(b"* 1 FETCH (UID 1 FLAGS (" if where == "UID FETCH" else b"* OK ",
                          b"\\Seen " * 10000)}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw)
    assert r.rc == EX_PROTOCOL, r
    assert b"longer than" in r.err, r
    nothing_lost(t, srv, "imap")


def test_imap_endless_tokens(hfake, lab, tmp_path):
    raw = {"UID FETCH": ENDLESS(b"* 1 FETCH (UID 1 FLAGS (", b"{0}\r\n " * 10000)}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw)
    assert r.rc == EX_PROTOCOL, r
    nothing_lost(t, srv, "imap")


def test_imap_endless_untagged_responses(hfake, lab, tmp_path):
    """A server that answers a command with untagged responses forever
    (each one well-formed, at full speed): must end, not spin forever."""
    raw = {"UID FETCH": ENDLESS(b"", b"* OK still here\r\n" * 4000)}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw, timeout=3, wall=15)
    assert r.rc in (EX_PROTOCOL, EX_TEMPFAIL), r
    nothing_lost(t, srv, "imap")


SELECT_OK = b"$TAG OK [READ-WRITE] SELECT completed\r\n"
NUMBERS = {
    "exists_20_digits": {"SELECT": RR(b"* 99999999999999999999 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\n"
                                      b"* OK [UIDNEXT 3] n\r\n" + SELECT_OK)},
    "exists_2^32": {"SELECT": RR(b"* 4294967296 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\n"
                                 b"* OK [UIDNEXT 3] n\r\n" + SELECT_OK)},
    "uidnext_huge": {"SELECT": RR(b"* 2 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\n"
                                  b"* OK [UIDNEXT 99999999999] n\r\n" + SELECT_OK)},
    "uidvalidity_negative": {"SELECT": RR(b"* 2 EXISTS\r\n* OK [UIDVALIDITY -1] v\r\n"
                                          b"* OK [UIDNEXT 3] n\r\n" + SELECT_OK)},
    "uidvalidity_2^32": {"SELECT": RR(b"* 2 EXISTS\r\n* OK [UIDVALIDITY 4294967296] v\r\n"
                                      b"* OK [UIDNEXT 3] n\r\n" + SELECT_OK)},
    # the header sync answers message 2 properly and message 1 with a bad
    # number: storing 1 under a wrapped number, or skipping it while the
    # sync still succeeds (its UID is then never asked for again), loses it
    "uid_20_digits": {"UID FETCH": fetch_item(item(b"1", b"99999999999999999999") + SECOND)},
    "uid_2^32": {"UID FETCH": fetch_item(item(b"1", b"4294967297") + SECOND)},
    "uid_negative": {"UID FETCH": fetch_item(item(b"1", b"-1") + SECOND)},
    "size_20_digits": {"UID FETCH": fetch_item(item(b"1", b"1", size=b"99999999999999999999")
                                               + SECOND)},
    "size_negative": {"UID FETCH": fetch_item(item(b"1", b"1", size=b"-5") + SECOND)},
    "size_2^64": {"UID FETCH": fetch_item(item(b"1", b"1", size=b"18446744073709551616")
                                          + SECOND)},
    "seq_20_digits": {"UID FETCH": fetch_item(item(b"99999999999999999999", b"1") + SECOND)},
}


@pytest.mark.parametrize("case", sorted(NUMBERS))
def test_imap_numbers_out_of_range(hfake, lab, tmp_path, case):
    """Out-of-range counts, UIDs, sizes: a protocol error or the item
    ignored (the next sync retries) - never stored wrapped or negative."""
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", NUMBERS[case])
    assert r.rc in (EX_OK, EX_PROTOCOL), r
    for m in listed(t):
        assert 0 < m["uid"] < 1 << 32, m
        assert 0 <= m["size"] < 1 << 40, m
    r2 = t.run("folders", "--json", timeout=30)
    assert_sane_exit(r2)
    nothing_lost(t, srv, "imap")


# ======================================================= rule 4: POP3 sizes

@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_pop3_retr_endless_line(hfake, lab, tmp_path, tls):
    """A RETR whose body is one line without end (300 MB, then the
    connection drops): streamed to the tmp file in slices, so memory stays
    bounded (256 MiB address space); the cut message is not stored, not
    deleted, and its tmp file is removed."""
    raw = {"RETR": bounded(b"+OK 100 octets\r\nSubject: x\r\n\r\n", b"y" * 65536, 300 << 20)}
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", raw, tls=tls, wall=60)
    assert r.rc == EX_TEMPFAIL, r
    assert srv.state.get("pop3_deleted") is None
    md = os.path.join(t.data_dir("f"), "Maildir")
    for sub in ("new", "cur", "tmp"):
        assert os.listdir(os.path.join(md, sub)) == [], sub
    nothing_lost(t, srv, "pop3")


@pytest.mark.parametrize("tls", ["implicit", "starttls"])
def test_pop3_huge_retr_memory_bounded(hfake, lab, tmp_path, tls):
    """RETR announcing 10^18 octets and sending 300 MB of lines, then the
    connection drops: memory bounded (256 MiB address space), nothing
    stored, nothing deleted, no temporary file left."""
    raw = {"RETR": bounded(b"+OK 1000000000000000000 octets\r\nSubject: big\r\n\r\n",
                           (b"x" * 998 + b"\r\n") * 256, 300 << 20)}
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", raw, tls=tls, wall=60)
    assert r.rc == EX_TEMPFAIL, r
    assert srv.state.get("pop3_deleted") is None
    md = os.path.join(t.data_dir("f"), "Maildir")
    for sub in ("new", "cur", "tmp"):
        assert os.listdir(os.path.join(md, sub)) == [], sub
    nothing_lost(t, srv, "pop3")


@pytest.mark.parametrize("hint", [b"99999999999999999999", b"-5", b"1000000000000000000",
                                  b"18446744073709551616"])
def test_pop3_retr_size_hint_ignored(hfake, lab, tmp_path, hint):
    """The "+OK N octets" of RETR is only a hint: a nonsense N must not
    drive an allocation; the real bytes are stored."""
    body = b"Subject: hint\r\nMessage-ID: <hint@x>\r\n\r\nreal body\r\n"
    raw = {"RETR": b"+OK " + hint + b" octets\r\n" + body + b".\r\n"}
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", raw, messages=[MSGS[0]])
    assert r.rc in (EX_OK, EX_PROTOCOL), r
    if r.rc == EX_OK:
        md = os.path.join(t.data_dir("f"), "Maildir", "new")
        (name,) = os.listdir(md)
        with open(os.path.join(md, name), "rb") as f:
            assert f.read() == body.replace(b"\r\n", b"\n")


@pytest.mark.parametrize("line", [b"99999999999999999999 abc", b"-1 abc", b"0 abc",
                                  b"10000001 abc", b"1 " + b"u" * 71])
def test_pop3_uidl_numbers(hfake, lab, tmp_path, line):
    raw = {"UIDL": b"+OK\r\n" + line + b"\r\n.\r\n"}
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", raw)
    assert r.rc == EX_PROTOCOL, r
    assert srv.state.get("pop3_deleted") is None
    nothing_lost(t, srv, "pop3")


def test_pop3_uidl_endless(hfake, lab, tmp_path):
    raw = {"UIDL": ENDLESS(b"+OK\r\n", b"".join(b"%d u%d\r\n" % (i, i) for i in range(1, 3000)))}
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", raw)
    assert r.rc == EX_PROTOCOL, r
    nothing_lost(t, srv, "pop3")


# ======================================================= rule 4: SMTP sizes

@pytest.mark.parametrize("size", [b"99999999999999999999", b"-1", b"1000000000000000000", b"x"])
def test_smtp_ehlo_size_nonsense(hfake, lab, tmp_path, size):
    """A SIZE extension with a nonsense value is not a limit: the message is
    sent (or a clean error) - never a crash or a wrapped comparison."""
    raw = {"EHLO": b"250-fake.example\r\n250-SIZE " + size + b"\r\n250-PIPELINING\r\n"
                   b"250 AUTH PLAIN\r\n"}
    t, srv, r = hostile(hfake, lab, tmp_path, "smtp", raw)
    assert r.rc in (EX_OK, EX_PROTOCOL), r
    if r.rc == EX_OK:
        assert len(srv.state["smtp_messages"]) == 1


def test_smtp_ehlo_size_limit_respected(hfake, lab, tmp_path):
    raw = {"EHLO": b"250-fake.example\r\n250-SIZE 10\r\n250 AUTH PLAIN\r\n"}
    t, srv, r = hostile(hfake, lab, tmp_path, "smtp", raw)
    assert r.rc == EX_UNAVAILABLE, r
    assert srv.state.get("smtp_messages") is None


@pytest.mark.parametrize("verb", ["MAIL", "RCPT", "DATA"])
def test_smtp_endless_reply_line(hfake, lab, tmp_path, verb):
    t, srv, r = hostile(hfake, lab, tmp_path, "smtp", {verb: ENDLESS(b"250", b"-" * 65536)})
    assert r.rc in (EX_TEMPFAIL, EX_PROTOCOL), r
    assert b"longer than" in r.err, r


def test_smtp_endless_multiline_reply(hfake, lab, tmp_path):
    t, srv, r = hostile(hfake, lab, tmp_path, "smtp", {"MAIL": ENDLESS(b"", b"250-more\r\n" * 1000)})
    assert r.rc in (EX_TEMPFAIL, EX_PROTOCOL), r
    assert srv.state.get("smtp_messages") is None


# ======================================================= rule 5: garbage

def nest(n):
    return b"(" * n + b")" * n


IMAP_GARBAGE = {
    # replacing the answer: must fail
    "unbalanced_open": fetch_item(b"* 1 FETCH (UID 1 FLAGS (\\Seen)\r\n"),
    "unbalanced_close": fetch_item(b"* 1 FETCH (UID 1 FLAGS (\\Seen)))))\r\n"),
    "deep_nesting_100000": fetch_item(b"* 1 FETCH (UID 1 BODYSTRUCTURE " + nest(100000) + b")\r\n"),
    "deep_nesting_65": fetch_item(b"* 1 FETCH (UID 1 BODYSTRUCTURE " + nest(65) + b")\r\n"),
    # before the real answer: may be skipped, as long as nothing is lost
    "nul_in_atom": then_normal(b"* 1 FETCH (UID 1 FLAGS (\\Se\x00en))\r\n"),
    "nul_in_line": then_normal(b"* \x00\x00\x00\r\n"),
    # instead of message 1: a header with NUL and ESC (stored, made safe)
    "nul_in_header_literal": fetch_item(item(b"1", b"1", b"a\x00b\x1b[2J\x9b1m") + SECOND),
    "truncated_mid_line": RR(b"* 1 FETCH (UID 1 FLAGS (\\Se", then="close"),
    "truncated_in_literal": RR(b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {100}\r\nSubj",
                               then="close"),
    "bye_mid_command": RR(b"* BYE go away \x1b[31m now\r\n", then="close"),
    "unknown_tag": fetch_item(b"ZZZ9 OK what\r\n"),
    "binary_noise": fetch_item(b"\xff\xfe\x00\x01\x1b[2Jgarbage\r\n"),
    "empty_line": fetch_item(b"\r\n"),
    "unterminated_quoted": fetch_item(b"* 1 FETCH (UID 1 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] "
                                      b"\"Subject: x\r\n"),
    "literal_without_crlf": fetch_item(b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {5}abcde)\r\n"),
    "continuation_unasked": fetch_item(b"+ send more\r\n"),
    "bad_status": then_normal(b"* MAYBE [ALERT] hmm\r\n"),
    "fetch_not_list": then_normal(b"* 1 FETCH UID 1\r\n"),
    "bodystructure_garbage": then_normal(b"* 1 FETCH (UID 1 BODYSTRUCTURE (\"TEXT\" NIL NIL {3}\r\n"
                                         b"a\x00b 99999999999999999999 -1 (((\"x\")))))\r\n"),
    "tagged_no_garbage": RR(b"$TAG NO [\x00\xff] \x1b]0;title\x07\r\n"),
    "tagged_bad_for_select": None,
}
# Unknown or unusable untagged data a client may skip (RFC 9051 7.: unknown
# responses are ignored) - as long as nothing is lost by it.
IMAP_MAY_IGNORE = {"nul_in_atom", "nul_in_line", "nul_in_header_literal", "bad_status",
                   "fetch_not_list", "bodystructure_garbage"}


@pytest.mark.parametrize("case", sorted(IMAP_GARBAGE))
def test_imap_garbage(hfake, lab, tmp_path, case):
    reply = IMAP_GARBAGE[case]
    raw = {"SELECT": RR(b"$TAG BAD \x1b[2J\x00 what\r\n")} if reply is None else {"UID FETCH": reply}
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", raw)
    assert_terminal_safe(r.err)
    assert r.rc in (EX_OK, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE), r
    if case not in IMAP_MAY_IGNORE:
        assert r.rc != EX_OK, r
    nothing_lost(t, srv, "imap")


@pytest.mark.parametrize("case", sorted(IMAP_GARBAGE))
def test_imap_garbage_in_body_fetch(hfake, lab, tmp_path, case):
    """The same garbage as the answer to the body download of `tern read`."""
    reply = IMAP_GARBAGE[case] or RR(b"$TAG BAD \x1b[2J\x00 what\r\n")
    t, srv, r = hostile(hfake, lab, tmp_path, "imap", {"UID FETCH": only_body_fetch(reply)})
    assert r.rc == EX_OK, r
    ids = [m["id"] for m in listed(t)]
    r = t.run("read", str(ids[0]), timeout=30, limit_as=limit())
    assert_sane_exit(r)
    assert_terminal_safe(r.out + r.err)
    if case in IMAP_MAY_IGNORE and case != "nul_in_header_literal":
        assert r.rc == EX_OK and b"body" in r.out, r
    else:
        assert r.rc != EX_OK, r


POP3_GARBAGE = {
    "status_garbage": {"UIDL": b"+OKAY\r\n1 a\r\n.\r\n"},
    "status_binary": {"UIDL": b"\x00\xff\x1b[2J\r\n"},
    "uidl_missing_field": {"UIDL": b"+OK\r\n1\r\n.\r\n"},
    "uidl_nul": {"UIDL": b"+OK\r\n1 a\x00b\r\n.\r\n"},
    "uidl_control": {"UIDL": b"+OK\r\n1 a\x1bb\r\n.\r\n"},
    "uidl_truncated": {"UIDL": RR(b"+OK\r\n1 uid1\r\n2 ui", then="close")},
    "uidl_unterminated": {"UIDL": RR(b"+OK\r\n1 uid1\r\n2 uid2\r\n", then="close")},
    "retr_truncated": {"RETR": RR(b"+OK\r\nSubject: x\r\n\r\nbody", then="close")},
    "retr_no_dot": {"RETR": RR(b"+OK\r\nSubject: x\r\n\r\nbody\r\n", then="close")},
    "retr_err_escape": {"RETR": b"-ERR \x1b]0;pwned\x07\x1b[2J no\r\n"},
    "retr_nul": {"RETR": b"+OK\r\nSubject: a\x00b\r\n\r\nbo\x00dy\r\n.\r\n"},
    "capa_garbage": {"CAPA": b"+OK\r\n\x00\xff\r\n\x1b[2J\r\n.\r\n"},
    "dele_garbage": {"DELE": b"\xff\xfe\r\n"},
    "quit_garbage": {"QUIT": RR(b"what\x00\r\n", then="close")},
}


@pytest.mark.parametrize("case", sorted(POP3_GARBAGE))
def test_pop3_garbage(hfake, lab, tmp_path, case):
    t, srv, r = hostile(hfake, lab, tmp_path, "pop3", POP3_GARBAGE[case])
    assert_terminal_safe(r.err + r.out)
    assert r.rc in (EX_OK, EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE), r
    if case.startswith(("status", "uidl_missing", "uidl_trunc", "uidl_unterm", "retr_trunc",
                        "retr_no_dot", "retr_err")):
        assert r.rc != EX_OK, r
    # a message that did not arrive whole is never deleted
    deleted = srv.state.get("pop3_deleted") or []
    md = os.path.join(t.data_dir("f"), "Maildir")
    stored = sum(len(os.listdir(os.path.join(md, s))) for s in ("new", "cur")
                 if os.path.isdir(os.path.join(md, s)))
    assert len(deleted) <= stored, (deleted, stored)
    if case != "retr_nul":
        nothing_lost(t, srv, "pop3")


SMTP_GARBAGE = {
    "code_garbage": {"MAIL": b"2x0 what\r\n"},
    "code_5_digits": {"MAIL": b"25000 ok\r\n"},
    "nul": {"MAIL": b"250 ok\x00\x00 but\r\n"},
    "binary": {"RCPT": b"\xff\xfe\x1b[2J\r\n"},
    "truncated": {"RCPT": RR(b"25", then="close")},
    "mixed_codes": {"MAIL": b"250-a\r\n550 b\r\n"},
    "multiline_then_close": {"MAIL": RR(b"250-a\r\n250-b\r\n", then="close")},
    "data_354_missing": {"DATA": b"250 ok\r\n"},
    "empty_line": {"MAIL": b"\r\n"},
    "reply_escape": {"MAIL": b"550 5.7.1 \x1b[2J\x1b]0;pwned\x07 no\r\n"},
}


@pytest.mark.parametrize("case", sorted(SMTP_GARBAGE))
def test_smtp_garbage(hfake, lab, tmp_path, case):
    t, srv, r = hostile(hfake, lab, tmp_path, "smtp", SMTP_GARBAGE[case])
    assert_terminal_safe(r.err + r.out)
    assert r.rc in (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE), r


@pytest.mark.parametrize("proto,tls", [("imap", "starttls"), ("imap", "implicit"),
                                       ("pop3", "starttls"), ("pop3", "implicit"),
                                       ("smtp", "starttls"), ("smtp", "implicit")])
@pytest.mark.parametrize("scenario", ["garbage_greeting", "disconnect_after_greeting"])
def test_greeting_garbage_or_disconnect(hfake, lab, tmp_path, proto, tls, scenario):
    srv = hfake(scenario, proto, tls)
    t = Tern(tmp_path)
    r = t.run(*use(t, srv, proto, tls, lab, timeout=1), input=b"hi\n", timeout=20,
              limit_as=limit())
    assert_sane_exit(r)
    assert_terminal_safe(r.err)
    assert r.rc in (EX_TEMPFAIL, EX_PROTOCOL), r
    assert srv.logins == []
    assert r.secs < 1 + 3, r


# ================================= rules 4 and 5 inside STARTTLS sessions
# The cases above run over implicit TLS (993/995/465). After STARTTLS the
# same parsers run, but on a stream libcurl upgraded mid-session (and SMTP
# reads EHLO twice): a representative case of each kind, per protocol, on
# the STARTTLS ports too.

def ehlo_inside_tls(reply):
    """EHLO answered normally in clear (with STARTTLS), with `reply` inside
    TLS."""
    def answer(session, tag, args):
        if session.conn.tls:
            session.conn.send(reply)
        else:
            session.conn.send(b"250-fake.example\r\n250-SIZE 99999999999999999999\r\n"
                              b"250 STARTTLS\r\n")
    return answer


STARTTLS_CASES = {
    # rule 4: sizes and endless data
    "imap-literal-20-digits": ("imap", {"UID FETCH": fetch_item(
        b"* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {99999999999999999999}\r\n")},
        (EX_PROTOCOL,)),
    "imap-endless-line": ("imap", {"UID FETCH": ENDLESS(b"* 1 FETCH (UID 1 FLAGS (",
                                                        b"\\Seen " * 10000)}, (EX_PROTOCOL,)),
    "pop3-uidl-20-digits": ("pop3", {"UIDL": b"+OK\r\n99999999999999999999 abc\r\n.\r\n"},
                            (EX_PROTOCOL,)),
    "pop3-uidl-endless": ("pop3", {"UIDL": ENDLESS(b"+OK\r\n", b"".join(
        b"%d u%d\r\n" % (i, i) for i in range(1, 3000)))}, (EX_PROTOCOL,)),
    "smtp-ehlo-size-20-digits": ("smtp", {"EHLO": ehlo_inside_tls(
        b"250-fake.example\r\n250-SIZE 99999999999999999999\r\n250 AUTH PLAIN\r\n")},
        (EX_OK, EX_PROTOCOL)),
    "smtp-endless-reply": ("smtp", {"MAIL": ENDLESS(b"250", b"-" * 65536)},
                           (EX_TEMPFAIL, EX_PROTOCOL)),
    # rule 5: garbage
    "imap-deep-nesting": ("imap", {"UID FETCH": IMAP_GARBAGE["deep_nesting_100000"]},
                          (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "imap-truncated-literal": ("imap", {"UID FETCH": IMAP_GARBAGE["truncated_in_literal"]},
                               (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "imap-binary-noise": ("imap", {"UID FETCH": IMAP_GARBAGE["binary_noise"]},
                          (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "pop3-status-binary": ("pop3", POP3_GARBAGE["status_binary"],
                           (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "pop3-retr-no-dot": ("pop3", POP3_GARBAGE["retr_no_dot"],
                         (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "smtp-code-garbage": ("smtp", SMTP_GARBAGE["code_garbage"],
                          (EX_PROTOCOL, EX_TEMPFAIL, EX_UNAVAILABLE)),
    "smtp-truncated": ("smtp", SMTP_GARBAGE["truncated"], (EX_PROTOCOL, EX_TEMPFAIL,
                                                           EX_UNAVAILABLE)),
}


@pytest.mark.parametrize("case", sorted(STARTTLS_CASES))
def test_sizes_and_garbage_in_starttls_sessions(hfake, lab, tmp_path, case):
    proto, raw, codes = STARTTLS_CASES[case]
    t, srv, r = hostile(hfake, lab, tmp_path, proto, raw, tls="starttls")
    assert_terminal_safe(r.err + r.out)
    assert r.rc in codes, r
    assert srv.logins and all(l[3] for l in srv.logins), srv.logins    # it was inside TLS
    if "endless-line" in case or "endless-reply" in case:
        assert b"longer than" in r.err, r
    if proto == "smtp" and r.rc == EX_OK:
        assert len(srv.state["smtp_messages"]) == 1
    elif proto == "smtp":
        assert srv.state.get("smtp_messages") is None
    else:
        nothing_lost(t, srv, proto)
