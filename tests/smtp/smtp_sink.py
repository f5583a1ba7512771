#!/usr/bin/env python3
"""A local SMTP sink for relance's e-mail tests (aiosmtpd).

Listens on 127.0.0.1 on a free port and prints "READY <port>" once it accepts connections.
Each message received is written to OUTDIR as N.eml (raw bytes as received), N.json (parsed
with Python's email package: envelope recipients, headers, decoded subject and text body,
attachments) and N-<filename> for each attachment. Stops when stdin closes or on SIGTERM.

Recipients starting with "refused@" are refused with 550 (a permanent refusal).

Options:
  --delay-data-reply SECONDS  write the message, then wait before answering 250 to DATA
                              (lets a test kill the sender in the middle of the transaction)

Install: pip install aiosmtpd
"""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import time
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, outdir, delay):
        self.outdir = outdir
        self.delay = delay
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A mailbox the server refuses for good (the compliance suite's business-rule case).
        if address.lower().startswith("refused@"):
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        body = msg.get_body(preferencelist=("plain",))
        attachments = []
        for part in msg.iter_attachments():
            data = part.get_payload(decode=True) or b""
            name = part.get_filename() or "attachment.bin"
            with open(os.path.join(self.outdir, f"{n}-{name}"), "wb") as f:
                f.write(data)
            attachments.append({
                "filename": name,
                "content_type": part.get_content_type(),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            })
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "body": body.get_content() if body is not None else "",
            "attachments": attachments,
        }
        # JSON first, then the .eml last and atomically: a test waits for the .eml.
        with open(os.path.join(self.outdir, f"{n}.json"), "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
        tmp = os.path.join(self.outdir, f".{n}.eml.tmp")
        with open(tmp, "wb") as f:
            f.write(raw)
        os.replace(tmp, os.path.join(self.outdir, f"{n}.eml"))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--delay-data-reply", type=float, default=0.0)
    args = ap.parse_args()
    port = free_port()
    controller = Controller(Sink(args.outdir, args.delay_data_reply), hostname="127.0.0.1", port=port)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin (or kills us)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
