"""The WSGI application: moto's app, wrapped with the ``/_sandbox/`` control
routes, fault injection and the global lock."""

from __future__ import annotations

import io
import json
import threading
import uuid
from typing import Any, Callable
from urllib.parse import parse_qs, unquote_plus

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from . import patches, simulator
from .config import CONFIG, LOCK

JSON = [("Content-Type", "application/json")]


# ---------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------

SERVICE_ALIASES = {"elbv2": "elasticloadbalancing", "cloudmap": "servicediscovery", "logs": "logs"}


class Fault:
    """A rule that makes a fraction of matching AWS calls fail.

    Deterministic: each matching call adds ``fraction`` to an accumulator and
    the call fails whenever it reaches 1, so fraction 0.5 fails every second
    call, 0.25 every fourth, 1.0 every call.  ``count`` caps the failures."""

    def __init__(self, spec: dict) -> None:
        self.id = str(uuid.uuid4())[:8]
        self.kind = spec.get("kind", "throttle")
        if self.kind not in ("throttle", "error5xx", "access_denied"):
            raise ValueError("kind must be 'throttle', 'error5xx' or 'access_denied'")
        self.fraction = float(spec.get("fraction", 1.0))
        if not 0 < self.fraction <= 1:
            raise ValueError("fraction must be in (0, 1]")
        self.services = {SERVICE_ALIASES.get(s.lower(), s.lower()) for s in spec.get("services") or []}
        self.actions = {a.lower() for a in spec.get("actions") or []}
        self.count = spec.get("count")
        # Only requests whose body, path or query contain this text (e.g. one account's role
        # ARN), so concurrent tests sharing the sandbox are not hit by each other's faults.
        self.match = spec.get("match")
        default_status = {"error5xx": 503, "access_denied": 403}.get(self.kind, 400)
        self.status = int(spec.get("status", default_status))
        self.matched = 0
        self.injected = 0
        self._acc = 0.0

    def exhausted(self) -> bool:
        return self.count is not None and self.injected >= int(self.count)

    def hit(self, service: str | None, action: str | None, text: str = "") -> bool:
        if self.exhausted():
            return False
        if self.match and self.match not in text:
            return False
        if self.services and (service or "") not in self.services:
            return False
        if self.actions and (action or "").lower() not in self.actions:
            return False
        self.matched += 1
        self._acc += self.fraction
        if self._acc >= 1.0 - 1e-9:
            self._acc -= 1.0
            self.injected += 1
            return True
        return False

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "fraction": self.fraction,
            "services": sorted(self.services),
            "actions": sorted(self.actions),
            "count": self.count,
            "status": self.status,
            "match": self.match,
            "matched": self.matched,
            "injected": self.injected,
        }


class Faults:
    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self.lock = threading.Lock()

    def check(self, service: str | None, action: str | None, text: str = "") -> Fault | None:
        with self.lock:
            for rule in self.rules:
                if rule.hit(service, action, text):
                    return rule
        return None

    def needs_text(self) -> bool:
        with self.lock:
            return any(rule.match for rule in self.rules)


FAULTS = Faults()


def request_service_action(environ: dict) -> tuple[str | None, str | None]:
    service = None
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" in auth:
        try:
            scope = auth.split("Credential=")[1].split(",")[0].split("/")
            service = scope[3].lower()
        except IndexError:
            pass
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.split(".")[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = _peek_body(environ)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
        return service, action
    return service, None


def _peek_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def fault_response(rule: Fault, environ: dict, service: str | None) -> tuple[str, list, bytes]:
    request_id = str(uuid.uuid4())
    status = rule.status
    reason = {400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}.get(status, "Error")
    is_json = bool(environ.get("HTTP_X_AMZ_TARGET")) or "json" in environ.get("CONTENT_TYPE", "")
    if rule.kind == "throttle":
        code_json, code_xml, msg, side = "ThrottlingException", "Throttling", "Rate exceeded", "Sender"
        if service == "ec2":
            code_xml, msg = "RequestLimitExceeded", "Request limit exceeded."
    elif rule.kind == "access_denied":
        _, action = request_service_action(environ)
        code_json, code_xml, side = "AccessDeniedException", "AccessDenied", "Sender"
        msg = f"User is not authorized to perform: {service or 'aws'}:{action or 'this action'} (injected by the sandbox)"
    else:
        code_json = "ServiceUnavailableException" if status == 503 else "InternalFailure"
        code_xml = "ServiceUnavailable" if status == 503 else "InternalFailure"
        msg, side = ("Service is unavailable. Please try again later." if status == 503 else "An internal error occurred."), "Receiver"
    if is_json:
        body = json.dumps({"__type": code_json, "message": msg}).encode()
        headers = [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code_json)]
    elif service == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code_xml}</Code>'
            f"<Message>{msg}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        body = (
            f'<ErrorResponse xmlns="https://sandbox.local/doc/"><Error><Type>{side}</Type><Code>{code_xml}</Code>'
            f"<Message>{msg}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    return f"{status} {reason}", headers, body


# ---------------------------------------------------------------------------
# The application
# ---------------------------------------------------------------------------


class SandboxApp:
    def __init__(self, ports: dict) -> None:
        patches.apply()
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
                text = " ".join((environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""), unquote_plus(_peek_body(environ).decode("utf-8", "replace"))))
            rule = FAULTS.check(service, action, text) if FAULTS.rules else None
            if rule is not None:
                status, headers, body = fault_response(rule, environ, service)
                start_response(status, headers + [("Content-Length", str(len(body)))])
                return [body]
        with LOCK:
            chunks = list(self.moto(environ, start_response))
            if path.startswith("/moto-api/reset"):
                patches.disable_task_state_manager()
        return chunks

    # -- control routes --------------------------------------------------

    def control(self, environ: dict, start_response: Callable) -> Any:
        method = environ.get("REQUEST_METHOD", "GET")
        route = environ.get("PATH_INFO", "").rstrip("/")[len("/_sandbox") :] or "/"
        try:
            body = _peek_body(environ)
            data = json.loads(body) if body.strip() else {}
            status, payload = self.route(method, route, data)
        except (KeyError, ValueError, TypeError) as exc:
            status, payload = 400, {"error": f"{type(exc).__name__}: {exc}"}
        raw = json.dumps(payload, default=str, indent=1).encode()
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", JSON + [("Content-Length", str(len(raw)))])
        return [raw]

    def route(self, method: str, route: str, data: dict) -> tuple[int, Any]:
        if route == "/health" and method == "GET":
            return 200, {"ok": True, **self.ports}
        if route == "/clock" and method == "GET":
            return 200, simulator.clock()
        if route == "/config":
            if method == "POST":
                with LOCK:
                    CONFIG.update(data)
            return 200, CONFIG.as_dict()
        if route == "/faults":
            if method == "POST":
                rule = Fault(data)
                with FAULTS.lock:
                    FAULTS.rules.append(rule)
                return 200, rule.as_dict()
            if method == "DELETE":
                # With an id, only that rule goes (tests running side by side keep theirs).
                with FAULTS.lock:
                    if data.get("id"):
                        FAULTS.rules[:] = [r for r in FAULTS.rules if r.id != data["id"]]
                    else:
                        FAULTS.rules.clear()
                    return 200, {"faults": [r.as_dict() for r in FAULTS.rules]}
            with FAULTS.lock:
                return 200, {"faults": [r.as_dict() for r in FAULTS.rules]}
        if route == "/force" and method == "POST":
            with LOCK:
                return 200, simulator.force(data)
        if route == "/tick" and method == "POST":
            with LOCK:
                for _ in range(int(data.get("count", 1))):
                    simulator.tick()
            return 200, simulator.clock()
        if route == "/reset" and method == "POST":
            from moto.moto_api._internal.models import moto_api_backend

            with LOCK:
                moto_api_backend.reset()
                patches.disable_task_state_manager()
            with FAULTS.lock:
                FAULTS.rules.clear()
            return 200, {"reset": True}
        if route == "/state" and method == "GET":
            with LOCK:
                return 200, simulator.dump()
        return 404, {"error": f"no route {method} /_sandbox{route}"}


class SimulatorThread(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="labsandbox-simulator", daemon=True)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(CONFIG.tick):
            with LOCK:
                simulator.tick()
