#!/usr/bin/python3
"""A second, independent SMTP server for smtpwire's tests: aiosmtpd.

Started in the background by scripts/test-servers.sh; not meant to be run by hand,
though it can be (see --help). It runs with Debian's python3-aiosmtpd, so it needs
/usr/bin/python3, not a pyenv/venv python.

Behaviour (loopback only):
  * EHLO offers STARTTLS; every command other than EHLO/HELO/NOOP/QUIT/STARTTLS is
    refused with 530 until TLS is up (require_starttls).
  * AUTH PLAIN and LOGIN are offered only after STARTTLS (auth_require_tls) and are
    required before MAIL (auth_required). One user, the same one as Postfix's.
  * With --oauth-token, AUTH XOAUTH2 too, checked the way Gmail does: the initial
    response "user=USER\x01auth=Bearer TOKEN\x01\x01" (base64) gets 235 when both
    match; otherwise a 334 whose text is a base64 JSON error, then, after the client's
    (empty) answer, 535 5.7.8. The token is never logged.
  * Every accepted message is saved in --spool as two files sharing an id:
      <id>.json  envelope: mail_from, rcpt_tos, mail/rcpt options, auth user, ...
      <id>.eml   the DATA bytes exactly as received, after dot-unstuffing, without
                 the terminating "." line (CRLF line endings are kept as sent)
    The .json is written first and the .eml last, each atomically (write + rename),
    so a message is complete once its .eml exists. The id is also in the 250 reply:
    "250 2.0.0 Ok: queued as <id>".
"""

import argparse
import asyncio
import hmac
import itertools
import json
import logging
import os
import signal
import ssl
import sys
import time

from base64 import b64decode

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtpwire-aiosmtpd")


# What Gmail sends (base64) in the 334 when an XOAUTH2 token is refused.
XOAUTH2_ERROR = json.dumps({"status": "401", "schemes": "bearer",
                            "scope": "https://mail.google.com/"})


class SavingHandler:
    def __init__(self, spool):
        self.spool = spool
        self.counter = itertools.count(1)

    def _write(self, name, data):
        tmp = os.path.join(self.spool, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.spool, name))

    async def handle_DATA(self, server, session, envelope):
        msg_id = "%d-%d-%06d" % (time.time_ns(), os.getpid(), next(self.counter))
        content = envelope.original_content
        if content is None:  # decode_data=False: content is the raw bytes too
            content = envelope.content
        meta = {
            "id": msg_id,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": envelope.smtp_utf8,
            "helo": session.host_name,
            "peer": list(session.peer) if session.peer else None,
            "tls": session.ssl is not None,
            "auth_user": session.auth_data.login.decode("utf-8", "surrogateescape")
            if isinstance(session.auth_data, LoginPassword)
            else None,
            "size": len(content),
            "received_at": time.time(),
        }
        self._write(msg_id + ".json", json.dumps(meta, indent=2).encode())
        self._write(msg_id + ".eml", bytes(content))
        log.info("saved %s from=%r to=%r size=%d", msg_id, envelope.mail_from,
                 envelope.rcpt_tos, len(content))
        return "250 2.0.0 Ok: queued as " + msg_id


class XOAuth2Handler(SavingHandler):
    """SavingHandler with AUTH XOAUTH2 (aiosmtpd offers each auth_<NAME> a handler has)."""

    def __init__(self, spool, user, token):
        super().__init__(spool)
        self.user = user.encode()
        self.token = token.encode()

    async def auth_XOAUTH2(self, server, args):
        if len(args) == 1:  # no initial response: ask for it with an empty challenge
            blob = await server.challenge_auth("")
            if blob is MISSING:  # "*" or bad base64: challenge_auth has answered 501
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = b64decode(args[1].encode(), validate=True)
            except ValueError:
                await server.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        # user=USER ^A auth=Bearer TOKEN ^A ^A
        fields = dict(f.split(b"=", 1) for f in blob.split(b"\x01") if b"=" in f)
        user = fields.get(b"user", b"")
        bearer = fields.get(b"auth", b"")
        ok = (blob.endswith(b"\x01\x01")
              and hmac.compare_digest(user, self.user)
              and hmac.compare_digest(bearer, b"Bearer " + self.token))
        log.info("AUTH XOAUTH2 as %r: %s", user, "ok" if ok else "failed")
        if ok:
            return AuthResult(success=True, auth_data=LoginPassword(user, b""))
        # Gmail: the error as a base64 JSON challenge; whatever the client answers (it
        # should be an empty line), the exchange ends with 535.
        answer = await server.challenge_auth(XOAUTH2_ERROR)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False,
                          message="535 5.7.8 Username and Password not accepted")


def make_authenticator(user, password):
    user_b = user.encode()
    password_b = password.encode()

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = False
        if mechanism in ("PLAIN", "LOGIN") and isinstance(auth_data, LoginPassword):
            login_ok = hmac.compare_digest(auth_data.login, user_b)
            password_ok = hmac.compare_digest(auth_data.password, password_b)
            ok = login_ok and password_ok
        log.info("AUTH %s as %r: %s", mechanism,
                 getattr(auth_data, "login", None), "ok" if ok else "failed")
        # handled=False: aiosmtpd sends its own 235 / 535 5.7.8 replies.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    return authenticator


async def serve(args):
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    if args.oauth_token:
        handler = XOAuth2Handler(args.spool, args.user, args.oauth_token)
    else:
        handler = SavingHandler(args.spool)
    authenticator = make_authenticator(args.user, args.password)
    loop = asyncio.get_running_loop()

    def factory():
        return SMTP(
            handler,
            hostname=args.hostname,
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=authenticator,
            loop=loop,
        )

    server = await loop.create_server(factory, host=args.host, port=args.port,
                                      reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.replace(tmp, args.pidfile)
    log.info("listening on %s:%d (pid %d), spool %s", args.host, args.port,
             os.getpid(), args.spool)
    await stop.wait()
    log.info("stopping")
    server.close()
    await server.wait_closed()


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2588)
    p.add_argument("--hostname", default="localhost",
                   help="name in the greeting and EHLO reply")
    p.add_argument("--cert", required=True, help="server certificate (PEM)")
    p.add_argument("--key", required=True, help="server private key (PEM)")
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True,
                   help="the (public, test-only) password")
    p.add_argument("--oauth-token",
                   help="the (public, test-only) OAuth token that XOAUTH2 accepts; "
                        "without it, XOAUTH2 is not offered")
    p.add_argument("--spool", required=True, help="directory for received messages")
    p.add_argument("--pidfile")
    args = p.parse_args()
    os.makedirs(args.spool, exist_ok=True)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
