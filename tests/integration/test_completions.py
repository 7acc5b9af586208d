"""Shell completions (completions/): bash, zsh, fish, and `tern complete`
that feeds them account and folder names from the config and the local
index. zsh and fish are driven for real when installed (the tests skip,
and say so, when they are not).

Fixtures from conftest.py: lab, user, tern_bin.
"""

import os
import re
import shutil
import subprocess
import textwrap

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMP = os.path.join(TOP, "completions")


@pytest.fixture
def env(tmp_path, tern_bin):
    e = dict(os.environ)
    e.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "xdg"),
             XDG_DATA_HOME=str(tmp_path / "data"), LC_ALL="C.UTF-8",
             PATH=os.path.dirname(os.path.abspath(tern_bin)) + os.pathsep + e.get("PATH", ""))
    e.pop("TERN_CONFIG", None)
    return e


@pytest.fixture
def fetched(lab, user, tmp_path, env, tern_bin):
    """A config with two accounts; the IMAP one has its folders in the index."""
    cfg = tmp_path / "config"
    cfg.write_text(textwrap.dedent("""\
        [account work]
        address = %s
        incoming = imap
        host = 127.0.0.1
        port = %d
        tls = implicit
        password_command = echo %s
        ca_file = %s

        [account other.box]
        address = x@example.test
        incoming = pop3
        host = 127.0.0.1
        password_command = echo x
        """ % (user.address, lab.imaps_port, user.password, lab.ca)))
    os.chmod(cfg, 0o600)
    lab.doveadm("mailbox", "create", "-u", user.address, "Work Stuff")
    p = subprocess.run([tern_bin, "-c", str(cfg), "folders", "-a", "work"], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, p.stderr
    return str(cfg)


def bash_complete(env, words, cword):
    script = "source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _tern; printf '%%s\\n' \"${COMPREPLY[@]}\"" % (
        os.path.join(COMP, "tern.bash"), " ".join("'%s'" % w for w in words), cword)
    p = subprocess.run(["bash", "-c", script], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    assert p.returncode == 0 and not p.stderr, p.stderr
    return [l for l in p.stdout.splitlines() if l]


def test_bash_smoke_from_the_source_tree():
    # exactly the check from the issue: no tern on PATH needed for commands
    p = subprocess.run(["bash", "-c", "source completions/tern.bash; COMP_WORDS=(tern fe); "
                        "COMP_CWORD=1; _tern; echo ${COMPREPLY[@]}"], cwd=TOP,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.strip() == "fetch", p.stdout + p.stderr


def test_command_lists_match_the_program(tern_bin, env):
    """Every subcommand tern --help lists is completed by all three shells."""
    helptext = subprocess.run([tern_bin, "--help"], env=env, stdout=subprocess.PIPE,
                              text=True).stdout
    listed = set(re.findall(r"^  tern ([a-z]+)", helptext, re.M)) - {"complete"}
    listed.add("help")
    comp = subprocess.run([tern_bin, "complete", "commands"], env=env, stdout=subprocess.PIPE,
                          text=True).stdout.split()
    assert set(comp) == listed
    bash = open(os.path.join(COMP, "tern.bash")).read()
    m = re.search(r'local commands="([^"]+)"', bash)
    assert set(m.group(1).split()) == listed
    zsh = open(os.path.join(COMP, "_tern")).read()
    assert set(re.findall(r"^    '([a-z]+):", zsh, re.M)) == listed
    fish = open(os.path.join(COMP, "tern.fish")).read()
    m = re.search(r"^set -l tern_commands (.+)$", fish, re.M)
    assert set(m.group(1).split()) == listed


def test_tern_complete_accounts_and_folders(fetched, env, tern_bin):
    run = lambda *a: subprocess.run([tern_bin, "-c", fetched, "complete"] + list(a), env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    p = run("accounts")
    assert p.returncode == 0 and p.stdout.split() == ["work", "other.box"]
    p = run("folders", "-a", "work")
    assert p.returncode == 0
    folders = p.stdout.splitlines()
    for f in ("INBOX", "Sent", "Trash", "Work Stuff"):
        assert f in folders
    # never fetched: nothing, quietly
    p = run("folders", "-a", "other.box")
    assert p.returncode == 0 and p.stdout == "" and p.stderr == ""


def test_bash_accounts_folders_options(fetched, env):
    assert bash_complete(env, ["tern", "-c", fetched, "list", "-a", ""], 5) == ["work",
                                                                                 "other.box"]
    assert bash_complete(env, ["tern", "-c", fetched, "list", "-a", "work", "-f", "S"], 7) == \
        ["Sent"]
    # a name with a space comes back escaped for the shell
    assert bash_complete(env, ["tern", "-c", fetched, "move", "-a", "work", "3", "Wo"], 7) == \
        ["Work\\ Stuff"]
    assert bash_complete(env, ["tern", "doctor", "--t"], 2) == ["--trust"]
    assert bash_complete(env, ["tern", "account", ""], 2) == ["add"]
    assert bash_complete(env, ["tern", "account", "add", "--tls", ""], 4) == ["implicit",
                                                                               "starttls"]
    assert "--password-command" in bash_complete(env, ["tern", "account", "add", "--p"], 3)


def zsh_complete(env, line, cwd=None):
    harness = textwrap.dedent("""\
        zmodload zsh/zpty
        zpty z zsh -f -i
        zpty -w z "PS1='> '; fpath=(%s \\$fpath); autoload -Uz compinit; compinit -u -D; setopt nobeep"
        sleep 0.5
        zpty -r -t z junk
        zpty -w -n z "$1"$'\\t'
        sleep 2
        local all="" chunk
        while zpty -r -t z chunk; do all+=$chunk; done
        print -r -- "$all"
        zpty -d z
        """ % COMP)
    p = subprocess.run(["zsh", "-f", "-c", harness, "zsh", line], env=env, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    out = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", p.stdout).replace("\r", "").replace("\b", "")
    return out.splitlines()[-1] if out.strip() else ""


@pytest.mark.skipif(not shutil.which("zsh"), reason="zsh is not installed")
def test_zsh(fetched, env):
    # short lines: the pseudo-terminal is 80 columns wide
    d = os.path.dirname(fetched)
    assert zsh_complete(env, "tern fe").endswith("tern fetch ")
    assert zsh_complete(env, "tern -c config doctor -a w", d).endswith("-a work ")
    assert zsh_complete(env, "tern --config=config list -a work -f Se", d).endswith("-f Sent ")
    assert zsh_complete(env, "tern account add --incoming po").endswith("--incoming pop3 ")


@pytest.mark.skipif(not shutil.which("fish"), reason="fish is not installed")
def test_fish(fetched, env):
    def complete(line):
        p = subprocess.run(["fish", "--no-config", "-c",
                            "source %s; complete -C '%s'" % (os.path.join(COMP, "tern.fish"),
                                                             line)],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        assert not p.stderr, p.stderr
        return [l.split("\t")[0] for l in p.stdout.splitlines()]
    assert complete("tern fe") == ["fetch"]
    assert sorted(complete("tern -c %s doctor -a " % fetched)) == ["other.box", "work"]
    assert complete("tern -c %s list -a work -f S" % fetched) == ["Sent"]
    assert complete("tern account add --incoming ") == ["imap", "pop3"]
    assert "--trust" in complete("tern doctor --")


def test_meson_installs_program_man_pages_and_completions(tern_bin, tmp_path):
    build = os.path.dirname(os.path.abspath(tern_bin))
    if not os.path.exists(os.path.join(build, "build.ninja")):
        pytest.skip("TERN_BIN is not inside a meson build directory")
    p = subprocess.run(["meson", "install", "-C", build, "--no-rebuild", "--quiet",
                        "--destdir", str(tmp_path / "dest")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=120)
    assert p.returncode == 0, p.stdout
    found = {}
    for root, _, files in os.walk(tmp_path / "dest"):
        for f in files:
            found[os.path.relpath(os.path.join(root, f), tmp_path / "dest")] = True
    assert any(k.endswith("share/bash-completion/completions/tern") for k in found), found
    assert any(k.endswith("share/zsh/site-functions/_tern") for k in found), found
    assert any(k.endswith("share/fish/vendor_completions.d/tern.fish") for k in found), found
    assert any(k.endswith("bin/tern") for k in found), found
    assert any(k.endswith("share/man/man1/tern.1") for k in found), found
    assert any(k.endswith("share/man/man5/tern.conf.5") for k in found), found
    # the installed bash file is the one in the tree, under the name bash looks for
    bash = [k for k in found if k.endswith("bash-completion/completions/tern")][0]
    with open(os.path.join(str(tmp_path / "dest"), bash)) as f:
        assert f.read() == open(os.path.join(COMP, "tern.bash")).read()
