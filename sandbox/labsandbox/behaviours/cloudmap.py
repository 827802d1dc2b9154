"""Cloud Map and DNS records for ECS services.

For ``serviceRegistries``, each RUNNING task is registered as an instance (id =
task id, with the attributes ECS sets) and deregistered when it stops; for DNS
namespaces the A record ``<service>.<namespace>`` in the namespace's hosted zone
follows the instances.  Service Connect registers each RUNNING task in the
Cloud Map service named by ``discoveryName`` (or ``portName``), created when
missing as ECS does.  Moto patches give private DNS namespaces a hosted zone
named after the namespace, let several namespaces share a VPC, and delete a
DNS namespace's hosted zone with the namespace, as AWS does.

The DNS responder (``labsandbox.dns``) reads what this module keeps.
No tick, state or force verbs of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.route53.models import route53_backends
from moto.servicediscovery import models as sd_models
from moto.servicediscovery.models import servicediscovery_backends

from . import ecs_tasks
from .base import Context, first_install, patch

NAME = "cloudmap"
ctx: Context


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.HOOKS.running.append(_register_task)
        ecs_tasks.HOOKS.stopping.append(_deregister_instances)
        ecs_tasks.HOOKS.stopped.append(_deregister_instances)
        _patch_moto()


def _patch_moto() -> None:
    # ServiceDiscoveryBackend.create_private_dns_namespace names the hosted
    # zone "<namespace>-hz" (AWS: "<namespace>.") and refuses a second
    # namespace in the same VPC even with another name (AWS allows that).
    @patch(sd_models.ServiceDiscoveryBackend, "create_private_dns_namespace")
    def create_private_dns_namespace(
        original: Any, self: Any, name: str, creator_request_id: str, description: str, vpc: str, *args: Any, **kwargs: Any
    ) -> str:
        hidden = [ns for ns in self.namespaces.values() if ns.vpc == vpc and ns.name != name]
        for ns in hidden:
            ns.vpc = None
        try:
            op_id = original(self, name, creator_request_id, description, vpc, *args, **kwargs)
        finally:
            for ns in hidden:
                ns.vpc = vpc
        ns = self.namespaces[self.operations[op_id].targets["NAMESPACE"]]
        zone = route53_backends[self.account_id]["aws"].get_hosted_zone(ns.dns_properties["HostedZoneId"].split("/")[-1])
        old = zone.name
        zone.name = name.rstrip(".") + "."
        for rr in zone.rrsets:
            if rr.name.rstrip(".") == old.rstrip("."):
                rr.name = zone.name
        return op_id

    # AWS deletes the hosted zone Cloud Map made for a DNS namespace together
    # with the namespace; moto leaves it behind.
    @patch(sd_models.ServiceDiscoveryBackend, "delete_namespace")
    def delete_namespace(original: Any, self: Any, namespace_id: str, *args: Any, **kwargs: Any) -> str:
        ns = self.namespaces.get(namespace_id)
        zone_id = ((getattr(ns, "dns_properties", None) or {}).get("HostedZoneId") or "").split("/")[-1]
        op_id = original(self, namespace_id, *args, **kwargs)
        if zone_id:
            route53_backends[self.account_id]["aws"].zones.pop(zone_id, None)
        return op_id


def namespace_id_of(sd_service: Any) -> str | None:
    """The namespace of a Cloud Map service. moto keeps it empty when the caller gave it only
    inside the (deprecated but accepted) ``DnsConfig.NamespaceId``."""
    return sd_service.namespace_id or (getattr(sd_service, "dns_config", None) or {}).get("NamespaceId")


def _sd_backend(backend: Any) -> Any:
    return servicediscovery_backends[backend.account_id][backend.region_name]


def _sd_service_by_arn(backend: Any, arn: str | None) -> Any | None:
    if not arn:
        return None
    for svc in _sd_backend(backend).services.values():
        if svc.arn == arn or svc.id == arn:
            return svc
    return None


def _sd_namespace(backend: Any, name_or_arn: str | None) -> Any | None:
    if not name_or_arn:
        return None
    for ns in _sd_backend(backend).namespaces.values():
        if name_or_arn in (ns.arn, ns.id, ns.name):
            return ns
    return None


def _ensure_sd_service(backend: Any, ns: Any, name: str) -> Any:
    sd = _sd_backend(backend)
    for svc in sd.services.values():
        if namespace_id_of(svc) == ns.id and svc.name == name:
            return svc
    # ECS creates the Cloud Map service for Service Connect itself.
    return sd.create_service(
        name=name,
        namespace_id=ns.id,
        creator_request_id=str(uuid.uuid4()),
        description="Managed by Amazon ECS",
        dns_config=None,
        health_check_config=None,
        health_check_custom_config={"FailureThreshold": 1},
        tags=[{"Key": "AmazonECSManaged", "Value": "true"}],
        service_type="HTTP",
    )


def _cluster_sc_namespace(backend: Any, service: Any) -> str | None:
    cluster = backend.clusters.get(service.cluster_name)
    defaults = getattr(cluster, "service_connect_defaults", None) or {}
    return defaults.get("namespace")


def _port_for_name(td: Any, port_name: str | None) -> int | None:
    if td is None:
        return None
    for c in td.container_definitions:
        for pm in c.get("portMappings") or []:
            if port_name and pm.get("name") == port_name:
                return pm.get("containerPort")
    return None


# ---------------------------------------------------------------------------
# Task hooks
# ---------------------------------------------------------------------------


def _register_task(backend: Any, task: Any) -> None:
    service = ecs_tasks.find_service(task)
    if service is None:
        return
    for reg in service.service_registries or []:
        sd_service = _sd_service_by_arn(backend, reg.get("registryArn"))
        if sd_service is not None:
            _register_instance(backend, task, service, sd_service, reg.get("port") or reg.get("containerPort"))
    scc = getattr(service, "service_connect_configuration", None) or {}
    if scc.get("enabled"):
        ns = _sd_namespace(backend, scc.get("namespace") or _cluster_sc_namespace(backend, service))
        if ns is not None:
            td = ecs_tasks.task_definition_for(backend, task.task_definition_arn)
            for entry in scc.get("services") or []:
                name = entry.get("discoveryName") or entry.get("portName")
                if not name:
                    continue
                sd_service = _ensure_sd_service(backend, ns, name)
                _register_instance(backend, task, service, sd_service, _port_for_name(td, entry.get("portName")))


def _register_instance(backend: Any, task: Any, service: Any, sd_service: Any, port: Any) -> None:
    ts = task._sbx
    td_family = task.task_definition_arn.split("/")[-1].split(":")[0]
    attrs = {
        "AWS_INSTANCE_IPV4": ts.ip,
        "AWS_INIT_HEALTH_STATUS": "HEALTHY",
        "AVAILABILITY_ZONE": ts.az,
        "ECS_CLUSTER_NAME": service.cluster_name,
        "ECS_SERVICE_NAME": service.name,
        "ECS_TASK_DEFINITION_FAMILY": td_family,
        "REGION": backend.region_name,
    }
    if port:
        attrs["AWS_INSTANCE_PORT"] = str(port)
    _sd_backend(backend).register_instance(sd_service.id, task.id, str(uuid.uuid4()), attrs)
    ts.instances.append((backend.account_id, backend.region_name, sd_service.id))
    _sync_dns_records(backend.account_id, backend.region_name, sd_service)


def _deregister_instances(task: Any) -> None:
    ts = task._sbx
    for acct, region, sd_id in ts.instances:
        sd = servicediscovery_backends[acct][region]
        sd_service = sd.services.get(sd_id)
        if sd_service is None:
            continue
        try:
            sd.deregister_instance(sd_id, task.id)
        except Exception:
            pass
        _sync_dns_records(acct, region, sd_service)
    ts.instances = []


def _sync_dns_records(acct: str, region: str, sd_service: Any) -> None:
    """Keep ``<service>.<namespace>`` A records in the namespace's hosted zone."""
    sd = servicediscovery_backends[acct][region]
    ns = sd.namespaces.get(namespace_id_of(sd_service))
    if ns is None or ns.type not in ("DNS_PRIVATE", "DNS_PUBLIC"):
        return
    zone_id = (ns.dns_properties or {}).get("HostedZoneId")
    if not zone_id:
        return
    try:
        zone = route53_backends[acct]["aws"].get_hosted_zone(zone_id.split("/")[-1])
    except Exception:
        return
    name = f"{sd_service.name}.{ns.name}.".lower()
    ips = [i.attributes.get("AWS_INSTANCE_IPV4") for i in sd_service.instances if i.attributes.get("AWS_INSTANCE_IPV4")]
    ttl = 60
    for rec in (sd_service.dns_config or {}).get("DnsRecords") or []:
        if rec.get("Type") == "A":
            ttl = rec.get("TTL", ttl)
    zone.rrsets = [r for r in zone.rrsets if not (r.name.lower() == name and r.type == "A")]
    if ips:
        zone.upsert_rrset({"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": ips, "MultiValueAnswer": True})
