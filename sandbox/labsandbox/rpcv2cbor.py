"""Smithy RPC v2 CBOR, translated to the awsJson 1.0 protocol moto serves.

The AWS SDK for Rust (and any SDK that prefers it) calls CloudWatch with
``POST /service/GraniteServiceVersion20100801/operation/<Op>``, header
``smithy-protocol: rpc-v2-cbor`` and a CBOR map of the input.  moto 5.2.5 only
serves CloudWatch's query and JSON protocols, so the request is decoded and
handed to moto as the equivalent JSON call (``X-Amz-Target:
GraniteServiceVersion20100801.<Op>``), and moto's answer is encoded back:

* the body is a CBOR map of the output; timestamps become tag 1 (epoch
  seconds), blobs byte strings, doubles floats, following the operation's
  output shape in botocore's model of the service;
* errors keep moto's HTTP status and become ``{"__type": <code>, "message":
  <text>}`` (the code without its namespace, as in the query protocol);
* every answer carries ``smithy-protocol: rpc-v2-cbor`` and
  ``Content-Type: application/cbor``.
"""

from __future__ import annotations

import base64
import io
import json
import math
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

import cbor2

# Smithy service name in the path -> (botocore service name, signing name, JSON version).
SERVICES = {"GraniteServiceVersion20100801": ("cloudwatch", "monitoring", "1.0")}

PROTOCOL_HEADER = ("smithy-protocol", "rpc-v2-cbor")
CONTENT_TYPE = "application/cbor"


def is_cbor_request(environ: dict) -> bool:
    return environ.get("HTTP_SMITHY_PROTOCOL", "").lower() == "rpc-v2-cbor" and environ.get("PATH_INFO", "").startswith("/service/")


def service_and_operation(path: str) -> tuple[str, str] | None:
    """``/service/<Service>/operation/<Op>`` -> (Service, Op)."""
    parts = path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "service" and parts[2] == "operation":
        return parts[1], parts[3]
    return None


@lru_cache(maxsize=None)
def service_model(name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


def to_json_value(value: Any) -> Any:
    """A decoded CBOR input value as the awsJson protocol writes it."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [to_json_value(v) for v in value]
    if isinstance(value, datetime):  # tag 1, decoded by cbor2
        return value.timestamp()
    if isinstance(value, cbor2.CBORTag):
        return to_json_value(value.value)
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if value is cbor2.undefined:
        return None
    return value


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.replace("Z", "+00:00")
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.timestamp()
    if isinstance(value, datetime):
        return value.timestamp()
    raise ValueError(f"not a timestamp: {value!r}")


def to_cbor_value(value: Any, shape: Any) -> Any:
    """An awsJson output value as RPC v2 CBOR encodes it, guided by its shape."""
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {k: to_cbor_value(v, shape.members.get(k)) for k, v in value.items() if v is not None}
    if kind == "list" and isinstance(value, list):
        return [to_cbor_value(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: to_cbor_value(v, shape.value) for k, v in value.items()}
    if kind == "timestamp":
        return cbor2.CBORTag(1, _epoch(value))
    if kind == "blob" and isinstance(value, str):
        return base64.b64decode(value)
    if kind in ("double", "float") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind in ("double", "float") and isinstance(value, str):  # "NaN", "Infinity"
        return float(value.replace("Infinity", "inf"))
    if kind in ("integer", "long", "short", "byte") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# ---------------------------------------------------------------------------
# Requests and answers
# ---------------------------------------------------------------------------


def error_payload(code: str, message: str, extra_headers: list | None = None) -> tuple[list, bytes]:
    """Headers and body of an RPC v2 CBOR error (also used by fault injection)."""
    body = cbor2.dumps({"__type": code, "message": message})
    return [PROTOCOL_HEADER, ("Content-Type", CONTENT_TYPE)] + (extra_headers or []), body


def error_answer(status: int, code: str, message: str, extra_headers: list | None = None) -> tuple[int, list, bytes]:
    headers, body = error_payload(code, message, extra_headers)
    return status, headers, body


def handle(environ: dict, start_response: Callable, app: Callable) -> list[bytes]:
    """Serve one RPC v2 CBOR request through ``app`` (moto, JSON protocol)."""
    status, headers, body = _translate(environ, app)
    reason = "OK" if status < 400 else "Error"
    start_response(f"{status} {reason}", headers + [("Content-Length", str(len(body)))])
    return [body]


def _translate(environ: dict, app: Callable) -> tuple[int, list, bytes]:
    found = service_and_operation(environ.get("PATH_INFO", ""))
    spec = SERVICES.get(found[0]) if found else None
    if found is None or spec is None:
        return error_answer(404, "UnknownOperationException", f"no RPC v2 CBOR service at {environ.get('PATH_INFO')}")
    service_id, operation = found
    botocore_name, signing_name, json_version = spec
    try:
        op_model = service_model(botocore_name).operation_model(operation)
    except Exception:
        return error_answer(404, "UnknownOperationException", f"{service_id} has no operation {operation}")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        data = cbor2.loads(raw) if raw else {}
    except Exception as exc:
        return error_answer(400, "SerializationException", f"the request body is not CBOR: {exc}")
    if not isinstance(data, dict):
        return error_answer(400, "SerializationException", "the request body must be a CBOR map")
    payload = json.dumps(to_json_value(data)).encode()

    inner = dict(environ)
    inner.pop("HTTP_SMITHY_PROTOCOL", None)
    inner.update(
        {
            "PATH_INFO": "/",
            "RAW_URI": "/",
            "REQUEST_URI": "/",
            "QUERY_STRING": "",
            "CONTENT_TYPE": f"application/x-amz-json-{json_version}",
            "CONTENT_LENGTH": str(len(payload)),
            "HTTP_ACCEPT": "application/json",
            "HTTP_X_AMZ_TARGET": f"{service_id}.{operation}",
            "wsgi.input": io.BytesIO(payload),
        }
    )
    if not inner.get("HTTP_AUTHORIZATION"):
        # moto picks the backend from the credential scope.
        inner["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{signing_name}/aws4_request, SignedHeaders=host, Signature=0"
        )

    captured: dict = {}

    def capture(status: str, headers: list, exc_info: Any = None) -> None:
        captured["status"], captured["headers"] = int(status.split()[0]), headers

    answer = b"".join(app(inner, capture))
    status = captured.get("status", 500)
    kept = [
        (k, v)
        for k, v in captured.get("headers", [])
        if k.lower() in ("x-amzn-requestid", "x-amz-request-id", "x-amzn-query-error", "date")
    ]
    try:
        document = json.loads(answer) if answer.strip() else {}
    except ValueError:
        document = {}
    if status >= 300:
        code = str(document.get("__type") or "InternalFailure").rsplit("#", 1)[-1]
        message = document.get("message") or document.get("Message") or answer.decode("utf-8", "replace")
        return error_answer(status, code, message, kept)
    body = cbor2.dumps(to_cbor_value(document, op_model.output_shape) if op_model.output_shape else {})
    return status, [PROTOCOL_HEADER, ("Content-Type", CONTENT_TYPE)] + kept, body
