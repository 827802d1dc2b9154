"""The lifecycle simulator: makes ECS services, their tasks, load-balancer
targets and Cloud Map registrations change over time, like AWS does.

moto keeps ECS static (see MOTO_NOTES.md).  This module owns everything that
moves: it creates and stops moto ``Task`` objects for services, keeps the
service's deployments, counts and events true, registers task IPs in target
groups (with simulated target health) and in Cloud Map / Route 53, and plays
the failure cases (image pull failure, a task role missing a permission,
the deployment circuit breaker).

State lives on moto's own model objects (attributes named ``_sbx``), so
``/moto-api/reset`` and ``/_sandbox/reset`` drop it together with moto's.
Every entry point is called with ``config.LOCK`` held.
"""

from __future__ import annotations

import ipaddress
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import moto.ecs.models as ecs_models
from moto.ec2.models import ec2_backends
from moto.ecs.models import Task, ecs_backends
from moto.elbv2.models import elbv2_backends
from moto.logs.models import logs_backends
from moto.route53.models import route53_backends
from moto.servicediscovery.models import servicediscovery_backends

from . import iampolicy
from .config import CONFIG

_rng = random.Random(20240601)


def now_dt() -> datetime:
    return datetime.now(timezone.utc)


def mono() -> float:
    return time.monotonic()


class Clock:
    started = time.monotonic()
    ticks = 0


# ---------------------------------------------------------------------------
# Simulator state attached to moto objects
# ---------------------------------------------------------------------------


@dataclass
class SvcState:
    """Attached to a moto ECS ``Service`` as ``_sbx``."""

    uid: str
    # Internal per-deployment bookkeeping, keyed by deployment id.
    deps: dict = field(default_factory=dict)
    # Last deployment that reached COMPLETED: (id, task definition ARN).
    last_completed: tuple | None = None
    steady: bool = False
    inactive_since: float | None = None
    # Pending batched messages for this tick.
    started_batch: list = field(default_factory=list)
    registered_batch: dict = field(default_factory=dict)
    deregistered_batch: dict = field(default_factory=dict)
    stopped_batch: list = field(default_factory=list)


@dataclass
class DepState:
    failed: int = 0
    consecutive_failures: int = 0
    unable_reported_at: int = 0


@dataclass
class TaskState:
    """Attached to a moto ECS ``Task`` as ``_sbx``."""

    service_uid: str | None
    service_name: str | None
    deployment_id: str | None
    ip: str
    az: str
    phase_since: float
    failure: str | None = None  # None | "pull" | "crash"
    failure_detail: str = ""
    running_since: float | None = None
    stop_requested_at: float | None = None
    stop_counts_as_failure: bool = False
    stopped_at_mono: float | None = None
    # (target group ARN, target id) pairs registered for this task.
    targets: list = field(default_factory=list)
    # (account, region, sd service id) Cloud Map registrations.
    instances: list = field(default_factory=list)
    logged_start: bool = False


@dataclass
class TargetHealth:
    """Attached per target to a moto ``FakeTargetGroup`` in ``_sbx_health``."""

    state: str
    reason: str | None
    description: str | None
    since: float
    port: int
    task_arn: str
    failing: bool = False


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def new_deployment_id() -> str:
    return "ecs-svc/" + "".join(str(_rng.randint(0, 9)) for _ in range(19))


def add_event(service: Any, message: str) -> None:
    service.events.insert(
        0, {"id": str(uuid.uuid4()), "createdAt": now_dt(), "message": message}
    )
    del service.events[CONFIG.max_events :]


def svc_state(service: Any) -> SvcState:
    st = getattr(service, "_sbx", None)
    if st is None:
        st = SvcState(uid=str(uuid.uuid4()))
        service._sbx = st
        _init_service(service)
    return st


def _init_service(service: Any) -> None:
    """Normalise what moto stored on create so the simulator can run it."""
    if not getattr(service, "created_at", None):
        service.created_at = now_dt()
    if not getattr(service, "deployment_configuration", None):
        service.deployment_configuration = {}
    dc = service.deployment_configuration
    dc.setdefault("deploymentCircuitBreaker", {"enable": False, "rollback": False})
    dc.setdefault("maximumPercent", 200)
    dc.setdefault("minimumHealthyPercent", 100)
    for dep in service.deployments:
        dep["runningCount"] = 0
        dep["pendingCount"] = 0
        dep["failedTasks"] = 0
        dep["rolloutState"] = "IN_PROGRESS"
        dep["rolloutStateReason"] = "ECS deployment in progress."
        dep["id"] = new_deployment_id()
        dep["taskDefinition"] = service.task_definition
        _attach_deployment_extras(service, dep)
    service.running_count = 0
    service.pending_count = 0


def _attach_deployment_extras(service: Any, dep: dict) -> None:
    scc = getattr(service, "service_connect_configuration", None)
    if scc:
        dep["serviceConnectConfiguration"] = scc
    else:
        dep.pop("serviceConnectConfiguration", None)
    dep["networkConfiguration"] = getattr(service, "network_configuration", None) or None
    strategy = getattr(service, "capacity_provider_strategy", None)
    if strategy:
        dep["capacityProviderStrategy"] = strategy


def task_definition_for(backend: Any, td_arn: str) -> Any | None:
    try:
        return backend.describe_task_definition(td_arn)
    except Exception:
        return None


def _short(arn: str) -> str:
    return arn.split("/")[-1]


# ---------------------------------------------------------------------------
# Entry points called by the moto patches (with LOCK held)
# ---------------------------------------------------------------------------


def on_service_created(backend: Any, service: Any) -> None:
    st = svc_state(service)
    dep = service.deployments[0] if service.deployments else None
    if dep is not None:
        st.deps[dep["id"]] = DepState()
        dep["rolloutStateReason"] = f"ECS deployment {dep['id']} in progress."


def on_service_updated(backend: Any, service: Any, new_deployment: bool) -> None:
    st = svc_state(service)
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return
    if new_deployment or not service.deployments:
        start_deployment(service, service.task_definition)
    # desiredCount: the PRIMARY deployment follows the service.
    if service.deployments:
        service.deployments[0]["desiredCount"] = service.desired_count
        service.deployments[0]["updatedAt"] = now_dt()
        if service.deployments[0]["rolloutState"] == "COMPLETED":
            # A scale change is carried out within the completed deployment.
            st.steady = False


def start_deployment(service: Any, td_arn: str, reason: str | None = None) -> dict:
    st = svc_state(service)
    for dep in service.deployments:
        if dep["status"] == "PRIMARY":
            dep["status"] = "ACTIVE"
            dep["updatedAt"] = now_dt()
    dep_id = new_deployment_id()
    ts = now_dt()
    dep = {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": td_arn,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": ts,
        "updatedAt": ts,
        "launchType": service.launch_type,
        "platformVersion": service.platform_version,
        "platformFamily": "Linux" if service.launch_type == "FARGATE" else None,
        "rolloutState": "IN_PROGRESS",
        "rolloutStateReason": reason or f"ECS deployment {dep_id} in progress.",
    }
    _attach_deployment_extras(service, dep)
    service.deployments.insert(0, dep)
    service.task_definition = td_arn
    st.deps[dep_id] = DepState()
    st.steady = False
    return dep


def on_service_deleted(backend: Any, service: Any) -> None:
    st = svc_state(service)
    service.status = "DRAINING"
    service.desired_count = 0
    for dep in service.deployments:
        dep["desiredCount"] = 0
    st.steady = False


def request_stop(task: Any, reason: str, stop_code: str, failure: bool = False) -> None:
    """Begin stopping a simulator-owned task (scheduler, user or failure)."""
    ts: TaskState = task._sbx
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.stopping_at = now_dt()
    ts.stop_requested_at = mono()
    ts.stop_counts_as_failure = failure
    if failure and ts.failure != "pull":
        _record_failure(task)
    if task.last_status in ("PROVISIONING", "PENDING"):
        # Never started: nothing to drain.
        _finish_stop(task)
    else:
        _set_status(task, "DEACTIVATING")
        _begin_target_draining(task)
        _deregister_instances(task)


def adopt_standalone(backend: Any, task: Any) -> None:
    """Give a run-task/start-task task the PROVISIONING -> RUNNING lifecycle."""
    ip = _task_ip(task) or _pick_ip(backend.account_id, backend.region_name, None)
    task._sbx = TaskState(None, None, None, ip, _az_for(backend, None), mono())
    _decorate_new_task(backend, task)


# ---------------------------------------------------------------------------
# The tick
# ---------------------------------------------------------------------------


def tick() -> None:
    if CONFIG.paused:
        return
    Clock.ticks += 1
    for account_id, per_region in list(dict.items(ecs_backends)):
        for region, backend in list(dict.items(per_region)):
            try:
                _tick_backend(backend)
            except Exception:  # keep the simulator alive; surface in the log
                import traceback

                traceback.print_exc()
    _tick_target_health()


def _tick_backend(backend: Any) -> None:
    # 1. task phases
    for cluster_name, tasks in list(backend.tasks.items()):
        for arn, task in list(tasks.items()):
            if getattr(task, "_sbx", None) is None:
                continue
            _advance_task(backend, task)
            if (
                task.last_status == "STOPPED"
                and task._sbx.stopped_at_mono is not None
                and mono() - task._sbx.stopped_at_mono > CONFIG.stopped_retention
            ):
                del tasks[arn]
    # 2. services
    for key, service in list(backend.services.items()):
        st = svc_state(service)
        if service.status == "INACTIVE":
            if st.inactive_since is None:
                st.inactive_since = mono()
            if mono() - st.inactive_since > CONFIG.inactive_retention:
                del backend.services[key]
            continue
        if service.deployment_controller.get("type", "ECS") != "ECS":
            continue
        _reconcile_service(backend, service)
        _flush_events(service)


def _set_status(task: Any, status: str) -> None:
    task.last_status = status  # moto's ManagedState setter
    task._sbx.phase_since = mono()
    for c in task.containers:
        if status in ("PENDING", "RUNNING", "STOPPED"):
            c.last_status = status


def _advance_task(backend: Any, task: Any) -> None:
    ts: TaskState = task._sbx
    age = mono() - ts.phase_since
    status = task.last_status
    if status == "PROVISIONING" and age >= CONFIG.provisioning:
        _set_status(task, "PENDING")
        task.pull_started_at = now_dt()
    elif status == "PENDING" and age >= CONFIG.pending:
        if ts.failure == "pull":
            task.pull_stopped_at = now_dt()
            for c in task.containers:
                c.reason = ts.failure_detail
            task.desired_status = "STOPPED"
            task.stopped_reason = ts.failure_detail
            task.stop_code = "TaskFailedToStart"
            task.stopping_at = now_dt()
            ts.stop_counts_as_failure = True
            _finish_stop(task)
            return
        task.pull_stopped_at = now_dt()
        _set_status(task, "RUNNING")
        task.started_at = now_dt()
        task.connectivity = "CONNECTED"
        task.connectivity_at = now_dt()
        task.health_status = "UNKNOWN"
        ts.running_since = mono()
        for c in task.containers:
            c.health_status = "UNKNOWN"
        _on_task_running(backend, task)
    elif status == "RUNNING":
        if ts.failure == "crash" and age >= CONFIG.crash_after:
            for c in task.containers:
                c.exit_code = 1
                c.exitCode = 1
                c.reason = ts.failure_detail
            _write_logs(backend, task, [f"ERROR {ts.failure_detail}", "Application run failed"])
            request_stop(task, "Essential container in task exited", "EssentialContainerExited", failure=True)
    elif status == "DEACTIVATING":
        if age >= (CONFIG.draining if ts.targets else 0):
            _set_status(task, "STOPPING")
    elif status == "STOPPING" and age >= CONFIG.stopping / 2:
        _set_status(task, "DEPROVISIONING")
    elif status == "DEPROVISIONING" and age >= CONFIG.stopping / 2:
        _finish_stop(task)


def _finish_stop(task: Any) -> None:
    ts: TaskState = task._sbx
    _set_status(task, "STOPPED")
    task.desired_status = "STOPPED"
    task.stopped_at = now_dt()
    task.execution_stopped_at = task.stopped_at
    task.connectivity = None
    ts.stopped_at_mono = mono()
    for c in task.containers:
        c.last_status = "STOPPED"
        if ts.failure != "pull" and getattr(c, "exit_code", None) is None:
            c.exit_code = 0 if not ts.stop_counts_as_failure else 1
            c.exitCode = c.exit_code
    _deregister_instances(task)
    # A task that never drained (or stopped early) leaves its targets now.
    for tg_arn, target_id in list(ts.targets):
        tg = _target_group(task, tg_arn)
        if tg is not None:
            health = getattr(tg, "_sbx_health", {}).get(target_id)
            if health and health.state != "draining":
                _remove_target(tg, target_id)
    # Release the ENI like Fargate does.
    for att in task.attachments:
        for d in att.get("details", []):
            if d.get("name") == "networkInterfaceId":
                try:
                    ec2_backends[task._account_id][task.region_name].delete_network_interface(d["value"])
                except Exception:
                    pass
        att["status"] = "DELETED"
    if ts.failure == "pull":
        _record_failure(task)


def _record_failure(task: Any) -> None:
    """Count a failed task against its deployment and tell the service."""
    ts: TaskState = task._sbx
    if ts.service_uid is None:
        return
    svc = _find_service(task)
    if svc is None:
        return
    st = svc_state(svc)
    dep = st.deps.get(ts.deployment_id)
    if dep is not None:
        dep.failed += 1
        dep.consecutive_failures += 1
    text = task.stopped_reason
    if ts.failure_detail and ts.failure_detail not in text:
        text = f"{text}: {ts.failure_detail}"
    st.stopped_batch.append((task.id, text))


def _find_service(task: Any) -> Any | None:
    backend = ecs_backends[task._account_id][task.region_name]
    for svc in backend.services.values():
        st = getattr(svc, "_sbx", None)
        if st is not None and st.uid == task._sbx.service_uid:
            return svc
    return None


# ---------------------------------------------------------------------------
# Service reconciliation (the ECS service scheduler)
# ---------------------------------------------------------------------------


def _service_tasks(backend: Any, service: Any) -> list:
    uid = service._sbx.uid
    tasks = backend.tasks.get(service.cluster_name, {})
    return [t for t in tasks.values() if getattr(t, "_sbx", None) is not None and t._sbx.service_uid == uid]


def _is_healthy(task: Any, service: Any) -> bool:
    ts: TaskState = task._sbx
    if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    if ts.failure is not None or ts.running_since is None:
        return False
    if mono() - ts.running_since < CONFIG.stable:
        return False
    for tg_arn, target_id in ts.targets:
        tg = _target_group(task, tg_arn)
        health = getattr(tg, "_sbx_health", {}).get(target_id) if tg is not None else None
        if health is None or health.state != "healthy":
            return False
    if service.load_balancers and not ts.targets:
        return False
    return True


def _reconcile_service(backend: Any, service: Any) -> None:
    st = svc_state(service)
    tasks = _service_tasks(backend, service)
    live = [t for t in tasks if t.desired_status == "RUNNING"]
    by_dep: dict[str, list] = {}
    for t in live:
        by_dep.setdefault(t._sbx.deployment_id, []).append(t)

    deployments = service.deployments
    primary = deployments[0] if deployments else None
    desired = service.desired_count if service.status == "ACTIVE" else 0
    dc = service.deployment_configuration or {}
    max_total = max(desired, math.floor(desired * dc.get("maximumPercent", 200) / 100))
    min_healthy = math.ceil(desired * dc.get("minimumHealthyPercent", 100) / 100)

    # Tasks that belong to no known deployment (e.g. after a rollback) are stopped.
    known = {d["id"] for d in deployments}
    for t in live:
        if t._sbx.deployment_id not in known:
            request_stop(t, _scaling_reason(primary), "ServiceSchedulerInitiated")

    if primary is not None:
        pdep = st.deps.setdefault(primary["id"], DepState())
        p_live = by_dep.get(primary["id"], [])
        # Circuit breaker.
        cb = dc.get("deploymentCircuitBreaker") or {}
        if (
            cb.get("enable")
            and primary["rolloutState"] == "IN_PROGRESS"
            and pdep.failed >= CONFIG.circuit_breaker_threshold
        ):
            _trip_circuit_breaker(backend, service, primary, bool(cb.get("rollback")))
            _update_counts(service, _service_tasks(backend, service))
            return  # re-evaluate next tick with the new deployment list

        # Scale the primary deployment up or down.
        if primary["rolloutState"] != "FAILED" or service.status != "ACTIVE":
            if len(p_live) < desired:
                room = max_total - len(live)
                n = min(desired - len(p_live), max(room, 0))
                if n > 0:
                    _launch_tasks(backend, service, primary, n)
            elif len(p_live) > desired:
                excess = sorted(p_live, key=_stop_order)[: len(p_live) - desired]
                for t in excess:
                    request_stop(t, _scaling_reason(primary), "ServiceSchedulerInitiated")

        # Replace old deployments' tasks while keeping minimumHealthyPercent.
        p_healthy = sum(1 for t in by_dep.get(primary["id"], []) if _is_healthy(t, service) and t.desired_status == "RUNNING")
        old_tasks = [t for d in deployments[1:] for t in by_dep.get(d["id"], []) if t.desired_status == "RUNNING"]
        old_running = [t for t in old_tasks if t.last_status == "RUNNING"]
        for t in [t for t in old_tasks if t.last_status != "RUNNING"]:
            request_stop(t, _scaling_reason(primary), "ServiceSchedulerInitiated")
        can_stop = p_healthy + len(old_running) - min_healthy
        if service.status != "ACTIVE":
            can_stop = len(old_running)
        for t in old_running[: max(can_stop, 0)]:
            request_stop(t, _scaling_reason(primary), "ServiceSchedulerInitiated")

    # Drop old deployments with no tasks left (live or still stopping).
    for dep in list(deployments[1:]):
        remaining = [t for t in tasks if t._sbx.deployment_id == dep["id"] and t.last_status != "STOPPED"]
        if not remaining:
            deployments.remove(dep)

    _update_counts(service, tasks)

    if primary is not None and service.status == "ACTIVE":
        pdep = st.deps.setdefault(primary["id"], DepState())
        p_live = [t for t in tasks if t._sbx.deployment_id == primary["id"] and t.desired_status == "RUNNING"]
        healthy = [t for t in p_live if _is_healthy(t, service)]
        if healthy:
            pdep.consecutive_failures = 0
        settled = (
            len(deployments) == 1
            and len(healthy) == desired
            and len(p_live) == desired
            and not any(t.last_status not in ("RUNNING", "STOPPED") for t in tasks)
        )
        if settled and primary["rolloutState"] == "IN_PROGRESS":
            primary["rolloutState"] = "COMPLETED"
            primary["rolloutStateReason"] = f"ECS deployment {primary['id']} completed."
            primary["updatedAt"] = now_dt()
            st.last_completed = (primary["id"], primary["taskDefinition"])
            _flush_events(service)
            add_event(service, f"(service {service.name}) deployment {primary['id']} deployment completed.")
        if settled and not st.steady and primary["rolloutState"] in ("COMPLETED", "FAILED"):
            st.steady = True
            _flush_events(service)
            add_event(service, f"(service {service.name}) has reached a steady state.")
        elif not settled:
            st.steady = False
        # Repeated failures.
        if pdep.consecutive_failures >= 2 and pdep.consecutive_failures - pdep.unable_reported_at >= 3 or (
            pdep.consecutive_failures >= 2 and pdep.unable_reported_at == 0
        ):
            pdep.unable_reported_at = pdep.consecutive_failures
            _flush_events(service)
            add_event(
                service,
                f"(service {service.name}) is unable to consistently start tasks successfully. "
                "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
            )

    if service.status == "DRAINING" and not [t for t in tasks if t.last_status != "STOPPED"]:
        service.status = "INACTIVE"
        service.deployments[:] = service.deployments[:1]
        st.inactive_since = mono()


def _stop_order(task: Any) -> tuple:
    # Prefer stopping tasks that are not yet running, then the newest.
    order = {"PROVISIONING": 0, "PENDING": 1, "RUNNING": 2}.get(task.last_status, 3)
    return (order, -(task._sbx.running_since or task._sbx.phase_since))


def _scaling_reason(primary: dict | None) -> str:
    dep_id = primary["id"] if primary else "ecs-svc/0"
    return f"Scaling activity initiated by (deployment {dep_id})"


def _update_counts(service: Any, tasks: list) -> None:
    total_running = total_pending = 0
    for dep in service.deployments:
        mine = [t for t in tasks if t._sbx.deployment_id == dep["id"] and t.desired_status == "RUNNING"]
        running = sum(1 for t in mine if t.last_status == "RUNNING")
        pending = sum(1 for t in mine if t.last_status in ("PROVISIONING", "PENDING"))
        dep["runningCount"] = running
        dep["pendingCount"] = pending
        dep["failedTasks"] = service._sbx.deps.get(dep["id"], DepState()).failed
        if dep["status"] != "PRIMARY":
            dep["desiredCount"] = len(mine)
        total_running += running
        total_pending += pending
    # AWS counts stopping tasks as running until they are gone.
    stopping = sum(
        1 for t in tasks if t.desired_status == "STOPPED" and t.last_status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING")
    )
    service.running_count = total_running + stopping
    service.pending_count = total_pending


def _trip_circuit_breaker(backend: Any, service: Any, failed: dict, rollback: bool) -> None:
    st = svc_state(service)
    failed["rolloutState"] = "FAILED"
    failed["rolloutStateReason"] = "ECS deployment circuit breaker: tasks failed to start."
    failed["updatedAt"] = now_dt()
    _flush_events(service)
    add_event(service, f"(service {service.name}) (deployment {failed['id']}) deployment failed: tasks failed to start.")
    if not rollback:
        return
    previous = next((d for d in service.deployments[1:] if d["status"] == "ACTIVE"), None)
    if previous is not None:
        prev_id, prev_td = previous["id"], previous["taskDefinition"]
    elif st.last_completed is not None:
        prev_id, prev_td = st.last_completed
    else:
        return  # nothing to roll back to
    add_event(service, f"(service {service.name}) rolling back to deployment {prev_id}.")
    new = start_deployment(
        service,
        prev_td,
        reason=f"ECS deployment circuit breaker: rolling back to deploymentId {prev_id}.",
    )
    # Tasks of the deployment we roll back to already run that task
    # definition: the rollback deployment takes them over.
    if previous is not None:
        for t in _service_tasks(backend, service):
            if t._sbx.deployment_id == prev_id:
                t._sbx.deployment_id = new["id"]
        service.deployments.remove(previous)
    # Stop what is left of the failed deployment.
    for t in _service_tasks(backend, service):
        if t._sbx.deployment_id == failed["id"] and t.desired_status == "RUNNING":
            request_stop(t, _scaling_reason(new), "ServiceSchedulerInitiated")


# ---------------------------------------------------------------------------
# Launching tasks
# ---------------------------------------------------------------------------


def _launch_tasks(backend: Any, service: Any, dep: dict, count: int) -> None:
    st = svc_state(service)
    cluster = backend.clusters.get(service.cluster_name)
    td = task_definition_for(backend, dep["taskDefinition"])
    if cluster is None or td is None:
        return
    for _ in range(count):
        task = _make_task(backend, cluster, td, service, dep)
        st.started_batch.append(task.id)


def _subnets(service: Any) -> list[str]:
    nc = getattr(service, "network_configuration", None) or {}
    return list((nc.get("awsvpcConfiguration") or {}).get("subnets") or [])


def _pick_ip(account_id: str, region: str, subnet_id: str | None) -> str:
    cidr = "10.0.0.0/16"
    if subnet_id:
        try:
            cidr = ec2_backends[account_id][region].get_subnet(subnet_id).cidr_block
        except Exception:
            pass
    net = ipaddress.ip_network(cidr, strict=False)
    used = set()
    try:
        for eni in ec2_backends[account_id][region].enis.values():
            used.add(eni.private_ip_address)
    except Exception:
        pass
    # AWS reserves the first four addresses and the last one of a subnet.
    first, last = int(net.network_address) + 4, int(net.broadcast_address) - 1
    for _ in range(1000):
        ip = str(ipaddress.ip_address(_rng.randint(first, max(first, last))))
        if ip not in used:
            return ip
    return str(ipaddress.ip_address(first))


def _az_for(backend: Any, subnet_id: str | None) -> str:
    if subnet_id:
        try:
            return ec2_backends[backend.account_id][backend.region_name].get_subnet(subnet_id).availability_zone
        except Exception:
            pass
    return f"{backend.region_name}a"


def _task_ip(task: Any) -> str | None:
    for att in task.attachments:
        for d in att.get("details", []):
            if d.get("name") == "privateIPv4Address":
                return d["value"]
    return None



def namespace_id_of(sd_service: Any) -> str | None:
    """The namespace of a Cloud Map service. moto keeps it empty when the caller gave it only
    inside the (deprecated but accepted) ``DnsConfig.NamespaceId``."""
    return sd_service.namespace_id or (getattr(sd_service, "dns_config", None) or {}).get("NamespaceId")


def task_resources(backend, td) -> dict:
    """moto's resource sum for a task definition, which fails (``None + int``) when a
    container has neither ``memory`` nor ``memoryReservation``: valid on Fargate, where the
    task-level memory applies. Then the task-level values stand in."""
    try:
        return backend._calculate_task_resource_requirements(td)
    except TypeError:
        def whole(value) -> int:
            try:
                return int(value or 0)
            except (TypeError, ValueError):
                return 0

        return {"CPU": whole(td.cpu), "MEMORY": whole(td.memory), "PORTS": [], "PORTS_UDP": []}

def _make_task(backend: Any, cluster: Any, td: Any, service: Any, dep: dict) -> Task:
    subnets = _subnets(service)
    subnet = _rng.choice(subnets) if subnets else None
    ip = _pick_ip(backend.account_id, backend.region_name, subnet)
    net_conf = None
    if td.network_mode == "awsvpc":
        awsvpc = dict((service.network_configuration or {}).get("awsvpcConfiguration") or {})
        awsvpc.setdefault("securityGroups", [])
        if subnet:
            awsvpc["subnets"] = [subnet] + [s for s in subnets if s != subnet]
        net_conf = {"awsvpcConfiguration": awsvpc}
    # moto's Task.__init__ creates the ENI with moto.ecs.models.random_private_ip();
    # swap it for one that returns our address inside the subnet's CIDR.
    original = ecs_models.random_private_ip
    ecs_models.random_private_ip = lambda *a, **k: ip
    try:
        task = Task(
            cluster,
            td,
            None,
            task_resources(backend, td),
            backend=backend,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "",
            started_by=dep["id"],
            networking_configuration=net_conf,
            platform_version=service.platform_version,
        )
    finally:
        ecs_models.random_private_ip = original
    backend.tasks.setdefault(cluster.name, {})[task.task_arn] = task
    for att in task.attachments:
        for d in att["details"]:
            if d["name"] == "privateDnsName" and not d["value"]:
                d["value"] = f"ip-{ip.replace('.', '-')}.ec2.internal"
    task._sbx = TaskState(
        service_uid=service._sbx.uid,
        service_name=service.name,
        deployment_id=dep["id"],
        ip=ip,
        az=_az_for(backend, subnet),
        phase_since=mono(),
    )
    _decorate_new_task(backend, task)
    failure, detail = _predict_failure(backend, td, task)
    task._sbx.failure, task._sbx.failure_detail = failure, detail
    return task


class SimContainer:
    """A container of a task, serialised by moto through its attribute names."""

    def __init__(self, task: Any, cdef: dict, ip: str | None, attachment_id: str | None):
        self.container_arn = f"arn:aws:ecs:{task.region_name}:{task._account_id}:container/{task.cluster_name}/{task.id}/{uuid.uuid4()}"
        self.task_arn = task.task_arn
        self.name = cdef.get("name")
        self.image = cdef.get("image")
        self.runtime_id = f"{task.id}-{uuid.uuid4().hex[:10]}"
        self.last_status = "PENDING"
        self.exit_code = None
        self.reason = None
        self.health_status = "UNKNOWN"
        self.cpu = str(cdef.get("cpu", 0))
        self.memory = str(cdef["memory"]) if cdef.get("memory") else None
        self.memory_reservation = str(cdef["memoryReservation"]) if cdef.get("memoryReservation") else None
        self.network_bindings = []
        self.network_interfaces = (
            [{"attachmentId": attachment_id, "privateIpv4Address": ip}] if attachment_id else []
        )


def _decorate_new_task(backend: Any, task: Any) -> None:
    ts: TaskState = task._sbx
    task.last_status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.created_at = now_dt()
    task.availability_zone = ts.az
    task.health_status = "UNKNOWN"
    task.version = 1
    task.platform_family = "Linux" if task.launch_type == "FARGATE" else None
    td = task_definition_for(backend, task.task_definition_arn)
    if td is not None:
        task.cpu = td.cpu
        task.memory = td.memory
        att_id = task.attachments[0]["id"] if task.attachments else None
        task.containers = [SimContainer(task, c, ts.ip, att_id) for c in td.container_definitions]


def _predict_failure(backend: Any, td: Any, task: Any) -> tuple[str | None, str]:
    """Decide at launch whether (and how) this task will fail."""
    for c in td.container_definitions:
        image = c.get("image") or ""
        if "does-not-exist" in image:
            return "pull", (
                "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
                f"failed to resolve ref {image}: {image}: not found"
            )
    for c in td.container_definitions:
        for env in c.get("environment") or []:
            name = env.get("name") or ""
            if not name.upper().endswith("_DYNAMODB_TABLENAME"):
                continue
            table = env.get("value") or ""
            acct, region = backend.account_id, backend.region_name
            resource = f"arn:aws:dynamodb:{region}:{acct}:table/{table}/index/idx_global_customerId"
            role_arn = getattr(td, "task_role_arn", None)
            if not role_arn:
                return "crash", (
                    "Unable to load AWS credentials from any providers in the chain: "
                    f"no task role is configured, cannot perform dynamodb:Query on resource: {resource}"
                )
            if not iampolicy.role_allows(acct, role_arn, "dynamodb:Query", resource):
                role_name = role_arn.split("/")[-1]
                return "crash", (
                    f"User: arn:aws:sts::{acct}:assumed-role/{role_name}/{task.id} is not authorized to "
                    f"perform: dynamodb:Query on resource: {resource} because no identity-based policy "
                    "allows the dynamodb:Query action (Service: DynamoDb, Status Code: 400, "
                    "Error Code: AccessDeniedException)"
                )
    return None, ""


# ---------------------------------------------------------------------------
# When a task starts running: targets, Cloud Map, logs
# ---------------------------------------------------------------------------


def _on_task_running(backend: Any, task: Any) -> None:
    ts: TaskState = task._sbx
    service = _find_service(task) if ts.service_uid else None
    _write_logs(backend, task, ["Starting application", "Started application in 1.2 seconds"])
    if service is None:
        return
    st = svc_state(service)
    for lb in service.load_balancers or []:
        tg_arn = lb.get("targetGroupArn")
        if not tg_arn:
            continue
        tg = elbv2_backends[backend.account_id][backend.region_name].target_groups.get(tg_arn)
        if tg is None:
            continue
        port = int(lb.get("containerPort") or tg.port or 80)
        target_id = ts.ip
        tg.targets[target_id] = {"Id": target_id, "Port": port}
        tg.deregistered_targets.pop(target_id, None)
        health = getattr(tg, "_sbx_health", None)
        if health is None:
            health = tg._sbx_health = {}
        health[target_id] = TargetHealth(
            "initial", "Elb.RegistrationInProgress", "Target registration is in progress", mono(), port,
            task.task_arn, failing=ts.failure is not None,
        )
        ts.targets.append((tg_arn, target_id))
        st.registered_batch.setdefault(tg_arn, 0)
        st.registered_batch[tg_arn] += 1
    for reg in service.service_registries or []:
        sd_service = _sd_service_by_arn(backend, reg.get("registryArn"))
        if sd_service is not None:
            _register_instance(backend, task, service, sd_service, reg.get("port") or reg.get("containerPort"))
    scc = getattr(service, "service_connect_configuration", None) or {}
    if scc.get("enabled"):
        ns = _sd_namespace(backend, scc.get("namespace") or _cluster_sc_namespace(backend, service))
        if ns is not None:
            td = task_definition_for(backend, task.task_definition_arn)
            for entry in scc.get("services") or []:
                name = entry.get("discoveryName") or entry.get("portName")
                if not name:
                    continue
                sd_service = _ensure_sd_service(backend, ns, name)
                port = _port_for_name(td, entry.get("portName"))
                _register_instance(backend, task, service, sd_service, port)


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


def _register_instance(backend: Any, task: Any, service: Any, sd_service: Any, port: Any) -> None:
    ts: TaskState = task._sbx
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
    sd = _sd_backend(backend)
    sd.register_instance(sd_service.id, task.id, str(uuid.uuid4()), attrs)
    ts.instances.append((backend.account_id, backend.region_name, sd_service.id))
    _sync_dns_records(backend.account_id, backend.region_name, sd_service)


def _deregister_instances(task: Any) -> None:
    ts: TaskState = task._sbx
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
    for rec in ((sd_service.dns_config or {}).get("DnsRecords") or []):
        if rec.get("Type") == "A":
            ttl = rec.get("TTL", ttl)
    zone.rrsets = [r for r in zone.rrsets if not (r.name.lower() == name and r.type == "A")]
    if ips:
        zone.upsert_rrset({"Name": name, "Type": "A", "TTL": ttl, "ResourceRecords": ips, "MultiValueAnswer": True})


def _write_logs(backend: Any, task: Any, lines: list[str]) -> None:
    td = task_definition_for(backend, task.task_definition_arn)
    if td is None:
        return
    for c in td.container_definitions:
        lc = c.get("logConfiguration") or {}
        if lc.get("logDriver") != "awslogs":
            continue
        opts = lc.get("options") or {}
        group = opts.get("awslogs-group")
        if not group:
            continue
        region = opts.get("awslogs-region") or backend.region_name
        prefix = opts.get("awslogs-stream-prefix")
        stream = f"{prefix}/{c.get('name')}/{task.id}" if prefix else task.id
        logs = logs_backends[backend.account_id][region]
        if group not in logs.groups:
            if str(opts.get("awslogs-create-group", "")).lower() != "true":
                continue
            logs.create_log_group(group, {})
        logs.ensure_log_stream(group, stream)
        base = int(time.time() * 1000)
        logs.put_log_events(group, stream, [{"timestamp": base + i, "message": m} for i, m in enumerate(lines)])


# ---------------------------------------------------------------------------
# Target groups
# ---------------------------------------------------------------------------


def _target_group(task: Any, tg_arn: str) -> Any | None:
    return elbv2_backends[task._account_id][task.region_name].target_groups.get(tg_arn)


def _begin_target_draining(task: Any) -> None:
    ts: TaskState = task._sbx
    service = _find_service(task) if ts.service_uid else None
    for tg_arn, target_id in ts.targets:
        tg = _target_group(task, tg_arn)
        health = getattr(tg, "_sbx_health", {}).get(target_id) if tg is not None else None
        if health is None:
            continue
        health.state, health.since = "draining", mono()
        health.reason, health.description = "Target.DeregistrationInProgress", "Target deregistration is in progress"
        if service is not None:
            st = svc_state(service)
            st.deregistered_batch[tg_arn] = st.deregistered_batch.get(tg_arn, 0) + 1


def _remove_target(tg: Any, target_id: str) -> None:
    tg.targets.pop(target_id, None)
    getattr(tg, "_sbx_health", {}).pop(target_id, None)


def _tick_target_health() -> None:
    for acct, per_region in list(dict.items(elbv2_backends)):
        for region, backend in list(dict.items(per_region)):
            for tg in list(backend.target_groups.values()):
                health = getattr(tg, "_sbx_health", None)
                if not health:
                    continue
                for target_id, h in list(health.items()):
                    age = mono() - h.since
                    if h.state == "initial" and age >= CONFIG.target_healthy:
                        if h.failing:
                            h.state, h.reason = "unhealthy", "Target.ResponseCodeMismatch"
                            h.description = "Health checks failed with these codes: [500]"
                        else:
                            h.state, h.reason, h.description = "healthy", None, None
                        h.since = mono()
                    elif h.state == "draining" and age >= CONFIG.draining:
                        _remove_target(tg, target_id)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


def _flush_events(service: Any) -> None:
    st = svc_state(service)
    name = service.name
    if st.stopped_batch:
        for task_id, reason in st.stopped_batch:
            add_event(service, f"(service {name}) (task {task_id}) stopped: {reason}")
        st.stopped_batch = []
    if st.deregistered_batch:
        for tg_arn, n in st.deregistered_batch.items():
            add_event(service, f"(service {name}) has begun draining connections on {n} tasks.")
            add_event(service, f"(service {name}) deregistered {n} targets in (target-group {tg_arn})")
        st.deregistered_batch = {}
    if st.started_batch:
        ids = " ".join(f"(task {i})" for i in st.started_batch)
        add_event(service, f"(service {name}) has started {len(st.started_batch)} tasks: {ids}.")
        st.started_batch = []
    if st.registered_batch:
        for tg_arn, n in st.registered_batch.items():
            add_event(service, f"(service {name}) registered {n} targets in (target-group {tg_arn})")
        st.registered_batch = {}


# ---------------------------------------------------------------------------
# Forcing states and dumping them (control endpoint)
# ---------------------------------------------------------------------------


def all_services():
    for acct, per_region in list(dict.items(ecs_backends)):
        for region, backend in list(dict.items(per_region)):
            for svc in list(backend.services.values()):
                yield acct, region, backend, svc


def force(body: dict) -> dict:
    """Apply a forced state. Supported forms:

    {"service": ARN or name, "rolloutState": "FAILED"|"COMPLETED"|"IN_PROGRESS",
     ["rolloutStateReason": str], ["cluster": name]}
    {"targetGroup": ARN, "target": id, "state": "unhealthy", ["reason": .., "description": ..]}
    {"task": ARN or id, "stop": true, ["reason": str]}
    """
    if "service" in body:
        for acct, region, backend, svc in all_services():
            if body["service"] in (svc.arn, svc.name) and body.get("cluster", svc.cluster_name) in (
                svc.cluster_name,
                svc.cluster_arn,
            ):
                svc_state(svc)
                dep = svc.deployments[0]
                if "rolloutState" in body:
                    dep["rolloutState"] = body["rolloutState"]
                    dep["rolloutStateReason"] = body.get("rolloutStateReason") or {
                        "FAILED": "ECS deployment circuit breaker: tasks failed to start.",
                        "COMPLETED": f"ECS deployment {dep['id']} completed.",
                    }.get(body["rolloutState"], f"ECS deployment {dep['id']} in progress.")
                if "event" in body:
                    add_event(svc, body["event"])
                return {"service": svc.arn, "deployment": dep["id"], "rolloutState": dep["rolloutState"]}
        raise KeyError("service not found")
    if "targetGroup" in body:
        for acct, per_region in list(dict.items(elbv2_backends)):
            for region, backend in list(dict.items(per_region)):
                tg = backend.target_groups.get(body["targetGroup"])
                if tg is None:
                    continue
                health = getattr(tg, "_sbx_health", None)
                if health is None:
                    health = tg._sbx_health = {}
                target_id = body["target"]
                if target_id not in tg.targets:
                    raise KeyError("target not registered")
                h = health.get(target_id)
                if h is None:
                    h = health[target_id] = TargetHealth("healthy", None, None, mono(), int(tg.targets[target_id]["Port"]), "")
                h.state = body["state"]
                h.reason = body.get("reason", {"unhealthy": "Target.ResponseCodeMismatch", "initial": "Elb.RegistrationInProgress", "draining": "Target.DeregistrationInProgress"}.get(h.state))
                h.description = body.get("description", "Health checks failed with these codes: [500]" if h.state == "unhealthy" else None)
                h.since = mono()
                # A forced state sticks until forced again.
                h.failing = h.state == "unhealthy"
                if h.state == "initial":
                    h.since = mono()
                return {"targetGroup": tg.arn, "target": target_id, "state": h.state}
        raise KeyError("target group not found")
    if "task" in body:
        for acct, per_region in list(dict.items(ecs_backends)):
            for region, backend in list(dict.items(per_region)):
                for tasks in backend.tasks.values():
                    for arn, task in tasks.items():
                        if body["task"] in (arn, task.id) and getattr(task, "_sbx", None):
                            request_stop(task, body.get("reason", "Task stopped by user"), "UserInitiated", failure=bool(body.get("failure")))
                            return {"task": arn, "desiredStatus": task.desired_status}
        raise KeyError("task not found")
    raise KeyError("nothing to force")


def dump() -> dict:
    out: dict = {"clock": clock(), "config": CONFIG.as_dict(), "services": [], "targetGroups": []}
    for acct, region, backend, svc in all_services():
        st = svc_state(svc)
        tasks = _service_tasks(backend, svc)
        out["services"].append(
            {
                "account": acct,
                "region": region,
                "arn": svc.arn,
                "status": svc.status,
                "desired": svc.desired_count,
                "running": svc.running_count,
                "pending": svc.pending_count,
                "steady": st.steady,
                "deployments": [
                    {k: d.get(k) for k in ("id", "status", "taskDefinition", "rolloutState", "runningCount", "pendingCount", "failedTasks")}
                    for d in svc.deployments
                ],
                "tasks": [
                    {
                        "id": t.id,
                        "lastStatus": t.last_status,
                        "desiredStatus": t.desired_status,
                        "ip": t._sbx.ip,
                        "deployment": t._sbx.deployment_id,
                        "failure": t._sbx.failure,
                        "stoppedReason": t.stopped_reason or None,
                    }
                    for t in tasks
                ],
            }
        )
    for acct, per_region in list(dict.items(elbv2_backends)):
        for region, backend in list(dict.items(per_region)):
            for tg in backend.target_groups.values():
                out["targetGroups"].append(
                    {
                        "account": acct,
                        "arn": tg.arn,
                        "targets": {
                            tid: {"state": h.state, "reason": h.reason}
                            for tid, h in getattr(tg, "_sbx_health", {}).items()
                        },
                    }
                )
    return out


def clock() -> dict:
    return {"seconds": round(time.monotonic() - Clock.started, 3), "ticks": Clock.ticks, "paused": CONFIG.paused}
