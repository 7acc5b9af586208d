"""`tern account add` against the lab: the non-interactive form (flags),
the interactive form driven through tmux, and what it writes: an
[account NAME] section appended to the config file with everything else
kept byte for byte, which then passes `tern doctor`.

Fixtures from conftest.py: lab, user, tern_bin.
"""

import json
import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

EX_OK, EX_USAGE, EX_UNAVAILABLE, EX_NOPERM, EX_CONFIG = 0, 64, 69, 77, 78


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Home:
    def __init__(self, tmp_path, tern_bin):
        self.dir = str(tmp_path)
        self.tern = tern_bin
        self.config = os.path.join(self.dir, "config")
        self.env = dict(os.environ)
        self.env.update(HOME=self.dir, XDG_CONFIG_HOME=os.path.join(self.dir, "xdg-config"),
                        XDG_DATA_HOME=os.path.join(self.dir, "data"), LC_ALL="C.UTF-8")
        self.env.pop("TERN_CONFIG", None)

    def write(self, text, mode=0o600):
        with open(self.config, "w") as f:
            f.write(text)
        os.chmod(self.config, mode)

    def read(self, path=None):
        with open(path or self.config) as f:
            return f.read()

    def run(self, *args, config=None, timeout=120):
        return subprocess.run([self.tern, "-c", config or self.config] + list(args),
                              env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=timeout)

    def doctor(self, name, config=None):
        p = self.run("doctor", "--json", "-a", name, config=config)
        return p.returncode, json.loads(p.stdout)


@pytest.fixture
def home(tmp_path, tern_bin):
    return Home(tmp_path, tern_bin)


def parse_section(text, name):
    """key -> value of [account NAME] (simple: the tests write no quotes)."""
    out, inside = {}, False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            inside = s == "[account %s]" % name
        elif inside and "=" in s and not s.startswith("#"):
            k, v = s.split("=", 1)
            out[k.strip()] = v.strip()
    return out


EXISTING = """# tern config, written by hand
# keep these comments

[general]
# the default
default_account = old

[account old]
address = old@example.test
incoming = pop3
  host = pop.example.test
password_command = pass old
# trailing comment, no final newline"""


def test_noninteractive_imap_keeps_file_and_passes_doctor(lab, user, home):
    home.write(EXISTING, mode=0o640)
    p = home.run("account", "add", "--name", "work", "--address", user.address,
                 "--incoming", "imap", "--host", "127.0.0.1",
                 "--ports", "%d,%d" % (lab.imap_port, lab.imaps_port),
                 "--smtp-host", "127.0.0.1", "--smtp-ports",
                 "%d/implicit,%d/starttls" % (free_port(), lab.smtp_port),
                 "--password-command", "echo " + user.password, "--ca-file", lab.ca)
    assert p.returncode == EX_OK, p.stdout + p.stderr
    # STARTTLS port first in the list: implicit TLS tried there and refused,
    # then STARTTLS kept
    assert "port %d (TLS)... no" % lab.imap_port in p.stdout
    assert "port %d (STARTTLS)... ok" % lab.imap_port in p.stdout
    assert "logging in to IMAP" in p.stdout and "logging in to SMTP" in p.stdout
    new = home.read()
    assert new.startswith(EXISTING), "the old text changed"
    # the last line ended, one blank line, then the section
    assert new[len(EXISTING):].startswith("\n\n[account work]\n")
    keys = parse_section(new, "work")
    assert keys == {"address": user.address, "incoming": "imap", "host": "127.0.0.1",
                    "port": str(lab.imap_port), "tls": "starttls",
                    "password_command": "echo " + user.password, "ca_file": lab.ca,
                    "smtp_host": "127.0.0.1", "smtp_port": str(lab.smtp_port),
                    "smtp_tls": "starttls"}
    assert user.password not in new.replace("echo " + user.password, "")
    assert os.stat(home.config).st_mode & 0o777 == 0o640     # mode kept
    rc, data = home.doctor("work")
    assert rc == EX_OK, data


def test_noninteractive_pop3_new_file_0600(lab, user, home):
    cfg = os.path.join(home.dir, "deep", "er", "config")
    p = home.run("account", "add", "--address", user.address, "--incoming", "pop3",
                 "--host", "127.0.0.1", "--port", str(lab.pop3s_port), "--keep",
                 "--smtp-host", "none", "--password-command", "echo " + user.password,
                 "--ca-file", lab.ca, config=cfg)
    assert p.returncode == EX_OK, p.stdout + p.stderr
    assert os.stat(cfg).st_mode & 0o777 == 0o600
    assert os.stat(os.path.dirname(cfg)).st_mode & 0o777 == 0o700
    keys = parse_section(home.read(cfg), "lab")       # default name: the domain's first label
    assert keys["incoming"] == "pop3" and keys["tls"] == "implicit"
    assert keys["port"] == str(lab.pop3s_port) and keys["keep"] == "yes"
    assert "smtp_host" not in keys
    rc, data = home.doctor("lab", config=cfg)
    assert rc == EX_OK, data
    assert "keep = yes" in [s for s in data["accounts"][0]["receiving"]["steps"]
                            if s["step"] == "messages"][0]["detail"]


def test_wrong_password_writes_nothing(lab, user, home):
    home.write(EXISTING)
    p = home.run("account", "add", "--name", "w", "--address", user.address,
                 "--incoming", "imap", "--host", "127.0.0.1", "--port", str(lab.imaps_port),
                 "--smtp-host", "none", "--password-command", "echo wrong", "--ca-file", lab.ca)
    assert p.returncode == EX_NOPERM
    assert "refused the password" in p.stdout
    assert home.read() == EXISTING


def test_untrusted_certificate_needs_ca_file_or_pin(lab, user, home):
    args = ["account", "add", "--name", "w", "--address", user.address, "--incoming", "imap",
            "--host", "127.0.0.1", "--port", str(lab.imaps_port), "--smtp-host", "none",
            "--password-command", "echo " + user.password]
    p = home.run(*args)
    assert p.returncode == EX_UNAVAILABLE
    assert "--ca-file" in p.stderr and "--pin sha256//" in p.stderr
    assert "SHA-256" in p.stdout
    assert not os.path.exists(home.config)
    pin = p.stderr.split("--pin ", 1)[1].split()[0]
    p = home.run(*(args + ["--pin", pin]))
    assert p.returncode == EX_OK, p.stdout + p.stderr
    keys = parse_section(home.read(), "w")
    assert keys["pin"] == pin and "ca_file" not in keys
    rc, data = home.doctor("w")
    assert rc == EX_OK, data


def test_closed_ports_fail_with_the_network_code(lab, user, home):
    p = home.run("account", "add", "--address", user.address, "--incoming", "imap",
                 "--host", "127.0.0.1", "--port", str(free_port()), "--smtp-host", "none",
                 "--password-command", "echo x", "--ca-file", lab.ca)
    assert p.returncode == 75
    assert "refused" in p.stdout
    assert not os.path.exists(home.config)


@pytest.mark.parametrize("bad", [
    ["--tls", "none"], ["--tls", "plain"], ["--smtp-tls", "off"],
    ["--ports", "143/plaintext"], ["--incoming", "mbox"], ["--name", "has space"],
    ["--name", "old"], ["--port", "0"], ["--password", "x"],
])
def test_usage_errors(lab, user, home, bad):
    home.write(EXISTING)
    args = ["account", "add", "--address", user.address, "--incoming", "imap",
            "--host", "127.0.0.1", "--port", str(lab.imaps_port), "--smtp-host", "none",
            "--password-command", "echo x", "--ca-file", lab.ca, "--no-probe"]
    # later options win over the ones above for single values
    p = home.run(*(args + bad))
    assert p.returncode == EX_USAGE, (bad, p.stdout, p.stderr)
    assert home.read() == EXISTING


def test_missing_answers_without_terminal(home):
    p = home.run("account", "add", "--address", "a@b.test", "--incoming", "imap")
    assert p.returncode == EX_USAGE and "--host" in p.stderr


def test_no_probe_writes_standard_ports(home):
    p = home.run("account", "add", "--address", "a@example.test", "--incoming", "imap",
                 "--host", "imap.example.test", "--smtp-host", "smtp.example.test",
                 "--password-command", "pass mail", "--no-probe")
    assert p.returncode == EX_OK, p.stderr
    keys = parse_section(home.read(), "example")
    assert (keys["port"], keys["tls"]) == ("993", "implicit")
    assert (keys["smtp_port"], keys["smtp_tls"]) == ("465", "implicit")


def test_broken_config_is_not_touched(home):
    broken = "[account x]\naddress = a@b.c\nbogus = 1\n"
    home.write(broken)
    p = home.run("account", "add", "--address", "a@example.test", "--incoming", "imap",
                 "--host", "imap.example.test", "--smtp-host", "none",
                 "--password-command", "pass mail", "--no-probe")
    assert p.returncode == EX_CONFIG and "bogus" in p.stderr
    assert home.read() == broken


# --------------------------------------------------------------------------
# interactive, through tmux

class Tmux:
    def __init__(self, home, cmd):
        if not shutil.which("tmux"):
            pytest.skip("tmux is not installed")
        self.name = "ternadd-" + uuid.uuid4().hex[:8]
        self.sock = os.path.join(home.dir, "tmux.sock")
        env = " ".join("%s=%s" % (k, shq(home.env[k])) for k in
                       ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "LC_ALL", "PATH"))
        full = "cd %s && env %s %s; echo EXIT=$?; sleep 60" % (shq(home.dir), env, cmd)
        subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", "new-session", "-d",
                        "-s", self.name, "-x", "200", "-y", "60", full], check=True)

    def screen(self):
        return subprocess.run(["tmux", "-S", self.sock, "capture-pane", "-p", "-J", "-S", "-200",
                               "-t", self.name], stdout=subprocess.PIPE, text=True).stdout

    def wait_for(self, text, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s = self.screen()
            if text in s:
                return s
            time.sleep(0.05)
        raise AssertionError("timed out waiting for %r; screen:\n%s" % (text, self.screen()))

    def answer(self, prompt, text):
        """Wait until the last line holds `prompt`, then type text + Enter."""
        end = time.monotonic() + 30
        while time.monotonic() < end:
            lines = [l for l in self.screen().splitlines() if l.strip()]
            if lines and prompt in lines[-1]:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no prompt %r; screen:\n%s" % (prompt, self.screen()))
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", self.name, "-l", text],
                       check=True)
        subprocess.run(["tmux", "-S", self.sock, "send-keys", "-t", self.name, "Enter"],
                       check=True)
        time.sleep(0.1)

    def close(self):
        subprocess.run(["tmux", "-S", self.sock, "kill-server"], stderr=subprocess.DEVNULL)


def shq(s):
    return "'" + s.replace("'", "'\\''") + "'"


def test_interactive_imap_through_tmux(lab, user, home):
    home.write(EXISTING)
    cmd = "%s -c %s account add --port %d --smtp-port %d" % (
        shq(home.tern), shq(home.config), lab.imaps_port, lab.smtp_port)
    t = Tmux(home, cmd)
    try:
        t.answer("Email address:", user.address)
        t.answer("Your name", "Test User")
        t.answer("Account name (for tern -a) [lab]:", "mine")
        s = t.wait_for("Incoming protocol (imap or pop3) [imap]:")
        assert "IMAP keeps mail on the server and in sync across devices" in s
        assert "POP3 downloads it to this machine and deletes it from the server" in s
        t.answer("Incoming protocol", "")                       # default: imap
        t.answer("Incoming (IMAP) server [imap.lab.test]:", "127.0.0.1")
        # the lab CA is unknown here: the certificate is shown, we give the CA file
        s = t.wait_for("Trust it?")
        assert "issued by an unknown CA" in s and "SHA-256:" in s
        t.answer("Trust it?", "c")
        t.answer("CA certificate file", lab.ca)
        t.wait_for("port %d (TLS)... ok" % lab.imaps_port)
        t.answer("Outgoing (SMTP) server, or none [smtp.lab.test]:", "127.0.0.1")
        s = t.wait_for("Login name [%s]:" % user.address)
        assert "port %d (TLS)... no" % lab.smtp_port in s          # a STARTTLS port
        assert "port %d (STARTTLS)... ok" % lab.smtp_port in s
        t.answer("Login name", "")
        s = t.wait_for("Password command:")
        assert "never" in s and "stores the password itself" in s
        t.answer("Password command:", "echo wrong-one")
        t.wait_for("refused the password")
        t.answer("Change the login name?", "n")
        t.answer("Password command:", "echo " + user.password)
        s = t.wait_for("Write it? [Y/n]:")
        assert "[account mine]" in s and "name = Test User" in s
        t.answer("Write it?", "y")
        s = t.wait_for("EXIT=")
        assert "EXIT=0" in s, s
    finally:
        t.close()
    new = home.read()
    assert new.startswith(EXISTING)
    keys = parse_section(new, "mine")
    assert keys["tls"] == "implicit" and keys["port"] == str(lab.imaps_port)
    assert keys["smtp_tls"] == "starttls" and keys["smtp_port"] == str(lab.smtp_port)
    assert keys["ca_file"] == lab.ca and keys["name"] == "Test User"
    assert keys["password_command"] == "echo " + user.password
    rc, data = home.doctor("mine")
    assert rc == EX_OK, data


def test_interactive_pin_and_abort(lab, user, home):
    cmd = "%s -c %s account add --port %d" % (shq(home.tern), shq(home.config),
                                              lab.pop3s_port)
    t = Tmux(home, cmd)
    try:
        t.answer("Email address:", "not-an-address")
        t.wait_for("That is not an email address.")
        t.answer("Email address:", user.address)
        t.answer("Your name", "")
        t.answer("Account name", "")
        t.answer("Incoming protocol", "pop3")
        t.answer("Leave a copy", "y")
        t.answer("Incoming (POP3) server [pop.lab.test]:", "127.0.0.1")
        t.answer("Trust it?", "p")                              # pin the key
        t.wait_for("port %d (TLS)... ok" % lab.pop3s_port)
        t.answer("Outgoing (SMTP) server", "none")
        t.answer("Login name", "")
        t.answer("Password command:", "echo " + user.password)
        s = t.wait_for("Write it? [Y/n]:")
        assert "pin = sha256//" in s and "keep = yes" in s
        t.answer("Write it?", "n")
        s = t.wait_for("EXIT=")
        assert "Nothing written." in s
    finally:
        t.close()
    assert not os.path.exists(home.config)


# --------------------------------------------------------------------------
# the standard ports, in the order: 993 implicit, 143 STARTTLS;
# 995, 110; 465, 587; the first that works is kept

def port_open(port):
    s = socket.socket()
    s.settimeout(1)
    try:
        return s.connect_ex(("127.0.0.1", port)) == 0
    finally:
        s.close()


def trying_lines(out):
    """The probe lines, each cut after its verdict ("ok" / "no")."""
    return [l.strip().split(":")[0] for l in out.splitlines() if l.strip().startswith("trying ")]


def test_standard_ports_tried_in_order_first_working_kept(lab, user, home, fake):
    """Fakes on the real standard ports of 127.0.0.1 (the tests run as root):
    IMAP answers on 993 and 143 (993 is kept, 143 never asked), POP3 and
    SMTP only on their STARTTLS ports (110, 587: 995 and 465 refuse)."""
    for p in (995, 465):
        if port_open(p):
            pytest.skip("something listens on 127.0.0.1:%d already" % p)
    pw = "pw-" + uuid.uuid4().hex[:8]
    srvs = {}
    try:
        for name, proto, tls, port in (("imaps", "imap", "implicit", 993),
                                       ("imap", "imap", "starttls", 143),
                                       ("pop3", "pop3", "starttls", 110),
                                       ("smtp", "smtp", "starttls", 587)):
            srvs[name] = fake("normal", proto=proto, tls=tls, port=port, user=user.address,
                              password=pw)
    except OSError as e:
        pytest.skip("cannot listen on a standard mail port of 127.0.0.1: %s" % e)
    common = ["--host", "127.0.0.1", "--smtp-host", "127.0.0.1", "--password-command",
              "echo " + pw, "--ca-file", lab.ca, "--timeout", "5"]
    p = home.run("account", "add", "--name", "i", "--address", user.address,
                 "--incoming", "imap", *common)
    assert p.returncode == EX_OK, p.stdout + p.stderr
    assert trying_lines(p.stdout) == [
        "trying 127.0.0.1 port 993 (TLS)... ok",
        "trying 127.0.0.1 port 465 (TLS)... no",
        "trying 127.0.0.1 port 587 (STARTTLS)... ok"], p.stdout
    assert "port 465: connection refused" in p.stdout
    keys = parse_section(home.read(), "i")
    assert (keys["port"], keys["tls"]) == ("993", "implicit")
    assert (keys["smtp_port"], keys["smtp_tls"]) == ("587", "starttls")
    assert srvs["imap"].connections() == [], "143 was tried although 993 worked"
    assert any(l[3] and l[4] for l in srvs["imaps"].logins)    # the login test, over TLS
    assert any(l[3] and l[4] for l in srvs["smtp"].logins)

    p = home.run("account", "add", "--name", "p", "--address", user.address,
                 "--incoming", "pop3", *common)
    assert p.returncode == EX_OK, p.stdout + p.stderr
    assert trying_lines(p.stdout)[:2] == [
        "trying 127.0.0.1 port 995 (TLS)... no",
        "trying 127.0.0.1 port 110 (STARTTLS)... ok"], p.stdout
    assert "port 995: connection refused" in p.stdout
    keys = parse_section(home.read(), "p")
    assert (keys["port"], keys["tls"]) == ("110", "starttls")
    for srv in srvs.values():                       # never a password in clear
        for c in srv.connections():
            assert pw.encode() not in c.plain
            assert b"AUTH" not in c.plain.upper() and b"LOGIN" not in c.plain.upper()
