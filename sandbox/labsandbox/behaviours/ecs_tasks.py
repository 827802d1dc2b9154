"""ECS tasks and their placement: the PROVISIONING -> PENDING -> RUNNING ->
(DEACTIVATING -> STOPPING -> DEPROVISIONING ->) STOPPED life of every task the
sandbox owns, their IP addresses inside the service's subnets, failures decided
at launch (image pull, a task role missing a permission), container logs, and
the moto patches for run-task, start-task, stop-task and list-tasks.

moto keeps tasks static (see MOTO_NOTES.md).  Simulator state lives on the moto
``Task`` as ``_sbx``, so moto's reset drops it together with the task.

Other behaviours follow a task through :data:`HOOKS`: ``running`` (it just
reached RUNNING), ``stopping`` (a running task was asked to stop), ``stopped``
(it reached STOPPED) and ``failed`` (it counts as a failed task).

Force verb: ``{"task": ARN or id, ["reason": str], ["failure": bool]}`` stops a task.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import moto.ecs.models as ecs_models
from moto.ec2.models import ec2_backends
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import Task, ecs_backends
from moto.logs.models import logs_backends
from moto.moto_api import state_manager

from .. import iampolicy
from .base import Context, backends, first_install, guarded, patch

NAME = "ecs_tasks"
ctx: Context
_rng = random.Random(20240601)


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
    # (target group ARN, target id) pairs, kept by load_balancing; a task with
    # targets drains before it stops.
    targets: list = field(default_factory=list)
    # (account, region, Cloud Map service id) registrations, kept by cloudmap.
    instances: list = field(default_factory=list)
    # EC2 launch type: the container instance (ARN) and EC2 instance the task
    # was placed on, and its host ports ({containerPort: hostPort}).
    container_instance: str | None = None
    instance_id: str | None = None
    host_ports: dict = field(default_factory=dict)


# Failures that stop a task before it ever runs (after PENDING, stopCode
# TaskFailedToStart): an image that cannot be pulled, secrets that cannot be
# fetched.
START_FAILURES = ("pull", "init")


@dataclass
class Placement:
    """Where a placer put a task that runs on a container instance."""

    container_instance_arn: str
    instance_id: str
    ip: str | None  # the instance's address (bridge/host); None for awsvpc
    az: str | None
    host_ports: dict = field(default_factory=dict)
    capacity_provider: str | None = None


class Unplaceable(Exception):
    """A placer found no container instance for a task; ``str()`` is the reason
    as a service event words it after "(service X) "."""

    def __init__(self, message: str, failures: list | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


# placer(backend, cluster, task definition, service or None, launch) -> Placement,
# None (no container instance needed: Fargate) or raises Unplaceable.  ``launch``
# is {"launchType": ..., "capacityProviderStrategy": ...}.  Installed by the
# capacity behaviour; without one every task runs without an instance.
PLACER: list[Callable[..., Any]] = []

# check(backend, task definition, task) -> (failure kind, detail) or None: launch
# checks other behaviours add (secrets); the first one that fails decides.
LAUNCH_CHECKS: list[Callable[[Any, Any, Any], tuple | None]] = []


def place(backend: Any, cluster: Any, td: Any, service: Any | None, launch: dict) -> Placement | None:
    for placer in PLACER:
        return placer(backend, cluster, td, service, launch)
    return None


@dataclass
class Hooks:
    """Callbacks other behaviours add in their ``install``."""

    running: list[Callable[[Any, Any], None]] = field(default_factory=list)  # (backend, task)
    stopping: list[Callable[[Any], None]] = field(default_factory=list)  # (task)
    stopped: list[Callable[[Any], None]] = field(default_factory=list)  # (task)
    failed: list[Callable[[Any], None]] = field(default_factory=list)  # (task)


HOOKS = Hooks()


def _fire(hooks: list, *args: Any) -> None:
    for hook in hooks:
        hook(*args)


# ---------------------------------------------------------------------------
# Install, reset
# ---------------------------------------------------------------------------


def disable_task_state_manager() -> None:
    """moto.ecs.models.Task is a ManagedState whose ``status`` advances one step
    towards STOPPED on every describe-tasks (transition model ``ecs::task``).
    This module owns task state, so make moto's transitions never fire."""
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**12})


def reset() -> None:
    disable_task_state_manager()


def install(context: Context) -> None:
    global ctx
    ctx = context
    disable_task_state_manager()
    if first_install(__name__):
        _patch_moto()


def _patch_moto() -> None:
    Backend = ecs_models.EC2ContainerServiceBackend

    # EC2 NetworkInterface.private_dns_name is only set when the VPC has DNS
    # hostnames enabled, yet moto.ecs.models.Task reads it for every awsvpc
    # task (AttributeError -> HTTP 500 in run-task).  A class-level default
    # makes it None; make_task fills in the name.
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None

    # list-tasks: moto ignores serviceName and, unlike AWS, does not default
    # desiredStatus to RUNNING.
    @patch(Backend, "list_tasks")
    def list_tasks(
        original: Any,
        self: Any,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list:
        tasks = original(self, cluster_str, container_instance, family, started_by, None, desiredStatus or "RUNNING")
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return tasks

    # stop-task: moto stops at once and raises plain Exceptions (HTTP 500) for
    # unknown tasks.  Sandbox tasks stop the AWS way (DEACTIVATING -> STOPPED).
    @patch(Backend, "stop_task")
    def stop_task(original: Any, self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        for arn, task in self.tasks.get(cluster.name, {}).items():
            if arn.endswith(task_id) and getattr(task, "_sbx", None) is not None:
                request_stop(task, reason or "Task stopped by user", "UserInitiated")
                return task
        try:
            return original(self, cluster_str, task_str, reason)
        except ECSException:
            raise
        except Exception:
            raise InvalidParameterException("The referenced task was not found.")

    # run-task / start-task: standalone tasks get the same lifecycle.
    for name in ("run_task", "start_task"):

        def launch(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
            tasks = original(self, *args, **kwargs)
            for task in tasks:
                adopt_standalone(self, task)
            return tasks

        patch(Backend, name)(launch)


# ---------------------------------------------------------------------------
# Helpers shared with the other ECS behaviours
# ---------------------------------------------------------------------------


def task_definition_for(backend: Any, td_arn: str) -> Any | None:
    try:
        return backend.describe_task_definition(td_arn)
    except Exception:
        return None


def find_service(task: Any) -> Any | None:
    """The moto ECS service a sandbox task belongs to, if any."""
    uid = task._sbx.service_uid
    if uid is None:
        return None
    backend = ecs_backends[task._account_id][task.region_name]
    for svc in backend.services.values():
        st = getattr(svc, "_sbx", None)
        if st is not None and st.uid == uid:
            return svc
    return None


def service_tasks(backend: Any, service: Any) -> list:
    uid = service._sbx.uid
    tasks = backend.tasks.get(service.cluster_name, {})
    return [t for t in tasks.values() if getattr(t, "_sbx", None) is not None and t._sbx.service_uid == uid]


# ---------------------------------------------------------------------------
# Stopping
# ---------------------------------------------------------------------------


def request_stop(task: Any, reason: str, stop_code: str, failure: bool = False) -> None:
    """Begin stopping a sandbox task (scheduler, user or failure)."""
    ts: TaskState = task._sbx
    if task.desired_status == "STOPPED":
        return
    task.desired_status = "STOPPED"
    task.stopped_reason = reason
    task.stop_code = stop_code
    task.stopping_at = ctx.clock.wall()
    ts.stop_requested_at = ctx.clock.now()
    ts.stop_counts_as_failure = failure
    if failure and ts.failure not in START_FAILURES:
        _fire(HOOKS.failed, task)
    if task.last_status in ("PROVISIONING", "PENDING"):
        # Never started: nothing to drain.
        _finish_stop(task)
    else:
        _set_status(task, "DEACTIVATING")
        _fire(HOOKS.stopping, task)


def _finish_stop(task: Any) -> None:
    ts: TaskState = task._sbx
    _set_status(task, "STOPPED")
    task.desired_status = "STOPPED"
    task.stopped_at = ctx.clock.wall()
    task.execution_stopped_at = task.stopped_at
    task.connectivity = None
    ts.stopped_at_mono = ctx.clock.now()
    for c in task.containers:
        c.last_status = "STOPPED"
        if ts.failure not in START_FAILURES and getattr(c, "exit_code", None) is None:
            c.exit_code = 0 if not ts.stop_counts_as_failure else 1
            c.exitCode = c.exit_code
    _fire(HOOKS.stopped, task)
    # Release the ENI like Fargate does.
    for att in task.attachments:
        for d in att.get("details", []):
            if d.get("name") == "networkInterfaceId":
                try:
                    ec2_backends[task._account_id][task.region_name].delete_network_interface(d["value"])
                except Exception:
                    pass
        att["status"] = "DELETED"
    if ts.failure in START_FAILURES:
        _fire(HOOKS.failed, task)


# ---------------------------------------------------------------------------
# The tick
# ---------------------------------------------------------------------------


def tick(now: float) -> None:
    for _, _, backend in backends(ecs_backends):
        guarded(_tick_backend, backend, now)


def _tick_backend(backend: Any, now: float) -> None:
    for tasks in list(backend.tasks.values()):
        for arn, task in list(tasks.items()):
            if getattr(task, "_sbx", None) is None:
                continue
            _advance_task(backend, task, now)
            stopped_at = task._sbx.stopped_at_mono
            if task.last_status == "STOPPED" and stopped_at is not None and now - stopped_at > ctx.config.stopped_retention:
                del tasks[arn]


def _set_status(task: Any, status: str) -> None:
    task.last_status = status  # moto's ManagedState setter
    task._sbx.phase_since = ctx.clock.now()
    for c in task.containers:
        if status in ("PENDING", "RUNNING", "STOPPED"):
            c.last_status = status


def _advance_task(backend: Any, task: Any, now: float) -> None:
    cfg = ctx.config
    ts: TaskState = task._sbx
    age = now - ts.phase_since
    status = task.last_status
    if status == "PROVISIONING" and age >= cfg.provisioning:
        _set_status(task, "PENDING")
        task.pull_started_at = ctx.clock.wall()
    elif status == "PENDING" and age >= cfg.pending:
        task.pull_stopped_at = ctx.clock.wall()
        if ts.failure in START_FAILURES:
            for c in task.containers:
                if ts.failure == "pull":
                    c.reason = ts.failure_detail
            task.desired_status = "STOPPED"
            task.stopped_reason = ts.failure_detail
            task.stop_code = "TaskFailedToStart"
            task.stopping_at = ctx.clock.wall()
            ts.stop_counts_as_failure = True
            _finish_stop(task)
            return
        _set_status(task, "RUNNING")
        task.started_at = ctx.clock.wall()
        task.connectivity = "CONNECTED"
        task.connectivity_at = task.started_at
        task.health_status = "UNKNOWN"
        ts.running_since = ctx.clock.now()
        for c in task.containers:
            c.health_status = "UNKNOWN"
        write_logs(backend, task, ["Starting application", "Started application in 1.2 seconds"])
        _fire(HOOKS.running, backend, task)
    elif status == "RUNNING":
        if ts.failure == "crash" and age >= cfg.crash_after:
            for c in task.containers:
                c.exit_code = 1
                c.exitCode = 1
                c.reason = ts.failure_detail
            write_logs(backend, task, [f"ERROR {ts.failure_detail}", "Application run failed"])
            request_stop(task, "Essential container in task exited", "EssentialContainerExited", failure=True)
    elif status == "DEACTIVATING":
        if age >= (cfg.draining if ts.targets else 0):
            _set_status(task, "STOPPING")
    elif status == "STOPPING" and age >= cfg.stopping / 2:
        _set_status(task, "DEPROVISIONING")
    elif status == "DEPROVISIONING" and age >= cfg.stopping / 2:
        _finish_stop(task)


# ---------------------------------------------------------------------------
# Launching and placement
# ---------------------------------------------------------------------------


def adopt_standalone(backend: Any, task: Any, placement: Placement | None = None) -> None:
    """Give a run-task/start-task task the PROVISIONING -> RUNNING lifecycle."""
    ip = _task_ip(task) or _pick_ip(backend.account_id, backend.region_name, None)
    task._sbx = TaskState(None, None, None, ip, _az_for(backend, None), ctx.clock.now())
    td = task_definition_for(backend, task.task_definition_arn)
    if placement is not None:
        apply_placement(task, placement, awsvpc=td is not None and td.network_mode == "awsvpc")
    _decorate_new_task(backend, task)
    if td is not None:
        task._sbx.failure, task._sbx.failure_detail = _predict_failure(backend, td, task)


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


def task_resources(backend: Any, td: Any) -> dict:
    """moto's resource sum for a task definition, which fails (``None + int``) when a
    container has neither ``memory`` nor ``memoryReservation``: valid on Fargate, where the
    task-level memory applies. Then the task-level values stand in."""
    try:
        return backend._calculate_task_resource_requirements(td)
    except TypeError:

        def whole(value: Any) -> int:
            try:
                return int(value or 0)
            except (TypeError, ValueError):
                return 0

        return {"CPU": whole(td.cpu), "MEMORY": whole(td.memory), "PORTS": [], "PORTS_UDP": []}


def make_task(backend: Any, cluster: Any, td: Any, service: Any, deployment_id: str, placement: Placement | None = None) -> Task:
    """Create a PROVISIONING task of ``service`` for one of its deployments,
    placed in one of the service's subnets (awsvpc) and, for the EC2 launch
    type, on the container instance ``placement`` names."""
    subnets = _subnets(service)
    subnet = _rng.choice(subnets) if subnets else None
    if placement is not None and placement.ip and td.network_mode != "awsvpc":
        ip = placement.ip
    else:
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
            placement.container_instance_arn if placement else None,
            task_resources(backend, td),
            backend=backend,
            group=f"service:{service.name}",
            launch_type=service.launch_type or "",
            started_by=deployment_id,
            networking_configuration=net_conf,
            platform_version=service.platform_version,
            capacity_provider_name=placement.capacity_provider if placement else None,
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
        deployment_id=deployment_id,
        ip=ip,
        az=_az_for(backend, subnet),
        phase_since=ctx.clock.now(),
    )
    if placement is not None:
        apply_placement(task, placement, awsvpc=td.network_mode == "awsvpc")
    _decorate_new_task(backend, task)
    task._sbx.failure, task._sbx.failure_detail = _predict_failure(backend, td, task)
    return task


def apply_placement(task: Any, placement: Placement, awsvpc: bool) -> None:
    """Record the container instance a task runs on (before decoration)."""
    ts: TaskState = task._sbx
    task.container_instance_arn = placement.container_instance_arn
    task.launch_type = task.launch_type or ("" if placement.capacity_provider else "EC2")
    ts.container_instance = placement.container_instance_arn
    ts.instance_id = placement.instance_id
    ts.host_ports = dict(placement.host_ports)
    if placement.az:
        ts.az = placement.az
    if not awsvpc and placement.ip:
        ts.ip = placement.ip


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
        ports = getattr(task, "_sbx", None).host_ports if getattr(task, "_sbx", None) else {}
        self.network_bindings = [
            {"bindIP": "0.0.0.0", "containerPort": int(pm["containerPort"]), "hostPort": int(ports[int(pm["containerPort"])]), "protocol": pm.get("protocol", "tcp")}
            for pm in cdef.get("portMappings") or []
            if pm.get("containerPort") is not None and int(pm["containerPort"]) in ports
        ]
        self.network_interfaces = [{"attachmentId": attachment_id, "privateIpv4Address": ip}] if attachment_id else []


def _decorate_new_task(backend: Any, task: Any) -> None:
    ts: TaskState = task._sbx
    task.last_status = "PROVISIONING"
    task.desired_status = "RUNNING"
    task.created_at = ctx.clock.wall()
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
    for check in LAUNCH_CHECKS:
        verdict = check(backend, td, task)
        if verdict:
            return verdict
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
# Container logs (awslogs driver)
# ---------------------------------------------------------------------------


def write_logs(backend: Any, task: Any, lines: list[str], container: str | None = None) -> None:
    """Append ``lines`` to the awslogs stream of each container of the task (of the one
    named ``container`` only, when given)."""
    td = task_definition_for(backend, task.task_definition_arn)
    if td is None:
        return
    for c in td.container_definitions:
        if container is not None and c.get("name") != container:
            continue
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
        base = int(ctx.clock.epoch() * 1000)
        logs.put_log_events(group, stream, [{"timestamp": base + i, "message": m} for i, m in enumerate(lines)])


# ---------------------------------------------------------------------------
# Force verb
# ---------------------------------------------------------------------------


def force_task(body: dict) -> dict:
    for _, _, backend in backends(ecs_backends):
        for tasks in backend.tasks.values():
            for arn, task in tasks.items():
                if body["task"] in (arn, task.id) and getattr(task, "_sbx", None):
                    request_stop(task, body.get("reason", "Task stopped by user"), "UserInitiated", failure=bool(body.get("failure")))
                    return {"task": arn, "desiredStatus": task.desired_status}
    raise KeyError("task not found")


FORCE = {"task": force_task}
