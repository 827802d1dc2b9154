"""CloudWatch metrics that AWS publishes by itself: ECS service CPU and memory
utilisation, and Application Load Balancer request counts.

Every minute of the sandbox clock (aligned on the minute, as AWS stamps them)
this module writes, into moto's CloudWatch backend of the account and region:

* ``AWS/ECS`` ``CPUUtilization`` and ``MemoryUtilization`` (Percent, dimensions
  ``ClusterName``, ``ServiceName``) for each ACTIVE service with running tasks;
* ``ECS/ContainerInsights`` ``RunningTaskCount``, ``PendingTaskCount`` and
  ``DesiredTaskCount`` (Count, dimensions ``ClusterName``, ``ServiceName``) for
  each ACTIVE service of a cluster whose ``containerInsights`` setting is
  ``enabled`` or ``enhanced`` (``update-cluster-settings``, which moto lacks,
  or ``update-cluster --settings``), together with one performance log event
  per service (``"Type": "Service"``) in the log group
  ``/aws/ecs/containerinsights/<cluster>/performance``, which is created (one
  day retention) the first time, as AWS does;
* ``AWS/ApplicationELB`` ``RequestCount``, ``HTTPCode_Target_2XX_Count``,
  ``RequestCountPerTarget`` (Count, dimensions ``LoadBalancer`` =
  ``app/<name>/<id>`` and ``TargetGroup`` = ``targetgroup/<name>/<id>``) and
  ``HTTPCode_ELB_5XX_Count`` (``LoadBalancer``) for the requests the
  load-balancer proxy handled during that minute.

A service's load is a demand in "percent of one task": by default 10 % CPU and
20 % memory per running task.  The force verb sets the utilisation it shows at
its current task count; the demand then stays, so scaling out lowers the
per-task utilisation as it would in AWS.  get-metric-statistics and
get-metric-data return these datapoints like any other.

State: ``metrics`` (per-service load, per-target request counts).
Force verb: ``{"load": service ARN or name, ["cluster": name], ["cpu": percent],
["memory": percent]}``.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.ecs.models import ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.logs.models import logs_backends

from .. import proxy
from . import ecs_services
from .base import Context, first_install

NAME = "metrics"
ctx: Context
PERIOD = 60
DEFAULT_DEMAND = {"cpu": 10.0, "memory": 20.0}

_last_bucket: int | None = None
# (account, region, lb arn, tg arn) -> {"requests": n, "2xx": n, "5xx": n}
_requests: dict[tuple, dict] = {}
# target group ARN -> {target "ip:port": requests so far}
_per_target: dict[str, dict[str, int]] = {}


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        proxy.OBSERVERS.append(_count_request)
        EC2ContainerServiceResponse.update_cluster_settings = _update_cluster_settings


def _update_cluster_settings(self: Any) -> ActionResult:
    """UpdateClusterSettings (moto lacks it): merges the named settings into the
    cluster's, as AWS does (``containerInsights`` is the only one)."""
    cluster = self.ecs_backend._get_cluster(self._get_param("cluster"))
    merged = {s["name"]: s for s in (cluster.settings or [])}
    for setting in self._get_param("settings") or []:
        merged[setting["name"]] = {"name": setting["name"], "value": setting["value"]}
    cluster.settings = list(merged.values())
    return ActionResult({"cluster": cluster})


def container_insights(acct: str, region: str, cluster_name: str) -> bool:
    """Whether the cluster's containerInsights setting is on."""
    cluster = ecs_backends[acct][region].clusters.get(cluster_name)
    for setting in getattr(cluster, "settings", None) or []:
        if setting.get("name") == "containerInsights":
            return str(setting.get("value", "")).lower() in ("enabled", "enhanced")
    return False


def reset() -> None:
    _requests.clear()
    _per_target.clear()


def _count_request(backend: Any, lb: Any, tg: Any, target: dict | None, status: int) -> None:
    key = (backend.account_id, backend.region_name, lb.arn, tg.arn)
    counts = _requests.setdefault(key, {"requests": 0, "2xx": 0, "5xx": 0})
    if target is None:
        counts["5xx"] += 1
        return
    counts["requests"] += 1
    if 200 <= status < 300:
        counts["2xx"] += 1
    name = f"{target['Id']}:{target['Port']}"
    per = _per_target.setdefault(tg.arn, {})
    per[name] = per.get(name, 0) + 1


# ---------------------------------------------------------------------------
# Service load
# ---------------------------------------------------------------------------


def demand(service: Any) -> dict:
    return getattr(service, "_sbx_demand", None) or {}


def utilisation(service: Any) -> dict[str, float] | None:
    """Per-task CPU and memory utilisation (percent), None without running tasks."""
    running = service.running_count or 0
    if running <= 0:
        return None
    out = {}
    for kind, default in DEFAULT_DEMAND.items():
        total = demand(service).get(kind)
        out[kind] = default if total is None else min(100.0, total / running)
    return out


def force_load(body: dict) -> dict:
    found = ecs_services.find_service(body["load"], body.get("cluster"))
    if found is None:
        raise KeyError("service not found")
    _, service = found
    tasks = service.running_count or service.desired_count or 1
    wanted = dict(demand(service))
    for kind in DEFAULT_DEMAND:
        if kind in body:
            value = float(body[kind])
            if not 0 <= value <= 100:
                raise ValueError(f"{kind} must be a percentage")
            wanted[kind] = value * tasks
    service._sbx_demand = wanted
    return {"service": service.arn, "tasks": tasks, **{k: v / tasks for k, v in wanted.items()}}


FORCE = {"load": force_load}


# ---------------------------------------------------------------------------
# The tick: one datapoint per completed minute
# ---------------------------------------------------------------------------


def _stamp(bucket: int) -> datetime:
    # moto keeps metric timestamps as naive UTC datetimes.
    return datetime.fromtimestamp(bucket * PERIOD, timezone.utc).replace(tzinfo=None)


def tick(now: float) -> None:
    global _last_bucket
    current = math.floor(ctx.clock.epoch() / PERIOD)
    if _last_bucket is None:
        _last_bucket = current - 1
    if current - 1 <= _last_bucket:
        return
    buckets = list(range(max(_last_bucket + 1, current - 60), current))
    _last_bucket = current - 1
    for bucket in buckets:
        _publish_services(_stamp(bucket))
    _publish_requests(_stamp(buckets[-1]))


def _put(account: str, region: str, namespace: str, data: list[dict]) -> None:
    if data:
        cloudwatch_backends[account][region].put_metric_data(namespace, data)


def _publish_services(stamp: datetime) -> None:
    for acct, region, _, service in ecs_services.all_services():
        if service.status != "ACTIVE":
            continue
        dims = [{"Name": "ClusterName", "Value": service.cluster_name}, {"Name": "ServiceName", "Value": service.name}]
        if container_insights(acct, region, service.cluster_name):
            counts = {
                "RunningTaskCount": service.running_count or 0,
                "PendingTaskCount": service.pending_count or 0,
                "DesiredTaskCount": service.desired_count or 0,
            }
            _put(
                acct,
                region,
                "ECS/ContainerInsights",
                [{"MetricName": k, "Dimensions": dims, "Timestamp": stamp, "Value": v, "Unit": "Count"} for k, v in counts.items()],
            )
            _performance_event(acct, region, service, stamp, counts)
        use = utilisation(service)
        if use is None:
            continue
        _put(
            acct,
            region,
            "AWS/ECS",
            [
                {"MetricName": "CPUUtilization", "Dimensions": dims, "Timestamp": stamp, "Value": use["cpu"], "Unit": "Percent"},
                {"MetricName": "MemoryUtilization", "Dimensions": dims, "Timestamp": stamp, "Value": use["memory"], "Unit": "Percent"},
            ],
        )


def _performance_event(acct: str, region: str, service: Any, stamp: datetime, counts: dict) -> None:
    """The performance log event Container Insights writes for a service each minute."""
    logs = logs_backends[acct][region]
    group = f"/aws/ecs/containerinsights/{service.cluster_name}/performance"
    if group not in logs.groups:
        logs.create_log_group(group, {})
        logs.put_retention_policy(group, 1)
    stream = "ServiceTelemetry"
    logs.ensure_log_stream(group, stream)
    millis = int(stamp.replace(tzinfo=timezone.utc).timestamp() * 1000)
    event = {"Version": "0", "Type": "Service", "ServiceName": service.name, "ClusterName": service.cluster_name, "Timestamp": millis, **counts}
    logs.put_log_events(group, stream, [{"timestamp": millis, "message": json.dumps(event)}])


def _dimension(arn: str, kind: str) -> str:
    """``app/<name>/<id>`` or ``targetgroup/<name>/<id>`` from an ELBv2 ARN."""
    tail = arn.split(":")[-1]
    return tail.split("/", 1)[1] if kind == "lb" else tail


def _publish_requests(stamp: datetime) -> None:
    from moto.elbv2.models import elbv2_backends

    pending = dict(_requests)
    _requests.clear()
    for (acct, region, lb_arn, tg_arn), counts in pending.items():
        lb_dim = {"Name": "LoadBalancer", "Value": _dimension(lb_arn, "lb")}
        tg_dim = {"Name": "TargetGroup", "Value": _dimension(tg_arn, "tg")}
        data = []
        if counts["requests"]:
            tg = elbv2_backends[acct][region].target_groups.get(tg_arn)
            targets = len(tg.targets) if tg is not None else 1
            data += [
                {"MetricName": "RequestCount", "Dimensions": [lb_dim, tg_dim], "Timestamp": stamp, "Value": counts["requests"], "Unit": "Count"},
                {"MetricName": "HTTPCode_Target_2XX_Count", "Dimensions": [lb_dim, tg_dim], "Timestamp": stamp, "Value": counts["2xx"], "Unit": "Count"},
                {
                    "MetricName": "RequestCountPerTarget",
                    "Dimensions": [tg_dim, lb_dim],
                    "Timestamp": stamp,
                    "Value": counts["requests"] / max(targets, 1),
                    "Unit": "Count",
                },
            ]
        if counts["5xx"]:
            data.append({"MetricName": "HTTPCode_ELB_5XX_Count", "Dimensions": [lb_dim], "Timestamp": stamp, "Value": counts["5xx"], "Unit": "Count"})
        _put(acct, region, "AWS/ApplicationELB", data)


def state() -> dict:
    services = []
    for acct, region, _, service in ecs_services.all_services():
        if service.status != "ACTIVE":
            continue
        services.append({"account": acct, "region": region, "arn": service.arn, "running": service.running_count, "utilisation": utilisation(service)})
    return {"metrics": {"services": services, "targets": {tg: dict(counts) for tg, counts in _per_target.items()}}}
