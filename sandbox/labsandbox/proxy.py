"""An HTTP/1.1 forward proxy (127.0.0.1) standing in for ELBv2 load balancers.

Clients send absolute-URI requests (``GET http://<lb dns name>/items``), as
curl and reqwest do when ``http_proxy`` is set.  The proxy finds the load
balancer by DNS name, its listener on the request port, evaluates the
listener's rules by priority and carries out the action:

* forward: 503 (ALB's page) when the target group has no healthy target,
  otherwise the answer of the application process serving the target chosen
  round-robin (``behaviours.apps``), or, when there is none (the image is not
  in the app map, or its process does not listen yet), 200 with a JSON body
  from a stand-in for the container, naming the target;
* fixed-response: the configured status, content type and body;
* redirect: the configured 301/302 with a Location header (``#{protocol}``
  is the listener's protocol, so HTTP:80 -> HTTPS:443 redirects work).

An absolute ``https://`` URL sent as a plain request goes to the listener on
port 443 (HTTPS listeners included).  ``CONNECT host:port`` (what curl does
for ``https://`` through ``https_proxy``) is answered by a TLS terminator when
``host:port`` is an HTTPS listener: the proxy completes the handshake with a
certificate for the names of the listener's ACM certificate, signed by the
sandbox's own CA (``ca_file`` in the READY line), then routes the requests
inside the tunnel like plain ones.  A host whose certificate does not cover it
therefore fails the client's name check, as it would in AWS.

Hosts are load-balancer DNS names, or names in Route 53 hosted zones whose
alias A record (or CNAME) leads to one.  Other hosts may be task addresses
(a Cloud Map name or a task IP, resolved by ``HOST_APPS``): the application
processes send their outgoing requests here, with a ``Proxy-Authorization``
naming the calling task.  Unknown hosts or ports get 502.  Nothing is ever
forwarded off the machine: application processes listen on 127.0.0.1.
"""

from __future__ import annotations

import atexit
import base64
import datetime
import fnmatch
import http.client
import itertools
import json
import os
import shutil
import socket
import socketserver
import ssl
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from moto.elbv2.models import elbv2_backends
from moto.route53.models import route53_backends

from .behaviours.certificates import certificate_names
from .config import LOCK

ALB_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n</body>\r\n</html>\r\n"
)
_round_robin = itertools.count()

# Called (with the lock held) for every request a listener forwards:
# observer(backend, load_balancer, target_group, target or None, status).
# The metrics behaviour counts requests this way.
OBSERVERS: list[Callable[[Any, Any, Any, dict | None, int], None]] = []


@dataclass
class Upstream:
    """Where a request goes instead of the stand-in: an application process."""

    port: int | None  # its port on 127.0.0.1; None: nothing listens, the stand-in answers
    task: str = ""  # the task ARN
    target: str = ""  # the address the request was for, "ip:port"


# Called with the lock held.  TARGET_APPS: (backend, target group, target) ->
# Upstream or None, for a target a listener forwards to.  HOST_APPS: (host,
# port, caller token or None) -> Upstream or None, for a host that is not a
# load balancer.  The apps behaviour adds both.
TARGET_APPS: list[Callable[[Any, Any, dict], Upstream | None]] = []
HOST_APPS: list[Callable[[str, int, str | None], Upstream | None]] = []

# How long the proxy waits for an application's answer (ALB's default idle timeout).
APP_TIMEOUT = 60.0
ALB_502 = ALB_503.replace(b"503 Service Temporarily Unavailable", b"502 Bad Gateway")
ALB_504 = ALB_503.replace(b"503 Service Temporarily Unavailable", b"504 Gateway Time-out")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authorization", "proxy-authenticate", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
}


@dataclass
class _Forward:
    """A decision to pass the request to an application process."""

    upstream: Upstream
    extra_headers: list
    lb_parts: tuple | None = None  # (backend, lb, tg, target) for the observers


def _first(hooks: list, *args: Any) -> Upstream | None:
    for hook in hooks:
        found = hook(*args)
        if found is not None:
            return found
    return None


def _observe(backend: Any, lb: Any, tg: Any, target: dict | None, status: int) -> None:
    for observer in OBSERVERS:
        try:
            observer(backend, lb, tg, target, status)
        except Exception:  # counting must never break the proxy
            pass


def _route53_target(name: str) -> str | None:
    """Where a Route 53 record called ``name`` points: an alias A record's
    target, else a CNAME's value."""
    for per_account in list(dict.values(route53_backends)):
        for r53 in list(dict.values(per_account)):
            for zone in list(r53.zones.values()):
                for rr in zone.rrsets:
                    if rr.name.rstrip(".").lower() != name:
                        continue
                    alias = getattr(rr, "alias_target", None) or {}
                    if rr.type == "A" and alias.get("DNSName"):
                        return alias["DNSName"]
                    if rr.type == "CNAME" and rr.records:
                        return rr.records[0]
    return None


def find_load_balancer(host: str, depth: int = 0) -> tuple[Any, Any] | None:
    """The load balancer a host name leads to: its own DNS name (``dualstack.``
    too), or a Route 53 alias/CNAME chain ending there."""
    host = host.lower().rstrip(".")
    if host.startswith("dualstack."):
        host = host[len("dualstack.") :]
    for acct, per_region in list(dict.items(elbv2_backends)):
        for region, backend in list(dict.items(per_region)):
            for lb in backend.load_balancers.values():
                if (lb.dns_name or "").lower() == host:
                    return backend, lb
    target = _route53_target(host) if depth < 5 else None
    return find_load_balancer(target, depth + 1) if target else None


def _condition_values(cond: dict, field: str, config_key: str) -> list | None:
    if config_key in cond:
        return cond[config_key].get("Values") or []
    if cond.get("Field") == field:
        return cond.get("Values") or []
    return None


def rule_matches(conditions: list, method: str, host: str, path: str, headers: Any, query: str) -> bool:
    for cond in conditions or []:
        field = cond.get("Field")
        values = _condition_values(cond, "path-pattern", "PathPatternConfig")
        if values is not None and (field in (None, "path-pattern")):
            if not any(fnmatch.fnmatchcase(path, v) for v in values):
                return False
            continue
        values = _condition_values(cond, "host-header", "HostHeaderConfig")
        if values is not None and (field in (None, "host-header")):
            if not any(fnmatch.fnmatchcase(host.lower(), v.lower()) for v in values):
                return False
            continue
        values = _condition_values(cond, "http-request-method", "HttpRequestMethodConfig")
        if values is not None and (field in (None, "http-request-method")):
            if method.upper() not in [v.upper() for v in values]:
                return False
            continue
        if "HttpHeaderConfig" in cond:
            cfg = cond["HttpHeaderConfig"]
            actual = headers.get(cfg.get("HttpHeaderName", "")) or ""
            if not any(fnmatch.fnmatch(actual.lower(), v.lower()) for v in cfg.get("Values") or []):
                return False
            continue
        if "QueryStringConfig" in cond:
            pairs = dict(p.split("=", 1) if "=" in p else (p, "") for p in query.split("&") if p)
            for kv in cond["QueryStringConfig"].get("Values") or []:
                key, val = kv.get("Key"), kv.get("Value", "")
                if key is None:
                    if not any(fnmatch.fnmatchcase(v, val) for v in pairs.values()):
                        return False
                elif key not in pairs or not fnmatch.fnmatchcase(pairs[key], val):
                    return False
            continue
        # source-ip and anything else: not modelled, treated as matching.
    return True


def choose_actions(listener: Any, method: str, host: str, path: str, headers: Any, query: str) -> list:
    rules = sorted(
        listener._non_default_rules.values(),
        key=lambda r: int(r.priority) if str(r.priority).isdigit() else 1 << 30,
    )
    for rule in rules:
        if rule_matches(rule.conditions, method, host, path, headers, query):
            return list(rule.actions)
    return list(listener.default_actions)


def _target_groups_of(action: Any) -> list[tuple[str, int]]:
    data = action.data
    if data.get("ForwardConfig", {}).get("TargetGroups"):
        return [(tg["TargetGroupArn"], int(tg.get("Weight", 1))) for tg in data["ForwardConfig"]["TargetGroups"]]
    if data.get("TargetGroupArn"):
        return [(data["TargetGroupArn"], 1)]
    return []


def route(
    method: str, host: str, port: int, path: str, query: str, headers: Any, body: bytes = b"", caller: str | None = None
) -> tuple[int, list, bytes]:
    """The response for one request: (status, headers, body).  ``caller`` is the token
    of the application process that sent it, if one did."""
    with LOCK:
        decision = _decide(method, host, port, path, query, headers, caller)
    if not isinstance(decision, _Forward):
        return decision
    status, out_headers, out_body = forward(decision.upstream, method, path, query, headers, body, decision.extra_headers)
    if decision.lb_parts is not None:
        with LOCK:
            _observe(*decision.lb_parts, status)
    return status, out_headers, out_body


def _stand_in(host: str, method: str, path: str, query: str, target: str, **more: Any) -> tuple[int, list, bytes]:
    body = {"sandbox": True, **more, "target": target, "method": method, "host": host, "path": path, "query": query}
    return 200, [("Content-Type", "application/json"), ("X-Sandbox-Target", target)], (json.dumps(body) + "\n").encode()


def _decide(method: str, host: str, port: int, path: str, query: str, headers: Any, caller: str | None) -> Any:
    """A response, or a :class:`_Forward` (called with the lock held)."""
    found = find_load_balancer(host)
    if found is None:
        return _to_task(method, host, port, path, query, caller)
    backend, lb = found
    listener = next((l for l in lb.listeners.values() if int(l.port) == port), None)
    if listener is None:
        return 502, [("Content-Type", "text/plain")], f"sandbox proxy: load balancer {lb.name} has no listener on port {port}\n".encode()
    actions = choose_actions(listener, method, host, path, headers, query)
    actions.sort(key=lambda a: int(a.data.get("Order", 0) or 0))
    for action in actions:
        if action.type == "fixed-response":
            cfg = action.data.get("FixedResponseConfig", {})
            body = (cfg.get("MessageBody") or "").encode()
            return int(cfg.get("StatusCode", 200)), [("Content-Type", cfg.get("ContentType") or "text/plain")], body
        if action.type == "redirect":
            return _redirect(action.data.get("RedirectConfig", {}), listener, host, port, path, query)
        if action.type == "forward":
            tg = _pick_target_group(backend, action)
            if tg is None:
                break
            return _to_target(backend, lb, listener, tg, method, host, port, path, query)
    return 503, [("Content-Type", "text/html")], ALB_503


def _to_task(method: str, host: str, port: int, path: str, query: str, caller: str | None) -> Any:
    """A host that is no load balancer: a task's address (``HOST_APPS``), or 502."""
    upstream = _first(HOST_APPS, host.lower(), port, caller)
    if upstream is None:
        return 502, [("Content-Type", "text/plain")], f"sandbox proxy: no load balancer or running task answers to {host}:{port}\n".encode()
    if upstream.port is None:
        return _stand_in(host, method, path, query, upstream.target)
    return _Forward(upstream, [])


def _redirect(cfg: dict, listener: Any, host: str, port: int, path: str, query: str) -> tuple[int, list, bytes]:
    proto = cfg.get("Protocol", "#{protocol}").replace("#{protocol}", str(listener.protocol or "HTTP")).lower()
    rport = cfg.get("Port", "#{port}").replace("#{port}", str(port))
    rhost = cfg.get("Host", "#{host}").replace("#{host}", host)
    rpath = cfg.get("Path", "/#{path}").replace("#{path}", path.lstrip("/"))
    rquery = cfg.get("Query", "#{query}").replace("#{query}", query)
    location = f"{proto}://{rhost}:{rport}{rpath}" + (f"?{rquery}" if rquery else "")
    code = 301 if cfg.get("StatusCode") == "HTTP_301" else 302
    return code, [("Location", location), ("Content-Type", "text/html")], b""


def _pick_target_group(backend: Any, action: Any) -> Any | None:
    """The target group a forward action sends this request to (by weight, round-robin)."""
    tgs = [(arn, w) for arn, w in _target_groups_of(action) if w > 0]
    if not tgs:
        return None
    tg_arn = tgs[next(_round_robin) % len(tgs)][0] if len(tgs) > 1 else tgs[0][0]
    return backend.target_groups.get(tg_arn)


def _to_target(backend: Any, lb: Any, listener: Any, tg: Any, method: str, host: str, port: int, path: str, query: str) -> Any:
    """503 without a healthy target; else a healthy target's application or the stand-in."""
    healthy = [t for t in list(tg.targets.values()) if tg.health_for(t, backend.ec2_backend).status == "healthy"]
    if not healthy:
        _observe(backend, lb, tg, None, 503)
        return 503, [("Content-Type", "text/html")], ALB_503
    target = healthy[next(_round_robin) % len(healthy)]
    upstream = _first(TARGET_APPS, backend, tg, target)
    if upstream is not None and upstream.port is not None:
        proto = str(listener.protocol or "HTTP").lower()
        forwarded = [("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-Proto", proto), ("X-Forwarded-Port", str(port))]
        return _Forward(upstream, forwarded, (backend, lb, tg, target))
    _observe(backend, lb, tg, target, 200)
    return _stand_in(
        host, method, path, query, f"{target['Id']}:{target['Port']}",
        loadBalancer=lb.name, loadBalancerArn=lb.arn, targetGroup=tg.arn,
    )


def forward(upstream: Upstream, method: str, path: str, query: str, headers: Any, body: bytes, extra: list) -> tuple[int, list, bytes]:
    """Send the request to the application process and return its answer; ALB's 502
    page when it refuses or drops the connection, 504 when it does not answer in time."""
    send = [(k, v) for k, v in headers.items() if k.lower() not in HOP_BY_HOP] + extra
    target = [("X-Sandbox-Target", upstream.target)] if upstream.target else []
    conn = http.client.HTTPConnection("127.0.0.1", upstream.port, timeout=APP_TIMEOUT)
    try:
        conn.putrequest(method, path + (f"?{query}" if query else ""), skip_host=True, skip_accept_encoding=True)
        for k, v in send:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        answer = resp.read()
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP and k.lower() != "date"]
        return resp.status, out + target, answer
    except (socket.timeout, TimeoutError):
        return 504, [("Content-Type", "text/html")] + target, ALB_504
    except (OSError, http.client.HTTPException):
        return 502, [("Content-Type", "text/html")] + target, ALB_502
    finally:
        conn.close()


def caller_token(headers: Any) -> str | None:
    """The token an application process sends as the password of its proxy URL
    (``http://task:<token>@127.0.0.1:<port>``)."""
    auth = headers.get("Proxy-Authorization") or ""
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, token = base64.b64decode(value.strip()).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return token if user == "task" and token else None


def listener_certificate_names(host: str, port: int) -> tuple[list[str] | None, str]:
    """The names the HTTPS listener at host:port presents a certificate for,
    or None and why there is no such listener."""
    found = find_load_balancer(host)
    if found is None:
        return None, "no load balancer with that DNS name or alias"
    backend, lb = found
    listener = next((l for l in lb.listeners.values() if int(l.port) == port), None)
    if listener is None:
        return None, f"load balancer {lb.name} has no listener on port {port}"
    if (listener.protocol or "").upper() != "HTTPS":
        return None, f"the listener on port {port} of {lb.name} is {listener.protocol}, not HTTPS"
    arns = [c.get("CertificateArn") if isinstance(c, dict) else c for c in listener.certificates or []]
    names = [n for arn in arns if arn for n in certificate_names(backend.account_id, arn)]
    # An IAM server certificate or a deleted one: present the load balancer's own name.
    return names or [lb.dns_name.lower()], ""


class SandboxTls:
    """A local certificate authority and a server context per certificate.

    The CA is created at start-up and written to ``ca_file``; clients that
    should trust the sandbox's HTTPS listeners point at it (curl:
    ``CURL_CA_BUNDLE``)."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        self._x509, self._hashes, self._ser, self._ec = x509, hashes, serialization, ec
        self._eku, self._oid = ExtendedKeyUsageOID, NameOID
        self.dir = tempfile.mkdtemp(prefix="labsandbox-tls-")
        atexit.register(shutil.rmtree, self.dir, True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "labsandbox local CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = os.path.join(self.dir, "ca.pem")
        with open(self.ca_file, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        self._contexts: dict[tuple[str, ...], ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def context(self, names: list[str]) -> ssl.SSLContext:
        key = tuple(sorted(set(names)))
        with self._lock:
            if key not in self._contexts:
                self._contexts[key] = self._make(key)
            return self._contexts[key]

    def _make(self, names: tuple[str, ...]) -> ssl.SSLContext:
        x509, ec, ser = self._x509, self._ec, self._ser
        leaf_key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(self._oid.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([self._eku.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
            .sign(self.key, self._hashes.SHA256())
        )
        fd, path = tempfile.mkstemp(suffix=".pem", dir=self.dir)
        with os.fdopen(fd, "wb") as f:
            f.write(cert.public_bytes(ser.Encoding.PEM))
            f.write(self.cert.public_bytes(ser.Encoding.PEM))
            f.write(leaf_key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(path)
        return ctx


TLS: SandboxTls | None = None  # made by the first ProxyServer


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    tunnel: tuple[str, int] | None = None  # (host, port) inside a CONNECT tunnel

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "CONNECT":
            self._connect()
            return
        if self.tunnel is not None:
            host, port = self.tunnel
            path, _, query = self.path.partition("?")
        elif self.path.startswith("http://") or self.path.startswith("https://"):
            parts = urlsplit(self.path)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            path, query = parts.path or "/", parts.query
        else:
            raw_host = self.headers.get("Host", "")
            host, _, p = raw_host.partition(":")
            port = int(p) if p.isdigit() else 80
            path, _, query = self.path.partition("?")
        if "Host" not in self.headers:
            self.headers["Host"] = host if port in (80, 443) else f"{host}:{port}"
        status, headers, answer = route(self.command, host, port, path, query, self.headers, body, caller_token(self.headers))
        self._send(status, headers, answer)

    def _connect(self) -> None:
        """Terminate TLS for an HTTPS listener, then serve the tunnel's requests."""
        host, _, p = self.path.rpartition(":")
        host, port = host.strip("[]").lower(), int(p) if p.isdigit() else 443
        with LOCK:
            names, why = listener_certificate_names(host, port)
        if TLS is None:
            names, why = None, "no TLS terminator"
        if names is None:
            self._send(502, [("Content-Type", "text/plain")], f"sandbox proxy: CONNECT {host}:{port}: {why}\n".encode())
            self.close_connection = True
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        try:
            tls = TLS.context(names).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):  # the client rejected the certificate
            self.close_connection = True
            return
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]
        self.tunnel = (host, port)
        self.close_connection = False

    def finish(self) -> None:
        super().finish()
        if self.tunnel is not None:
            try:
                self.connection.close()
            except OSError:
                pass

    def _send(self, status: int, headers: list, body: bytes) -> None:
        if any(k.lower() == "server" for k, _ in headers):  # an application's answer names its own server
            self.send_response_only(status)
            self.send_header("Date", self.date_time_string())
        else:
            self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_CONNECT = _handle


class ProxyServer(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(name="labsandbox-proxy", daemon=True)
        ThreadingHTTPServer.daemon_threads = True
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), ProxyHandler)
        self.port = self.httpd.server_address[1]
        global TLS
        if TLS is None:
            TLS = SandboxTls()
        self.ca_file = TLS.ca_file

    def close(self) -> None:
        """Stop serving and remove the CA's files."""
        self.httpd.shutdown()
        self.remove_tls_files()

    def remove_tls_files(self) -> None:
        """The server leaves with os._exit, which skips atexit: remove them by hand."""
        if TLS is not None:
            shutil.rmtree(TLS.dir, ignore_errors=True)

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)
