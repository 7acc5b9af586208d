"""The man pages against the program: man/tern.1 and man/tern.conf.5 render
without groff warnings, tern.conf(5) documents every key the config parser
accepts (read from the key tables in core/config/config.c, so a new key
without documentation fails here) with its default, tern(1) has a section
per subcommand of `tern --help` and the EXAMPLES the issue asks for.

Fixtures from conftest.py: tern_bin. No lab needed.
"""

import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN1 = os.path.join(TOP, "man", "tern.1")
MAN5 = os.path.join(TOP, "man", "tern.conf.5")
CONFIG_C = os.path.join(TOP, "core", "config", "config.c")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def parser_keys():
    """{"account": [...], "general": [...]} from the key_def tables."""
    src = read(CONFIG_C)
    out = {}
    for section, table in (("account", "account_keys"), ("general", "general_keys")):
        m = re.search(r"static const struct key_def %s\[\] = \{(.*?)\n\};" % table, src, re.S)
        assert m, "no %s table in %s" % (table, CONFIG_C)
        out[section] = re.findall(r'^\s*\{"([a-z_]+)",\s*K_', m.group(1), re.M)
        assert out[section], table
    return out


def roff_words(line):
    """Plain words of a roff line: macro, font escapes and quotes removed."""
    line = re.sub(r"^\.[A-Z]+\s*", "", line)
    line = re.sub(r"\\f[BIRP]|\\\(\w\w|\\&", " ", line)
    line = line.replace("\\-", "-").replace("\\e", "\\")
    return re.findall(r"[A-Za-z_][A-Za-z0-9_]*", line)


def tagged_entries(text, section):
    """{key: body} for the .TP entries of one .SH section of a man page."""
    m = re.search(r'^\.SH "?%s"?\n(.*?)(?=^\.SH )' % re.escape(section), text, re.S | re.M)
    assert m, "no section %s" % section
    entries = {}
    for block in re.split(r"^\.TP\n", m.group(1), flags=re.M)[1:]:
        tag, _, body = block.partition("\n")
        for w in roff_words(tag):
            entries.setdefault(w, body)
    return entries


def test_groff_reports_no_warnings():
    if not shutil.which("groff"):
        pytest.fail("groff is not installed (tests/deps.sh installs it)")
    for page in (MAN1, MAN5):
        p = subprocess.run(["groff", "-man", "-ww", "-z", page], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        assert p.returncode == 0 and p.stderr == "", (page, p.stderr)


def test_every_config_key_is_documented_with_its_default():
    keys = parser_keys()
    text = read(MAN5)
    documented = {"general": tagged_entries(text, "GENERAL SECTION"),
                  "account": tagged_entries(text, "ACCOUNT KEYS")}
    missing, no_default = [], []
    for section, names in keys.items():
        for k in names:
            body = documented[section].get(k)
            if body is None:
                missing.append("[%s] %s" % (section, k))
            elif not re.search(r"[Dd]efault|Required|required", body):
                no_default.append("[%s] %s" % (section, k))
    assert not missing, "keys the parser accepts but tern.conf(5) does not document: %s" % missing
    assert not no_default, "keys documented without a default: %s" % no_default


def test_no_documented_key_is_unknown_to_the_parser():
    keys = parser_keys()
    text = read(MAN5)
    for section, title in (("general", "GENERAL SECTION"), ("account", "ACCOUNT KEYS")):
        for m in re.finditer(r"^\.TP\n\.B[IR]? \"?([a-z_]+)", re.search(
                r'^\.SH "%s"\n(.*?)(?=^\.SH )' % title, text, re.S | re.M).group(1), re.M):
            assert m.group(1) in keys[section], "tern.conf(5) documents unknown key %s" % m.group(1)


def test_config_examples_cover_each_protocol_choice():
    text = read(MAN5)
    ex = re.search(r"^\.SH EXAMPLES\n(.*?)(?=^\.SH )", text, re.S | re.M).group(1)
    for line in ("incoming = imap", "incoming = pop3", "tls = implicit", "tls = starttls",
                 "smtp_host = ", "smtp_tls = implicit", "password_command = ", "ca_file = "):
        assert re.search(r"^%s" % re.escape(line), ex, re.M), "no example with %r" % line


def test_a_section_per_subcommand(tern_bin):
    helptext = subprocess.run([tern_bin, "--help"], stdout=subprocess.PIPE, text=True).stdout
    commands = re.findall(r"^  tern ([a-z]+(?: add)?)\b", helptext, re.M)
    assert len(commands) >= 10, helptext
    text = read(MAN1).replace("\\-", "-")
    sections = re.findall(r'^\.SS "(.*)"$', text, re.M)
    for c in commands:
        assert any(s == "tern " + c or s.startswith("tern %s " % c) for s in sections), \
            "tern(1) has no section for `tern %s`" % c


def test_examples_section_of_tern_1():
    text = read(MAN1).replace("\\-", "-").replace("\\e", "\\")
    ex = re.search(r"^\.SH EXAMPLES\n(.*?)(?=^\.SH )", text, re.S | re.M).group(1)
    # cron: a schedule (five fields), then tern fetch
    assert re.search(r"^(\S+ ){5}tern fetch", ex, re.M), "no cron fetch example"
    # a scripted send: a body on standard input
    assert re.search(r"\| tern send --to \S+", ex), "no scripted send example"
    # the sendmail symlink
    assert re.search(r"^ln -s .*tern.* \S*sendmail$", ex, re.M), "no sendmail symlink example"
    # reading an .eml file
    assert re.search(r"tern read --file \S+\.eml", ex), "no .eml example"
    # setting up: account add, then doctor
    assert "tern account add" in ex and "tern doctor" in ex
