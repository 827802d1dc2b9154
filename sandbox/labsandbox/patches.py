"""Every monkeypatch of moto 5.2.5 the sandbox applies, in one place.

Each patch names the moto function it replaces and why.  ``apply()`` is
idempotent and is called once, before the server handles any request.
"""

from __future__ import annotations

from typing import Any

from moto.ecs import models as ecs_models
from moto.ecs.exceptions import ECSException, InvalidParameterException
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.elbv2 import models as elbv2_models
from moto.moto_api import state_manager
from moto.servicediscovery import models as sd_models

from . import simulator

_applied = False


class ServiceNotActiveException(ECSException):
    def __init__(self) -> None:
        super().__init__("ServiceNotActiveException", "Service was not ACTIVE.")


def disable_task_state_manager() -> None:
    """moto.ecs.models.Task is a ManagedState whose ``status`` advances one step
    towards STOPPED on every describe-tasks (transition model ``ecs::task``).
    The simulator owns task state, so make moto's transitions never fire."""
    state_manager.set_transition(model_name="ecs::task", transition={"progression": "manual", "times": 10**12})


def apply() -> None:
    global _applied
    if _applied:
        return
    _applied = True
    disable_task_state_manager()
    Backend = ecs_models.EC2ContainerServiceBackend

    # -- EC2 NetworkInterface.private_dns_name -----------------------------
    # Only set when the VPC has DNS hostnames enabled, yet moto.ecs.models.Task
    # reads it for every awsvpc task (AttributeError -> HTTP 500 in run-task).
    # A class-level default makes it None; the simulator fills in the name.
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface

    if not hasattr(NetworkInterface, "private_dns_name"):
        NetworkInterface.private_dns_name = None

    # -- ECS create-service ------------------------------------------------
    # EC2ContainerServiceBackend.create_service silently replaces an existing
    # service (AWS refuses) and Service.__init__ fakes counts; the response
    # handler drops deploymentConfiguration, serviceConnectConfiguration and
    # a few other request fields.  We refuse duplicates, keep those fields and
    # hand the service to the simulator.
    orig_create = Backend.create_service

    def create_service(self: Any, cluster_str: str, service_name: str, *args: Any, **kwargs: Any) -> Any:
        cluster = self._get_cluster(cluster_str)
        existing = self.services.get(f"{cluster.name}:{service_name}")
        if existing is not None and existing.status != "INACTIVE":
            raise InvalidParameterException("Creation of service was not idempotent.")
        # Service._validate_network reads awsvpcConfiguration["securityGroups"],
        # which AWS treats as optional (the VPC's default group): KeyError -> 500.
        net = kwargs.get("network_configuration")
        if net and "awsvpcConfiguration" in net:
            net["awsvpcConfiguration"].setdefault("securityGroups", [])
        return orig_create(self, cluster_str, service_name, *args, **kwargs)

    Backend.create_service = create_service

    orig_create_resp = EC2ContainerServiceResponse.create_service
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

    def create_service_response(self: Any) -> Any:
        result = orig_create_resp(self)
        service = result.result["service"] if hasattr(result, "result") else None
        if service is None:
            service = self.ecs_backend._get_service(self._get_param("cluster", "default"), self._get_param("serviceName"))
        for param, attr in kept_create_fields.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attr, value)
        if getattr(service, "capacity_provider_strategy", None) and not self._get_param("launchType"):
            # moto defaults launchType to EC2; a capacity provider strategy means none.
            service.launch_type = None
        service.created_by = f"arn:aws:iam::{self.current_account}:root"
        simulator.svc_state(service)  # normalise deployments now
        simulator.on_service_created(self.ecs_backend, service)
        return result

    EC2ContainerServiceResponse.create_service = create_service_response

    # -- ECS update-service ------------------------------------------------
    # EC2ContainerServiceBackend.update_service stores the task definition as
    # the literal string given (e.g. "web:2"), jumps runningCount to the new
    # desiredCount, and on forceNewDeployment only renames deployments[0].
    # We normalise the task definition to its ARN, keep the simulator's
    # counts and start a real new deployment when AWS would.
    orig_update = Backend.update_service
    redeploy_fields = ("network_configuration", "load_balancers", "service_registries", "service_connect_configuration")

    def update_service(self: Any, props: dict[str, Any]) -> Any:
        cluster_str = props.get("cluster", "default")
        service = self._get_service(cluster_str, props["service"].split("/")[-1])
        if service.status != "ACTIVE":
            raise ServiceNotActiveException()
        simulator.svc_state(service)
        counts = (service.running_count, service.pending_count)
        force = bool(props.pop("force_new_deployment", False))
        td_str = props.get("task_definition")
        td_arn = self.describe_task_definition(td_str).arn if td_str else None
        before = {f: getattr(service, f, None) for f in redeploy_fields}
        # deploymentConfiguration is merged field by field like AWS does.
        new_dc = props.pop("deployment_configuration", None)
        result = orig_update(self, props)
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
        changed = any(
            props.get(f) is not None and props.get(f) != before[f] for f in redeploy_fields
        )
        new_deployment = force or (td_arn is not None and td_arn != primary_td) or changed
        simulator.on_service_updated(self, service, new_deployment)
        return result

    Backend.update_service = update_service

    # -- ECS delete-service ------------------------------------------------
    # moto marks the service INACTIVE at once; AWS drains first (DRAINING),
    # then INACTIVE.  The simulator stops the tasks and finishes the job.
    orig_delete = Backend.delete_service

    def delete_service(self: Any, cluster_name: str, service_name: str, force: bool) -> Any:
        service = orig_delete(self, cluster_name, service_name, force)
        if getattr(service, "_sbx", None) is not None and service.deployment_controller.get("type", "ECS") == "ECS":
            simulator.on_service_deleted(self, service)
        return service

    Backend.delete_service = delete_service

    # -- ECS list-services -------------------------------------------------
    # moto keeps INACTIVE services listed; AWS does not.
    orig_list_services = Backend.list_services

    def list_services(self: Any, cluster_str: str, *args: Any, **kwargs: Any) -> list[str]:
        arns = orig_list_services(self, cluster_str, *args, **kwargs)
        inactive = {s.arn for s in self.services.values() if s.status == "INACTIVE"}
        return [a for a in arns if a not in inactive]

    Backend.list_services = list_services

    # -- ECS list-tasks ----------------------------------------------------
    # moto ignores serviceName and, unlike AWS, does not default desiredStatus
    # to RUNNING.
    orig_list_tasks = Backend.list_tasks

    def list_tasks(
        self: Any,
        cluster_str: str | None = None,
        container_instance: str | None = None,
        family: str | None = None,
        started_by: str | None = None,
        service_name: str | None = None,
        desiredStatus: str | None = None,
    ) -> list:
        tasks = orig_list_tasks(self, cluster_str, container_instance, family, started_by, None, desiredStatus or "RUNNING")
        if service_name:
            group = f"service:{service_name.split('/')[-1]}"
            tasks = [t for t in tasks if t.group == group]
        return tasks

    Backend.list_tasks = list_tasks

    # -- ECS stop-task -----------------------------------------------------
    # moto stops at once and raises plain Exceptions (HTTP 500) for unknown
    # tasks.  Simulator tasks stop the AWS way (DEACTIVATING -> STOPPED).
    orig_stop = Backend.stop_task

    def stop_task(self: Any, cluster_str: str, task_str: str, reason: str) -> Any:
        cluster = self._get_cluster(cluster_str)
        task_id = task_str.split("/")[-1]
        for arn, task in self.tasks.get(cluster.name, {}).items():
            if arn.endswith(task_id) and getattr(task, "_sbx", None) is not None:
                simulator.request_stop(task, reason or "Task stopped by user", "UserInitiated")
                return task
        try:
            return orig_stop(self, cluster_str, task_str, reason)
        except ECSException:
            raise
        except Exception:
            raise InvalidParameterException("The referenced task was not found.")

    Backend.stop_task = stop_task

    # -- ECS run-task / start-task -----------------------------------------
    # Standalone tasks get the same PROVISIONING -> PENDING -> RUNNING life.
    for name in ("run_task", "start_task"):
        orig = getattr(Backend, name)

        def wrapper(self: Any, *args: Any, __orig: Any = orig, **kwargs: Any) -> Any:
            tasks = __orig(self, *args, **kwargs)
            for task in tasks:
                simulator.adopt_standalone(self, task)
            return tasks

        setattr(Backend, name, wrapper)

    # -- ELBv2 target health -----------------------------------------------
    # FakeTargetGroup.health_for reports every registered target "healthy".
    # Targets the simulator registered report the simulated state instead.
    orig_health_for = elbv2_models.FakeTargetGroup.health_for

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> Any:
        h = getattr(self, "_sbx_health", {}).get(target["Id"])
        if h is not None and target["Id"] in self.targets:
            return elbv2_models.FakeHealthStatus(
                target["Id"], self.targets[target["Id"]]["Port"], self.health_check_port, h.state, h.reason, h.description
            )
        return orig_health_for(self, target, ec2_backend)

    elbv2_models.FakeTargetGroup.health_for = health_for

    # FakeTargetGroup.deregister: a target deregistered by hand loses its
    # simulated health as well.
    orig_deregister = elbv2_models.FakeTargetGroup.deregister

    def deregister(self: Any, targets: list[dict[str, Any]]) -> None:
        orig_deregister(self, targets)
        for t in targets:
            getattr(self, "_sbx_health", {}).pop(t["Id"], None)

    elbv2_models.FakeTargetGroup.deregister = deregister

    # -- IAM: per-account start-up cost -----------------------------------
    # moto.iam.models.get_account_id_from runs on every request and touches
    # iam_backends[account][partition] for every account and partition,
    # creating the missing ones; with MOTO_IAM_LOAD_MANAGED_POLICIES each new
    # backend parses the ~1,300 AWS-managed policies again (about 0.35 s).
    # A fresh account thus cost seconds.  Look only at backends that exist
    # (an access key can only live in one), and parse the policy JSON once.
    from moto.iam import models as iam_models

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(dict.items(iam_models.iam_backends)):
            for backend in list(dict.values(account)):
                if access_key in backend.access_keys:
                    return account_id
        return iam_models.DEFAULT_ACCOUNT_ID

    iam_models.get_account_id_from = get_account_id_from

    import json as _json

    parsed_policies: dict = {}

    def _init_aws_policies(self: Any) -> list:
        if not iam_models.load_iam_aws_managed_policies():
            return []
        if not parsed_policies:
            parsed_policies.update(_json.loads(iam_models.aws_managed_policies_data))
        return [
            iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, d)
            for name, d in parsed_policies.items()
        ]

    iam_models.IAMBackend._init_aws_policies = _init_aws_policies

    # -- Cloud Map private DNS namespaces ----------------------------------
    # ServiceDiscoveryBackend.create_private_dns_namespace names the hosted
    # zone "<namespace>-hz" (AWS: "<namespace>.") and refuses a second
    # namespace in the same VPC even with another name (AWS allows that).
    orig_private_ns = sd_models.ServiceDiscoveryBackend.create_private_dns_namespace

    def create_private_dns_namespace(self: Any, name: str, creator_request_id: str, description: str, vpc: str, *args: Any, **kwargs: Any) -> str:
        hidden = [ns for ns in self.namespaces.values() if ns.vpc == vpc and ns.name != name]
        for ns in hidden:
            ns.vpc = None
        try:
            op_id = orig_private_ns(self, name, creator_request_id, description, vpc, *args, **kwargs)
        finally:
            for ns in hidden:
                ns.vpc = vpc
        ns_id = self.operations[op_id].targets["NAMESPACE"]
        ns = self.namespaces[ns_id]
        from moto.route53.models import route53_backends

        zone = route53_backends[self.account_id]["aws"].get_hosted_zone(ns.dns_properties["HostedZoneId"].split("/")[-1])
        old = zone.name
        zone.name = name.rstrip(".") + "."
        for rr in zone.rrsets:
            if rr.name.rstrip(".") == old.rstrip("."):
                rr.name = zone.name
        return op_id

    sd_models.ServiceDiscoveryBackend.create_private_dns_namespace = create_private_dns_namespace
