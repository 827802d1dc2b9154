"""Task secrets: fetching ``secrets`` from Secrets Manager and SSM Parameter
Store when a task starts, as the ECS agent does with the task execution role.

A task whose containers have ``secrets`` (``valueFrom`` a Secrets Manager ARN,
an SSM parameter ARN or a parameter name) fails to start (after PENDING,
STOPPED with ``stopCode`` TaskFailedToStart and a ``stoppedReason`` starting
``ResourceInitializationError: unable to pull secrets or registry auth: ``)
when, in this order:

1. the task cannot reach the service: the route table of its subnet (the
   explicit association, else the VPC's main table) has no usable default
   route and the VPC has no interface endpoint for the service
   (``com.amazonaws.<region>.secretsmanager`` or ``.ssm``) with private DNS.
   A default route is usable when it goes to a NAT gateway that is available,
   has an Elastic IP (public connectivity) and sits in a subnet whose own
   default route goes to an internet gateway; or to an internet gateway when
   the task has a public IP (Fargate with ``assignPublicIp`` ENABLED; for
   bridge/host tasks, the container instance's public IP).  awsvpc tasks on
   EC2 never get a public IP, as in AWS;
2. the task definition has no execution role, or the role's policies do not
   allow ``secretsmanager:GetSecretValue`` on the secret (``ssm:GetParameters``
   on the parameter), evaluated like the task-role check in ``iampolicy``;
3. the secret or parameter does not exist.

Everything is decided when the task is launched; fixing the network or the
role makes the next task start.  No tick, state or force verbs.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.ec2.models import ec2_backends

from .. import iampolicy
from . import ecs_tasks
from .base import Context, first_install

NAME = "secrets"
ctx: Context

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: "


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.LAUNCH_CHECKS.append(check_secrets)


# ---------------------------------------------------------------------------
# Which secrets, where they live
# ---------------------------------------------------------------------------


def _references(td: Any) -> list[str]:
    out = []
    for c in td.container_definitions:
        for s in c.get("secrets") or []:
            if s.get("valueFrom"):
                out.append(s["valueFrom"])
    return out


def _kind(value_from: str) -> str:
    return "asm" if value_from.startswith("arn:") and ":secretsmanager:" in value_from else "ssm"


def _secret_arn(value_from: str) -> str:
    """A Secrets Manager ``valueFrom`` may add ``:json-key:version-stage:version-id``."""
    parts = value_from.split(":")
    return ":".join(parts[:7])


def _parameter_arn(value_from: str, region: str, account: str) -> str:
    if value_from.startswith("arn:"):
        return value_from
    return f"arn:aws:ssm:{region}:{account}:parameter/{value_from.lstrip('/')}"


def _name_from_arn(arn: str) -> str:
    name = arn.split(":parameter", 1)[-1]
    # arn:...:parameter/app/db -> /app/db ; arn:...:parameter/db -> db
    return name if name.count("/") > 1 else name.lstrip("/")


# ---------------------------------------------------------------------------
# Reachability
# ---------------------------------------------------------------------------


def _route_table(ec2: Any, subnet_id: str, vpc_id: str) -> Any | None:
    main = None
    for rt in ec2.route_tables.values():
        if subnet_id in rt._associations.values():
            return rt
        if rt.vpc_id == vpc_id and rt.main_association_id is not None:
            main = rt
    return main


def _default_route(rt: Any | None) -> Any | None:
    if rt is None:
        return None
    for route in rt.routes:
        if route.destination_cidr_block == "0.0.0.0/0":
            return route
    return None


def _to_internet_gateway(route: Any | None) -> bool:
    return route is not None and route.gateway is not None and str(route.gateway.id).startswith("igw-")


def _nat_works(ec2: Any, nat: Any) -> bool:
    """An available public NAT gateway with an Elastic IP, in a subnet that
    routes 0.0.0.0/0 to an internet gateway."""
    if nat is None or nat.state != "available" or getattr(nat, "connectivity_type", "public") == "private":
        return False
    if not any(a.get("allocationId") for a in getattr(nat, "address_set", None) or []):
        return False
    try:
        subnet = ec2.get_subnet(nat.subnet_id)
    except Exception:
        return False
    return _to_internet_gateway(_default_route(_route_table(ec2, subnet.id, subnet.vpc_id)))


def _endpoint(ec2: Any, vpc_id: str, region: str, service: str) -> bool:
    name = f"com.amazonaws.{region}.{service}"
    for ep in ec2.vpc_end_points.values():
        if ep.vpc_id != vpc_id or ep.service_name != name or ep.state != "available":
            continue
        if (ep.vpc_endpoint_type or "Gateway").lower() != "interface":
            continue
        if ep.private_dns_enabled in (False, "false", "False"):
            continue
        return True
    return False


def _network_of(backend: Any, td: Any, task: Any) -> tuple[str | None, bool]:
    """(subnet id, has a public IP) of the task's network interface."""
    ts = task._sbx
    if td.network_mode == "awsvpc":
        subnet = None
        for att in task.attachments:
            for d in att.get("details", []):
                if d.get("name") == "subnetId":
                    subnet = d["value"]
        conf = (getattr(task, "network_configuration", None) or {}).get("awsvpcConfiguration") or {}
        public = str(conf.get("assignPublicIp", "DISABLED")).upper() == "ENABLED" and not ts.instance_id
        return subnet, public
    if ts.instance_id:
        try:
            instance = ec2_backends[backend.account_id][backend.region_name].get_instance(ts.instance_id)
            return instance.subnet_id, bool(instance.public_ip)
        except Exception:
            return None, False
    return None, True  # no network to speak of: treat as reachable


def reachable(backend: Any, td: Any, task: Any, service: str) -> bool:
    """Whether the task can open a connection to ``service`` (secretsmanager, ssm)."""
    subnet_id, public = _network_of(backend, td, task)
    if subnet_id is None:
        return True
    ec2 = ec2_backends[backend.account_id][backend.region_name]
    try:
        subnet = ec2.get_subnet(subnet_id)
    except Exception:
        return True
    if _endpoint(ec2, subnet.vpc_id, backend.region_name, service):
        return True
    route = _default_route(_route_table(ec2, subnet_id, subnet.vpc_id))
    if route is None:
        return False
    if route.nat_gateway is not None:
        return _nat_works(ec2, route.nat_gateway)
    return _to_internet_gateway(route) and public


# ---------------------------------------------------------------------------
# The launch check
# ---------------------------------------------------------------------------


def _exists(backend: Any, kind: str, ref: str) -> bool:
    try:
        if kind == "asm":
            from moto.secretsmanager.models import secretsmanager_backends

            region = ref.split(":")[3]
            sm = secretsmanager_backends[backend.account_id][region]
            return _secret_arn(ref) in sm.secrets
        from moto.ssm.models import ssm_backends

        region = ref.split(":")[3] if ref.startswith("arn:") else backend.region_name
        return ssm_backends[backend.account_id][region].get_parameter(_name_from_arn(ref) if ref.startswith("arn:") else ref) is not None
    except Exception:
        return False


def check_secrets(backend: Any, td: Any, task: Any) -> tuple[str, str] | None:
    refs = _references(td)
    if not refs:
        return None
    acct, region = backend.account_id, backend.region_name
    role_arn = getattr(td, "execution_role_arn", None)
    role_name = (role_arn or "").split("/")[-1]
    request_id = uuid.uuid4()
    for ref in refs:
        kind = _kind(ref)
        if kind == "asm":
            arn = _secret_arn(ref)
            if not reachable(backend, td, task, "secretsmanager"):
                return "init", (
                    PREFIX + "unable to retrieve secret from asm: There is a connection issue between the task and "
                    "AWS Secrets Manager. Check your task network configuration. failed to fetch secret "
                    f"{arn} from secrets manager: RequestCanceled: request context canceled caused by: context deadline exceeded"
                )
            if not role_arn or not iampolicy.role_allows(acct, role_arn, "secretsmanager:GetSecretValue", arn):
                who = f"arn:aws:sts::{acct}:assumed-role/{role_name}/{task.id}" if role_arn else "the task (no execution role)"
                return "init", (
                    PREFIX + "unable to retrieve secret from asm: service call has been retried 1 time(s): "
                    f"failed to fetch secret {arn} from secrets manager: AccessDeniedException: User: {who} is not "
                    f"authorized to perform: secretsmanager:GetSecretValue on resource: {arn} because no "
                    f"identity-based policy allows the secretsmanager:GetSecretValue action status code: 400, request id: {request_id}"
                )
            if not _exists(backend, kind, ref):
                return "init", (
                    PREFIX + "unable to retrieve secret from asm: service call has been retried 1 time(s): "
                    f"failed to fetch secret {arn} from secrets manager: ResourceNotFoundException: Secrets Manager "
                    f"can't find the specified secret. status code: 400, request id: {request_id}"
                )
        else:
            arn = _parameter_arn(ref, region, acct)
            if not reachable(backend, td, task, "ssm"):
                return "init", (
                    PREFIX + "unable to retrieve secrets from ssm: There is a connection issue between the task and "
                    "AWS Systems Manager Parameter Store. Check your task network configuration. "
                    "RequestCanceled: request context canceled caused by: context deadline exceeded"
                )
            if not role_arn or not iampolicy.role_allows(acct, role_arn, "ssm:GetParameters", arn):
                who = f"arn:aws:sts::{acct}:assumed-role/{role_name}/{task.id}" if role_arn else "the task (no execution role)"
                return "init", (
                    PREFIX + "unable to retrieve secrets from ssm: service call has been retried 1 time(s): "
                    f"AccessDeniedException: User: {who} is not authorized to perform: ssm:GetParameters on resource: "
                    f"{arn} because no identity-based policy allows the ssm:GetParameters action status code: 400, "
                    f"request id: {request_id}"
                )
            if not _exists(backend, kind, ref):
                return "init", PREFIX + f"unable to retrieve secrets from ssm: invalid parameters: {ref}"
    return None
