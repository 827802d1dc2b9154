"""ECS on EC2: container instances, their capacity, and task placement.

An EC2 instance (run-instances, or launched by an Auto Scaling group from a
launch template or launch configuration) whose user data names a cluster the
way the ECS-optimised AMI reads it (``ECS_CLUSTER=<name>`` written to
``/etc/ecs/ecs.config``) registers as a container instance of that cluster
``instance_boot`` seconds after the sandbox first sees it running, once the
cluster exists.  It registers the CPU (vCPU x 1024), memory (the instance's
memory minus what the OS and agent keep) and ENI capacity of its instance type
(:data:`INSTANCE_TYPES`), and ``remainingResources`` follow the tasks placed
on it.  Stopping or terminating the instance deregisters it and stops its
tasks.

Placement (services and run-task of the EC2 launch type or of a capacity
provider backed by an Auto Scaling group): a task needs its CPU and memory
(task-level values, else the containers' ``cpu`` and ``memoryReservation`` or
``memory``), its fixed host ports (``host`` mode: every containerPort;
``bridge``: non-zero hostPorts, hostPort 0 gets a dynamic port from 32768 on),
and, in ``awsvpc`` mode, a free ENI (the type's ENIs minus the primary one;
no trunking).  ACTIVE instances are tried in turn (DRAINING ones take no new
tasks).  When none fits, run-task returns ``failures`` per container instance
(``RESOURCE:CPU``, ``RESOURCE:MEMORY``, ``RESOURCE:PORTS``, ``RESOURCE:ENI``)
and a service adds AWS's "was unable to place a task" event naming the closest
match.  Capacity providers limit placement to the instances of their Auto
Scaling group; with managed scaling ENABLED an unplaceable service task raises
the group's desired capacity by one (up to its maximum) while no launched
instance is still booting.

DRAINING (update-container-instances-state) stops the service tasks on the
instance; the scheduler places their replacements elsewhere.  Standalone
tasks keep running, as in AWS.

State: ``containerInstances`` in ``GET /_sandbox/state``.  No force verbs.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import moto.ecs.models as ecs_models
from moto.autoscaling.models import autoscaling_backends
from moto.ec2.models import ec2_backends
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.models import Task, ecs_backends
from moto.ecs.responses import EC2ContainerServiceResponse

from . import ecs_tasks
from .base import Context, backends, first_install, guarded, patch
from .ecs_tasks import Placement, Unplaceable

NAME = "ec2_capacity"
ctx: Context

# type: (vCPUs, memory the ECS agent registers in MiB, network interfaces).
# Registered memory is the instance's memory less what the kernel, OS and agent
# keep (figures as an ECS-optimised Amazon Linux 2023 AMI reports them, rounded).
INSTANCE_TYPES: dict[str, tuple[int, int, int]] = {
    "t2.micro": (1, 982, 2),
    "t2.small": (1, 1993, 3),
    "t2.medium": (2, 3933, 3),
    "t3.micro": (2, 944, 2),
    "t3.small": (2, 1939, 3),
    "t3.medium": (2, 3907, 3),
    "t3.large": (2, 7860, 3),
    "t3.xlarge": (4, 15817, 4),
    "m5.large": (2, 7685, 3),
    "m5.xlarge": (4, 15578, 4),
    "m5.2xlarge": (8, 31410, 4),
    "c5.large": (2, 3711, 3),
    "c5.xlarge": (4, 7469, 4),
    "c5.2xlarge": (8, 15304, 4),
    "r5.large": (2, 15578, 3),
}
DEFAULT_TYPE = (2, 3907, 3)
RESERVED_PORTS = ["22", "2375", "2376", "51678", "51679"]
DYNAMIC_PORTS = range(32768, 61000)
_CLUSTER_RE = re.compile(r"ECS_CLUSTER=[\"']?([A-Za-z0-9_-]+)")

INSUFFICIENT = {
    "CPU": "has insufficient CPU units available.",
    "MEMORY": "has insufficient memory available.",
    "PORTS": "is already using a port required by your task.",
    "ENI": 'encountered error "RESOURCE:ENI".',
}
TROUBLESHOOTING = "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide."


@dataclass
class InstanceState:
    """Attached to a moto ECS ``ContainerInstance`` as ``_sbx``."""

    instance_id: str
    cpu: int
    memory: int
    enis: int  # ENIs free for awsvpc tasks (the primary one excluded)
    ip: str | None
    az: str | None
    asg: str | None


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.PLACER.append(place)
        _patch_moto()


# ---------------------------------------------------------------------------
# Instance types, user data
# ---------------------------------------------------------------------------


def cluster_from_user_data(user_data: Any) -> str | None:
    """The cluster an instance's user data names (``ECS_CLUSTER=...``)."""
    if user_data is None:
        return None
    if isinstance(user_data, (list, tuple)):
        user_data = user_data[0] if user_data else None
        if user_data is None:
            return None
    raw = getattr(user_data, "_encoded_string", None) or (user_data.decode() if isinstance(user_data, bytes) else str(user_data))
    texts = [raw]
    try:
        texts.insert(0, base64.b64decode(raw, validate=True).decode("utf-8", "replace"))
    except Exception:
        pass
    for text in texts:
        m = _CLUSTER_RE.search(text)
        if m:
            return m.group(1)
    return None


def _resources(cpu: int, memory: int, ports: list[str]) -> list[dict]:
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu, "doubleValue": 0.0, "longValue": 0},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports, "integerValue": 0, "doubleValue": 0.0, "longValue": 0},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": [], "integerValue": 0, "doubleValue": 0.0, "longValue": 0},
    ]


def _asg_of(account: str, region: str, instance_id: str) -> Any | None:
    per_account = dict.get(autoscaling_backends, account)
    backend = dict.get(per_account, region) if per_account is not None else None
    if backend is None:
        return None
    for group in backend.autoscaling_groups.values():
        if any(s.instance.id == instance_id for s in group.instance_states):
            return group
    return None


# ---------------------------------------------------------------------------
# moto patches: run-task placement and failures, deregistration
# ---------------------------------------------------------------------------


def _patch_moto() -> None:
    Backend = ecs_models.EC2ContainerServiceBackend
    fargate = ("FARGATE", "FARGATE_SPOT")

    # run-task: moto places EC2 tasks on its own (fixed resources, no ENIs)
    # and raises a plain Exception (HTTP 500) for a cluster without
    # instances.  Place them here and remember the failures for the response.
    @patch(Backend, "run_task")
    def run_task(original: Any, self: Any, cluster_str: str, task_definition_str: str, count: int, overrides: Any, started_by: str, tags: Any, launch_type: str | None, networking_configuration: Any = None, group: str | None = None, platform_version: str | None = None, capacity_provider_strategy: Any = None) -> list:
        self._sbx_failures = []
        cluster = self._get_cluster(cluster_str)
        strategy = capacity_provider_strategy
        if not launch_type and not strategy:
            strategy = cluster.default_capacity_provider_strategy
        provider = strategy[0]["capacityProvider"] if strategy else None
        if launch_type in ("FARGATE", "EXTERNAL") or provider in fargate or launch_type not in (None, "", "EC2"):
            return original(self, cluster_str, task_definition_str, count, overrides, started_by, tags, launch_type, networking_configuration, group, platform_version, capacity_provider_strategy)
        td = self.describe_task_definition(task_definition_str)
        if td.network_mode == "awsvpc" and not networking_configuration:
            raise InvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is specified.")
        if networking_configuration and "awsvpcConfiguration" in networking_configuration:
            networking_configuration["awsvpcConfiguration"].setdefault("securityGroups", [])
        launch = {"launchType": launch_type or ("" if strategy else "EC2"), "capacityProviderStrategy": strategy}
        if not _candidates(self, cluster, launch, active_only=False):
            raise InvalidParameterException("No Container Instances were found in your cluster.")
        tasks = []
        for _ in range(count):
            try:
                placement = place(self, cluster, td, None, launch)
            except Unplaceable as exc:
                for f in exc.failures:
                    if f not in self._sbx_failures:
                        self._sbx_failures.append(f)
                break
            if td.network_mode == "awsvpc":
                subnet = networking_configuration["awsvpcConfiguration"]["subnets"][0]
                ip = ecs_tasks._pick_ip(self.account_id, self.region_name, subnet)
            else:
                ip = placement.ip
            saved = ecs_models.random_private_ip
            ecs_models.random_private_ip = lambda *a, **k: ip
            try:
                task = Task(
                    cluster, td, placement.container_instance_arn, ecs_tasks.task_resources(self, td), backend=self,
                    group=group or f"family:{td.family}", overrides=overrides or {}, started_by=started_by or "",
                    tags=tags or [], launch_type=launch_type or ("" if strategy else "EC2"),
                    networking_configuration=networking_configuration if td.network_mode == "awsvpc" else None,
                    capacity_provider_name=placement.capacity_provider,
                )
            finally:
                ecs_models.random_private_ip = saved
            self.tasks.setdefault(cluster.name, {})[task.task_arn] = task
            ecs_tasks.adopt_standalone(self, task, placement)
            tasks.append(task)
        return tasks

    @patch(EC2ContainerServiceResponse, "run_task")
    def run_task_response(original: Any, self: Any) -> Any:
        self.ecs_backend._sbx_failures = []
        result = original(self)
        failures = getattr(self.ecs_backend, "_sbx_failures", [])
        if failures and hasattr(result, "result"):
            result.result["failures"] = list(failures)
        self.ecs_backend._sbx_failures = []
        return result

    # delete-capacity-provider: AWS keeps a provider a cluster still lists and
    # says why in updateStatus/updateStatusReason (status stays ACTIVE); moto
    # deletes it, and answers a missing one with HTTP 500.
    @patch(Backend, "delete_capacity_provider")
    def delete_capacity_provider(original: Any, self: Any, name_or_arn: str) -> Any:
        provider = self._get_provider(name_or_arn)
        if provider is None:
            raise ECSException("ClientException", "The specified capacity provider does not exist. Specify a valid name or ARN and try again.")
        for cluster in self.clusters.values():
            listed = cluster.capacity_providers or []
            if cluster.status == "ACTIVE" and (provider.name in listed or provider.capacity_provider_arn in listed):
                provider.update_status = "DELETE_FAILED"
                provider.update_status_reason = (
                    f"The capacity provider cannot be deleted because it is associated with cluster: {cluster.name}. "
                    "Remove the capacity provider from the cluster and try again."
                )
                return provider
        return original(self, name_or_arn)

    # put-cluster-capacity-providers: a provider an active service's strategy
    # names cannot be taken out of the cluster.
    @patch(Backend, "put_cluster_capacity_providers")
    def put_cluster_capacity_providers(original: Any, self: Any, cluster_name: str, capacity_providers: Any, default_strategy: Any) -> Any:
        cluster = self._get_cluster(cluster_name)
        if capacity_providers is not None:
            removed = set(cluster.capacity_providers or []) - set(capacity_providers)
            for svc in self.services.values():
                if svc.cluster_name != cluster.name or svc.status not in ("ACTIVE", "DRAINING"):
                    continue
                used = {item.get("capacityProvider") for item in (getattr(svc, "capacity_provider_strategy", None) or [])}
                if used & removed:
                    raise ECSException("ResourceInUseException", "The specified capacity provider is in use and cannot be removed.")
        return original(self, cluster_name, capacity_providers, default_strategy)

    # update-container-instances-state: tasks move off a DRAINING instance at
    # the next tick (see _drain).
    # deregister-container-instance: moto raises a plain Exception for an
    # unknown instance; its tasks stop.
    @patch(Backend, "deregister_container_instance")
    def deregister(original: Any, self: Any, cluster_str: str, container_instance_str: str, force: bool) -> Any:
        ci = original(self, cluster_str, container_instance_str, force)
        _stop_tasks_on(self, ci, f"Container instance {ci.container_instance_arn.split('/')[-1]} was deregistered.")
        return ci


# ---------------------------------------------------------------------------
# Registration and deregistration (the tick)
# ---------------------------------------------------------------------------


def tick(now: float) -> None:
    # Before registering: a service that could not place a task last tick gets
    # its chance on an instance registered now before more capacity is asked for.
    _managed_scaling()
    for account, region, ec2 in backends(ec2_backends):
        for instance in list(ec2.all_instances()):
            guarded(_follow_instance, account, region, instance, now)
    for _, _, backend in backends(ecs_backends):
        for cluster_name, per_cluster in list(backend.container_instances.items()):
            for ci in list(per_cluster.values()):
                if getattr(ci, "_sbx", None) is None:
                    continue
                _refresh(backend, ci)
                if ci.status == "DRAINING":
                    _drain(backend, ci)


def _follow_instance(account: str, region: str, instance: Any, now: float) -> None:
    cluster_name = getattr(instance, "_sbx_cluster", None)
    if cluster_name is None:
        cluster_name = cluster_from_user_data(instance.user_data) or ""
        instance._sbx_cluster = cluster_name
    if not cluster_name:
        return
    backend = ecs_backends[account][region]
    ci = getattr(instance, "_sbx_container_instance", None)
    if instance.state != "running":
        if ci is not None:
            _deregister(backend, ci, instance)
            instance._sbx_container_instance = None
        instance._sbx_seen = None
        return
    if ci is not None:
        return
    seen = getattr(instance, "_sbx_seen", None)
    if seen is None:
        instance._sbx_seen = now
        return
    if now - seen < ctx.config.instance_boot or cluster_name not in backend.clusters:
        return
    for per_cluster in backend.container_instances.values():
        for existing in per_cluster.values():
            if existing.ec2_instance_id == instance.id and existing.status != "INACTIVE":
                instance._sbx_container_instance = existing  # registered through the API
                return
    instance._sbx_container_instance = register(backend, cluster_name, instance)


def register(backend: Any, cluster_name: str, instance: Any) -> Any:
    """Register an EC2 instance as a container instance with its type's capacity."""
    vcpus, memory, enis = INSTANCE_TYPES.get(instance.instance_type, DEFAULT_TYPE)
    ci = backend.register_container_instance(cluster_name, instance.id)
    cpu = vcpus * 1024
    ci.registered_resources = _resources(cpu, memory, list(RESERVED_PORTS))
    ci.remaining_resources = _resources(cpu, memory, list(RESERVED_PORTS))
    ci.registered_at = ctx.clock.wall()
    ci.version_info = {"agentVersion": "1.87.0", "agentHash": "0d2e6a3c", "dockerVersion": "DockerVersion: 25.0.6"}
    asg = _asg_of(backend.account_id, backend.region_name, instance.id)
    ci._sbx = InstanceState(instance.id, cpu, memory, max(enis - 1, 0), instance.private_ip, instance.placement.zone, asg.name if asg else None)
    provider = _provider_for_asg(backend, asg) if asg else None
    if provider is not None:
        ci.capacity_provider_name = provider.name
    return ci


def _deregister(backend: Any, ci: Any, instance: Any) -> None:
    per_cluster = backend.container_instances.get(ci.cluster_name, {})
    key = ci.container_instance_arn.split("/")[-1]
    if per_cluster.pop(key, None) is not None:
        cluster = backend.clusters.get(ci.cluster_name)
        if cluster is not None:
            cluster.registered_container_instances_count = max(cluster.registered_container_instances_count - 1, 0)
    ci.status = "INACTIVE"
    ci.agent_connected = False
    _stop_tasks_on(backend, ci, f"Host EC2 (instance {instance.id}) {instance.state}.")


def _stop_tasks_on(backend: Any, ci: Any, reason: str) -> None:
    for task in _tasks_on(backend, ci):
        ecs_tasks.request_stop(task, reason, "TerminationNotice", failure=False)


def _tasks_on(backend: Any, ci: Any, live_only: bool = True) -> list:
    arn = ci.container_instance_arn
    out = []
    for task in backend.tasks.get(ci.cluster_name, {}).values():
        ts = getattr(task, "_sbx", None)
        if ts is None or ts.container_instance != arn:
            continue
        if live_only and task.desired_status != "RUNNING":
            continue
        out.append(task)
    return out


def _drain(backend: Any, ci: Any) -> None:
    for task in _tasks_on(backend, ci):
        if task._sbx.service_uid is not None:
            ecs_tasks.request_stop(task, "Container instance is in DRAINING state.", "ServiceSchedulerInitiated")


# ---------------------------------------------------------------------------
# Resources
# ---------------------------------------------------------------------------


def _usage(backend: Any, ci: Any) -> tuple[int, int, set[str], int, int, int]:
    """(cpu, memory, host ports, ENIs) held by the tasks on an instance, and
    its running and pending task counts.  A task holds them until STOPPED."""
    cpu = memory = enis = running = pending = 0
    ports: set[str] = set()
    for task in _tasks_on(backend, ci, live_only=False):
        if task.last_status == "STOPPED":
            continue
        td = ecs_tasks.task_definition_for(backend, task.task_definition_arn)
        if td is None:
            continue
        need = requirements(td)
        cpu += need["cpu"]
        memory += need["memory"]
        enis += need["eni"]
        ports |= {str(p) for p in task._sbx.host_ports.values()}
        if task.last_status == "RUNNING":
            running += 1
        elif task.last_status in ("PROVISIONING", "PENDING"):
            pending += 1
    return cpu, memory, ports, enis, running, pending


def _refresh(backend: Any, ci: Any) -> None:
    st: InstanceState = ci._sbx
    cpu, memory, ports, _, running, pending = _usage(backend, ci)
    ci.remaining_resources = _resources(st.cpu - cpu, st.memory - memory, sorted(set(RESERVED_PORTS) | ports, key=int))
    ci.running_tasks_count = running
    ci.pending_tasks_count = pending


def _whole(value: Any) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return 0


def requirements(td: Any) -> dict:
    """What a task of ``td`` reserves on a container instance."""
    containers = td.container_definitions
    cpu = _whole(td.cpu) or sum(_whole(c.get("cpu")) for c in containers)
    memory = _whole(td.memory) or sum(_whole(c.get("memoryReservation") or c.get("memory")) for c in containers)
    fixed, dynamic = [], []
    for c in containers:
        for pm in c.get("portMappings") or []:
            cport = pm.get("containerPort")
            if cport is None:
                continue
            if td.network_mode == "host":
                fixed.append((int(cport), int(pm.get("hostPort") or cport)))
            elif td.network_mode in ("bridge", None, ""):
                host = _whole(pm.get("hostPort"))
                (fixed if host else dynamic).append((int(cport), host))
    return {"cpu": cpu, "memory": memory, "fixed": fixed, "dynamic": dynamic, "eni": 1 if td.network_mode == "awsvpc" else 0}


# ---------------------------------------------------------------------------
# Placement
# ---------------------------------------------------------------------------


def _provider_for_asg(backend: Any, asg: Any) -> Any | None:
    for cp in backend.capacity_providers.values():
        arn = (cp.auto_scaling_group_provider or {}).get("autoScalingGroupArn", "")
        if arn and (arn == asg.arn or arn.endswith(f"autoScalingGroupName/{asg.name}") or arn == asg.name):
            return cp
    return None


def _providers(backend: Any, strategy: list | None) -> list:
    out = []
    for item in strategy or []:
        cp = backend._get_provider(item.get("capacityProvider", ""))
        if cp is not None:
            out.append(cp)
    return out


def _asg_name_of_provider(cp: Any) -> str:
    arn = (cp.auto_scaling_group_provider or {}).get("autoScalingGroupArn", "")
    return arn.rsplit("autoScalingGroupName/", 1)[-1]


def _candidates(backend: Any, cluster: Any, launch: dict, active_only: bool = True) -> list:
    strategy = launch.get("capacityProviderStrategy")
    if not launch.get("launchType") and not strategy:
        strategy = cluster.default_capacity_provider_strategy
    # Instances registered through the API (register-container-instance) are
    # adopted with their type's capacity.
    cis = [
        ci for ci in backend.container_instances.get(cluster.name, {}).values()
        if getattr(ci, "_sbx", None) is not None or _adopt_manual(backend, ci)
    ]
    if strategy and not launch.get("launchType"):
        groups = {_asg_name_of_provider(cp) for cp in _providers(backend, strategy)}
        cis = [ci for ci in cis if ci._sbx.asg in groups]
    if active_only:
        cis = [ci for ci in cis if ci.status == "ACTIVE"]
    return sorted(cis, key=lambda ci: ci.registered_at)


def _adopt_manual(backend: Any, ci: Any) -> bool:
    """Give a container instance registered through the API the capacity of
    its EC2 instance type."""
    try:
        instance = ec2_backends[backend.account_id][backend.region_name].get_instance(ci.ec2_instance_id)
    except Exception:
        return False
    vcpus, memory, enis = INSTANCE_TYPES.get(instance.instance_type, DEFAULT_TYPE)
    ci._sbx = InstanceState(instance.id, vcpus * 1024, memory, max(enis - 1, 0), instance.private_ip, instance.placement.zone, None)
    return True


def _misfits(backend: Any, ci: Any, need: dict) -> list[str]:
    st: InstanceState = ci._sbx
    cpu, memory, ports, enis, _, _ = _usage(backend, ci)
    out = []
    if need["cpu"] > st.cpu - cpu:
        out.append("CPU")
    if need["memory"] > st.memory - memory:
        out.append("MEMORY")
    if any(str(h) in ports or str(h) in RESERVED_PORTS for _, h in need["fixed"]):
        out.append("PORTS")
    if need["eni"] and enis + need["eni"] > st.enis:
        out.append("ENI")
    return out


def place(backend: Any, cluster: Any, td: Any, service: Any | None, launch: dict) -> Placement | None:
    """The container instance a new task goes to; None when the task needs none
    (Fargate, EXTERNAL); raises Unplaceable when nothing fits."""
    launch_type = launch.get("launchType")
    strategy = launch.get("capacityProviderStrategy")
    if not launch_type and not strategy:
        strategy = cluster.default_capacity_provider_strategy
    if launch_type in ("FARGATE", "EXTERNAL"):
        return None
    if not launch_type and strategy and strategy[0].get("capacityProvider") in ("FARGATE", "FARGATE_SPOT"):
        return None
    need = requirements(td)
    cands = _candidates(backend, cluster, launch)
    if not cands:
        raise Unplaceable(
            "was unable to place a task because no container instance met all of its requirements. "
            f"Reason: No Container Instances were found in your cluster. {TROUBLESHOOTING}",
            [{"reason": "No Container Instances were found in your cluster."}],
        )
    closest, closest_misfits, failures = None, None, []
    for ci in cands:
        misfits = _misfits(backend, ci, need)
        if not misfits:
            return _placement(backend, ci, need)
        failures.append({"arn": ci.container_instance_arn, "reason": f"RESOURCE:{misfits[0]}"})
        if closest_misfits is None or len(misfits) < len(closest_misfits):
            closest, closest_misfits = ci, misfits
    ci_id = closest.container_instance_arn.split("/")[-1]
    raise Unplaceable(
        "was unable to place a task because no container instance met all of its requirements. "
        f"The closest matching (container-instance {ci_id}) {INSUFFICIENT[closest_misfits[0]]} {TROUBLESHOOTING}",
        failures,
    )


def _placement(backend: Any, ci: Any, need: dict) -> Placement:
    st: InstanceState = ci._sbx
    _, _, used, _, _, _ = _usage(backend, ci)
    ports = {cport: host for cport, host in need["fixed"]}
    taken = used | set(RESERVED_PORTS) | {str(h) for h in ports.values()}
    for cport, _ in need["dynamic"]:
        host = next(p for p in DYNAMIC_PORTS if str(p) not in taken)
        taken.add(str(host))
        ports[cport] = host
    return Placement(
        container_instance_arn=ci.container_instance_arn,
        instance_id=st.instance_id,
        ip=st.ip,
        az=st.az,
        host_ports=ports,
        capacity_provider=getattr(ci, "capacity_provider_name", None),
    )


# ---------------------------------------------------------------------------
# Managed scaling of capacity providers
# ---------------------------------------------------------------------------


def _managed_scaling() -> None:
    for account, region, backend in backends(ecs_backends):
        for svc in list(backend.services.values()):
            st = getattr(svc, "_sbx", None)
            if st is None or not st.unplaceable or svc.status != "ACTIVE":
                continue
            cluster = backend.clusters.get(svc.cluster_name)
            strategy = getattr(svc, "capacity_provider_strategy", None) or (cluster.default_capacity_provider_strategy if cluster and not svc.launch_type else None)
            for cp in _providers(backend, strategy):
                ms = (cp.auto_scaling_group_provider or {}).get("managedScaling") or {}
                if ms.get("status") != "ENABLED":
                    continue
                _scale_out(account, region, backend, _asg_name_of_provider(cp))
                break


def _scale_out(account: str, region: str, ecs: Any, asg_name: str) -> None:
    asb = autoscaling_backends[account][region]
    group = asb.autoscaling_groups.get(asg_name)
    if group is None:
        return
    registered = {ci._sbx.instance_id for per in ecs.container_instances.values() for ci in per.values() if getattr(ci, "_sbx", None)}
    booting = [s for s in group.instance_states if s.instance.state == "running" and s.instance.id not in registered]
    if booting or group.desired_capacity >= group.max_size:
        return
    asb.set_desired_capacity(asg_name, group.desired_capacity + 1)


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


def state() -> dict:
    out = []
    for account, region, backend in backends(ecs_backends):
        for per_cluster in backend.container_instances.values():
            for ci in per_cluster.values():
                st = getattr(ci, "_sbx", None)
                if st is None:
                    continue
                cpu, memory, ports, enis, running, pending = _usage(backend, ci)
                out.append(
                    {
                        "account": account,
                        "region": region,
                        "arn": ci.container_instance_arn,
                        "cluster": ci.cluster_name,
                        "instance": st.instance_id,
                        "status": ci.status,
                        "registered": {"cpu": st.cpu, "memory": st.memory, "enis": st.enis},
                        "used": {"cpu": cpu, "memory": memory, "enis": enis, "ports": sorted(ports, key=int)},
                        "running": running,
                        "pending": pending,
                    }
                )
    return {"containerInstances": out}
