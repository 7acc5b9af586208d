"""Hardening rule 11 through `tern fetch` (IMAP, POP3) and `tern send`
(SMTP), every TLS mode: a server that stalls at the greeting, in the TLS
handshake, after login, in the middle of a response, or drips one byte
every two seconds is abandoned at the configured deadline (`timeout = N`
in the account) with a message saying "timed out" and exit 75.

The dripping servers send one byte every 2 s while the account's timeout
is 3 s, so no single wait ever exceeds the timeout: only a deadline on the
whole reply ends them.

Every case is a separate test, but all of them run at once (a module
fixture starts each fake and each tern in its own thread) so the module
costs about as long as its slowest case, not the sum.
"""

import concurrent.futures
import os
import subprocess

import pytest

import fakes
from hardening_helpers import (EX_TEMPFAIL, FAKE_PW, FAKE_USER, MODES, Tern, _quick_stop,
                               assert_sane_exit, assert_terminal_safe, make_message, use)

RR = fakes.raw_reply
STALL_T = 1        # timeout = 1 for stalls
DRIP_T = 3         # timeout = 3 for drips (2 s between bytes)
SLACK = 2.5        # seconds allowed past the deadline (process start, ASan, load)
MSGS = [make_message("one"), make_message("two")]

# Partial replies after login, then silence (the "mid-response" stall).
MID = {
    "imap": {"SELECT": RR(b"* 2 EXISTS\r\n* OK [UIDVALIDITY 1", then="stall")},
    "pop3": {"UIDL": RR(b"+OK\r\n1 uid00", then="stall")},
    "smtp": {"MAIL": RR(b"250-2.1.0 still", then="stall")},
}
# ... and in the middle of a message body (IMAP literal, POP3 RETR, SMTP
# DATA reply)
MID_BODY = {
    "imap": None,  # see test_imap_read_body_stall below
    "pop3": {"RETR": RR(b"+OK\r\nSubject: one\r\n\r\nhalf a bo", then="stall")},
    "smtp": {"DATA": RR(b"354 go ahead\r\n", then="stall")},
}


def cases():
    out = {}
    for proto, tls in MODES:
        m = "%s-%s" % (proto, tls)
        out["stall_greeting-" + m] = ("stall_greeting", proto, tls, {}, STALL_T)
        if tls == "implicit":
            out["stall_handshake-" + m] = ("stall_handshake", proto, tls, {}, STALL_T)
        out["drip_greeting-" + m] = ("drip", proto, tls, {"drip": 2.0}, DRIP_T)
        out["stall_after_login-" + m] = ("stall_after_login", proto, tls, {}, STALL_T)
        out["stall_mid_response-" + m] = ("hostile", proto, tls, {"raw": MID[proto]}, STALL_T)
        if MID_BODY[proto]:
            out["stall_mid_body-" + m] = ("hostile", proto, tls, {"raw": MID_BODY[proto]},
                                          STALL_T)
        out["drip_after_login-" + m] = ("drip_after_login", proto, tls,
                                        {"drip_after_login": 2.0}, DRIP_T)
    return out


CASES = cases()


def run_case(lab, root, name, spec):
    try:
        return _run_case(lab, root, name, spec)
    except Exception as e:  # reported by that case's test, not by all
        return e


def _run_case(lab, root, name, spec):
    scenario, proto, tls, opts, timeout = spec
    opts = dict(opts)
    if proto == "imap" and scenario in ("hostile", "stall_after_login", "drip_after_login"):
        scenario = "imap_mailbox" if scenario == "hostile" else scenario
        opts.setdefault("folders", {"INBOX": MSGS})
    if proto == "pop3":
        opts.setdefault("messages", MSGS)
    d = os.path.join(root, name)
    os.makedirs(d)
    srv = fakes.serve(scenario, proto=proto, tls=tls, log=os.path.join(d, "fake.log"),
                      certs=lab.info, user=FAKE_USER, password=FAKE_PW, nodelay=True,
                      **opts)
    try:
        t = Tern(d)
        args = use(t, srv, proto, tls, lab, timeout=timeout)
        try:
            r = t.run(*args, input=b"hello\n", timeout=timeout + SLACK + 6)
        except subprocess.TimeoutExpired:
            r = None
        return r, [tuple(l) for l in srv.logins], timeout
    finally:
        _quick_stop(srv)


@pytest.fixture(scope="module")
def timing(lab, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("timeouts"))
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(CASES)) as ex:
        futs = {name: ex.submit(run_case, lab, root, name, spec) for name, spec in CASES.items()}
        return {name: f.result() for name, f in futs.items()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_abandoned_at_deadline(timing, case):
    if isinstance(timing[case], Exception):
        raise timing[case]
    r, logins, timeout = timing[case]
    assert r is not None, "%s: tern still running %.1f s after its %d s timeout" % (
        case, SLACK + 6, timeout)
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL, r
    assert b"timed out" in r.err, r
    assert r.secs < timeout + SLACK, r
    assert r.secs >= timeout - 0.5, r
    assert_terminal_safe(r.err)
    if case.startswith(("stall_greeting", "stall_handshake", "drip_greeting")):
        assert logins == []


def test_imap_read_body_stall(lab, tmp_path):
    """`tern read` of a body whose literal stops half way: timed out."""
    def body(session, tag, args):
        if b"BODY.PEEK[]" in b" ".join(args).upper():
            session.conn.send(b"* 1 FETCH (UID 1 BODY[] {500}\r\nSubject: one\r\n\r\nhal")
            session.conn.drain_until_closed()
            raise fakes.Closed()
        session.cmd_UID_FETCH(tag, args)
    srv = fakes.serve("imap_mailbox", proto="imap", tls="implicit",
                      log=str(tmp_path / "fake.log"), certs=lab.info, user=FAKE_USER,
                      password=FAKE_PW, folders={"INBOX": MSGS}, raw={"UID FETCH": body})
    try:
        t = Tern(tmp_path)
        r = t.run(*use(t, srv, "imap", "implicit", lab, timeout=STALL_T))
        assert r.rc == 0, r
        r = t.run("read", "1", timeout=STALL_T + SLACK + 6)
    finally:
        _quick_stop(srv)
    assert_sane_exit(r)
    assert r.rc == EX_TEMPFAIL and b"timed out" in r.err, r
    assert r.secs < STALL_T + SLACK, r
    cache = os.path.join(t.data_dir("f"), "cache")
    assert [f for _, _, fs in os.walk(cache) for f in fs] == []
