"""The WSGI application: moto's app, wrapped with the ``/_sandbox/`` control
routes, fault injection, the RPC v2 CBOR translation, the behaviour registry
and the global lock."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import unquote_plus

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import rpcv2cbor
from .behaviours import Registry
from .behaviours import apps
from .behaviours.base import Context
from .clock import Clock
from .config import CONFIG, LOCK
from .faults import FAULTS, Fault, access_key_of, fault_response, peek_body, request_service_action

JSON = [("Content-Type", "application/json")]


class SandboxApp:
    def __init__(self, ports: dict, clock: Clock | None = None) -> None:
        self.registry = Registry(Context(clock=clock or Clock(), config=CONFIG))
        self.registry.install()
        self.moto = DomainDispatcherApplication(create_backend_app)
        self.ports = ports

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/") or path == "/_sandbox":
            return self.control(environ, start_response)
        if not path.startswith("/moto-api"):
            service, action = request_service_action(environ)
            text = ""
            if FAULTS.rules and FAULTS.needs_text():
                text = " ".join((path, environ.get("QUERY_STRING", ""), access_key_of(environ), unquote_plus(peek_body(environ).decode("utf-8", "replace"))))
            rule = FAULTS.check(service, action, text) if FAULTS.rules else None
            if rule is not None:
                status, headers, body = fault_response(rule, environ, service)
                start_response(status, headers + [("Content-Length", str(len(body)))])
                return [body]
        if rpcv2cbor.is_cbor_request(environ):
            with LOCK:
                return rpcv2cbor.handle(environ, start_response, self.moto)
        with LOCK:
            chunks = list(self.moto(environ, start_response))
            if path.startswith("/moto-api/reset"):
                self.registry.reset()
        return chunks

    # -- control routes --------------------------------------------------

    def control(self, environ: dict, start_response: Callable) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "").rstrip("/")[len("/_sandbox") :] or "/"
        try:
            body = peek_body(environ)
            data = json.loads(body) if body.strip() else {}
            status, payload = self.route(method, route, data)
        except (KeyError, ValueError, TypeError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        raw = json.dumps(payload, default=str, indent=1).encode()
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", JSON + [("Content-Length", str(len(raw)))])
        return [raw]

    def route(self, method: str, route: str, data: dict) -> tuple[int, Any]:
        registry = self.registry
        if route == "/health" and method == "GET":
            return 200, {"ok": True, **self.ports}
        if route == "/clock" and method == "GET":
            return 200, registry.clock_info()
        if route == "/config":
            if method == "POST":
                with LOCK:
                    CONFIG.update(data)
            return 200, CONFIG.as_dict()
        if route == "/faults":
            return self.faults(method, data)
        if route == "/apps":
            return self.apps(method, data)
        if route == "/force" and method == "POST":
            with LOCK:
                return 200, registry.force(data)
        if route == "/tick" and method == "POST":
            # {"count": n} ticks now; with "seconds", the clock moves that far
            # before each tick.
            seconds = float(data.get("seconds", 0))
            with LOCK:
                for _ in range(int(data.get("count", 1))):
                    if seconds:
                        registry.clock.advance(seconds)
                    registry.tick()
            return 200, registry.clock_info()
        if route == "/advance" and method == "POST":
            with LOCK:
                registry.advance(data["seconds"], data.get("step"))
            return 200, registry.clock_info()
        if route == "/reset" and method == "POST":
            from moto.moto_api._internal.models import moto_api_backend

            with LOCK:
                moto_api_backend.reset()
                registry.reset()
            with FAULTS.lock:
                FAULTS.rules.clear()
            return 200, {"reset": True}
        if route == "/state" and method == "GET":
            with LOCK:
                return 200, registry.state()
        return 404, {"error": f"no route {method} /_sandbox{route}"}

    def apps(self, method: str, data: dict) -> tuple[int, Any]:
        """``GET``: the app map and the running processes; ``POST {"files": [...]}``:
        replace the map (tasks started from then on use it)."""
        if method == "POST":
            files = data["files"]
            if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
                raise ValueError("files must be a list of paths")
            with LOCK:
                apps.configure(files)
        with LOCK:
            return 200, apps.map_info()

    def faults(self, method: str, data: dict) -> tuple[int, Any]:
        if method == "POST":
            rule = Fault(data)
            with FAULTS.lock:
                FAULTS.rules.append(rule)
            return 200, rule.as_dict()
        with FAULTS.lock:
            if method == "DELETE":
                # With an id, only that rule goes (tests running side by side keep theirs).
                if data.get("id"):
                    FAULTS.rules[:] = [r for r in FAULTS.rules if r.id != data["id"]]
                else:
                    FAULTS.rules.clear()
            return 200, {"faults": [r.as_dict() for r in FAULTS.rules]}


class SimulatorThread(threading.Thread):
    """Ticks the registry every ``tick`` seconds of real time.  With the
    ``time_scale`` knob above 1 each tick first moves the clock forward by
    ``(time_scale - 1)`` times the real time since the last tick, so the sandbox
    clock runs ``time_scale`` times as fast as real time."""

    def __init__(self, registry: Registry, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(name="labsandbox-simulator", daemon=True)
        self.registry = registry
        self.stop = threading.Event()
        self._monotonic = monotonic
        self._last = monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.registry.ctx.config.tick):
            self.step()

    def step(self) -> None:
        """One tick; compresses time as the ``time_scale`` knob says."""
        real = self._monotonic()
        elapsed, self._last = max(real - self._last, 0.0), real
        config = self.registry.ctx.config
        with LOCK:
            extra = (config.time_scale - 1) * elapsed
            if extra > 0 and not config.paused:
                self.registry.clock.advance(extra)
            self.registry.tick()
