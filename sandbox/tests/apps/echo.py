"""A test application for the sandbox's app map: tells what it received and what
it was started with, fetches URLs on request (through the proxy its environment
names) and exits on request.

    GET /                      {"app": "echo", "method", "path", "query", "headers", "body", "env"}
    GET /fetch?url=U           {"status": N, "body": text} of GET U (502 with the error)
    GET /exit?code=N           answers, then exits with code N
    --fail-at-start            prints a line and exits with code 3 before listening
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENV_SHOWN = ("GREETING", "ECHO_LOCAL_PORT", "ECHO_CONTAINER_PORT", "HTTP_PROXY", "NO_PROXY", "AWS_REGION", "AWS_ENDPOINT_URL")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        print("echo: %s" % (format % args), flush=True)

    def reply(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Echo", "1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        if parts.path == "/exit":
            self.reply(200, {"exiting": int(query.get("code", "1"))})
            threading.Timer(0.05, os._exit, [int(query.get("code", "1"))]).start()
        elif parts.path == "/fetch":
            self.reply(*fetch(query["url"]))
        else:
            self.reply(200, {
                "app": "echo", "method": self.command, "path": parts.path, "query": parts.query,
                "headers": dict(self.headers.items()), "body": body,
                "env": {k: os.environ.get(k) for k in ENV_SHOWN},
            })

    do_GET = do_POST = do_PUT = do_DELETE = handle_any


def fetch(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return 200, {"status": resp.status, "body": resp.read().decode()}
    except urllib.error.HTTPError as err:
        return 200, {"status": err.code, "body": err.read().decode()}
    except OSError as err:
        return 502, {"error": str(err)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fail-at-start", action="store_true")
    args = parser.parse_args()
    if args.fail_at_start:
        print("echo: failing at start as asked", flush=True)
        sys.exit(3)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"echo: listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
