"""ACM certificates validated through Route 53, HTTPS listeners, the 80 -> 443
redirect through the proxy, Route 53 alias records answered by the DNS
responder and followed by the proxy, and TLS terminated for CONNECT tunnels."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
from botocore.exceptions import ClientError

from infra import Lab
from test_cloudmap_dns import dns_query


def proxied(sandbox, url: str) -> tuple[int, dict, bytes]:
    """One request through the proxy, redirects not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", sandbox.proxy_port, timeout=5)
    conn.request("GET", url)
    resp = conn.getresponse()
    out = resp.status, dict(resp.getheaders()), resp.read()
    conn.close()
    return out


def tick(sandbox) -> None:
    sandbox.control("POST", "tick", {"count": 1})


def test_dns_validated_certificate_https_listener_and_alias(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    acm = lab.client("acm")
    zone_id = lab.route53.create_hosted_zone(Name="shop.example.com", CallerReference="lab")["HostedZone"]["Id"]
    cert_arn = acm.request_certificate(
        DomainName="shop.example.com", SubjectAlternativeNames=["*.shop.example.com"], ValidationMethod="DNS"
    )["CertificateArn"]
    tick(sandbox)
    cert = acm.describe_certificate(CertificateArn=cert_arn)["Certificate"]
    assert cert["Status"] == "PENDING_VALIDATION"

    alb = lab.alb("shop-alb")
    lb_arn, dns = alb["lb"]["LoadBalancerArn"], alb["lb"]["DNSName"]
    tg_arn = alb["tg"]["TargetGroupArn"]
    with pytest.raises(ClientError, match="CertificateNotFound"):
        lab.elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert_arn}],
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
        )

    # Create the validation records (both names share one record here, as in ACM).
    changes = []
    for rr in {o["ResourceRecord"]["Name"]: o["ResourceRecord"] for o in cert["DomainValidationOptions"]}.values():
        changes.append({"Action": "UPSERT", "ResourceRecordSet": {"Name": rr["Name"], "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": rr["Value"]}]}})
    out = sandbox.aws(session, "route53", "change-resource-record-sets", "--hosted-zone-id", zone_id,
                      "--change-batch", json.dumps({"Changes": changes}))
    assert out.returncode == 0, out.stderr
    tick(sandbox)
    assert acm.describe_certificate(CertificateArn=cert_arn)["Certificate"]["Status"] == "ISSUED"

    lab.elbv2.create_listener(
        LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "application/json", "MessageBody": '{"msg": "base route"}'}}],
    )
    # Port 80 now redirects permanently to HTTPS.
    http_listener = alb["listener"]["ListenerArn"]
    lab.elbv2.modify_listener(
        ListenerArn=http_listener,
        DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
    )

    # An alias A record for the shop's name points at the load balancer.
    lab.route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE",
        "ResourceRecordSet": {"Name": "www.shop.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": alb["lb"]["CanonicalHostedZoneId"], "DNSName": f"dualstack.{dns}", "EvaluateTargetHealth": True}},
    }]})
    rcode, ips = dns_query(sandbox.dns_port, "www.shop.example.com")
    assert rcode == 0 and ips == ["127.0.0.1"]

    status, headers, _ = proxied(sandbox, f"http://{dns}/cart?x=1")
    assert status == 301
    assert headers["Location"] == f"https://{dns}:443/cart?x=1"
    status, _, body = proxied(sandbox, f"https://{dns}/")
    assert status == 200 and json.loads(body) == {"msg": "base route"}


def issued_certificate(sandbox, lab, zone_id: str, domain: str, sans: list[str]) -> str:
    acm = lab.client("acm")
    arn = acm.request_certificate(DomainName=domain, SubjectAlternativeNames=sans, ValidationMethod="DNS")["CertificateArn"]
    options = acm.describe_certificate(CertificateArn=arn)["Certificate"]["DomainValidationOptions"]
    records = {o["ResourceRecord"]["Name"]: o["ResourceRecord"]["Value"] for o in options}
    lab.route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": n, "Type": "CNAME", "TTL": 300, "ResourceRecords": [{"Value": v}]}}
        for n, v in records.items()
    ]})
    tick(sandbox)
    assert acm.describe_certificate(CertificateArn=arn)["Certificate"]["Status"] == "ISSUED"
    return arn


def tunnelled(sandbox, host: str, path: str, port: int = 443) -> tuple[int, bytes]:
    """GET https://host:port/path through the proxy's CONNECT, trusting the sandbox CA."""
    context = ssl.create_default_context(cafile=sandbox.ca_file)
    conn = http.client.HTTPSConnection("127.0.0.1", sandbox.proxy_port, timeout=5, context=context)
    conn.set_tunnel(host, port)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_connect_tunnels_terminate_tls_with_the_listener_certificate(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    zone_id = lab.route53.create_hosted_zone(Name="svc.example.com", CallerReference="tls")["HostedZone"]["Id"]
    cert_arn = issued_certificate(sandbox, lab, zone_id, "services.svc.example.com", ["*.services.svc.example.com"])
    alb = lab.alb("tls-alb")
    lb, dns = alb["lb"], alb["lb"]["DNSName"]
    tg_arn = alb["tg"]["TargetGroupArn"]
    listener = lab.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=443, Certificates=[{"CertificateArn": cert_arn}],
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "application/json", "MessageBody": '{"msg": "base route"}'}}],
    )["Listeners"][0]
    lab.elbv2.create_rule(
        ListenerArn=listener["ListenerArn"], Priority=1,
        Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api*"]}}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "api"}}],
    )
    lab.route53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{
        "Action": "CREATE",
        "ResourceRecordSet": {"Name": "services.svc.example.com", "Type": "A", "AliasTarget": {
            "HostedZoneId": lb["CanonicalHostedZoneId"], "DNSName": f"dualstack.{dns}", "EvaluateTargetHealth": False}},
    }]})

    # The alias name and a name under the wildcard: the certificate covers both, rules apply.
    assert tunnelled(sandbox, "services.svc.example.com", "/") == (200, b'{"msg": "base route"}')
    assert tunnelled(sandbox, "services.svc.example.com", "/api/items") == (418, b"api")
    # The load balancer's own name is not on the certificate: the client refuses it, as in AWS.
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        tunnelled(sandbox, dns, "/")
    # No HTTPS listener on that port, or an unknown host: the tunnel is refused.
    with pytest.raises(OSError, match="502"):
        tunnelled(sandbox, "services.svc.example.com", "/", port=80)
    with pytest.raises(OSError, match="502"):
        tunnelled(sandbox, "nowhere.example.org", "/")

    # Plain HTTP to the alias name reaches the load balancer too: its port 80 redirects.
    lab.elbv2.modify_listener(
        ListenerArn=alb["listener"]["ListenerArn"],
        DefaultActions=[{"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}],
    )
    status, headers, _ = proxied(sandbox, "http://services.svc.example.com/api?x=1")
    assert status == 301
    assert headers["Location"] == "https://services.svc.example.com:443/api?x=1"
