"""Fault injection for POP3 download-and-delete: never lose, never duplicate.

1. A loopback fake POP3 server (implicit TLS with the lab CA's server
   certificate) drops the connection at seeded random points: in the middle
   of a RETR, just before the terminating ".", right after a RETR's +OK, at
   a DELE, before QUIT, and after QUIT was received (deletions committed,
   reply lost). Some runs use a non-compliant server that deletes at DELE
   instead of at QUIT. After one or more faulty runs and one clean run,
   every message must be in the Maildir exactly once, byte-identical, and
   the server must be empty.
2. `kill -9` of tern at random moments during a real fetch from the lab's
   Dovecot, then a clean run: same checks.
3. Hostile listings: invalid and duplicate UIDLs are left on the server and
   reported, never stored twice; a RETR refused with -ERR is retried later.

The tests print how many runs and which fault points they covered.
"""

import base64
import os
import random
import signal
import socket
import ssl
import threading
import time

import pytest

from pop3_helpers import (EX_OK, EX_PROTOCOL, EX_TEMPFAIL, Home, assert_exactly_once,
                          gen_messages, get_lab, lab_account, maildir_contents, maildir_files,
                          maildir_host, new_user, report, server_messages, tern_bin)

FAULTS = ("mid_retr", "before_dot", "after_retr_ok", "at_dele", "before_quit", "after_quit")
FAULT_RUNS = int(os.environ.get("TERN_FAULT_RUNS", "200"))
KILL_RUNS = int(os.environ.get("TERN_KILL_RUNS", "12"))


def stuff(raw):
    """LF message -> POP3 wire form: CRLF lines, dot-stuffed, terminated."""
    out = []
    for line in raw.split(b"\n")[:-1] if raw.endswith(b"\n") else raw.split(b"\n"):
        if line.startswith(b"."):
            line = b"." + line
        out.append(line + b"\r\n")
    return b"".join(out)


class FakePop3:
    """One connection at a time; the maildrop persists across sessions like
    a real server's (deletions commit at QUIT unless eager)."""

    def __init__(self, certfile, keyfile):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.reset([])
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def reset(self, mailbox, eager=False, pipelining=True, uidls=None):
        with self.lock:
            self.mail = list(mailbox)            # [(uid, bytes)]
            self.eager = eager
            self.pipelining = pipelining
            self.fault = None                    # (point, nth)
            self.counts = {}
            self.fired = []
            self.refuse_retr = set()             # uids answered -ERR
            self.retr_log = []
            self.retr_delay = 0.0                # seconds per RETR (slow server)

    def arm(self, point, nth):
        with self.lock:
            self.fault = (point, nth)
            self.counts = {}

    def stop(self):
        self.stopping = True
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            pass
        self.sock.close()

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.stopping:
                c.close()
                return
            try:
                self._session(c)
            except (OSError, ssl.SSLError, ValueError):
                pass
            finally:
                try:
                    c.close()
                except OSError:
                    pass

    def _hit(self, point):
        """Count an event; True when the armed fault fires now."""
        n = self.counts.get(point, 0) + 1
        self.counts[point] = n
        if self.fault and self.fault[0] == point and self.fault[1] == n:
            self.fault = None
            self.fired.append(point)
            return True
        return False

    def _session(self, raw):
        raw.settimeout(20)
        # Without it, Nagle holds each small reply until the client's
        # delayed ACK (40 ms) and the test budget goes to waiting.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s = self.ctx.wrap_socket(raw, server_side=True)
        rf = s.makefile("rb")
        out = bytearray()

        def send(b):
            out.extend(b)

        def flush():
            if out:
                s.sendall(bytes(out))
                out.clear()

        def drop():
            # No QUIT, no close_notify: the client sees the stream end.
            raw.shutdown(socket.SHUT_RDWR)

        send(b"+OK fake POP3 ready\r\n")
        flush()
        with self.lock:
            listing = list(self.mail)  # this session's message numbers
        deleted = set()
        while True:
            line = rf.readline(2048)
            if not line:
                return
            parts = line.strip().split(b" ")
            cmd = parts[0].upper()
            arg = parts[1] if len(parts) > 1 else b""
            with self.lock:
                if cmd == b"CAPA":
                    send(b"+OK\r\nUIDL\r\nUSER\r\nSASL PLAIN\r\nRESP-CODES\r\n" +
                         (b"PIPELINING\r\n" if self.pipelining else b"") + b".\r\n")
                elif cmd == b"AUTH":
                    if len(parts) < 3:
                        send(b"+ \r\n")
                        flush()
                        rf.readline(2048)
                    send(b"+OK logged in\r\n")
                elif cmd in (b"USER", b"PASS", b"NOOP", b"RSET"):
                    send(b"+OK\r\n")
                elif cmd == b"UIDL":
                    send(b"+OK\r\n")
                    for i, (uid, _) in enumerate(listing, 1):
                        if i not in deleted:
                            send(b"%d %s\r\n" % (i, uid))
                    send(b".\r\n")
                elif cmd == b"RETR":
                    i = int(arg)
                    if i < 1 or i > len(listing) or i in deleted:
                        send(b"-ERR no such message\r\n")
                        continue
                    uid, body = listing[i - 1]
                    if uid in self.refuse_retr:
                        send(b"-ERR [SYS/TEMP] try later\r\n")
                        continue
                    wire = stuff(body)
                    self.retr_log.append(uid)
                    if self.retr_delay:
                        time.sleep(self.retr_delay)
                    if self._hit("after_retr_ok"):
                        send(b"+OK\r\n")
                        flush()
                        return drop()
                    if self._hit("mid_retr"):
                        send(b"+OK\r\n" + wire[:max(1, len(wire) // 2)])
                        flush()
                        return drop()
                    if self._hit("before_dot"):
                        send(b"+OK\r\n" + wire)
                        flush()
                        return drop()
                    send(b"+OK %d octets\r\n" % len(body) + wire + b".\r\n")
                elif cmd == b"DELE":
                    i = int(arg)
                    if self._hit("at_dele"):
                        flush()
                        return drop()
                    if i < 1 or i > len(listing) or i in deleted:
                        send(b"-ERR no such message\r\n")
                        continue
                    deleted.add(i)
                    if self.eager:  # non-compliant: gone at once
                        uid = listing[i - 1][0]
                        self.mail = [m for m in self.mail if m[0] != uid]
                    send(b"+OK deleted\r\n")
                elif cmd == b"QUIT":
                    if self._hit("before_quit"):
                        flush()
                        return drop()
                    gone = {listing[i - 1][0] for i in deleted}
                    self.mail = [m for m in self.mail if m[0] not in gone]
                    if self._hit("after_quit"):
                        flush()
                        return drop()
                    send(b"+OK bye\r\n")
                    flush()
                    return
                else:
                    send(b"-ERR unknown command\r\n")
            flush()


@pytest.fixture(scope="module")
def pop3fake(request):
    lab = get_lab(request)
    f = FakePop3(lab.info["LAB_CERT_SERVER"], lab.info["LAB_KEY_SERVER"])
    f.lab = lab
    yield f
    f.stop()


def fake_home(pop3fake, root, **extra):
    home = Home(root)
    keys = {"address": "u@fake.test", "incoming": "pop3", "host": "127.0.0.1",
            "port": pop3fake.port, "tls": "implicit", "password": "pw",
            "ca_file": pop3fake.lab.ca, "timeout": 10}
    keys.update(extra)
    home.add("f", **keys)
    return home


def test_fault_points(pop3fake, tmp_path, request):
    """FAULT_RUNS seeded runs, each: a small maildrop, 1-3 faulty fetches
    at random fault points, then one clean fetch; then the invariants."""
    covered = {p: 0 for p in FAULTS}
    fired = {p: 0 for p in FAULTS}
    eager_runs = nopipe_runs = fetches = 0
    t0 = time.monotonic()
    for run in range(FAULT_RUNS):
        rnd = random.Random(1000 + run)
        n = rnd.randrange(1, 9)
        msgs = gen_messages(run, n, small=True, tag="fault%d" % run)
        mailbox = [(b"uid-%d-%d" % (run, i), m) for i, m in enumerate(msgs)]
        eager = rnd.random() < 0.3
        pipelining = rnd.random() < 0.8
        eager_runs += eager
        nopipe_runs += not pipelining
        pop3fake.reset(mailbox, eager=eager, pipelining=pipelining)
        home = fake_home(pop3fake, tmp_path / ("r%d" % run))
        for _ in range(rnd.randrange(1, 4)):
            point = rnd.choice(FAULTS)
            nth = rnd.randrange(1, n + 1) if point in ("mid_retr", "before_dot",
                                                       "after_retr_ok", "at_dele") else 1
            covered[point] += 1
            pop3fake.arm(point, nth)
            r = home.run("fetch", "-q")
            fetches += 1
            for p in pop3fake.fired:
                fired[p] += 1
            pop3fake.fired.clear()
            # A fault is a temporary failure (or nothing, when it did not fire).
            assert r.rc in (EX_OK, EX_TEMPFAIL), (run, point, r)
        pop3fake.arm(None, 0)
        r = home.run("fetch", "-q")
        fetches += 1
        assert r.rc == EX_OK and r.out == "" and r.err == "", (run, r)
        stored = maildir_contents(home.maildir("f"))
        assert_exactly_once(stored, msgs, what="run %d (eager=%s): " % (run, eager))
        with pop3fake.lock:
            assert pop3fake.mail == [], "run %d: server not empty" % run
        # tmp/ may hold a cut-off delivery only from a crash, never from a
        # clean error path.
        assert os.listdir(os.path.join(home.maildir("f"), "tmp")) == []
    secs = time.monotonic() - t0
    report(request, "fault runs: %d (%d fetches, %.1fs), fault points fired: %d of %d (%s); "
           "eager-delete server in %d runs, no PIPELINING in %d; armed per point: %s; fired "
           "per point: %s" % (FAULT_RUNS, fetches, secs, sum(1 for p in FAULTS if fired[p]),
                              len(FAULTS), " ".join(FAULTS), eager_runs, nopipe_runs, covered,
                              fired))
    assert FAULT_RUNS >= 200 or "TERN_FAULT_RUNS" in os.environ, FAULT_RUNS
    assert all(fired[p] > 0 for p in FAULTS), fired


def test_eager_delete_server_every_dele_dropped(pop3fake, tmp_path):
    """A server that deletes at DELE, dropped right after each DELE: the
    message it lost was stored first."""
    msgs = gen_messages(77, 6, small=True, tag="eager")
    pop3fake.reset([(b"e%d" % i, m) for i, m in enumerate(msgs)], eager=True)
    home = fake_home(pop3fake, tmp_path)
    for k in range(1, 7):
        pop3fake.arm("at_dele", 2)
        home.run("fetch", "-q")
    pop3fake.arm(None, 0)
    assert home.run("fetch", "-q").rc == EX_OK
    assert_exactly_once(maildir_contents(home.maildir("f")), msgs)
    assert pop3fake.mail == []


def test_invalid_and_duplicate_uidls_left_on_server(pop3fake, tmp_path):
    msgs = gen_messages(78, 6, small=True, tag="uidl")
    bad = [(b"ok-1", msgs[0]), (b"x" * 71, msgs[1]), (b"../../etc/passwd", msgs[2]),
           (b"dup", msgs[3]), (b"dup", msgs[4]), (b"ok-2", msgs[5])]
    pop3fake.reset(bad)
    home = fake_home(pop3fake, tmp_path)
    r = home.run("fetch")
    assert r.rc == EX_PROTOCOL, r
    assert "3 messages not handled" in r.err and "invalid unique-id" in r.err, r
    assert r.out == "f: 3 new, 3 deleted from server\n", r
    # The UIDL with '/' is valid RFC 1939 data: stored, and no file was
    # created from its text.
    assert_exactly_once(maildir_contents(home.maildir("f")), [msgs[0], msgs[2], msgs[5]])
    assert [u for u, _ in pop3fake.mail] == [b"x" * 71, b"dup", b"dup"]
    for dirpath, dirs, files in os.walk(home.data):
        assert "passwd" not in files and "etc" not in dirs
    r = home.run("fetch")  # still reported, still not stored twice
    assert r.rc == EX_PROTOCOL and len(maildir_files(home.maildir("f"))) == 3


def test_retr_refused_is_retried(pop3fake, tmp_path):
    msgs = gen_messages(79, 4, small=True, tag="refuse")
    pop3fake.reset([(b"r%d" % i, m) for i, m in enumerate(msgs)])
    pop3fake.refuse_retr = {b"r1"}
    home = fake_home(pop3fake, tmp_path)
    r = home.run("fetch", "--json")
    assert r.rc == EX_TEMPFAIL, r
    assert '"new":3' in r.out and "refused to send message 2" in r.out, r
    assert [u for u, _ in pop3fake.mail] == [b"r1"]
    pop3fake.refuse_retr = set()
    assert home.run("fetch", "-q").rc == EX_OK
    assert_exactly_once(maildir_contents(home.maildir("f")), msgs)
    assert pop3fake.mail == []


def test_lock_while_other_fetch_runs(pop3fake, tmp_path):
    """A fetch stalled inside the server holds the lock; a second one
    started meanwhile skips the account with exit 75."""
    msgs = gen_messages(80, 3, small=True, tag="lock")
    pop3fake.reset([(b"l%d" % i, m) for i, m in enumerate(msgs)])
    home = fake_home(pop3fake, tmp_path, timeout=3)
    pop3fake.lock.acquire()  # the server stalls after the greeting
    try:
        p1 = home.popen("fetch", "-q")
        time.sleep(0.5)
        r2 = home.run("fetch")
    finally:
        pop3fake.lock.release()
    p1.communicate(timeout=30)
    assert r2.rc == EX_TEMPFAIL and r2.out == "", r2
    assert r2.err.count("\n") == 1 and "another tern" in r2.err
    home.run("fetch", "-q")
    assert_exactly_once(maildir_contents(home.maildir("f")), msgs)


def test_kill9_during_real_fetch(request, tmp_path):
    """kill -9 at random moments of a real fetch from Dovecot, then a clean
    fetch: every message exactly once, byte-identical; server empty; and no
    file the killed runs left in tmp/ survives the clean run."""
    lab = get_lab(request)
    rnd = random.Random(4242)
    killed_mid = adopted_runs = tmp_left = tmp_runs = 0
    t0 = time.monotonic()
    # How long a whole fetch of such a maildrop takes here, to pick kill
    # moments inside it.
    user = new_user(lab, prefix="k")
    lab.put_messages(user, gen_messages(4999, 400, small=True, tag="calib"))
    home = Home(tmp_path / "calib")
    home.add("k", **lab_account(lab, user))
    full = home.run("fetch", "-q").secs
    for run in range(KILL_RUNS):
        user = new_user(lab, prefix="k")
        msgs = gen_messages(5000 + run, 400, small=True, tag="kill%d" % run)
        lab.put_messages(user, msgs)
        home = Home(tmp_path / ("k%d" % run))
        home.add("k", **lab_account(lab, user))
        for _ in range(rnd.randrange(1, 4)):
            p = home.popen("fetch", "-q", debug=True)
            time.sleep(rnd.uniform(0.0, full * 1.1))
            if p.poll() is None:
                killed_mid += 1
            p.send_signal(signal.SIGKILL)
            _, err = p.communicate()
            # The crash window between a rename into new/ and the ledger
            # commit was hit when a later run adopted files (the journal
            # path in core/pop3/sync.c).
            adopted_runs += b"adopted from the Maildir" in err and b" 0 adopted" not in err
        tmpdir = os.path.join(home.maildir("k"), "tmp")
        left = len(os.listdir(tmpdir)) if os.path.isdir(tmpdir) else 0
        tmp_left += left
        tmp_runs += left > 0
        r = home.run("fetch", "-q", debug=True)
        assert r.rc == EX_OK, (run, r)
        adopted_runs += "adopted from the Maildir" in r.err and " 0 adopted" not in r.err
        assert_exactly_once(maildir_contents(home.maildir("k")), msgs, what="kill run %d: " % run)
        assert server_messages(lab, user) == [], "kill run %d: server not empty" % run
        # Only tern writes this Maildir: whatever the kills left in tmp/ is
        # tern's, and the clean run removed it.
        assert os.listdir(tmpdir) == [], "kill run %d: tmp/ leftovers %r" % (
            run, os.listdir(tmpdir))
        if left:
            assert "left in the Maildir's tmp/" in r.err, (run, r)
    report(request, "kill -9 runs: %d (a full fetch takes %.2fs), kills that hit a running "
           "fetch: %d, runs that adopted files a killed run left unrecorded: %d, runs whose "
           "tmp/ leftovers (%d files) the clean run removed: %d (%.1fs)" % (
               KILL_RUNS, full, killed_mid, adopted_runs, tmp_left, tmp_runs,
               time.monotonic() - t0))
    assert killed_mid >= KILL_RUNS // 2


def fetch_rss(home, *args):
    """Run tern; (rc, stdout, stderr, peak RSS in KiB). The peak is the
    process's VmHWM, sampled until it exits: wait4's ru_maxrss would also
    count the test process's memory that the child had before exec.
    ASan's quarantine (freed blocks kept for up to 256 MB) is turned off:
    it would grow with the bytes that pass through, not with what tern
    holds."""
    import subprocess
    env = home.env()
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") +
                           ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0").lstrip(":")
    p = subprocess.Popen([tern_bin(), "-c", home.config] + list(args), env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = [0]

    def sample():
        path = "/proc/%d/status" % p.pid
        while True:
            try:
                with open(path) as f:
                    st = f.read()
            except OSError:
                return
            if "\nState:\tZ" in st:
                return
            for line in st.splitlines():
                if line.startswith("VmHWM:"):
                    peak[0] = max(peak[0], int(line.split()[1]))
            time.sleep(0.002)

    th = threading.Thread(target=sample)
    th.start()
    out, err = p.communicate(timeout=120)
    th.join()
    return p.returncode, out.decode(), err.decode(), peak[0]


def test_ten_megabyte_line_streams(pop3fake, tmp_path):
    """A message with a single 10 MB line (and one of 5 MB that starts
    with a dot, so it is dot-stuffed on the wire) is streamed to the
    Maildir: stored byte-identical, deleted on the server, and tern's
    memory does not grow with the line."""
    small = gen_messages(82, 1, small=True, tag="rss")[0]
    pop3fake.reset([(b"s0", small)])
    home = fake_home(pop3fake, tmp_path / "small")
    rc, out, err, base_rss = fetch_rss(home, "fetch", "-q")
    assert rc == EX_OK and out == "" and err == "", (rc, out, err)
    rnd = random.Random(83)
    line = base64.b64encode(rnd.randbytes(15 << 19)).replace(b"/", b"-")  # 10 MiB
    assert len(line) == 10 << 20 and b"\n" not in line
    big = (b"From: a@example.test\nSubject: one long line\n\n" + line + b"\n." +
           line[:5 << 20] + b"\nend\n")
    pop3fake.reset([(b"big", big), (b"s1", small)])
    home = fake_home(pop3fake, tmp_path / "big")
    rc, out, err, rss = fetch_rss(home, "fetch", "-q")
    assert rc == EX_OK and out == "" and err == "", (rc, out, err)
    stored = maildir_contents(home.maildir("f"))
    assert sorted(stored, key=len) == [small, big], [len(m) for m in stored]
    with pop3fake.lock:
        assert pop3fake.mail == []
    # 15 MB of long lines held in memory would show; one 64 KiB slice
    # and the 64 KiB write buffer do not.
    assert 0 < base_rss and rss - base_rss < 4 * 1024, (base_rss, rss)


def test_power_cut_leftovers(pop3fake, tmp_path):
    """The state a power cut can leave: a file renamed into new/ whose
    data never reached the disk (empty or cut short), named in the journal
    but not in the ledger; tern's own tmp/ files from the dead run; another
    program's tmp/ file. The next fetch removes the cut-short copy and
    tern's tmp/ files, keeps the other program's, and stores each message
    exactly once."""
    msgs = gen_messages(84, 3, small=True, tag="power")
    pop3fake.reset([(b"p%d" % i, m) for i, m in enumerate(msgs)])
    home = fake_home(pop3fake, tmp_path)
    data = home.data_dir("f")
    md = home.maildir("f")
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), mode=0o700, exist_ok=True)
    os.chmod(os.path.dirname(data), 0o700)
    os.chmod(data, 0o700)
    host = maildir_host()
    torn = "1700000000.2147483646_00000000000000aa.%s" % host
    cut = "1700000000.2147483646_00000000000000ab.%s" % host
    with open(os.path.join(md, "new", torn), "wb"):
        pass  # empty: the rename survived, the data did not
    with open(os.path.join(md, "new", cut), "wb") as f:
        f.write(msgs[1][:len(msgs[1]) // 2])
    with open(os.path.join(data, "pop3.journal"), "w") as f:
        f.write("%d %016x p0 %s\n" % (len(msgs[0]), 0x1234, torn))
        f.write("%d %016x p1 %s\n" % (len(msgs[1]), 0x5678, cut))
    ours = ["1700000000.2147483646_00000000000000b%d.%s" % (i, host) for i in range(3)]
    theirs = "1700000000.M1P2147483646.%s" % host
    for n in ours + [theirs]:
        with open(os.path.join(md, "tmp", n), "wb") as f:
            f.write(b"partial")
    r = home.run("fetch", "-q", debug=True)
    assert r.rc == EX_OK, r
    assert "(2 cut-short copies removed)" in r.err, r
    assert "removed 3 file(s) an interrupted run left" in r.err, r
    assert_exactly_once(maildir_contents(md), msgs)
    assert os.listdir(os.path.join(md, "tmp")) == [theirs]
    with pop3fake.lock:
        assert pop3fake.mail == []


def run_on_tty(home, *args):
    """Run tern with stderr on a pseudo-terminal; (rc, stdout, tty bytes)."""
    import pty
    import subprocess
    m, sl = pty.openpty()
    p = subprocess.Popen([home_tern()] + ["-c", home.config] + list(args), env=home.env(),
                         stdout=subprocess.PIPE, stderr=sl)
    os.close(sl)
    got = b""
    while True:
        try:
            d = os.read(m, 4096)
        except OSError:
            break
        if not d:
            break
        got += d
    out = p.communicate()[0]
    os.close(m)
    return p.returncode, out.decode(), got


def home_tern():
    from pop3_helpers import tern_bin
    return tern_bin()


def test_progress_bar_on_tty_only(pop3fake, tmp_path):
    msgs = gen_messages(81, 60, small=True, tag="tty")
    pop3fake.reset([(b"t%d" % i, m) for i, m in enumerate(msgs)])
    pop3fake.retr_delay = 0.02  # 60 messages take over a second: the bar shows
    home = fake_home(pop3fake, tmp_path / "a")
    rc, out, tty = run_on_tty(home, "fetch")
    assert rc == EX_OK and out == "f: 60 new, 60 deleted from server\n", (rc, out, tty)
    assert tty.startswith(b"\rf: [") and b"/60" in tty, tty
    assert tty.endswith(b"\r\x1b[K"), tty  # the bar is wiped before the summary
    # -q and --json never draw it, and a pipe never gets it.
    pop3fake.reset([(b"q%d" % i, m) for i, m in enumerate(msgs)])
    pop3fake.retr_delay = 0.02
    rc, out, tty = run_on_tty(fake_home(pop3fake, tmp_path / "b"), "fetch", "-q")
    assert rc == EX_OK and out == "" and tty == b"", tty
    pop3fake.reset([(b"p%d" % i, m) for i, m in enumerate(msgs)])
    pop3fake.retr_delay = 0.02
    r = fake_home(pop3fake, tmp_path / "c").run("fetch")
    assert r.rc == EX_OK and r.err == "", r
