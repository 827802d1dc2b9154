"""Fault injection: rules that make a fraction of matching AWS calls fail the
way AWS fails them (throttling, 5xx, access denied), managed through
``/_sandbox/faults``."""

from __future__ import annotations

import io
import json
import threading
import uuid
from urllib.parse import parse_qs

from . import rpcv2cbor

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
        # A throttle's status follows the service (see THROTTLING) unless given.
        self.explicit_status = spec.get("status") is not None
        if self.explicit_status:
            self.status = int(spec["status"])
        elif self.kind == "throttle":
            self.status = 503 if self.services and self.services <= {"ec2", "s3"} else 400
        else:
            self.status = {"error5xx": 503, "access_denied": 403}[self.kind]
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
    if rpcv2cbor.is_cbor_request(environ):
        found = rpcv2cbor.service_and_operation(environ.get("PATH_INFO", ""))
        return service, found[1] if found else None
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return service, target.split(".")[-1]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        body = peek_body(environ)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [None])[0]
        return service, action
    return service, None


def access_key_of(environ: dict) -> str:
    """The access key id a request was signed with ("" when unsigned)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    if "Credential=" not in auth:
        return ""
    return auth.split("Credential=", 1)[1].split("/", 1)[0]


def peek_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


# How AWS answers a throttled call: (HTTP status, error code, message).  EC2
# and S3 send 503 with their own codes, Lambda 429; every other JSON-protocol
# service says ThrottlingException and every other query or REST-XML service
# Throttling, both with 400.
THROTTLING = {
    "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
    "s3": (503, "SlowDown", "Please reduce your request rate."),
    "lambda": (429, "TooManyRequestsException", "Rate exceeded"),
}
JSON_THROTTLING = (400, "ThrottlingException", "Rate exceeded")
XML_THROTTLING = (400, "Throttling", "Rate exceeded")

REASONS = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def protocol_of(environ: dict, service: str | None) -> str:
    """The wire protocol of a request: ``cbor`` (Smithy RPC v2 CBOR), ``json``
    (awsJson and REST-JSON), ``ec2``, ``s3`` or ``query`` (query and REST-XML
    share the error shape)."""
    if rpcv2cbor.is_cbor_request(environ):
        return "cbor"
    if environ.get("HTTP_X_AMZ_TARGET") or "json" in environ.get("CONTENT_TYPE", "") or service == "lambda":
        return "json"
    if service in ("ec2", "s3"):
        return service
    return "query"


def fault_response(rule: Fault, environ: dict, service: str | None) -> tuple[str, list, bytes]:
    """The error answer AWS would send for this rule's kind, in the request's protocol."""
    protocol = protocol_of(environ, service)
    status = rule.status
    if rule.kind == "throttle":
        default_status, code, msg = THROTTLING.get(service or "", JSON_THROTTLING if protocol in ("json", "cbor") else XML_THROTTLING)
        status = rule.status if rule.explicit_status else default_status
        side = "Sender"
    elif rule.kind == "access_denied":
        _, action = request_service_action(environ)
        side = "Sender"
        if protocol in ("json", "cbor"):
            code = "AccessDeniedException"
        elif protocol == "ec2":
            code = "UnauthorizedOperation"
        else:
            code = "AccessDenied"
        msg = f"User is not authorized to perform: {service or 'aws'}:{action or 'this action'} (injected by the sandbox)"
    else:
        if protocol in ("json", "cbor"):
            code = "ServiceUnavailableException" if status == 503 else "InternalFailure"
        else:
            code = "ServiceUnavailable" if status == 503 else "InternalFailure"
        msg = "Service is unavailable. Please try again later." if status == 503 else "An internal error occurred."
        side = "Receiver"
    headers, body = error_body(protocol, code, msg, side, environ)
    return f"{status} {REASONS.get(status, 'Error')}", headers, body


def error_body(protocol: str, code: str, msg: str, side: str, environ: dict) -> tuple[list, bytes]:
    request_id = str(uuid.uuid4())
    if protocol == "cbor":
        return rpcv2cbor.error_payload(code, msg, [("x-amzn-RequestId", request_id)])
    if protocol == "json":
        content_type = environ.get("CONTENT_TYPE", "")
        if not content_type.startswith("application/x-amz-json"):
            content_type = "application/x-amz-json-1.1"
        body = json.dumps({"__type": code, "message": msg}).encode()
        return [("Content-Type", content_type), ("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", code)], body
    if protocol == "ec2":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
            f"<Message>{msg}</Message></Error></Errors><RequestID>{request_id}</RequestID></Response>"
        ).encode()
        return [("Content-Type", "text/xml;charset=UTF-8"), ("x-amzn-RequestId", request_id)], body
    if protocol == "s3":
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{msg}</Message>'
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        return [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)], body
    body = (
        f'<ErrorResponse xmlns="https://sandbox.local/doc/"><Error><Type>{side}</Type><Code>{code}</Code>'
        f"<Message>{msg}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)], body
