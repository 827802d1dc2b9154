"""Cloud Map registration, Route 53 records, Service Connect and the DNS responder."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from conftest import wait_for
from infra import Lab
from test_ecs_lifecycle import steady


def dns_query(port: int, name: str, qtype: int = 1) -> tuple[int, list[str]]:
    """Send one query to the sandbox DNS responder; return (rcode, A answers)."""
    tid = random.randint(0, 0xFFFF)
    q = struct.pack("!HHHHHH", tid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0" + struct.pack("!HH", qtype, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(q, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    rid, flags, qd, an = struct.unpack("!HHHH", data[:8])
    assert rid == tid and flags & 0x8000
    i = len(q)
    ips = []
    for _ in range(an):
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[i + 2 : i + 12])
        if rtype == 1:
            ips.append(socket.inet_ntoa(data[i + 12 : i + 12 + rdlen]))
        i += 12 + rdlen
    return flags & 0xF, ips


def test_service_registry_private_dns(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    op = lab.sd.create_private_dns_namespace(Name="invsys.local", Vpc=lab.vpc_id)["OperationId"]
    ns_id = lab.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    ns = lab.sd.get_namespace(Id=ns_id)["Namespace"]
    sd_svc = lab.sd.create_service(
        Name="carts", NamespaceId=ns_id,
        DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 10}], "RoutingPolicy": "MULTIVALUE"},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    td = lab.task_definition(family="carts")
    lab.service("carts", td, count=2, serviceRegistries=[{"registryArn": sd_svc["Arn"]}])
    steady(lab, "carts", 2)
    tasks = lab.tasks("carts")
    ips = sorted(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in tasks)

    instances = wait_for(lambda: len(lab.sd.list_instances(ServiceId=sd_svc["Id"])["Instances"]) == 2 and lab.sd.list_instances(ServiceId=sd_svc["Id"])["Instances"], what="2 instances")
    by_id = {i["Id"]: i["Attributes"] for i in instances}
    assert sorted(by_id) == sorted(t["taskArn"].split("/")[-1] for t in tasks)
    attrs = next(iter(by_id.values()))
    assert attrs["AWS_INIT_HEALTH_STATUS"] == "HEALTHY"
    assert attrs["ECS_CLUSTER_NAME"] == lab.cluster and attrs["ECS_SERVICE_NAME"] == "carts"
    assert attrs["ECS_TASK_DEFINITION_FAMILY"] == "carts"
    assert attrs["AVAILABILITY_ZONE"] in ("us-east-1a", "us-east-1b")
    assert sorted(a["AWS_INSTANCE_IPV4"] for a in by_id.values()) == ips

    # Route 53: the namespace's hosted zone carries the A record.
    zone_id = ns["Properties"]["DnsProperties"]["HostedZoneId"]
    zone = lab.route53.get_hosted_zone(Id=zone_id)["HostedZone"]
    assert zone["Name"] == "invsys.local."
    records = lab.route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    a = [r for r in records if r["Type"] == "A" and r["Name"] == "carts.invsys.local."]
    assert a and sorted(v["Value"] for v in a[0]["ResourceRecords"]) == ips

    # DNS responder.
    rcode, answers = dns_query(sandbox.dns_port, "CARTS.invsys.local")
    assert rcode == 0 and sorted(answers) == ips
    rcode, answers = dns_query(sandbox.dns_port, "carts.invsys.local", qtype=28)
    assert rcode == 0 and answers == []
    assert dns_query(sandbox.dns_port, "nothing.invsys.local")[0] == 3

    # Scale in: the instance and record follow.
    lab.ecs.update_service(cluster=lab.cluster, service="carts", desiredCount=1)
    steady(lab, "carts", 1)
    wait_for(lambda: len(lab.sd.list_instances(ServiceId=sd_svc["Id"])["Instances"]) == 1, what="1 instance")
    remaining = lab.tasks("carts")[0]["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    assert dns_query(sandbox.dns_port, "carts.invsys.local") == (0, [remaining])


def test_service_connect_registers_in_http_namespace(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    op = lab.sd.create_http_namespace(Name="retail")["OperationId"]
    ns_id = lab.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    ns_arn = lab.sd.get_namespace(Id=ns_id)["Namespace"]["Arn"]
    td = lab.task_definition(family="catalog", port_name="catalog-http")
    scc = {
        "enabled": True,
        "namespace": "retail",
        "services": [{"portName": "catalog-http", "discoveryName": "catalog", "clientAliases": [{"port": 80, "dnsName": "catalog.retail"}]}],
    }
    lab.service("catalog", td, count=2, serviceConnectConfiguration=scc)
    svc = steady(lab, "catalog", 2)
    assert svc["deployments"][0]["serviceConnectConfiguration"]["services"][0]["discoveryName"] == "catalog"
    sd_services = lab.sd.list_services()["Services"]
    catalog = next(s for s in sd_services if s["Name"] == "catalog")
    instances = wait_for(lambda: len(lab.sd.list_instances(ServiceId=catalog["Id"])["Instances"]) == 2 and lab.sd.list_instances(ServiceId=catalog["Id"])["Instances"], what="instances")
    ips = sorted(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in lab.tasks("catalog"))
    assert sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in instances) == ips
    assert all(i["Attributes"]["AWS_INSTANCE_PORT"] == "8080" for i in instances)
    # discover-instances through the CLI (host prefix injection disabled).
    r = sandbox.aws(session, "servicediscovery", "discover-instances", "--namespace-name", "retail", "--service-name", "catalog")
    assert r.returncode == 0, r.stderr
    assert sorted(i["Attributes"]["AWS_INSTANCE_IPV4"] for i in __import__("json").loads(r.stdout)["Instances"]) == ips
    # The client alias resolves, too.
    assert sorted(dns_query(sandbox.dns_port, "catalog.retail")[1]) == ips
    # update-service keeps the configuration on the new deployment.
    upd = lab.ecs.update_service(cluster=lab.cluster, service="catalog", forceNewDeployment=True)["service"]
    assert upd["deployments"][0]["serviceConnectConfiguration"]["namespace"] == "retail"
    assert ns_arn


def test_load_balancer_dns_name_resolves_to_loopback(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("dns-alb")
    assert dns_query(sandbox.dns_port, alb["lb"]["DNSName"]) == (0, ["127.0.0.1"])
    assert dns_query(sandbox.dns_port, alb["lb"]["DNSName"].upper()) == (0, ["127.0.0.1"])
    assert dns_query(sandbox.dns_port, "example.com")[0] == 3


def test_namespace_given_only_in_dns_config_still_resolves(sandbox, session):
    """`create-service --dns-config NamespaceId=...` (the older form) leaves moto's top-level
    namespace id empty; registration and DNS must still find the namespace."""
    lab = Lab(session, sandbox.endpoint)
    op = lab.sd.create_private_dns_namespace(Name="legacy.local", Vpc=lab.vpc_id)["OperationId"]
    ns_id = lab.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    sd_svc = lab.sd.create_service(
        Name="orders",
        DnsConfig={"NamespaceId": ns_id, "DnsRecords": [{"Type": "A", "TTL": 60}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    td = lab.task_definition(family="orders")
    lab.service("orders", td, count=1, serviceRegistries=[{"registryArn": sd_svc["Arn"]}])
    steady(lab, "orders", 1)
    ip = lab.tasks("orders")[0]["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    wait_for(lambda: dns_query(sandbox.dns_port, "orders.legacy.local") == (0, [ip]), what="orders.legacy.local resolves")


def test_deleting_a_dns_namespace_deletes_its_hosted_zone(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    op = lab.sd.create_private_dns_namespace(Name="gone.local", Vpc=lab.vpc_id)["OperationId"]
    ns_id = lab.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
    zone_id = lab.sd.get_namespace(Id=ns_id)["Namespace"]["Properties"]["DnsProperties"]["HostedZoneId"]
    assert [z["Name"] for z in lab.route53.list_hosted_zones()["HostedZones"]] == ["gone.local."]
    lab.sd.delete_namespace(Id=ns_id)
    assert lab.route53.list_hosted_zones()["HostedZones"] == []
    with pytest.raises(Exception, match="NoSuchHostedZone"):
        lab.route53.get_hosted_zone(Id=zone_id)
