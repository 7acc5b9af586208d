"""tern's main paths under valgrind memcheck, against the real lab.

The ASan/UBSan build runs the whole integration suite; this adds the other
tool on the plain gcc build (the one users get), over the paths every user
takes: IMAP sync, list, read with a body fetch, a flag change pushed back,
POP3 download-and-delete, send with an attachment, and the message engine
on the lab's hostile samples. Any memcheck error or definite/indirect leak
makes valgrind exit 99 and the test fail.

tests/run.sh runs this file only with the gcc build (valgrind cannot run an
ASan binary).
"""

import json
import os
import shutil
import subprocess

import pytest

from pop3_helpers import Home, lab_account, new_user, server_messages, tern_bin

SUPP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "valgrind.supp")
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", "--leak-check=full", "--suppressions=" + SUPP,
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--num-callers=40", "--child-silent-after-fork=yes"]


@pytest.fixture(scope="module", autouse=True)
def need_valgrind():
    if not shutil.which("valgrind"):
        pytest.fail("valgrind is not installed (tests/deps.sh installs it)")


def vg(home, *args, stdin=None, timeout=300):
    """Run tern under memcheck; returns (rc, stdout, stderr)."""
    p = subprocess.run(VALGRIND + [tern_bin(), "-c", home.config] + list(args),
                       env=home.env(), input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    assert p.returncode != 99, "memcheck reported errors for tern %s:\n%s" % (
        " ".join(args), err[-6000:])
    return p.returncode, out, err


def test_imap_sync_list_read_flag(lab, genmail, tmp_path):
    user = new_user(lab, "vgi")
    lab.put_messages(user, list(genmail.generate(40, seed=11)))
    home = Home(tmp_path)
    keys = lab_account(lab, user, timeout=20)
    keys.update(incoming="imap", port=lab.imaps_port)
    home.add("m", **keys)

    rc, out, err = vg(home, "fetch", "-q")
    assert rc == 0, err
    rc, out, err = vg(home, "list", "--json")
    assert rc == 0, err
    msgs = json.loads(out)
    assert len(msgs) == 40
    with_att = [m for m in msgs if m["has_attachments"]] or msgs
    rc, out, err = vg(home, "read", str(with_att[0]["id"]))
    assert rc == 0 and out.strip(), err
    (tmp_path / "att").mkdir()
    rc, out, err = vg(home, "attachments", str(with_att[0]["id"]), "--save", str(tmp_path / "att"))
    assert rc == 0, err
    rc, out, err = vg(home, "flag", str(msgs[1]["id"]), "+flagged")
    assert rc == 0, err
    rc, out, err = vg(home, "fetch", "-q")
    assert rc == 0, err
    flagged = lab.doveadm("search", "-u", user.address, "mailbox", "INBOX", "FLAGGED")
    assert flagged.stdout.strip(), "the flag set under valgrind never reached the server"


def test_pop3_fetch(lab, genmail, tmp_path):
    user = new_user(lab, "vgp")
    lab.put_messages(user, list(genmail.generate(30, seed=12)))
    home = Home(tmp_path)
    home.add("p", **lab_account(lab, user))
    rc, out, err = vg(home, "fetch", "-q")
    assert rc == 0, err
    stored = os.listdir(os.path.join(home.maildir("p"), "new"))
    assert len(stored) == 30
    assert server_messages(lab, user) == []


def test_send_with_attachment(lab, tmp_path):
    sender, rcpt = new_user(lab, "vgs"), new_user(lab, "vgr")
    home = Home(tmp_path)
    home.add("s", **lab_account(lab, sender, smtp_host="127.0.0.1", smtp_port=lab.smtp_port,
                                smtp_tls="starttls", save_sent=False))
    att = tmp_path / "data.bin"
    att.write_bytes(bytes(range(256)) * 40)
    rc, out, err = vg(home, "send", "--to", rcpt.address, "--subject", "Grüße unter valgrind",
                      "--attach", str(att), stdin="Hallo, schöne Grüße.\n".encode())
    assert rc == 0, err
    got = lab.wait_for_messages(rcpt, 1)
    assert len(got) == 1


def test_message_engine_on_hostile_samples(genmail, tmp_path):
    home = Home(tmp_path)
    home.add("x", address="x@example.org", incoming="pop3", host="127.0.0.1",
             password="unused")
    hostile = [m for m in genmail.messages(400, 7) if m.kind == "hostile"][:4]
    assert hostile
    (tmp_path / "out").mkdir()
    for m in hostile:
        path = tmp_path / ("h%d.eml" % m.index)
        path.write_bytes(m.raw)
        for args in (["read", "--file", str(path)],
                     ["attachments", "--file", str(path), "--save", str(tmp_path / "out")]):
            rc, out, err = vg(home, *args)
            assert rc == 0, err
            assert "\x1b" not in out
