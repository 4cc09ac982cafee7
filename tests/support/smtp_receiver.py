"""A real SMTP receiver for the e2e tests (tests/tests/smtp.rs), built on aiosmtpd.

Usage: python smtp_receiver.py OUT_DIR PORT

Listens on 127.0.0.1:PORT (0: a free port) without TLS or authentication, and writes each accepted
message, exactly as received (the DATA, CRLF line endings), to OUT_DIR/0001.eml, 0002.eml, ... and
its envelope to OUT_DIR/0001.json ({"mail_from": ..., "rcpt_tos": [...]}). Both are written to a
hidden temporary name and renamed, the .json first, so that a reader polling for NNNN.eml never sees
a partial file and finds the envelope next to it.

Prints "READY 127.0.0.1:PORT" on stdout once listening, then serves until killed. Run it with the
interpreter of a venv that has aiosmtpd (`python3 -m venv /tmp/iam-ci-venv &&
/tmp/iam-ci-venv/bin/pip install -q aiosmtpd`, as .ci/run does), so that the process started is
the server itself.
"""

import asyncio
import json
import os
import sys

try:
    from aiosmtpd.smtp import SMTP
except ImportError:
    sys.stderr.write(
        "aiosmtpd is not installed for %s: create the venv with `python3 -m venv /tmp/iam-ci-venv "
        "&& /tmp/iam-ci-venv/bin/pip install -q aiosmtpd` (.ci/run does)\n" % sys.executable
    )
    sys.exit(2)


def write_atomically(path, data):
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, ".%s.tmp" % name)
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Handler:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        stem = os.path.join(self.out_dir, "%04d" % self.count)
        meta = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos)}
        write_atomically(stem + ".json", json.dumps(meta).encode("utf-8"))
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        write_atomically(stem + ".eml", content)
        return "250 Message accepted for delivery"


async def main(out_dir, port):
    os.makedirs(out_dir, exist_ok=True)
    handler = Handler(out_dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp-receiver.test", enable_SMTPUTF8=True),
        host="127.0.0.1",
        port=port,
    )
    bound = server.sockets[0].getsockname()[1]
    print("READY 127.0.0.1:%d" % bound, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: %s OUT_DIR PORT\n" % sys.argv[0])
        sys.exit(64)
    try:
        asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    except KeyboardInterrupt:
        pass
