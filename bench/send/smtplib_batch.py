#!/usr/bin/python3
"""The floor for batch sending: N ready messages over one SMTP connection
with python's smtplib (STARTTLS, AUTH, then MAIL/RCPT/DATA per message,
each command waiting for its reply: no pipelining).

    smtplib_batch.py PORT CAFILE USER PASSWORD FROM TO FILE..."""
import smtplib
import ssl
import sys

port, ca, user, pw, frm, to = sys.argv[1:7]
files = sys.argv[7:]
ctx = ssl.create_default_context(cafile=ca)
s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="lab.test")
s.starttls(context=ctx)
s.login(user, pw)
for f in files:
    with open(f, "rb") as fh:
        s.sendmail(frm, [to], fh.read())
s.quit()
