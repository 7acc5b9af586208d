"""Shared pytest fixtures for tern's integration tests.

  lab       session: a running lab (tests/lab/lab.py). Started once per pytest
            run and stopped (and its directory removed) at the end, unless
            TERN_LAB_DIR names a running lab to use instead (left running).
            TERN_LAB_KEEP=1 keeps the directory of a lab started here.
  user      a fresh lab user (unique name, random password) per test:
            lab.User(name, address, password, maildir); .login == .address
  make_user factory for more users in one test: make_user() -> lab.User
  fake      factory for scripted fake servers (tests/lab/fakes.py) using the
            lab's certificates; each is stopped after the test:
              srv = fake("no_starttls", proto="imap", tls="starttls")
              srv.port, srv.log_path, srv.connections(), srv.cleartext()
  tern_bin  path of the tern binary: $TERN_BIN, default build/tern
  genmail   the tests/lab/genmail.py module
  (autouse) sanitizer_reports: every process a test starts writes any
            ASan/LSan/UBSan report to a file of its own; a report fails the
            test, whatever the test itself checks (a leak then never passes
            as "exit status not 0").
"""

import os
import re
import sys
import uuid

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LAB_DIR = os.path.join(TOP, "tests", "lab")
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)

import lab as labmod  # noqa: E402
import fakes as fakesmod  # noqa: E402
import genmail as genmailmod  # noqa: E402


@pytest.fixture(scope="session")
def lab():
    d = os.environ.get("TERN_LAB_DIR")
    if d:
        L = labmod.Lab(d)
        st = L.status()
        if not (st["dovecot"] and st["postfix"]):
            pytest.exit("TERN_LAB_DIR=%s is not a running lab: %s" % (d, st), returncode=1)
        yield L
        return
    if os.geteuid() != 0:
        pytest.skip("the lab runs Dovecot and Postfix and needs root")
    L = labmod.start()
    try:
        yield L
    finally:
        L.stop(remove=not os.environ.get("TERN_LAB_KEEP"))


def _user_name(request):
    base = re.sub(r"[^a-z0-9]", "", request.node.name.lower().replace("test_", "", 1))[:24]
    return "%s-%s" % (base or "u", uuid.uuid4().hex[:8])


@pytest.fixture
def user(lab, request):
    return lab.add_user(_user_name(request), "pw-" + uuid.uuid4().hex[:12])


@pytest.fixture
def make_user(lab, request):
    def make(name=None, password=None):
        return lab.add_user(name or _user_name(request),
                            password if password is not None else "pw-" + uuid.uuid4().hex[:12])
    return make


@pytest.fixture
def fake(lab, tmp_path):
    made = []

    def make(scenario="normal", proto="imap", tls="starttls", **opts):
        log = os.path.join(str(tmp_path), "fake%d-%s-%s-%s.log" % (len(made) + 1, scenario, proto, tls))
        srv = fakesmod.serve(scenario, proto=proto, tls=tls, log=log, certs=lab.info, **opts)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture(scope="session")
def tern_bin():
    path = os.environ.get("TERN_BIN") or os.path.join(TOP, "build", "tern")
    if not os.access(path, os.X_OK):
        pytest.fail("tern binary not found: %s (build it, or set TERN_BIN)" % path)
    return path


@pytest.fixture(scope="session")
def genmail():
    return genmailmod


@pytest.fixture(autouse=True)
def sanitizer_reports(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("sanitizer"))
    saved = {k: os.environ.get(k) for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS")}
    os.environ["ASAN_OPTIONS"] = "%s:log_path=%s/asan" % (
        saved["ASAN_OPTIONS"] or "detect_leaks=1:abort_on_error=1", d)
    os.environ["UBSAN_OPTIONS"] = "%s:log_path=%s/ubsan" % (
        saved["UBSAN_OPTIONS"] or "print_stacktrace=1:halt_on_error=1", d)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    reports = sorted(os.listdir(d))
    if reports:
        text = "".join("== %s\n%s\n" % (n, open(os.path.join(d, n), errors="replace").read()[:4000])
                       for n in reports)
        pytest.fail("sanitizer report(s) from a process this test started:\n" + text,
                    pytrace=False)
