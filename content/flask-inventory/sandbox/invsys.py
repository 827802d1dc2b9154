"""invsys: the inventory API of the flask-inventory lab, as the sandbox runs it.

A stand-in for the workshop's Flask image written with the standard library only:
the same routes, port and JSON shapes, the device list kept in this process's
memory (each task has its own, as in the workshop).

    python invsys.py --port 5000

Routes (all JSON):

    GET    /items           {"items": [device, ...]}
    POST   /items           a device {"id", "name", ["location"], ["status"]}
                            -> 201 {"Posted a device": device}
    GET    /items/<id>      the device, or 404
    PUT    /items/<id>      replace its fields (the id stays) -> 200 {"Updated a device": device}
    DELETE /items/<id>      -> 200 {"Deleted a device": device}, or 404

With ``INVSYS_IMAGE_VERSION`` 2.0.0 or later (the sandbox's app map sets it for
the ``v2`` image tags) the release's extra routes answer too: ``/version``,
``/health``, ``/health/ready`` and ``/health/live``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIELDS = ("id", "name", "location", "status")
REQUIRED = ("id", "name")


class Store:
    """Devices by id, in insertion order; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict] = {}

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._items.values())

    def get(self, item_id: str) -> dict | None:
        with self._lock:
            return self._items.get(item_id)

    def add(self, device: dict) -> bool:
        with self._lock:
            if device["id"] in self._items:
                return False
            self._items[device["id"]] = device
            return True

    def replace(self, item_id: str, device: dict) -> bool:
        with self._lock:
            if item_id not in self._items:
                return False
            self._items[item_id] = device
            return True

    def remove(self, item_id: str) -> dict | None:
        with self._lock:
            return self._items.pop(item_id, None)


def validate(payload: object, item_id: str | None = None) -> tuple[dict | None, dict]:
    """A clean device from a request body, or None and the problems per field."""
    if not isinstance(payload, dict):
        return None, {"_schema": ["The body must be a JSON object."]}
    data = dict(payload)
    if item_id is not None:
        data.setdefault("id", item_id)
    errors: dict[str, list[str]] = {}
    for key in data:
        if key not in FIELDS:
            errors[key] = ["Unknown field."]
    for key in FIELDS:
        value = data.get(key)
        if value is None:
            if key in REQUIRED:
                errors[key] = ["Missing data for required field."]
        elif not isinstance(value, str) or not value.strip():
            errors[key] = ["Not a valid non-empty string."]
    if item_id is not None and data.get("id") != item_id:
        errors["id"] = ["Does not match the id in the path."]
    if errors:
        return None, errors
    return {key: data[key] for key in FIELDS if data.get(key) is not None}, {}


def version_at_least(text: str, major: int) -> bool:
    head = (text or "").lstrip("v").split(".")[0]
    return head.isdigit() and int(head) >= major


class Handler(BaseHTTPRequestHandler):
    server_version = "invsys/1.0"
    sys_version = ""
    store: Store = Store()
    release = os.environ.get("INVSYS_IMAGE_VERSION", "1.0.0")

    def log_message(self, format: str, *args: object) -> None:
        sys.stdout.write("%s - %s\n" % (self.address_string(), format % args))
        sys.stdout.flush()

    # -- plumbing ---------------------------------------------------------

    def reply(self, status: int, payload: object) -> None:
        body = (json.dumps(payload, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self) -> tuple[object, bool]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw or b"null"), True
        except ValueError:
            return None, False

    def item_id(self) -> str | None:
        """The ``<id>`` of ``/items/<id>``, "" for ``/items``, None otherwise."""
        path = self.path.split("?", 1)[0].rstrip("/") or "/"
        if path == "/items":
            return ""
        if path.startswith("/items/") and "/" not in path[len("/items/") :]:
            return path[len("/items/") :]
        return None

    # -- routes -----------------------------------------------------------

    def do_GET(self) -> None:
        item_id = self.item_id()
        if item_id == "":
            self.reply(200, {"items": self.store.all()})
        elif item_id is not None:
            device = self.store.get(item_id)
            self.reply(200, device) if device else self.reply(404, {"message": f"No device with id {item_id}"})
        elif not self.release_route():
            self.reply(404, {"message": "Not found"})

    do_HEAD = do_GET

    def release_route(self) -> bool:
        """The routes that came with release 2.0.0; False when there is none here."""
        if not version_at_least(self.release, 2):
            return False
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/version":
            self.reply(200, {"version": self.release, "service": "inventory-system"})
        elif path == "/health":
            count = len(self.store.all())
            self.reply(200, {"status": "healthy", "service": "inventory-system", "version": self.release,
                             "checks": {"storage": "ok", "devices": count}})
        elif path == "/health/ready":
            self.reply(200, {"ready": True})
        elif path == "/health/live":
            self.reply(200, {"alive": True})
        else:
            return False
        return True

    def do_POST(self) -> None:
        if self.item_id() != "":
            self.reply(405 if self.item_id() else 404, {"message": "Use POST /items"})
            return
        payload, ok = self.body()
        device, errors = validate(payload) if ok else (None, {"_schema": ["The body is not valid JSON."]})
        if device is None:
            self.reply(400, {"message": "Validation failed", "errors": errors})
        elif not self.store.add(device):
            self.reply(409, {"message": f"A device with id {device['id']} already exists"})
        else:
            self.reply(201, {"Posted a device": device})

    def do_PUT(self) -> None:
        item_id = self.item_id()
        if not item_id:
            self.reply(405 if item_id == "" else 404, {"message": "Use PUT /items/<id>"})
            return
        payload, ok = self.body()
        device, errors = validate(payload, item_id) if ok else (None, {"_schema": ["The body is not valid JSON."]})
        if device is None:
            self.reply(400, {"message": "Validation failed", "errors": errors})
        elif not self.store.replace(item_id, device):
            self.reply(404, {"message": f"No device with id {item_id}"})
        else:
            self.reply(200, {"Updated a device": device})

    def do_DELETE(self) -> None:
        item_id = self.item_id()
        if not item_id:
            self.reply(405 if item_id == "" else 404, {"message": "Use DELETE /items/<id>"})
            return
        device = self.store.remove(item_id)
        self.reply(200, {"Deleted a device": device}) if device else self.reply(404, {"message": f"No device with id {item_id}"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="invsys inventory API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"invsys {Handler.release} listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
