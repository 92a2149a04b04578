#!/usr/bin/env python3
"""A real SMTP receiver for the browser end-to-end tests (aiosmtpd).

    python3 tests/e2e/smtp_sink.py --port 0 --out mail.jsonl

Listens on 127.0.0.1, appends one JSON line per message received to --out
({"from", "to", "subject", "received_at", "data"}), prints "ready PORT" once
listening, and stops cleanly on SIGTERM / SIGINT.
"""
import argparse
import asyncio
import email
import email.policy
import json
import signal
import socket
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = out

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        record = {
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(msg.get("subject", "")),
            "received_at": int(time.time() * 1000),
            "data": raw.decode("utf-8", "replace"),
        }
        with open(self.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    port = args.port or free_port()
    open(args.out, "a").close()
    controller = Controller(Sink(args.out), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"ready {port}", flush=True)

    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
