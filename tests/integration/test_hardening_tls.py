"""Hardening rules 1-3 through the real commands (`tern fetch` for IMAP and
POP3 accounts, `tern send` for SMTP) against the lab's scripted fakes:

  1. STARTTLS required: not advertised, refused, or an IMAP PREAUTH greeting
     -> a clear one-line error, non-zero exit, and nothing but capability
     talk in clear (the fake's log before TLS).
  2. Nothing received before TLS is used after it (extra responses in the
     packet of the STARTTLS go-ahead); nothing sent between STARTTLS and
     the handshake.
  3. Certificates: wrong host, self-signed, expired and unknown CA refused
     before any application data for every protocol and TLS mode; IP
     addresses matched against IP SANs only; a configured pin accepted only
     when it matches.
"""

import os
import re
import subprocess

import pytest

from hardening_helpers import (EX_OK, EX_PROTOCOL, EX_UNAVAILABLE, FAKE_USER, MODES,
                               PROTOS, Tern, assert_no_credentials, assert_nothing_in_clear,
                               assert_sane_exit, exercise, hfake_factory, post_tls, pre_tls,
                               spki_pin)


@pytest.fixture
def hfake(lab, tmp_path):
    """Scripted fakes (tests/lab/fakes.py) that know the test credentials."""
    yield from hfake_factory(lab, tmp_path)


def run(tmp_path, srv, proto, tls, lab, **kw):
    r = exercise(Tern(tmp_path), srv, proto, tls, lab, **kw)
    assert_sane_exit(r)
    return r


STARTTLS_VERB = {"imap": rb"STARTTLS", "pop3": rb"STLS", "smtp": rb"STARTTLS"}


def tls_markers(srv):
    """The notes of the fake's `tls` markers (discarded=N when the client
    sent bytes after STARTTLS before the handshake)."""
    with open(srv.log_path, "rb") as f:
        return re.findall(rb"\n#### fake conn=\d+ tls( [^#\n]*)? ####\n", f.read())


# ------------------------------------------------------------------ rule 1

@pytest.mark.parametrize("proto", PROTOS)
@pytest.mark.parametrize("scenario", ["no_starttls", "starttls_refused"])
def test_starttls_required(hfake, lab, tmp_path, proto, scenario):
    srv = hfake(scenario, proto, "starttls")
    r = run(tmp_path, srv, proto, "starttls", lab)
    assert r.rc == EX_UNAVAILABLE, r
    assert b"STARTTLS" in r.err and b"refusing to send credentials in clear" in r.err, r
    assert r.err.count(b"\n") == 1, r
    assert_nothing_in_clear(srv)
    assert srv.logins == []
    assert post_tls(srv) == b""
    if proto == "smtp":
        assert srv.state.get("smtp_messages") is None


def test_imap_preauth_refused(hfake, lab, tmp_path):
    """PREAUTH means the server will never do STARTTLS: give up before
    any mail command."""
    srv = hfake("imap_preauth", "imap", "starttls")
    r = run(tmp_path, srv, "imap", "starttls", lab)
    assert r.rc == EX_UNAVAILABLE, r
    assert b"STARTTLS" in r.err, r
    assert_nothing_in_clear(srv)
    assert not re.search(rb"(?im)^\S+ (SELECT|EXAMINE|LIST|LSUB|STATUS|FETCH|UID|ENABLE)\b",
                         pre_tls(srv)), pre_tls(srv)


# ------------------------------------------------------------------ rule 2

INJECTIONS = {
    "imap": [None, b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\nA003 OK injected\r\n",
             b"* PREAUTH injected\r\n"],
    "pop3": [None, b"+OK\r\n+OK logged in\r\n"],
    "smtp": [None, b"250-fake.example\r\n250 AUTH PLAIN\r\n235 2.7.0 injected\r\n"],
}


@pytest.mark.parametrize("proto,which", [(p, i) for p in PROTOS for i in range(len(INJECTIONS[p]))])
def test_starttls_injection_not_used(hfake, lab, tmp_path, proto, which):
    inject = INJECTIONS[proto][which]
    kw = {"inject": inject} if inject else {}
    srv = hfake("starttls_injection", proto, "starttls", **kw)
    r = run(tmp_path, srv, proto, "starttls", lab)
    assert r.rc == EX_PROTOCOL, r
    assert_no_credentials(srv)
    assert_nothing_in_clear(srv)
    if proto == "smtp":
        assert srv.state.get("smtp_messages") is None


@pytest.mark.parametrize("proto", PROTOS)
def test_nothing_sent_between_starttls_and_handshake(hfake, lab, tmp_path, proto):
    srv = hfake("normal", proto, "starttls")
    r = run(tmp_path, srv, proto, "starttls", lab)
    assert r.rc == EX_OK, r
    conns = srv.connections()
    assert conns and all(c.tls_started for c in conns)
    for c in conns:
        # the STARTTLS command is the last thing sent in clear ...
        last = c.plain.rstrip(b"\r\n").split(b"\r\n")[-1]
        assert re.search(rb"(?i)^(\S+ )?" + STARTTLS_VERB[proto] + rb"$", last), c.plain
    # ... and nothing followed it before the handshake
    notes = tls_markers(srv)
    assert notes and all(b"discarded" not in n for n in notes), notes
    assert [l[3] for l in srv.logins] == [True], srv.logins


# ------------------------------------------------------------------ rule 3

@pytest.mark.parametrize("proto,tls", MODES)
@pytest.mark.parametrize("cert,why", [("wronghost", b"wrong host"), ("selfsigned", b"self-signed"),
                                      ("expired", b"expired")])
def test_bad_certificate_refused(hfake, lab, tmp_path, proto, tls, cert, why):
    srv = hfake("normal", proto, tls, cert=cert)
    r = run(tmp_path, srv, proto, tls, lab)
    assert r.rc == EX_UNAVAILABLE, r
    assert b"certificate not trusted" in r.err and why in r.err, r
    assert post_tls(srv) == b"", post_tls(srv)
    assert_no_credentials(srv)
    assert_nothing_in_clear(srv)


@pytest.mark.parametrize("proto,tls", MODES)
def test_unknown_ca_refused(hfake, lab, tmp_path, proto, tls):
    srv = hfake("normal", proto, tls)
    r = run(tmp_path, srv, proto, tls, lab, ca=lab.info["LAB_OTHER_CA"])
    assert r.rc == EX_UNAVAILABLE, r
    assert b"unknown CA" in r.err, r
    assert post_tls(srv) == b""
    assert_no_credentials(srv)


@pytest.mark.parametrize("proto,tls", MODES)
def test_good_certificate_by_ip_accepted(hfake, lab, tmp_path, proto, tls):
    """The lab's server certificate has IP:127.0.0.1 in its SANs; the
    account connects by 127.0.0.1: accepted, one login, over TLS."""
    srv = hfake("normal", proto, tls)
    r = run(tmp_path, srv, proto, tls, lab)
    assert r.rc == EX_OK, r
    assert [(l[1], l[3], l[4]) for l in srv.logins] == [(FAKE_USER, True, True)]


# Certificates for the IP SAN rule, signed by the lab CA.
IP_CERTS = {
    # DNS:localhost only: not valid for 127.0.0.1
    "dns_only": ("/CN=localhost", "subjectAltName=DNS:localhost"),
    # the IP in the CN but not in the SANs
    "ip_in_cn": ("/CN=127.0.0.1", "subjectAltName=DNS:example.test"),
    # another IP
    "other_ip": ("/CN=localhost", "subjectAltName=IP:127.0.0.2,DNS:localhost"),
    # the IP written as a DNS name
    "ip_as_dns": ("/CN=localhost", "subjectAltName=DNS:127.0.0.1"),
}


@pytest.fixture(scope="module")
def ip_certs(lab, tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ipcerts"))
    out = {}
    for name, (subj, san) in IP_CERTS.items():
        key, csr, pem = (os.path.join(d, name + x) for x in (".key", ".csr", ".pem"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                        "-subj", subj], check=True, capture_output=True)
        ext = os.path.join(d, name + ".ext")
        with open(ext, "w") as f:
            f.write(san + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", lab.ca, "-CAkey",
                        lab.info["LAB_CA_KEY"], "-CAcreateserial", "-days", "30", "-out", pem,
                        "-extfile", ext], check=True, capture_output=True)
        out[name] = (pem, key)
    return out


@pytest.mark.parametrize("proto,tls", [("imap", "starttls"), ("pop3", "implicit"),
                                       ("smtp", "implicit")])
@pytest.mark.parametrize("which", sorted(IP_CERTS))
def test_ip_must_match_ip_san(hfake, lab, tmp_path, ip_certs, proto, tls, which):
    pem, key = ip_certs[which]
    srv = hfake("normal", proto, tls, cert=pem, key=key)
    r = run(tmp_path, srv, proto, tls, lab)
    assert r.rc == EX_UNAVAILABLE, r
    assert b"certificate not trusted" in r.err and b"wrong host" in r.err, r
    assert post_tls(srv) == b""
    assert_no_credentials(srv)


@pytest.mark.parametrize("proto,tls", [("imap", "implicit"), ("pop3", "starttls"),
                                       ("smtp", "starttls")])
def test_dns_name_matches_dns_san(hfake, lab, tmp_path, proto, tls):
    """The same server reached as `localhost` (DNS SAN) works too."""
    srv = hfake("normal", proto, tls)
    hostkey = "smtp_host" if proto == "smtp" else "host"
    r = run(tmp_path, srv, proto, tls, lab, **{hostkey: "localhost"})
    assert r.rc == EX_OK, r
    assert len(srv.logins) == 1 and srv.logins[0][3]


@pytest.mark.parametrize("proto,tls", MODES)
def test_pin_matching_accepted_without_ca(hfake, lab, tmp_path, proto, tls):
    """pin = sha256//... alone trusts a self-signed server with that key."""
    srv = hfake("normal", proto, tls, cert="selfsigned")
    r = run(tmp_path, srv, proto, tls, lab, ca="", pin=spki_pin(lab.info["LAB_CERT_SELFSIGNED"]))
    assert r.rc == EX_OK, r
    assert [(l[1], l[3], l[4]) for l in srv.logins] == [(FAKE_USER, True, True)]


@pytest.mark.parametrize("proto,tls", MODES)
@pytest.mark.parametrize("with_ca", [False, True])
def test_pin_mismatch_refused(hfake, lab, tmp_path, proto, tls, with_ca):
    """A pin of another key: refused before any credential, even when the
    CA would vouch for the certificate."""
    srv = hfake("normal", proto, tls, cert="server" if with_ca else "selfsigned")
    other = spki_pin(lab.info["LAB_CERT_EXPIRED"])
    r = run(tmp_path, srv, proto, tls, lab, ca=None if with_ca else "", pin=other)
    assert r.rc == EX_UNAVAILABLE, r
    assert b"pin" in r.err, r
    assert post_tls(srv) == b""
    assert_no_credentials(srv)


def test_pin_syntax_error_is_config_error(lab, tmp_path, hfake):
    srv = hfake("normal", "imap", "implicit")
    r = run(tmp_path, srv, "imap", "implicit", lab, pin="sha256//tooshort")
    assert r.rc == 78, r
    assert srv.connections() == []
