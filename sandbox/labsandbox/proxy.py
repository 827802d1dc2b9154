"""An HTTP/1.1 forward proxy (127.0.0.1) standing in for ELBv2 load balancers.

Clients send absolute-URI requests (``GET http://<lb dns name>/items``), as
curl and reqwest do when ``http_proxy`` is set.  The proxy finds the load
balancer by DNS name, its listener on the request port, evaluates the
listener's rules by priority and carries out the action:

* forward: 503 (ALB's page) when the target group has no healthy target,
  otherwise 200 with a JSON body from a stand-in for the container, naming
  the target chosen round-robin;
* fixed-response: the configured status, content type and body;
* redirect: the configured 301/302 with a Location header (``#{protocol}``
  is the listener's protocol, so HTTP:80 -> HTTPS:443 redirects work).

An absolute ``https://`` URL sent as a plain request goes to the listener on
port 443 (HTTPS listeners included); ``CONNECT`` is refused.

Unknown hosts or ports get 502.  Nothing is ever forwarded off the machine.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from moto.elbv2.models import elbv2_backends

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


def _observe(backend: Any, lb: Any, tg: Any, target: dict | None, status: int) -> None:
    for observer in OBSERVERS:
        try:
            observer(backend, lb, tg, target, status)
        except Exception:  # counting must never break the proxy
            pass


def find_load_balancer(host: str) -> tuple[Any, Any] | None:
    host = host.lower().rstrip(".")
    for acct, per_region in list(dict.items(elbv2_backends)):
        for region, backend in list(dict.items(per_region)):
            for lb in backend.load_balancers.values():
                if (lb.dns_name or "").lower() == host:
                    return backend, lb
    return None


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


def route(method: str, host: str, port: int, path: str, query: str, headers: Any) -> tuple[int, list, bytes]:
    """Decide the response for one request. Returns (status, headers, body)."""
    with LOCK:
        found = find_load_balancer(host)
        if found is None:
            return 502, [("Content-Type", "text/plain")], f"sandbox proxy: no load balancer with DNS name {host}\n".encode()
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
                cfg = action.data.get("RedirectConfig", {})
                proto = cfg.get("Protocol", "#{protocol}").replace("#{protocol}", str(listener.protocol or "HTTP")).lower()
                rport = cfg.get("Port", "#{port}").replace("#{port}", str(port))
                rhost = cfg.get("Host", "#{host}").replace("#{host}", host)
                rpath = cfg.get("Path", "/#{path}").replace("#{path}", path.lstrip("/"))
                rquery = cfg.get("Query", "#{query}").replace("#{query}", query)
                location = f"{proto}://{rhost}:{rport}{rpath}" + (f"?{rquery}" if rquery else "")
                code = 301 if cfg.get("StatusCode") == "HTTP_301" else 302
                return code, [("Location", location), ("Content-Type", "text/html")], b""
            if action.type == "forward":
                tgs = [(arn, w) for arn, w in _target_groups_of(action) if w > 0]
                if not tgs:
                    break
                tg_arn = tgs[next(_round_robin) % len(tgs)][0] if len(tgs) > 1 else tgs[0][0]
                tg = backend.target_groups.get(tg_arn)
                if tg is None:
                    break
                healthy = [
                    t for t in list(tg.targets.values())
                    if tg.health_for(t, backend.ec2_backend).status == "healthy"
                ]
                if not healthy:
                    _observe(backend, lb, tg, None, 503)
                    return 503, [("Content-Type", "text/html")], ALB_503
                target = healthy[next(_round_robin) % len(healthy)]
                _observe(backend, lb, tg, target, 200)
                body = {
                    "sandbox": True,
                    "loadBalancer": lb.name,
                    "loadBalancerArn": lb.arn,
                    "targetGroup": tg.arn,
                    "target": f"{target['Id']}:{target['Port']}",
                    "method": method,
                    "host": host,
                    "path": path,
                    "query": query,
                }
                return 200, [("Content-Type", "application/json"), ("X-Sandbox-Target", body["target"])], (json.dumps(body) + "\n").encode()
        return 503, [("Content-Type", "text/html")], ALB_503


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awselb/2.0"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.command == "CONNECT":
            self._send(502, [("Content-Type", "text/plain")], b"sandbox proxy: CONNECT (https) is not supported; use http://\n")
            return
        if self.path.startswith("http://") or self.path.startswith("https://"):
            parts = urlsplit(self.path)
            host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
            path, query = parts.path or "/", parts.query
        else:
            raw_host = self.headers.get("Host", "")
            host, _, p = raw_host.partition(":")
            port = int(p) if p.isdigit() else 80
            path, _, query = self.path.partition("?")
        status, headers, body = route(self.command, host, port, path, query, self.headers)
        self._send(status, headers, body)

    def _send(self, status: int, headers: list, body: bytes) -> None:
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

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)
