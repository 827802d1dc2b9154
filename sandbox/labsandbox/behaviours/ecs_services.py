"""The ECS service scheduler: deployments, rolling updates, scaling, the
deployment circuit breaker, AWS-worded service events, draining on delete, and
the moto patches for create-service, update-service, delete-service and
list-services.

moto never runs a service (see MOTO_NOTES.md).  Here each ACTIVE service's
PRIMARY deployment launches tasks (through ``ecs_tasks``) up to desiredCount,
old deployments are replaced within maximumPercent/minimumHealthyPercent, and
counts, rollout states and events are kept true.  State lives on the moto
``Service`` as ``_sbx``.

A task counts as healthy when it has been RUNNING for ``stable`` seconds and
every function in :data:`READINESS` agrees (load balancing adds "its targets
are healthy").

State: ``services`` in ``GET /_sandbox/state``.
Force verb: ``{"service": ARN or name, ["cluster": name], ["rolloutState": ...,
"rolloutStateReason": ...], ["event": text]}``.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import moto.ecs.models as ecs_models
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse

from . import ecs_tasks
from .base import Context, backends, first_install, guarded, patch
from .ecs_tasks import request_stop, service_tasks, task_definition_for

NAME = "ecs_services"
ctx: Context
_rng = random.Random(20240602)

# (task, service) -> bool; all must hold for a RUNNING task to count as healthy.
READINESS: list[Callable[[Any, Any], bool]] = []


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
    # Messages batched during a tick, turned into events at its end.
    started_batch: list = field(default_factory=list)
    registered_batch: dict = field(default_factory=dict)
    deregistered_batch: dict = field(default_factory=dict)
    stopped_batch: list = field(default_factory=list)
    # The last "unable to place a task" reason reported (EC2 capacity).
    unplaceable: str | None = None


@dataclass
class DepState:
    failed: int = 0
    consecutive_failures: int = 0
    unable_reported_at: int = 0


class ServiceNotActiveException(ECSException):
    def __init__(self) -> None:
        super().__init__("ServiceNotActiveException", "Service was not ACTIVE.")


# ---------------------------------------------------------------------------
# Install: moto patches and task hooks
# ---------------------------------------------------------------------------


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.HOOKS.failed.append(_on_task_failed)
        _patch_moto()


def cluster_refusal(backend: Any, cluster: Any) -> tuple[str, str] | None:
    """Why AWS would refuse to delete `cluster` now (error code and message), or None."""
    if any(
        svc.cluster_name == cluster.name and svc.status in ("ACTIVE", "DRAINING")
        for svc in backend.services.values()
    ):
        return ("ClusterContainsServicesException", "The Cluster cannot be deleted while Services are active.")
    tasks = backend.tasks.get(cluster.name, {})
    if any(t.last_status not in ("STOPPED", "DELETED") for t in tasks.values()):
        return ("ClusterContainsTasksException", "The Cluster cannot be deleted while Tasks are active.")
    if backend.container_instances.get(cluster.name):
        return (
            "ClusterContainsContainerInstancesException",
            "The Cluster cannot be deleted while Container Instances are active or draining.",
        )
    return None


def _patch_moto() -> None:
    Backend = ecs_models.EC2ContainerServiceBackend

    # create-service: EC2ContainerServiceBackend.create_service silently
    # replaces an existing service (AWS refuses) and Service.__init__ fakes
    # counts.  Refuse duplicates; default awsvpc securityGroups, which AWS
    # treats as optional (Service._validate_network: KeyError -> HTTP 500).
    @patch(Backend, "create_service")
    def create_service(original: Any, self: Any, cluster_str: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
        cluster = self._get_cluster(cluster_str)
        existing = self.services.get(f"{cluster.name}:{service_name}")
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameterException("Creation of service was not idempotent.")
        net = kwargs.get("network_configuration")
        if net and "awsvpcConfiguration" in net:
            net["awsvpcConfiguration"].setdefault("securityGroups", [])
        return original(self, cluster_str, service_name, *args, **kwargs)

    # The create-service response handler drops deploymentConfiguration,
    # serviceConnectConfiguration and a few other request fields: keep them,
    # then hand the service to the scheduler.
    kept_create_fields = {
        "deploymentConfiguration": "deployment_configuration",
        "serviceConnectConfiguration": "service_connect_configuration",
        "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
        "enableExecuteCommand": "enable_execute_command",
        "enableECSManagedTags": "enable_ecs_managed_tags",
        "capacityProviderStrategy": "capacity_provider_strategy",
        "placementConstraints": "placement_constraints",
        "placementStrategy": "placement_strategy",
        "availabilityZoneRebalancing": "availability_zone_rebalancing",
    }

    @patch(EC2ContainerServiceResponse, "create_service")
    def create_service_response(original: Any, self: Any) -> Any:
        result = original(self)
        service = result.result["service"] if hasattr(result, "result") else None
        if service is None:
            service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        for param, attr in kept_create_fields.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attr, value)
        cluster = self.ecs_backend.clusters.get(service.cluster_name)
        default_strategy = getattr(cluster, "default_capacity_provider_strategy", None) if cluster else None
        if not self._get_param("launchType") and not getattr(service, "capacity_provider_strategy", None) and default_strategy:
            # Neither given: the cluster's default capacity provider strategy applies.
            service.capacity_provider_strategy = [dict(item) for item in default_strategy]
        if getattr(service, "capacity_provider_strategy", None) and not self._get_param("launchType"):
            # moto defaults launchType to EC2; a capacity provider strategy means none.
            service.launch_type = None
        service.created_by = f"arn:aws:iam::{self.current_account}:root"
        svc_state(service)  # normalise deployments now
        _on_service_created(service)
        return result

    # update-service: moto stores the task definition as the literal string
    # given (e.g. "web:2"), jumps runningCount to the new desiredCount, and on
    # forceNewDeployment only renames deployments[0].  Normalise the task
    # definition to its ARN, keep the scheduler's counts and start a real new
    # deployment when AWS would.
    redeploy_fields = ("network_configuration", "load_balancers", "service_registries", "service_connect_configuration")

    @patch(Backend, "update_service")
    def update_service(original: Any, self: Any, props: dict[str, Any]) -> Any:
        cluster_str = props.get("cluster", "default")
        service = self._get_service(cluster_str, props["service"].split("/")[-1])
        if service.status != "ACTIVE":
            raise ServiceNotActiveException()
        svc_state(service)
        counts = (service.running_count, service.pending_count)
        force = bool(props.pop("force_new_deployment", False))
        td_str = props.get("task_definition")
        td_arn = self.describe_task_definition(td_str).arn if td_str else None
        before = {f: getattr(service, f, None) for f in redeploy_fields}
        # deploymentConfiguration is merged field by field like AWS does.
        new_dc = props.pop("deployment_configuration", None)
        result = original(self, props)
        if new_dc:
            merged = dict(service.deployment_configuration or {})
            merged.update(new_dc)
            service.deployment_configuration = merged
        service.running_count, service.pending_count = counts
        primary_td = service.deployments[0]["taskDefinition"] if service.deployments else None
        if td_arn:
            service.task_definition = td_arn
        else:
            service.task_definition = primary_td or service.task_definition
        changed = any(props.get(f) is not None and props.get(f) != before[f] for f in redeploy_fields)
        new_deployment = force or (td_arn is not None and td_arn != primary_td) or changed
        _on_service_updated(service, new_deployment)
        return result

    # delete-service: moto marks the service INACTIVE at once; AWS drains
    # first (DRAINING), then INACTIVE.
    @patch(Backend, "delete_service")
    def delete_service(original: Any, self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        service = original(self, cluster_name, service_name, force)
        if getattr(service, "_sbx", None) is not None and service.deployment_controller.get("type", "ECS") == "ECS":
            _on_service_deleted(service)
        return service

    # delete-cluster: moto marks any cluster INACTIVE; AWS refuses while services are active or
    # draining, tasks are running or container instances are registered.
    @patch(Backend, "delete_cluster")
    def delete_cluster(original: Any, self: Any, cluster_str: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        refusal = cluster_refusal(self, cluster)
        if refusal is not None:
            raise ECSException(*refusal)
        return original(self, cluster_str)

    # list-services: moto keeps INACTIVE services listed; AWS does not.
    @patch(Backend, "list_services")
    def list_services(original: Any, self: Any, cluster_str: str, *args: Any, **kwargs: Any) -> list[str]:
        arns = original(self, cluster_str, *args, **kwargs)
        inactive = {s.arn for s in self.services.values() if s.status == "INACTIVE"}
        return [a for a in arns if a not in inactive]


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def new_deployment_id() -> str:
    return "ecs-svc/" + "".join(str(_rng.randint(0, 9)) for _ in range(19))


def add_event(service: Any, message: str) -> None:
    service.events.insert(0, {"id": str(uuid.uuid4()), "createdAt": ctx.clock.wall(), "message": message})
    del service.events[ctx.config.max_events :]


def svc_state(service: Any) -> SvcState:
    st = getattr(service, "_sbx", None)
    if st is None:
        st = SvcState(uid=str(uuid.uuid4()))
        service._sbx = st
        _init_service(service)
    return st


def _init_service(service: Any) -> None:
    """Normalise what moto stored on create so the scheduler can run it."""
    if not getattr(service, "created_at", None):
        service.created_at = ctx.clock.wall()
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


def all_services():
    """(account, region, backend, service) for every ECS service of every account."""
    for acct, region, backend in backends(ecs_backends):
        for svc in list(backend.services.values()):
            yield acct, region, backend, svc


def find_service(name_or_arn: str, cluster: str | None = None) -> tuple[Any, Any] | None:
    """(backend, service) for a service named by ARN or name, in any account."""
    for _, _, backend, svc in all_services():
        if name_or_arn in (svc.arn, svc.name) and (cluster is None or cluster in (svc.cluster_name, svc.cluster_arn)):
            return backend, svc
    return None


# ---------------------------------------------------------------------------
# Service lifecycle entry points (from the patches)
# ---------------------------------------------------------------------------


def _on_service_created(service: Any) -> None:
    st = svc_state(service)
    dep = service.deployments[0] if service.deployments else None
    if dep is not None:
        st.deps[dep["id"]] = DepState()
        dep["rolloutStateReason"] = f"ECS deployment {dep['id']} in progress."


def _on_service_updated(service: Any, new_deployment: bool) -> None:
    st = svc_state(service)
    if service.deployment_controller.get("type", "ECS") != "ECS":
        return
    if new_deployment or not service.deployments:
        start_deployment(service, service.task_definition)
    # desiredCount: the PRIMARY deployment follows the service.
    if service.deployments:
        service.deployments[0]["desiredCount"] = service.desired_count
        service.deployments[0]["updatedAt"] = ctx.clock.wall()
        if service.deployments[0]["rolloutState"] == "COMPLETED":
            # A scale change is carried out within the completed deployment.
            st.steady = False


def set_desired_count(service: Any, desired: int) -> None:
    """Change desiredCount as update-service does (used by auto scaling)."""
    service.desired_count = desired
    _on_service_updated(service, False)


def start_deployment(service: Any, td_arn: str, reason: str | None = None) -> dict:
    st = svc_state(service)
    now = ctx.clock.wall()
    for dep in service.deployments:
        if dep["status"] == "PRIMARY":
            dep["status"] = "ACTIVE"
            dep["updatedAt"] = now
    dep_id = new_deployment_id()
    dep = {
        "id": dep_id,
        "status": "PRIMARY",
        "taskDefinition": td_arn,
        "desiredCount": service.desired_count,
        "pendingCount": 0,
        "runningCount": 0,
        "failedTasks": 0,
        "createdAt": now,
        "updatedAt": now,
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


def _on_service_deleted(service: Any) -> None:
    st = svc_state(service)
    service.status = "DRAINING"
    service.desired_count = 0
    for dep in service.deployments:
        dep["desiredCount"] = 0
    st.steady = False


def _on_task_failed(task: Any) -> None:
    """Count a failed task against its deployment and tell the service."""
    ts = task._sbx
    svc = ecs_tasks.find_service(task)
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


# ---------------------------------------------------------------------------
# The tick: reconcile every service
# ---------------------------------------------------------------------------


def tick(now: float) -> None:
    for _, _, backend in backends(ecs_backends):
        guarded(_tick_backend, backend, now)


def _tick_backend(backend: Any, now: float) -> None:
    for key, service in list(backend.services.items()):
        st = svc_state(service)
        if service.status == "INACTIVE":
            if st.inactive_since is None:
                st.inactive_since = now
            if now - st.inactive_since > ctx.config.inactive_retention:
                del backend.services[key]
            continue
        if service.deployment_controller.get("type", "ECS") != "ECS":
            continue
        _reconcile_service(backend, service, now)
        flush_events(service)


def is_healthy(task: Any, service: Any, now: float) -> bool:
    ts = task._sbx
    if task.last_status != "RUNNING" or task.desired_status != "RUNNING":
        return False
    if ts.failure is not None or ts.running_since is None:
        return False
    if now - ts.running_since < ctx.config.stable:
        return False
    return all(check(task, service) for check in READINESS)


def _reconcile_service(backend: Any, service: Any, now: float) -> None:
    st = svc_state(service)
    tasks = service_tasks(backend, service)
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
        if cb.get("enable") and primary["rolloutState"] == "IN_PROGRESS" and pdep.failed >= ctx.config.circuit_breaker_threshold:
            _trip_circuit_breaker(backend, service, primary, bool(cb.get("rollback")))
            _update_counts(service, service_tasks(backend, service))
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
        p_healthy = sum(
            1 for t in by_dep.get(primary["id"], []) if is_healthy(t, service, now) and t.desired_status == "RUNNING"
        )
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
        healthy = [t for t in p_live if is_healthy(t, service, now)]
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
            primary["updatedAt"] = ctx.clock.wall()
            st.last_completed = (primary["id"], primary["taskDefinition"])
            flush_events(service)
            add_event(service, f"(service {service.name}) deployment {primary['id']} deployment completed.")
        if settled and not st.steady and primary["rolloutState"] in ("COMPLETED", "FAILED"):
            st.steady = True
            flush_events(service)
            add_event(service, f"(service {service.name}) has reached a steady state.")
        elif not settled:
            st.steady = False
        # Repeated failures.
        if pdep.consecutive_failures >= 2 and pdep.consecutive_failures - pdep.unable_reported_at >= 3 or (
            pdep.consecutive_failures >= 2 and pdep.unable_reported_at == 0
        ):
            pdep.unable_reported_at = pdep.consecutive_failures
            flush_events(service)
            add_event(
                service,
                f"(service {service.name}) is unable to consistently start tasks successfully. "
                "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.",
            )

    if service.status == "DRAINING" and not [t for t in tasks if t.last_status != "STOPPED"]:
        service.status = "INACTIVE"
        service.deployments[:] = service.deployments[:1]
        st.inactive_since = now


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
    failed["updatedAt"] = ctx.clock.wall()
    flush_events(service)
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
    new = start_deployment(service, prev_td, reason=f"ECS deployment circuit breaker: rolling back to deploymentId {prev_id}.")
    # Tasks of the deployment we roll back to already run that task
    # definition: the rollback deployment takes them over.
    if previous is not None:
        for t in service_tasks(backend, service):
            if t._sbx.deployment_id == prev_id:
                t._sbx.deployment_id = new["id"]
        service.deployments.remove(previous)
    # Stop what is left of the failed deployment.
    for t in service_tasks(backend, service):
        if t._sbx.deployment_id == failed["id"] and t.desired_status == "RUNNING":
            request_stop(t, _scaling_reason(new), "ServiceSchedulerInitiated")


def _launch_tasks(backend: Any, service: Any, dep: dict, count: int) -> None:
    st = svc_state(service)
    cluster = backend.clusters.get(service.cluster_name)
    td = task_definition_for(backend, dep["taskDefinition"])
    if cluster is None or td is None:
        return
    launch = {
        "launchType": service.launch_type,
        "capacityProviderStrategy": getattr(service, "capacity_provider_strategy", None),
    }
    for _ in range(count):
        try:
            placement = ecs_tasks.place(backend, cluster, td, service, launch)
        except ecs_tasks.Unplaceable as exc:
            # AWS repeats this event while the task cannot be placed; the
            # sandbox adds it when the reason changes.
            if st.unplaceable != str(exc):
                st.unplaceable = str(exc)
                flush_events(service)
                add_event(service, f"(service {service.name}) {exc}")
            return
        st.unplaceable = None
        task = ecs_tasks.make_task(backend, cluster, td, service, dep["id"], placement)
        st.started_batch.append(task.id)


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


def flush_events(service: Any) -> None:
    """Turn the messages batched during this tick into service events."""
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
# State and force verb
# ---------------------------------------------------------------------------


def state() -> dict:
    services = []
    for acct, region, backend, svc in all_services():
        st = svc_state(svc)
        services.append(
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
                    for t in service_tasks(backend, svc)
                ],
            }
        )
    return {"services": services}


def force_service(body: dict) -> dict:
    found = find_service(body["service"], body.get("cluster"))
    if found is None:
        raise KeyError("service not found")
    _, svc = found
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


FORCE = {"service": force_service}
