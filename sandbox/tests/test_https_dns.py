"""ACM certificates validated through Route 53, HTTPS listeners, the 80 -> 443
redirect through the proxy, and Route 53 alias records answered by the DNS
responder."""

from __future__ import annotations

import http.client
import json

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
