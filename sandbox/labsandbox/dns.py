"""A tiny authoritative DNS responder (UDP, 127.0.0.1) for sandbox names.

Answers A queries for every ELBv2 load balancer's DNS name (-> 127.0.0.1, where
the sandbox's HTTP proxy stands in for the load balancers), for A records in
Route 53 hosted zones (alias records to load balancers and CNAMEs followed), and for Cloud Map services (``<service>.<namespace>``,
including Service Connect client aliases) with the registered instance IPs.
Known names queried for other types get an empty NOERROR answer; unknown
names get NXDOMAIN.  Case-insensitive.  Hand-written with ``struct``.
"""

from __future__ import annotations

import socket
import struct
import threading

from moto.ecs.models import ecs_backends
from moto.elbv2.models import elbv2_backends
from moto.route53.models import route53_backends
from moto.servicediscovery.models import servicediscovery_backends

from .config import LOCK
from .behaviours.cloudmap import namespace_id_of

TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1


def _items(backend_dict):
    for acct, per_region in list(dict.items(backend_dict)):
        for region, backend in list(dict.items(per_region)):
            yield acct, region, backend


def lookup(name: str, depth: int = 0) -> list[str] | None:
    """IPv4 addresses for ``name``; [] if known without A data; None if unknown.

    Route 53 alias records (an A record whose AliasTarget names a load balancer
    or another record) and CNAME records are followed, a few levels deep."""
    name = name.rstrip(".").lower()
    if name.startswith("dualstack."):
        # Alias targets to load balancers are written as dualstack.<lb dns name>.
        inner = lookup(name[len("dualstack.") :], depth + 1) if depth < 5 else None
        if inner is not None:
            return inner
    found: list[str] | None = None
    with LOCK:
        for _, _, elb in _items(elbv2_backends):
            for lb in elb.load_balancers.values():
                if (lb.dns_name or "").lower() == name:
                    return ["127.0.0.1"]
        for _, _, r53 in _items(route53_backends):
            for zone in r53.zones.values():
                for rr in zone.rrsets:
                    if rr.name.rstrip(".").lower() != name:
                        continue
                    found = found if found is not None else []
                    alias = getattr(rr, "alias_target", None) or {}
                    if rr.type == "A" and alias.get("DNSName") and depth < 5:
                        found.extend(v for v in lookup(alias["DNSName"], depth + 1) or [] if v not in found)
                    elif rr.type == "A" and rr.records:
                        found.extend(v for v in rr.records if v not in found)
                    elif rr.type == "CNAME" and rr.records and depth < 5:
                        found.extend(v for v in lookup(rr.records[0], depth + 1) or [] if v not in found)
        for acct, region, sd in _items(servicediscovery_backends):
            for svc in sd.services.values():
                ns = sd.namespaces.get(namespace_id_of(svc))
                if ns is None:
                    continue
                names = {f"{svc.name}.{ns.name}".lower()}
                names |= _client_aliases(acct, region, ns, svc.name)
                if name in names:
                    found = found if found is not None else []
                    for inst in svc.instances:
                        ip = inst.attributes.get("AWS_INSTANCE_IPV4")
                        if ip and ip not in found:
                            found.append(ip)
    return found


def _client_aliases(acct: str, region: str, ns, discovery_name: str) -> set[str]:
    """Service Connect clientAliases dnsName values pointing at this service."""
    out = set()
    per_region = dict.get(ecs_backends, acct)
    backend = dict.get(per_region, region) if per_region is not None else None
    if backend is None:
        return out
    for svc in backend.services.values():
        scc = getattr(svc, "service_connect_configuration", None) or {}
        if not scc.get("enabled") or scc.get("namespace") not in (ns.name, ns.arn, ns.id, None):
            continue
        for entry in scc.get("services") or []:
            if (entry.get("discoveryName") or entry.get("portName")) != discovery_name:
                continue
            for alias in entry.get("clientAliases") or []:
                if alias.get("dnsName"):
                    out.add(alias["dnsName"].lower())
    return out


def _parse_question(packet: bytes) -> tuple[str, int, int, int]:
    """Return (name, qtype, qclass, end offset) of the first question."""
    labels, i = [], 12
    while True:
        length = packet[i]
        if length == 0:
            i += 1
            break
        if length & 0xC0:
            raise ValueError("compressed question name")
        labels.append(packet[i + 1 : i + 1 + length].decode("ascii", "replace"))
        i += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[i : i + 4])
    return ".".join(labels), qtype, qclass, i + 4


def build_response(packet: bytes) -> bytes | None:
    if len(packet) < 12:
        return None
    tid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    opcode = (flags >> 11) & 0xF
    rd = flags & 0x0100
    if qdcount < 1 or opcode != 0:
        return struct.pack("!HHHHHH", tid, 0x8000 | (opcode << 11) | rd | 4, 0, 0, 0, 0)
    try:
        name, qtype, qclass, end = _parse_question(packet)
    except (IndexError, ValueError, struct.error):
        return struct.pack("!HHHHHH", tid, 0x8000 | rd | 1, 0, 0, 0, 0)
    question = packet[12:end]
    ips = lookup(name)
    answers = b""
    count = 0
    if ips is None:
        rcode = 3  # NXDOMAIN
    else:
        rcode = 0
        if qtype in (TYPE_A, 255) and qclass == CLASS_IN:
            for ip in ips:
                answers += struct.pack("!HHHIH", 0xC00C, TYPE_A, CLASS_IN, 10, 4) + socket.inet_aton(ip)
                count += 1
    # QR, AA, RD copied, RA
    out_flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode
    return struct.pack("!HHHHHH", tid, out_flags, 1, count, 0, 0) + question + answers


class DnsServer(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(name="labsandbox-dns", daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]

    def run(self) -> None:
        while True:
            try:
                packet, addr = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                reply = build_response(packet)
            except Exception:
                reply = None
            if reply:
                try:
                    self.sock.sendto(reply, addr)
                except OSError:
                    pass
