#!/usr/bin/python3
"""tern test lab: private Dovecot + Postfix instances on 127.0.0.1.

Everything (config, state, logs, mail, certificates, pids) lives in one
directory; ports are chosen free at start; processes are stopped by PID.

    python3 tests/lab/lab.py start [DIR]        # prints DIR
    python3 tests/lab/lab.py status DIR
    python3 tests/lab/lab.py adduser DIR NAME PASSWORD
    python3 tests/lab/lab.py put DIR USER FILE... [--folder F] [--flags S]
    python3 tests/lab/lab.py doveadm DIR ARGS...
    python3 tests/lab/lab.py stop DIR [--rm]

From Python:

    import lab
    L = lab.start()                 # or lab.Lab(DIR) for a running one
    u = L.add_user("carol", "secret")
    L.put_message("carol", b"Subject: hi\\n\\nbody\\n")
    L.stop()

Runs as root (it creates the system user `ternlab` that owns the mail).
Standard library only.
"""

import base64
import json
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

DOMAIN = "lab.test"
HOST = "127.0.0.1"
MAIL_USER = "ternlab"
DEFAULT_USERS = (("alice", "alice-pw"), ("bob", "bob-pw"))
SPECIAL_USE = (("Drafts", r"\Drafts"), ("Sent", r"\Sent"), ("Trash", r"\Trash"),
               ("Junk", r"\Junk"), ("Archive", r"\Archive"))
PORT_NAMES = ("imap", "imaps", "pop3", "pop3s", "smtp", "smtps", "lmtp", "auth")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
DOVEADM = shutil.which("doveadm") or "/usr/bin/doveadm"
POSTFIX_MASTER = "/usr/lib/postfix/sbin/master"
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"


class LabError(RuntimeError):
    pass


@dataclass
class User:
    name: str          # local part, e.g. "alice"
    address: str       # login name and mail address, e.g. "alice@lab.test"
    password: str
    maildir: str       # <lab>/mail/<name>/Maildir (INBOX; folders are .Name)

    @property
    def login(self):
        return self.address


# --------------------------------------------------------------------------
# helpers

def _run(cmd, check=True, daemon=False, **kw):
    """Run CMD. daemon=True for programs that fork a daemon: its output goes
    to a temporary file, since the daemon would keep a pipe open forever."""
    if daemon:
        with tempfile.TemporaryFile() as out:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, **kw)
            out.seek(0)
            p.stderr = out.read()
    else:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        p = subprocess.run(cmd, **kw)
    if check and p.returncode != 0:
        err = p.stderr.decode(errors="replace") if isinstance(p.stderr, bytes) else p.stderr
        raise LabError("command failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), err))
    return p


def _free_ports(n):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _port_open(port, host=HOST, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _wait_ports(ports, timeout=10.0):
    deadline = time.monotonic() + timeout
    pending = list(ports)
    while pending:
        pending = [p for p in pending if not _port_open(p)]
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LabError("ports not listening after %.0fs: %s" % (timeout, pending))
        time.sleep(0.02)


def _ensure_mail_user():
    try:
        pw = pwd.getpwnam(MAIL_USER)
    except KeyError:
        _run(["useradd", "--system", "--user-group", "--no-create-home",
              "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", MAIL_USER])
        pw = pwd.getpwnam(MAIL_USER)
    return pw.pw_uid, pw.pw_gid


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _pid_alive(pid):
    """True if PID exists and is not a zombie (daemons get reparented to
    whatever reaper the container has, which may be slow to reap)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st[st.rfind(")") + 2:st.rfind(")") + 3] not in ("Z", "X")


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _session_members(sid):
    """PIDs whose session id is sid (Dovecot and Postfix masters setsid())."""
    out = []
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % ent) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rfind(")") + 2:].split()
        # after "pid (comm) ": state ppid pgrp session ...
        if len(fields) > 3 and int(fields[3]) == sid:
            out.append(int(ent))
    return out


def _read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --------------------------------------------------------------------------
# certificates

_EXT_SERVER = """basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = {san}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

_CA_CNF = """[ ca ]
default_ca = lab
[ lab ]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/newcerts
serial = {d}/serial
default_md = sha256
policy = anything
copy_extensions = none
unique_subject = no
[ anything ]
commonName = supplied
[ ext ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
"""


def _make_certs(cdir):
    """Throwaway CA, server cert for localhost/127.0.0.1, and bad certs."""
    os.makedirs(cdir, exist_ok=True)
    j = lambda n: os.path.join(cdir, n)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def ca(name, cn):
        _run([OPENSSL, "req", "-x509", "-new"] + ec +
             ["-keyout", j(name + ".key"), "-out", j(name + ".pem"), "-days", "3650",
              "-subj", "/O=tern lab/CN=" + cn, "-sha256",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def leaf(name, cn, san, signer="ca"):
        ext = j(name + ".ext")
        _write(ext, _EXT_SERVER.format(san=san))
        _run([OPENSSL, "req", "-new"] + ec +
             ["-keyout", j(name + ".key"), "-out", j(name + ".csr"),
              "-subj", "/O=tern lab/CN=" + cn])
        _run([OPENSSL, "x509", "-req", "-in", j(name + ".csr"), "-CA", j(signer + ".pem"),
              "-CAkey", j(signer + ".key"), "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
              "-days", "3650", "-sha256", "-extfile", ext, "-out", j(name + ".pem")])
        os.unlink(j(name + ".csr"))
        os.unlink(ext)

    ca("ca", "tern lab CA")
    ca("other-ca", "unrelated CA")
    leaf("server", "localhost", "DNS:localhost, IP:127.0.0.1")
    leaf("wronghost", "wrong.example", "DNS:wrong.example")
    # self-signed leaf for localhost (not a CA)
    _run([OPENSSL, "req", "-x509", "-new"] + ec +
         ["-keyout", j("selfsigned.key"), "-out", j("selfsigned.pem"), "-days", "3650",
          "-subj", "/O=tern lab/CN=localhost",
          "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-addext", "basicConstraints=critical,CA:FALSE"])
    # expired, signed by the lab CA: `openssl ca` takes explicit dates
    cadb = j("ca-db")
    os.makedirs(os.path.join(cadb, "newcerts"), exist_ok=True)
    _write(os.path.join(cadb, "index.txt"), "")
    _write(os.path.join(cadb, "serial"), "1000\n")
    _write(os.path.join(cadb, "ca.cnf"), _CA_CNF.format(d=cadb))
    _run([OPENSSL, "req", "-new"] + ec +
         ["-keyout", j("expired.key"), "-out", j("expired.csr"), "-subj", "/O=tern lab/CN=localhost"])
    _run([OPENSSL, "ca", "-batch", "-notext", "-config", os.path.join(cadb, "ca.cnf"),
          "-cert", j("ca.pem"), "-keyfile", j("ca.key"), "-extensions", "ext",
          "-startdate", "20200101000000Z", "-enddate", "20200201000000Z",
          "-in", j("expired.csr"), "-out", j("expired.pem")])
    os.unlink(j("expired.csr"))
    # throwaway material: readable by anyone (fakes/tests need not be root)
    for n in os.listdir(cdir):
        if n.endswith((".pem", ".key")):
            os.chmod(j(n), 0o644)


# --------------------------------------------------------------------------
# configuration templates

_DOVECOT_CONF = """# tern lab: private Dovecot instance (generated)
instance_name = ternlab-{tag}
base_dir = {run}/dovecot
state_dir = {d}/state/dovecot
protocols = imap pop3 lmtp
listen = 127.0.0.1
shutdown_clients = yes
hostname = {domain}
log_path = {d}/log/dovecot.log
info_log_path = {d}/log/dovecot.log
default_login_user = dovenull
default_internal_user = dovecot
default_process_limit = 1000
default_client_limit = 5000
default_vsz_limit = 1G

ssl = required
ssl_cert = <{d}/certs/server.pem
ssl_key = <{d}/certs/server.key
ssl_min_protocol = TLSv1.2
# Dovecot counts loopback connections as "secured" and would accept
# plaintext LOGIN/USER+PASS without TLS despite these two settings; the
# passdb below refuses them for real.
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_default_realm = {domain}
auth_username_format = %Lu
auth_failure_delay = 0
auth_cache_size = 0
auth_verbose = yes
auth_username_chars = abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01234567890.-_@+

first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
mail_fsync = never
mail_max_userip_connections = 10000
recipient_delimiter = +
lda_mailbox_autocreate = yes
pop3_uidl_format = %08Xu%08Xv
imap_idle_notify_interval = 1 mins

namespace inbox {{
  inbox = yes
  separator = /
{mailboxes}
}}

# One passwd-file per user (users.d/<address>): Dovecot re-reads a
# passwd-file at most once a second, so a user appended to a shared file
# could stay unknown for up to a second; a new file is read at once.
# passdb/<service>-<secured>: see _setup_passdb_dirs().
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/dovecot/passdb/%s-%{{secured}}/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {d}/dovecot/users.d/%u
  default_fields = uid={uid} gid={gid} home={d}/mail/%n
}}

service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service auth {{
  # SASL for Postfix (dovecot auth client protocol over TCP)
  inet_listener {{
    address = 127.0.0.1
    port = {auth}
  }}
}}
service anvil {{
  # no growing per-IP auth penalty: every test logs in from 127.0.0.1
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
protocol pop3 {{
  mail_max_userip_connections = 10000
}}
protocol lmtp {{
  lmtp_save_to_detail_mailbox = no
}}
"""

_MAIN_CF = """# tern lab: private Postfix instance (generated)
compatibility_level = 3.6
queue_directory = {run}/postfix
data_directory = {pf}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/log/postfix.log
maillog_file_prefixes = {d}
myhostname = {domain}
mydomain = {domain}
myorigin = {domain}
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
biff = no
append_dot_mydomain = no
recipient_delimiter = +
message_size_limit = 52428800
smtpd_banner = $myhostname ESMTP tern lab
in_flow_delay = 0
smtpd_error_sleep_time = 0
smtpd_soft_error_limit = 1000
smtpd_hard_error_limit = 1000
smtpd_client_connection_rate_limit = 0
queue_run_delay = 10s
minimal_backoff_time = 10s
maximal_backoff_time = 60s
bounce_queue_lifetime = 1h
maximal_queue_lifetime = 1h

smtpd_tls_cert_file = {d}/certs/server.pem
smtpd_tls_key_file = {d}/certs/server.key
smtpd_tls_security_level = encrypt
smtpd_tls_auth_only = yes
smtpd_tls_session_cache_database =
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = inet:127.0.0.1:{auth}
smtpd_sasl_auth_enable = yes
smtpd_sasl_authenticated_header = no
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject

# all of lab.test goes to Dovecot over LMTP; everything else (and
# postmaster) lands in the catch-all user "sink", so no mail leaves the lab
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = static:OK
virtual_alias_maps = regexp:{pf}/virtual_alias
virtual_alias_domains =
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
default_transport = error:the lab sends no mail out
relay_transport = error:the lab sends no mail out
local_transport = error:no local delivery in the lab
lmtp_connection_cache_on_demand = no
alias_maps =
alias_database =
local_recipient_maps =
"""

_VIRTUAL_ALIAS = """/^(postmaster|mailer-daemon|abuse|root)@/ sink@{domain}
if !/@lab\\.test$/
/./ sink@{domain}
endif
"""

_MASTER_CF = """# tern lab: private Postfix instance (generated); nothing chrooted
127.0.0.1:{smtp} inet n - n - - smtpd
  -o syslog_name=postfix/submission
127.0.0.1:{smtps} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
lmtp      unix - - n - - lmtp
smtp      unix - - n - - smtp
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


# --------------------------------------------------------------------------
# the lab

class Lab:
    """A lab directory (running or not). Lab(dir) opens an existing one."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        with open(os.path.join(self.dir, "lab.json")) as f:
            self.info = json.load(f)
        self.host = HOST
        self.domain = DOMAIN
        self.ports = {k: self.info["LAB_%s_PORT" % k.upper()] for k in PORT_NAMES}
        self.ca = self.info["LAB_CA"]
        self.dovecot_conf = os.path.join(self.dir, "dovecot", "dovecot.conf")
        self.postfix_dir = os.path.join(self.dir, "postfix")
        self.run_dir = self.info.get("LAB_RUN_DIR") or os.path.join(self.dir, "run")
        self._uid, self._gid = pwd.getpwnam(MAIL_USER)[2:4]
        self._seq = 0

    # -- ports, for convenience
    imap_port = property(lambda s: s.ports["imap"])
    imaps_port = property(lambda s: s.ports["imaps"])
    pop3_port = property(lambda s: s.ports["pop3"])
    pop3s_port = property(lambda s: s.ports["pop3s"])
    smtp_port = property(lambda s: s.ports["smtp"])
    smtps_port = property(lambda s: s.ports["smtps"])

    @property
    def env(self):
        """The LAB_* variables (as in lab.env), strings only."""
        return {k: str(v) for k, v in self.info.items()}

    def ssl_context(self, cafile=None):
        """Client SSLContext trusting the lab CA (verifies host name)."""
        return ssl.create_default_context(cafile=cafile or self.ca)

    # -- users
    def _users_dir(self):
        return os.path.join(self.dir, "dovecot", "users.d")

    def users(self):
        """{name: User} for every lab user (including the catch-all "sink")."""
        out = {}
        d = self._users_dir()
        for fn in sorted(os.listdir(d)):
            if "@" not in fn or fn.startswith("."):
                continue
            with open(os.path.join(d, fn)) as f:
                addr, pw = f.read().split(":", 2)[:2]
            name = addr.split("@")[0]
            pw = base64.b64decode(pw[len("{PLAIN.B64}"):]).decode()
            out[name] = User(name, addr, pw, self.maildir(name))
        return out

    def user(self, name):
        """The User NAME (or NAME@lab.test)."""
        name = name.split("@")[0]
        path = os.path.join(self._users_dir(), "%s@%s" % (name, DOMAIN))
        try:
            with open(path) as f:
                addr, pw = f.read().split(":", 2)[:2]
        except FileNotFoundError:
            raise LabError("no such lab user: %s" % name) from None
        pw = base64.b64decode(pw[len("{PLAIN.B64}"):]).decode()
        return User(name, addr, pw, self.maildir(name))

    def add_user(self, name, password):
        """Add NAME@lab.test with PASSWORD (any characters but NUL and
        newline) at any time; it can log in as soon as this returns.
        Returns a User (address, password, maildir)."""
        name = name.split("@")[0].lower()
        if not NAME_RE.match(name):
            raise LabError("bad user name %r (use [a-z0-9._-])" % name)
        if "\n" in password or "\0" in password or "\r" in password:
            raise LabError("password must not contain NUL, CR or LF")
        addr = "%s@%s" % (name, DOMAIN)
        self._make_maildir(self.maildir(name))
        line = "%s:{PLAIN.B64}%s::::::\n" % (
            addr, base64.b64encode(password.encode()).decode())
        path = os.path.join(self._users_dir(), addr)
        tmp = path + ".tmp%d" % os.getpid()
        _write(tmp, line)
        try:
            os.link(tmp, path)          # atomic, and fails if the user exists
        except FileExistsError:
            raise LabError("user exists: %s" % addr) from None
        finally:
            os.unlink(tmp)
        return User(name, addr, password, self.maildir(name))

    def maildir(self, user, folder="INBOX"):
        """Path of USER's Maildir folder (INBOX is the Maildir root)."""
        name = user.name if isinstance(user, User) else user.split("@")[0]
        root = os.path.join(self.dir, "mail", name, "Maildir")
        if folder.upper() == "INBOX":
            return root
        return os.path.join(root, "." + folder.replace("/", "."))

    def _make_maildir(self, path, folder=False):
        home = os.path.dirname(path.rstrip("/")) if not folder else None
        for d in ([home] if home else []) + [path] + [os.path.join(path, s) for s in ("cur", "new", "tmp")]:
            if not os.path.isdir(d):
                os.makedirs(d, mode=0o700, exist_ok=True)
                os.chown(d, self._uid, self._gid)

    # -- mail
    def put_message(self, user, raw, folder="INBOX", flags=None, mtime=None):
        """Write RAW (bytes) straight into USER's Maildir FOLDER.

        flags=None puts it in new/ (a new, \\Recent message); a string of
        Maildir flags ("", "S", "FS" ...) puts it in cur/ with those flags,
        which is also faster for Dovecot to index on first SELECT.
        Returns the file path."""
        return self.put_messages(user, [raw], folder, flags, mtime)[0]

    def put_messages(self, user, raws, folder="INBOX", flags=None, mtime=None):
        """put_message for many messages at once (fast seeding)."""
        u = user if isinstance(user, User) else self.user(user)
        md = self.maildir(u, folder)
        if not os.path.isdir(os.path.join(md, "cur")):
            if folder.upper() == "INBOX":
                self._make_maildir(md)
            else:
                self.doveadm("mailbox", "create", "-s", "-u", u.address, folder)
                self._make_maildir(md, folder=True)
        tmp = os.path.join(md, "tmp")
        now = time.time()
        pid = os.getpid()
        paths = []
        for raw in raws:
            if isinstance(raw, str):
                raw = raw.encode()
            raw = raw.replace(b"\r\n", b"\n")
            self._seq += 1
            t = now if mtime is None else mtime
            base = "%d.M%06dP%dQ%09d.lab,S=%d,W=%d" % (
                int(t), int((t % 1) * 1e6), pid, self._seq, len(raw), len(raw) + raw.count(b"\n"))
            tpath = os.path.join(tmp, base)
            fd = os.open(tpath, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, raw)
                os.fchown(fd, self._uid, self._gid)
            finally:
                os.close(fd)
            if mtime is not None:
                os.utime(tpath, (mtime, mtime))
            if flags is None:
                dest = os.path.join(md, "new", base)
            else:
                dest = os.path.join(md, "cur", base + ":2," + "".join(sorted(set(flags))))
            os.rename(tpath, dest)
            paths.append(dest)
        return paths

    def messages(self, user, folder="INBOX"):
        """Paths of the message files in USER's FOLDER (new/ and cur/)."""
        md = self.maildir(user, folder)
        out = []
        for sub in ("new", "cur"):
            try:
                out += [os.path.join(md, sub, n) for n in os.listdir(os.path.join(md, sub))]
            except FileNotFoundError:
                pass
        return sorted(out)

    def wait_for_messages(self, user, count=1, folder="INBOX", timeout=15.0, match=None):
        """Poll USER's FOLDER until COUNT messages (whose bytes contain MATCH,
        if given) are there; return their paths. Raises LabError on timeout."""
        if isinstance(match, str):
            match = match.encode()
        deadline = time.monotonic() + timeout
        while True:
            paths = self.messages(user, folder)
            if match is not None:
                hit = []
                for p in paths:
                    try:
                        with open(p, "rb") as f:
                            if match in f.read():
                                hit.append(p)
                    except FileNotFoundError:   # moved new/ -> cur/ meanwhile
                        pass
                paths = hit
            if len(paths) >= count:
                return paths
            if time.monotonic() > deadline:
                raise LabError("timeout: %d/%d messages in %s's %s (see %s)" % (
                    len(paths), count, user, folder, os.path.join(self.dir, "log")))
            time.sleep(0.02)

    def doveadm(self, *args, check=True, input=None):
        """Run doveadm against the private instance; returns CompletedProcess
        (text). E.g. lab.doveadm("flags", "add", "-u", "alice@lab.test",
        "\\\\Seen", "mailbox", "INBOX", "uid", "3")."""
        p = subprocess.run([DOVEADM, "-c", self.dovecot_conf] + [str(a) for a in args],
                           input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=not isinstance(input, bytes))
        if check and p.returncode != 0:
            err = p.stderr if isinstance(p.stderr, str) else p.stderr.decode(errors="replace")
            raise LabError("doveadm %s failed (%d): %s" % (" ".join(map(str, args)), p.returncode, err))
        return p

    # -- lifecycle
    def pids(self):
        return {
            "dovecot": _read_pidfile(os.path.join(self.run_dir, "dovecot", "master.pid")),
            "postfix": _read_pidfile(os.path.join(self.run_dir, "postfix", "pid", "master.pid")),
        }

    def status(self):
        """{'dovecot': pid|None, 'postfix': pid|None, 'ports': {name: bool}}"""
        st = {}
        for name, pid in self.pids().items():
            st[name] = pid if pid and _pid_alive(pid) and self.dir in _cmdline(pid) else None
        st["ports"] = {k: _port_open(v) for k, v in self.ports.items()}
        return st

    def stop(self, remove=False):
        stop(self.dir, remove=remove)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _stop_masters(pids, dirpath, timeout=5.0):
    """SIGTERM the masters we started (checked by their command line), wait
    for them and their sessions (their children) to exit, then SIGKILL
    whatever is left. Dovecot takes about a second (its log process)."""
    masters = [p for p in dict.fromkeys(pids)
               if p and _pid_alive(p) and dirpath in _cmdline(p)]
    members = set()
    for pid in masters:
        members |= set(_session_members(pid))
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while members and time.monotonic() < deadline:
        members = {p for p in members if _pid_alive(p)}
        time.sleep(0.02)
    for pid in masters:
        members |= set(_session_members(pid))
    for p in members:
        if _pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def stop(directory, remove=False):
    """Stop the lab in DIRECTORY (safe to call repeatedly, or on a half
    started lab). remove=True also deletes the directory."""
    d = os.path.abspath(directory)
    run = os.path.join(d, "run")
    try:
        with open(os.path.join(d, "lab.json")) as f:
            run = json.load(f).get("LAB_RUN_DIR") or run
    except (OSError, ValueError):
        pass
    pidfiles = [os.path.join(run, "postfix", "pid", "master.pid"),
                os.path.join(run, "dovecot", "master.pid")]
    pids = [_read_pidfile(p) for p in pidfiles]
    try:
        with open(os.path.join(d, "pids.json")) as f:
            pids += list(json.load(f).values())
    except (OSError, ValueError):
        pass
    _stop_masters(pids, d)
    if remove and os.path.isdir(d):
        shutil.rmtree(d, ignore_errors=True)
        if run and not run.startswith(d + os.sep):
            shutil.rmtree(run, ignore_errors=True)


def _log_tail(d, n=30):
    out = []
    for name in ("dovecot.log", "postfix.log"):
        p = os.path.join(d, "log", name)
        try:
            with open(p, errors="replace") as f:
                lines = f.readlines()[-n:]
            out.append("--- %s\n%s" % (p, "".join(lines)))
        except OSError:
            pass
    return "\n".join(out)


def start(directory=None, users=DEFAULT_USERS):
    """Create and start a lab in DIRECTORY (a fresh mkdtemp dir if None, or
    an empty/non-existent dir). Returns a Lab. On failure everything that
    was started is stopped again (and a mkdtemp dir removed)."""
    if os.geteuid() != 0:
        raise LabError("the lab must run as root (it runs Dovecot and Postfix)")
    created = directory is None
    if created:
        d = tempfile.mkdtemp(prefix="ternlab.")
    else:
        d = os.path.abspath(directory)
        os.makedirs(d, exist_ok=True)
        if os.path.exists(os.path.join(d, "lab.json")) or os.path.exists(os.path.join(d, "dovecot")):
            raise LabError("%s already holds a lab (stop it and use a fresh dir)" % d)
    try:
        return _start(d, users)
    except BaseException as e:
        tail = _log_tail(d)
        stop(d, remove=created and not os.environ.get("LAB_KEEP"))
        if isinstance(e, LabError):
            raise LabError("%s\n%s" % (e, tail)) from None
        raise


def _start(d, users):
    t0 = time.monotonic()
    uid, gid = _ensure_mail_user()
    os.chmod(d, 0o755)        # dovenull/postfix/ternlab must traverse it
    for sub in ("certs", "log", "run", "state", "dovecot", "postfix", "mail"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, sub), 0o755)
    # Dovecot's base_dir and Postfix's queue directory hold unix sockets
    # whose paths must stay under 108 bytes: a long lab path gets them in a
    # short temp dir instead (LAB_RUN_DIR; removed by stop(remove=True))
    run = os.path.join(d, "run")
    if len(run) > 50:
        run = tempfile.mkdtemp(prefix="ternlab-run.")
        os.chmod(run, 0o755)
    os.chown(os.path.join(d, "mail"), uid, gid)
    _make_certs(os.path.join(d, "certs"))

    ports = dict(zip(PORT_NAMES, _free_ports(len(PORT_NAMES))))
    mailboxes = "\n".join(
        "  mailbox %s {\n    special_use = %s\n    auto = subscribe\n  }" % (n, su)
        for n, su in SPECIAL_USE)
    conf = _DOVECOT_CONF.format(d=d, run=run, tag=os.path.basename(d), uid=uid, gid=gid,
                                domain=DOMAIN, mailboxes=mailboxes,
                                **ports)
    _write(os.path.join(d, "dovecot", "dovecot.conf"), conf)
    _setup_passdb_dirs(os.path.join(d, "dovecot"))

    pf = os.path.join(d, "postfix")
    _write(os.path.join(pf, "main.cf"), _MAIN_CF.format(d=d, pf=pf, run=run, domain=DOMAIN, **ports))
    _write(os.path.join(pf, "master.cf"), _MASTER_CF.format(**ports))
    _write(os.path.join(pf, "virtual_alias"), _VIRTUAL_ALIAS.format(domain=DOMAIN))
    _make_postfix_dirs(pf, os.path.join(run, "postfix"))
    # Postfix waits (in 300 ms steps) until main.cf is over a second old,
    # lest it read a half-written file: backdate the files we just wrote
    old = time.time() - 60
    for n in ("main.cf", "master.cf", "virtual_alias"):
        os.utime(os.path.join(pf, n), (old, old))

    certs = os.path.join(d, "certs")
    info = {"LAB_DIR": d, "LAB_HOST": HOST, "LAB_DOMAIN": DOMAIN, "LAB_RUN_DIR": run}
    for k in PORT_NAMES:
        info["LAB_%s_PORT" % k.upper()] = ports[k]
    info.update({
        "LAB_CA": os.path.join(certs, "ca.pem"),
        "LAB_CA_KEY": os.path.join(certs, "ca.key"),
        "LAB_OTHER_CA": os.path.join(certs, "other-ca.pem"),
        "LAB_CERT_SERVER": os.path.join(certs, "server.pem"),
        "LAB_KEY_SERVER": os.path.join(certs, "server.key"),
    })
    for kind in ("selfsigned", "expired", "wronghost"):
        info["LAB_CERT_%s" % kind.upper()] = os.path.join(certs, kind + ".pem")
        info["LAB_KEY_%s" % kind.upper()] = os.path.join(certs, kind + ".key")
    info.update({
        "LAB_DOVECOT_CONF": os.path.join(d, "dovecot", "dovecot.conf"),
        "LAB_POSTFIX_DIR": pf,
        "LAB_LOG_DIR": os.path.join(d, "log"),
        "LAB_SINK_MAILDIR": os.path.join(d, "mail", "sink", "Maildir"),
    })
    _write_env(d, info)   # early, so stop() and Lab() work on a half-started lab

    # Dovecot: the master binds all listeners before it daemonizes
    _run([DOVECOT, "-c", os.path.join(d, "dovecot", "dovecot.conf")], daemon=True)
    # Postfix: -w returns only once the master daemon initialized
    _run([POSTFIX_MASTER, "-c", pf, "-w"], daemon=True)
    lab = Lab(d)
    with open(os.path.join(d, "pids.json"), "w") as f:
        json.dump({k: v for k, v in lab.pids().items() if v}, f)

    lab.add_user("sink", base64.b32encode(os.urandom(10)).decode())
    for name, pw in users:
        u = lab.add_user(name, pw)
        key = "LAB_%s" % name.upper().replace(".", "_").replace("-", "_")
        info[key + "_USER"] = u.address
        info[key + "_PASS"] = u.password
        info[key + "_MAILDIR"] = u.maildir
    _wait_ports(list(ports.values()))
    info["LAB_START_SECONDS"] = round(time.monotonic() - t0, 3)
    _write_env(d, info)
    return Lab(d)


def _write_env(d, info):
    def q(v):
        v = str(v)
        return v if re.match(r"^[A-Za-z0-9_./:@+-]*$", v) else "'" + v.replace("'", "'\\''") + "'"
    tmp = os.path.join(d, "lab.env.tmp")
    _write(tmp, "".join("%s=%s\n" % (k, q(v)) for k, v in info.items()))
    os.rename(tmp, os.path.join(d, "lab.env"))
    tmp = os.path.join(d, "lab.json.tmp")
    _write(tmp, json.dumps(info, indent=1) + "\n")
    os.rename(tmp, os.path.join(d, "lab.json"))


# Dovecot treats a connection from the local IP itself (127.0.0.1 ->
# 127.0.0.1) as "secured" exactly like TLS, so ssl=required and
# disable_plaintext_auth do nothing on loopback. The auth process does see
# the difference: %{secured} is "TLS" for TLS connections and "secured" for
# merely-local ones (empty otherwise). The passdb path embeds the service
# and that value, and only these directories lead to the users:
#   imap/pop3 over TLS; smtp (Postfix) sends "secured" only with TLS, and
#   smtpd_tls_auth_only=yes refuses AUTH before STARTTLS anyway.
# Every other combination is an empty directory: user unknown, login fails.
_PASSDB_ALLOWED = ("imap-TLS", "pop3-TLS", "smtp-secured", "smtp-TLS")
_PASSDB_DENIED = ("imap-secured", "pop3-secured", "imap-", "pop3-", "smtp-")


def _setup_passdb_dirs(ddir):
    os.makedirs(os.path.join(ddir, "users.d"), exist_ok=True)
    pdir = os.path.join(ddir, "passdb")
    os.makedirs(pdir, exist_ok=True)
    for name in _PASSDB_ALLOWED:
        os.symlink("../users.d", os.path.join(pdir, name))
    for name in _PASSDB_DENIED:
        os.makedirs(os.path.join(pdir, name), exist_ok=True)


def _make_postfix_dirs(pf, spool):
    pw = pwd.getpwnam("postfix")
    postdrop = grp.getgrnam("postdrop").gr_gid
    os.makedirs(spool, exist_ok=True)
    os.chmod(spool, 0o755)
    # layout and modes as in Debian's postfix-files
    for name, owner, group, mode in (
            ("active", pw.pw_uid, -1, 0o700), ("bounce", pw.pw_uid, -1, 0o700),
            ("corrupt", pw.pw_uid, -1, 0o700), ("defer", pw.pw_uid, -1, 0o700),
            ("deferred", pw.pw_uid, -1, 0o700), ("flush", pw.pw_uid, -1, 0o700),
            ("hold", pw.pw_uid, -1, 0o700), ("incoming", pw.pw_uid, -1, 0o700),
            ("private", pw.pw_uid, -1, 0o700), ("saved", pw.pw_uid, -1, 0o700),
            ("trace", pw.pw_uid, -1, 0o700),
            ("maildrop", pw.pw_uid, postdrop, 0o730), ("public", pw.pw_uid, postdrop, 0o710),
            ("pid", 0, 0, 0o755)):
        p = os.path.join(spool, name)
        os.makedirs(p, exist_ok=True)
        os.chown(p, owner, group)
        os.chmod(p, mode)
    data = os.path.join(pf, "data")
    os.makedirs(data, exist_ok=True)
    os.chown(data, pw.pw_uid, -1)
    os.chmod(data, 0o700)


# --------------------------------------------------------------------------
# CLI

def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="lab.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("start", help="start a lab, print its directory")
    p.add_argument("dir", nargs="?")
    p = sub.add_parser("stop", help="stop a lab")
    p.add_argument("dir")
    p.add_argument("--rm", action="store_true", help="also delete the directory")
    p = sub.add_parser("status", help="show pids, ports and env")
    p.add_argument("dir")
    p = sub.add_parser("adduser", help="add NAME@lab.test")
    p.add_argument("dir")
    p.add_argument("name")
    p.add_argument("password")
    p = sub.add_parser("put", help="put message files into a user's Maildir")
    p.add_argument("dir")
    p.add_argument("user")
    p.add_argument("files", nargs="+")
    p.add_argument("--folder", default="INBOX")
    p.add_argument("--flags", default=None, help="Maildir flags, e.g. S or FS; puts into cur/")
    p = sub.add_parser("doveadm", help="run doveadm against the lab")
    p.add_argument("dir")
    p.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    try:
        if a.cmd == "start":
            lab = start(a.dir)
            print(lab.dir)
        elif a.cmd == "stop":
            stop(a.dir, remove=a.rm)
        elif a.cmd == "status":
            lab = Lab(a.dir)
            st = lab.status()
            ok = st["dovecot"] and st["postfix"] and all(st["ports"].values())
            print("dovecot: %s\npostfix: %s" % (st["dovecot"] or "stopped", st["postfix"] or "stopped"))
            for k, v in st["ports"].items():
                print("%-6s %5d %s" % (k, lab.ports[k], "open" if v else "CLOSED"))
            print("env: %s" % os.path.join(lab.dir, "lab.env"))
            return 0 if ok else 1
        elif a.cmd == "adduser":
            u = Lab(a.dir).add_user(a.name, a.password)
            print("%s %s" % (u.address, u.maildir))
        elif a.cmd == "put":
            lab = Lab(a.dir)
            raws = []
            for fn in a.files:
                with open(fn, "rb") as f:
                    raws.append(f.read())
            for p in lab.put_messages(a.user, raws, a.folder, a.flags):
                print(p)
        elif a.cmd == "doveadm":
            p = Lab(a.dir).doveadm(*a.args, check=False)
            sys.stdout.write(p.stdout)
            sys.stderr.write(p.stderr)
            return p.returncode
    except LabError as e:
        print("lab: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
