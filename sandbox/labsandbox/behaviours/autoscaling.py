"""Application Auto Scaling for ECS services: target-tracking and step scaling
policies that change a service's desired count, with cooldowns and AWS-worded
scaling activities.

* Target tracking: putting a policy creates the two CloudWatch alarms AWS
  creates (moto's have a made-up threshold): ``TargetTracking-<resource>-AlarmHigh-<uuid>``
  (threshold = target value, 3 of 3 one-minute periods above it) and, unless
  scale-in is disabled, ``...-AlarmLow-<uuid>`` (90 % of the target, 15 of 15
  periods below it), on ``AWS/ECS`` CPU or memory utilisation, on
  ``AWS/ApplicationELB`` ``RequestCountPerTarget`` (Sum) or on a customised
  metric.  While AlarmHigh is in ALARM the service scales out to
  ``ceil(desired x metric / target)``; while AlarmLow is, it scales in the same
  way (at least one task fewer).  ``ScaleOutCooldown``/``ScaleInCooldown``
  (default 300 s) hold further changes: a scale-out during its cooldown only if
  it goes above the last one, a scale-in only when neither cooldown runs.
* Step scaling: an alarm whose actions name the policy ARN invokes it while in
  ALARM; the step whose bounds hold (metric - threshold) gives the adjustment
  (``ChangeInCapacity``, ``PercentChangeInCapacity`` with
  ``MinAdjustmentMagnitude``, ``ExactCapacity``); ``Cooldown`` (default 300 s)
  holds the policy after it acted.

Capacity stays within the scalable target's min and max.  Each change is a
scaling activity ("Setting desired count to 4.", cause "monitor alarm <name>
in state ALARM triggered policy <policy>"), listed newest first by
``describe-scaling-activities`` (which moto lacks).  ``describe-scaling-policies``
honours ``--policy-names`` (moto returns every policy of the resource).  Evaluation follows the
alarms behaviour, so all of it follows the sandbox clock.

No state keys or force verbs of its own: the load verb of ``metrics`` drives it.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timezone
from typing import Any

from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling.models import applicationautoscaling_backends
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.cloudwatch.models import cloudwatch_backends
from moto.ecs.models import ecs_backends

from . import alarms, ecs_services
from .base import Context, first_install, patch

NAME = "autoscaling"
ctx: Context
DEFAULT_COOLDOWN = 300

PREDEFINED = {
    "ECSServiceAverageCPUUtilization": ("AWS/ECS", "CPUUtilization", "Average", "Percent"),
    "ECSServiceAverageMemoryUtilization": ("AWS/ECS", "MemoryUtilization", "Average", "Percent"),
    "ALBRequestCountPerTarget": ("AWS/ApplicationELB", "RequestCountPerTarget", "Sum", None),
}


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        alarms.ACTIONS.append(_on_alarm_action)
        _patch_moto()


def _patch_moto() -> None:
    Policy = aas_models.FakeApplicationAutoscalingPolicy

    # moto's target-tracking alarms for ECS have a threshold of 6 whatever the
    # target.  Make the ones AWS makes.
    def _generate_ecs_alarms(self: Any) -> list:
        return _target_tracking_alarms(self)

    Policy._generate_ecs_alarms = _generate_ecs_alarms

    # put-scaling-policy on an existing name replaces the policy; moto keeps
    # the old policy's alarms.  AWS deletes them.
    @patch(aas_models.ApplicationAutoscalingBackend, "put_scaling_policy")
    def put_scaling_policy(original: Any, self: Any, policy_name: str, service_namespace: str, resource_id: str, scalable_dimension: str, *args: Any, **kwargs: Any) -> Any:
        key = Policy.formulate_key(service_namespace, resource_id, scalable_dimension, policy_name)
        old = self.policies.get(key)
        if old is not None and old.alarms:
            old.delete_alarms(self.account_id, self.region_name)
        return original(self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs)

    ApplicationAutoScalingResponse.describe_scaling_activities = _describe_scaling_activities

    # describe-scaling-policies --policy-names: moto ignores the names and
    # returns every policy of the resource.
    @patch(ApplicationAutoScalingResponse, "describe_scaling_policies")
    def describe_scaling_policies(original: Any, self: Any) -> str:
        names = self._get_param("PolicyNames") or []
        answer = original(self)
        if not names:
            return answer
        body = json.loads(answer)
        body["ScalingPolicies"] = [p for p in body.get("ScalingPolicies", []) if p.get("PolicyName") in names]
        return json.dumps(body)


def _target_tracking_alarms(policy: Any) -> list:
    cw = cloudwatch_backends[policy.account_id][policy.region_name]
    config = policy.target_tracking_scaling_policy_configuration or {}
    target = float(config.get("TargetValue", 50))
    action = f"{policy.policy_arn}:createdBy/{uuid.uuid4()}"
    predefined = config.get("PredefinedMetricSpecification") or {}
    custom = config.get("CustomizedMetricSpecification") or {}
    _, cluster, service = (policy.resource_id.split("/") + ["", ""])[:3]
    if custom:
        namespace, metric, statistic, unit = custom.get("Namespace"), custom.get("MetricName"), custom.get("Statistic", "Average"), custom.get("Unit")
        dims = custom.get("Dimensions") or []
    else:
        kind = predefined.get("PredefinedMetricType", "ECSServiceAverageCPUUtilization")
        namespace, metric, statistic, unit = PREDEFINED.get(kind, PREDEFINED["ECSServiceAverageCPUUtilization"])
        if namespace == "AWS/ECS":
            dims = [{"Name": "ClusterName", "Value": cluster}, {"Name": "ServiceName", "Value": service}]
        else:
            label = predefined.get("ResourceLabel", "")
            dims = [{"Name": "TargetGroup", "Value": label[label.find("targetgroup/") :]}] if "targetgroup/" in label else []
    made = []
    specs = [("AlarmHigh", "GreaterThanThreshold", 3, target)]
    if not config.get("DisableScaleIn"):
        specs.append(("AlarmLow", "LessThanThreshold", 15, round(target * 0.9, 6)))
    for suffix, operator, periods, threshold in specs:
        made.append(
            cw.put_metric_alarm(
                name=f"TargetTracking-{policy.resource_id}-{suffix}-{uuid.uuid4()}",
                namespace=namespace,
                metric_name=metric,
                metric_data_queries=[],
                comparison_operator=operator,
                evaluation_periods=periods,
                datapoints_to_alarm=periods,
                period=60,
                threshold=threshold,
                statistic=statistic,
                unit=unit,
                description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {action}.",
                dimensions=dims,
                alarm_actions=[action],
            )
        )
    return made


# ---------------------------------------------------------------------------
# Alarm actions -> policies
# ---------------------------------------------------------------------------


def _find_policy(arn: str, acct: str, region: str) -> tuple[Any, Any] | None:
    if ":scalingPolicy:" not in arn:
        return None
    per_region = dict.get(applicationautoscaling_backends, acct)
    backend = dict.get(per_region, region) if per_region is not None else None
    if backend is None:
        return None
    for policy in backend.policies.values():
        if arn == policy.policy_arn or arn.startswith(policy.policy_arn + ":"):
            return backend, policy
    return None


def _on_alarm_action(alarm: Any, arn: str, value: float | None, acct: str, region: str) -> None:
    found = _find_policy(arn, acct, region)
    if found is None or value is None:
        return
    backend, policy = found
    if policy.service_namespace != "ecs" or policy.scalable_dimension != "ecs:service:DesiredCount":
        return
    target = backend.targets.get(policy.scalable_dimension, {}).get(policy.resource_id)
    _, cluster, name = (policy.resource_id.split("/") + ["", ""])[:3]
    service = ecs_backends[acct][region].services.get(f"{cluster}:{name}")
    if target is None or service is None or service.status != "ACTIVE":
        return
    suspended = target.suspended_state or {}
    if suspended.get("DynamicScalingOutSuspended") and suspended.get("DynamicScalingInSuspended"):
        return
    current = service.desired_count
    now = ctx.clock.now()
    marks = policy.__dict__.setdefault("_sbx_marks", {})
    if policy.policy_type == "TargetTrackingScaling":
        desired = _target_tracking(policy, alarm, value, current, service.running_count, now, marks)
    else:
        desired = _step(policy, alarm, value, current, now, marks)
    if desired is None:
        return
    desired = max(int(target.min_capacity), min(int(target.max_capacity), desired))
    if desired == current:
        return
    if desired > current and suspended.get("DynamicScalingOutSuspended"):
        return
    if desired < current and suspended.get("DynamicScalingInSuspended"):
        return
    marks["out" if desired > current else "in"] = (now, desired)
    ecs_services.set_desired_count(service, desired)
    _record(backend, policy, alarm, desired)


def _target_tracking(policy: Any, alarm: Any, value: float, current: int, running: int, now: float, marks: dict) -> int | None:
    config = policy.target_tracking_scaling_policy_configuration or {}
    target = float(config.get("TargetValue", 50)) or 1.0
    # The metric was measured over the tasks that run, not those still starting.
    wanted = math.ceil(max(running or current, 1) * value / target)
    out_cooldown = float(config.get("ScaleOutCooldown", DEFAULT_COOLDOWN))
    in_cooldown = float(config.get("ScaleInCooldown", DEFAULT_COOLDOWN))
    last_out, last_in = marks.get("out"), marks.get("in")
    if "AlarmHigh" in alarm.name:
        if wanted <= current:
            return None
        if last_out and now - last_out[0] < out_cooldown and wanted <= last_out[1]:
            return None
        return wanted
    if "AlarmLow" in alarm.name:
        if config.get("DisableScaleIn"):
            return None
        if (last_in and now - last_in[0] < in_cooldown) or (last_out and now - last_out[0] < out_cooldown):
            return None
        return min(wanted, current - 1)
    return None


def _step(policy: Any, alarm: Any, value: float, current: int, now: float, marks: dict) -> int | None:
    config = policy.step_scaling_policy_configuration or {}
    cooldown = float(config.get("Cooldown", DEFAULT_COOLDOWN))
    last = max((m[0] for m in marks.values()), default=None)
    if last is not None and now - last < cooldown:
        return None
    delta = value - float(alarm.threshold)
    adjustment = None
    for step in config.get("StepAdjustments") or []:
        lower = step.get("MetricIntervalLowerBound")
        upper = step.get("MetricIntervalUpperBound")
        if (lower is None or delta >= float(lower)) and (upper is None or delta < float(upper)):
            adjustment = int(step["ScalingAdjustment"])
            break
    if adjustment is None:
        return None
    kind = config.get("AdjustmentType", "ChangeInCapacity")
    if kind == "ExactCapacity":
        return adjustment
    if kind == "PercentChangeInCapacity":
        change = int(current * adjustment / 100)
        floor = int(config.get("MinAdjustmentMagnitude") or 0)
        if adjustment and abs(change) < floor:
            change = floor if adjustment > 0 else -floor
        return current + change
    return current + adjustment


def _record(backend: Any, policy: Any, alarm: Any, desired: int) -> None:
    started = datetime.fromtimestamp(ctx.clock.epoch(), timezone.utc)
    activities = backend.__dict__.setdefault("_sbx_activities", [])
    activities.insert(
        0,
        {
            "ActivityId": str(uuid.uuid4()),
            "ServiceNamespace": policy.service_namespace,
            "ResourceId": policy.resource_id,
            "ScalableDimension": policy.scalable_dimension,
            "Description": f"Setting desired count to {desired}.",
            "Cause": f"monitor alarm {alarm.name} in state ALARM triggered policy {policy.policy_name}",
            "StartTime": started.timestamp(),
            "EndTime": started.timestamp(),
            "StatusCode": "Successful",
            "StatusMessage": f"Successfully set desired count to {desired}. Change successfully fulfilled by ecs.",
        },
    )


def _describe_scaling_activities(self: Any) -> str:
    backend = self.applicationautoscaling_backend
    namespace = self._get_param("ServiceNamespace")
    resource_id = self._get_param("ResourceId")
    dimension = self._get_param("ScalableDimension")
    found = [
        a
        for a in backend.__dict__.get("_sbx_activities", [])
        if a["ServiceNamespace"] == namespace
        and (not resource_id or a["ResourceId"] == resource_id)
        and (not dimension or a["ScalableDimension"] == dimension)
    ]
    start = int(self._get_param("NextToken") or 0)
    size = int(self._get_param("MaxResults") or 50)
    page = found[start : start + size]
    answer: dict = {"ScalingActivities": page}
    if start + size < len(found):
        answer["NextToken"] = str(start + size)
    return json.dumps(answer)
