"""A real SMTP server on loopback for the server tests: every message received is
appended as one JSON line {"from", "to", "data", "tls", "received_at", "subject", "text",
"html"} to the file given (received_at: epoch milliseconds; subject, text and html decoded
from the MIME message by the standard library's parser, html null without an HTML part). Usage:
    python3 smtp_sink.py PORT FILE [starttls|smtps CERT KEY]
        (prints "ready" once listening; stops when stdin closes)
starttls: plain connection that must upgrade with STARTTLS before MAIL; smtps: TLS from the
first byte. CERT and KEY are PEM files. SMTP_SINK_DELAY_MS (environment) holds each
message that long after recording it, before answering 250 (the crash suite: a send in
flight, which the receiver has and the sender has not yet seen accepted).
"""
import asyncio
import email
import email.policy
import json
import os
import ssl
import sys
import time

DELAY_S = int(os.environ.get("SMTP_SINK_DELAY_MS", "0")) / 1000.0

from aiosmtpd.controller import Controller


def decoded(raw):
    """The subject and the text and HTML parts of a message, decoded."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    part = lambda kind: message.get_body(preferencelist=(kind,))
    text, html = part("plain"), part("html")
    return {
        "subject": str(message.get("subject", "")),
        "text": text.get_content() if text is not None else "",
        "html": html.get_content() if html is not None else None,
    }


class Sink:
    def __init__(self, path):
        self.path = path

    async def handle_DATA(self, server, session, envelope):
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "data": envelope.content.decode("utf-8", "replace"),
            # STARTTLS records itself in the session; implicit TLS is the transport's.
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "received_at": int(time.time() * 1000),
            **decoded(envelope.content),
        }
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if DELAY_S > 0:
            await asyncio.sleep(DELAY_S)
        return "250 OK"


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    options = {}
    if len(sys.argv) == 6:
        mode, cert, key = sys.argv[3:6]
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if mode == "starttls":
            options = {"tls_context": context, "require_starttls": True}
        elif mode == "smtps":
            options = {"ssl_context": context}
        else:
            sys.exit(f"unknown TLS mode {mode!r}: use starttls or smtps")
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
