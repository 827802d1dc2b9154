"""gateway: the public front of the flask-inventory lab, as the sandbox runs it.

A stand-in for the workshop's Flask gateway written with the standard library
only.  It answers ``/`` and ``/health`` itself and passes every ``/items``
request (method, path, query and JSON body) on to the inventory API at
``INVSYS_URL`` (the lab sets ``http://invsys.local:5000``, a Cloud Map name),
returning invsys' status and body unchanged.

    INVSYS_URL=http://invsys.local:5000 python gateway.py --port 5001

The name is resolved the way the environment says: in the sandbox, requests go
through ``HTTP_PROXY`` (the sandbox proxy), which knows the Cloud Map names of
the running tasks.  When invsys cannot be reached the gateway answers 502 with
the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GREETING = b"Hello from Gateway!"
FORWARDED_METHODS = ("GET", "POST", "PUT", "DELETE")


def invsys_url() -> str:
    return os.environ.get("INVSYS_URL", "http://invsys:5000").rstrip("/")


def call_invsys(method: str, path: str, body: bytes | None, timeout: float = 10.0) -> tuple[int, str, bytes]:
    """(status, content type, body) of invsys' answer; HTTP errors are answers too."""
    request = urllib.request.Request(invsys_url() + path, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type", "application/json"), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", "application/json"), err.read()


def is_items_path(path: str) -> bool:
    bare = path.split("?", 1)[0]
    return bare == "/items" or bare.startswith("/items/")


class Handler(BaseHTTPRequestHandler):
    server_version = "gateway/1.0"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write("%s - %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()

    def reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status: int, payload: object) -> None:
        self.reply(status, "application/json", (json.dumps(payload, separators=(",", ":")) + "\n").encode())

    def handle_any(self) -> None:
        bare = self.path.split("?", 1)[0]
        if bare == "/" and self.command in ("GET", "HEAD"):
            self.reply(200, "text/html; charset=utf-8", GREETING)
        elif bare == "/health" and self.command in ("GET", "HEAD"):
            self.reply_json(200, {"status": "healthy"})
        elif is_items_path(self.path) and self.command in FORWARDED_METHODS:
            self.forward()
        else:
            self.reply_json(404, {"message": "Not found"})

    def forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command in ("POST", "PUT") and body is not None:
            try:
                json.loads(body)
            except ValueError:
                self.reply_json(400, {"message": "The body is not valid JSON."})
                return
        try:
            status, content_type, answer = call_invsys(self.command, self.path, body)
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            print(f"cannot reach invsys at {invsys_url()}: {reason}", flush=True)
            self.reply_json(502, {"message": f"cannot reach invsys at {invsys_url()}: {reason}"})
            return
        self.reply(status, content_type, answer)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="flask-inventory gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5001)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"gateway listening on http://{args.host}:{server.server_port}, invsys at {invsys_url()}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
