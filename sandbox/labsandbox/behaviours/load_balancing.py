"""ELBv2 target registration and health for ECS services.

For each ``loadBalancers`` entry of a service, a task that reaches RUNNING is
registered in the target group (id = task IP, port = containerPort) with health
``initial`` (Elb.RegistrationInProgress), which turns ``healthy`` after
``target_healthy`` seconds, or ``unhealthy`` (Target.ResponseCodeMismatch) for a
failing task.  A stopping task's target is ``draining`` for ``draining`` seconds,
then removed.  Targets registered by hand keep moto's behaviour (healthy at
once).  Simulated health lives on moto's ``FakeTargetGroup`` as ``_sbx_health``.

Behind an ``instance`` target group a task on EC2 is registered as its
instance id and host port.  moto keys targets by id alone, so the sandbox keys
its instance targets ``<instance id>:<port>`` (in ``targets`` and the health
table; the target itself still reads ``{"Id": instance id, "Port": port}``):
two ``bridge`` tasks of one service on the same instance are two targets, as
in AWS, and one of them draining leaves the other registered.

State: ``targetGroups`` in ``GET /_sandbox/state``.
Force verb: ``{"targetGroup": ARN, "target": id, ["port": n,] "state": "unhealthy",
["reason": ..., "description": ...]}`` sets a target's health until forced again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from moto.elbv2 import models as elbv2_models
from moto.elbv2.models import elbv2_backends

from . import ecs_services, ecs_tasks
from .base import Context, backends, first_install, patch

NAME = "load_balancing"
ctx: Context


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


def unique_dns_name(name: str, arn: str, region: str, scheme: str | None) -> str:
    """`name-1234567890.region.elb.amazonaws.com` (`internal-` first for internal ones), the
    number from the ARN."""
    number = int(hashlib.sha256(arn.encode()).hexdigest()[:12], 16) % 10**10
    prefix = "internal-" if scheme == "internal" else ""
    return f"{prefix}{name}-{number}.{region}.elb.amazonaws.com"


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        ecs_tasks.HOOKS.running.append(_register_targets)
        ecs_tasks.HOOKS.stopping.append(_begin_draining)
        ecs_tasks.HOOKS.stopped.append(_drop_targets)
        ecs_services.READINESS.append(_targets_healthy)
        _patch_moto()


def _patch_moto() -> None:
    # moto names every load balancer `<name>-1.<region>.elb.amazonaws.com`, so two accounts
    # (or regions) with a load balancer of the same name share one DNS name, and the proxy and
    # the DNS responder answer for whichever they find first. AWS adds a number of its own to
    # the name; here it is derived from the ARN, so it is stable and differs per account.
    @patch(elbv2_models.ELBv2Backend, "create_load_balancer")
    def create_load_balancer(original: Any, self: Any, *args: Any, **kwargs: Any) -> Any:
        lb = original(self, *args, **kwargs)
        lb.dns_name = unique_dns_name(lb.name, lb.arn, self.region_name, lb.scheme)
        return lb

    # FakeTargetGroup.health_for reports every registered target "healthy".
    # Targets the sandbox registered report the simulated state instead.
    @patch(elbv2_models.FakeTargetGroup, "health_for")
    def health_for(original: Any, self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        key = _key_of(self, target)
        h = _health(self).get(key) if key is not None else None
        if h is not None:
            return elbv2_models.FakeHealthStatus(
                target["Id"], self.targets[key]["Port"], self.health_check_port, h.state, h.reason, h.description
            )
        return original(self, target, ec2_backend)

    # FakeTargetGroup.deregister: a target deregistered by hand loses its
    # simulated health as well; instance targets are found by id and port.
    @patch(elbv2_models.FakeTargetGroup, "deregister")
    def deregister(original: Any, self: Any, targets: list[dict[str, Any]]) -> None:
        plain = []
        for t in targets:
            key = _key_of(self, t)
            if key is not None and key != t["Id"]:
                self.deregistered_targets[key] = self.targets.pop(key)
                _health(self).pop(key, None)
            else:
                plain.append(t)
        if plain:
            original(self, plain)
            for t in plain:
                _health(self).pop(t["Id"], None)

    # Terminated instances leave the target group with every port.
    @patch(elbv2_models.FakeTargetGroup, "deregister_terminated_instances")
    def deregister_terminated_instances(original: Any, self: Any, instance_ids: list[str]) -> None:
        for key in [k for k in self.targets if ":" in k and k.split(":", 1)[0] in instance_ids]:
            self.terminated_targets[key] = self.targets.pop(key)
            _health(self).pop(key, None)
        original(self, instance_ids)


def _key_of(tg: Any, target: dict[str, Any]) -> str | None:
    """The key of ``target`` (an ``Id`` and perhaps a ``Port``) in ``tg.targets``."""
    tid, port = target["Id"], target.get("Port")
    if port is not None and f"{tid}:{port}" in tg.targets:
        return f"{tid}:{port}"
    if tid in tg.targets:
        return tid
    if port is None:
        return next((k for k in tg.targets if k.startswith(f"{tid}:")), None)
    return None


def task_of_target(tg: Any, target: dict[str, Any]) -> str | None:
    """The ARN of the task the sandbox registered as ``target`` (None for targets
    registered by hand)."""
    key = _key_of(tg, target)
    h = _health(tg).get(key) if key is not None else None
    return h.task_arn or None if h is not None else None


def _health(tg: Any) -> dict:
    return getattr(tg, "_sbx_health", {})


def _health_of(tg: Any) -> dict:
    """The target group's simulated health table, created on first use."""
    health = getattr(tg, "_sbx_health", None)
    if health is None:
        health = tg._sbx_health = {}
    return health


def _target_group(task: Any, tg_arn: str) -> Any | None:
    return elbv2_backends[task._account_id][task.region_name].target_groups.get(tg_arn)


def _remove_target(tg: Any, target_id: str) -> None:
    tg.targets.pop(target_id, None)
    _health(tg).pop(target_id, None)


# ---------------------------------------------------------------------------
# Task hooks
# ---------------------------------------------------------------------------


def _register_targets(backend: Any, task: Any) -> None:
    ts = task._sbx
    service = ecs_tasks.find_service(task)
    if service is None:
        return
    st = ecs_services.svc_state(service)
    for lb in service.load_balancers or []:
        tg_arn = lb.get("targetGroupArn")
        if not tg_arn:
            continue
        tg = elbv2_backends[backend.account_id][backend.region_name].target_groups.get(tg_arn)
        if tg is None:
            continue
        port = int(lb.get("containerPort") or tg.port or 80)
        target_id = key = ts.ip
        if tg.target_type == "instance" and ts.instance_id:
            # EC2 launch type behind an instance target group: the instance
            # and the task's host port (bridge/host network modes), keyed by
            # both so that tasks sharing an instance keep a target each.
            target_id = ts.instance_id
            port = int(ts.host_ports.get(port, port))
            key = f"{target_id}:{port}"
        tg.targets[key] = {"Id": target_id, "Port": port}
        tg.deregistered_targets.pop(key, None)
        _health_of(tg)[key] = TargetHealth(
            "initial",
            "Elb.RegistrationInProgress",
            "Target registration is in progress",
            ctx.clock.now(),
            port,
            task.task_arn,
            failing=ts.failure is not None,
        )
        ts.targets.append((tg_arn, key))
        st.registered_batch[tg_arn] = st.registered_batch.get(tg_arn, 0) + 1


def _begin_draining(task: Any) -> None:
    ts = task._sbx
    service = ecs_tasks.find_service(task)
    for tg_arn, target_id in ts.targets:
        tg = _target_group(task, tg_arn)
        health = _health(tg).get(target_id) if tg is not None else None
        if health is None:
            continue
        health.state, health.since = "draining", ctx.clock.now()
        health.reason, health.description = "Target.DeregistrationInProgress", "Target deregistration is in progress"
        if service is not None:
            st = ecs_services.svc_state(service)
            st.deregistered_batch[tg_arn] = st.deregistered_batch.get(tg_arn, 0) + 1


def _drop_targets(task: Any) -> None:
    """A task that never drained (or stopped early) leaves its targets now."""
    for tg_arn, target_id in list(task._sbx.targets):
        tg = _target_group(task, tg_arn)
        if tg is not None:
            health = _health(tg).get(target_id)
            if health and health.state != "draining":
                _remove_target(tg, target_id)


def _targets_healthy(task: Any, service: Any) -> bool:
    ts = task._sbx
    if service.load_balancers and not ts.targets:
        return False
    for tg_arn, target_id in ts.targets:
        tg = _target_group(task, tg_arn)
        health = _health(tg).get(target_id) if tg is not None else None
        if health is None or health.state != "healthy":
            return False
    return True


# ---------------------------------------------------------------------------
# Tick, state, force
# ---------------------------------------------------------------------------


def tick(now: float) -> None:
    cfg = ctx.config
    for _, _, backend in backends(elbv2_backends):
        for tg in list(backend.target_groups.values()):
            for target_id, h in list(_health(tg).items()):
                age = now - h.since
                if h.state == "initial" and age >= cfg.target_healthy:
                    if h.failing:
                        h.state, h.reason = "unhealthy", "Target.ResponseCodeMismatch"
                        h.description = "Health checks failed with these codes: [500]"
                    else:
                        h.state, h.reason, h.description = "healthy", None, None
                    h.since = now
                elif h.state == "draining" and age >= cfg.draining:
                    _remove_target(tg, target_id)


def state() -> dict:
    groups = []
    for acct, _, backend in backends(elbv2_backends):
        for tg in backend.target_groups.values():
            groups.append(
                {
                    "account": acct,
                    "arn": tg.arn,
                    "targets": {tid: {"state": h.state, "reason": h.reason} for tid, h in _health(tg).items()},
                }
            )
    return {"targetGroups": groups}


DEFAULT_REASONS = {
    "unhealthy": "Target.ResponseCodeMismatch",
    "initial": "Elb.RegistrationInProgress",
    "draining": "Target.DeregistrationInProgress",
}


def force_target(body: dict) -> dict:
    for _, _, backend in backends(elbv2_backends):
        tg = backend.target_groups.get(body["targetGroup"])
        if tg is None:
            continue
        target_id = _key_of(tg, {"Id": body["target"], **({"Port": body["port"]} if "port" in body else {})})
        if target_id is None:
            raise KeyError("target not registered")
        health = _health_of(tg)
        now = ctx.clock.now()
        h = health.get(target_id)
        if h is None:
            h = health[target_id] = TargetHealth("healthy", None, None, now, int(tg.targets[target_id]["Port"]), "")
        h.state = body["state"]
        h.reason = body.get("reason", DEFAULT_REASONS.get(h.state))
        h.description = body.get("description", "Health checks failed with these codes: [500]" if h.state == "unhealthy" else None)
        h.since = now
        # A forced state sticks until forced again.
        h.failing = h.state == "unhealthy"
        return {"targetGroup": tg.arn, "target": target_id, "state": h.state}
    raise KeyError("target group not found")


FORCE = {"targetGroup": force_target}
