"""A local SMTP server for the tests (aiosmtpd): every message it accepts is written as a JSON
file {from, to, subject, body} with the body decoded, so a test can read the link in it.

usage: python3 smtp_sink.py PORT OUTPUT_DIR
"""
import email
import json
import pathlib
import sys
import threading
from email.policy import default

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out = pathlib.Path(out)
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=default)
        body = message.get_body(preferencelist=("plain",)).get_content()
        self.count += 1
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["subject"]),
            "body": body,
        }
        target = self.out / f"{self.count:04}.json"
        target.with_suffix(".tmp").write_text(json.dumps(record, ensure_ascii=False))
        target.with_suffix(".tmp").rename(target)
        return "250 Message accepted for delivery"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
