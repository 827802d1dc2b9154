"""Metrics that move, alarms that evaluate and Application Auto Scaling that
acts on them, all fast-forwarded with the sandbox clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from infra import Lab
from test_ecs_lifecycle import steady
from test_load_balancing import via_proxy


def sandbox_now(sandbox) -> datetime:
    return datetime.fromisoformat(sandbox.control("GET", "clock")["now"])


def advance(sandbox, minutes: float) -> None:
    # Five-second steps let tasks start and stop in between, as in real time.
    sandbox.control("POST", "advance", {"seconds": minutes * 60, "step": 5})


def stats(lab: Lab, sandbox, namespace: str, metric: str, dims: list, stat: str, minutes: int = 10) -> list[float]:
    """The statistic of each of the last ``minutes`` completed minutes that has data, oldest first."""
    end = sandbox_now(sandbox).replace(second=0, microsecond=0)
    points = lab.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName=metric, Dimensions=dims, StartTime=end - timedelta(minutes=minutes),
        EndTime=end, Period=60, Statistics=[stat],
    )["Datapoints"]
    return [p[stat] for p in sorted(points, key=lambda p: p["Timestamp"])]


def ecs_dims(lab: Lab, service: str) -> list[dict]:
    return [{"Name": "ClusterName", "Value": lab.cluster}, {"Name": "ServiceName", "Value": service}]


def test_service_utilisation_follows_the_load_knob(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    svc = lab.service("web", lab.task_definition(), count=2)
    steady(lab, "web", 2)
    advance(sandbox, 2)
    assert set(stats(lab, sandbox, "AWS/ECS", "CPUUtilization", ecs_dims(lab, "web"), "Average")) == {10.0}
    out = sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 75, "memory": 40})
    assert out["cpu"] == 75 and out["memory"] == 40 and out["tasks"] == 2
    advance(sandbox, 2)
    assert stats(lab, sandbox, "AWS/ECS", "CPUUtilization", ecs_dims(lab, "web"), "Average", minutes=2) == [75.0, 75.0]
    assert stats(lab, sandbox, "AWS/ECS", "MemoryUtilization", ecs_dims(lab, "web"), "Maximum", minutes=1) == [40.0]
    # The demand stays: twice the tasks, half the utilisation.
    lab.ecs.update_service(cluster=lab.cluster, service="web", desiredCount=4)
    advance(sandbox, 2)
    assert stats(lab, sandbox, "AWS/ECS", "CPUUtilization", ecs_dims(lab, "web"), "Average", minutes=1) == [37.5]
    now = sandbox_now(sandbox).replace(second=0, microsecond=0)
    data = lab.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "cpu", "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": ecs_dims(lab, "web")}, "Period": 60, "Stat": "Average"}}],
        StartTime=now - timedelta(minutes=1), EndTime=now,
    )["MetricDataResults"][0]
    assert data["Values"] == [37.5]
    state = sandbox.control("GET", "state")["metrics"]["services"]
    assert next(s for s in state if s["arn"] == svc["serviceArn"])["utilisation"] == {"cpu": 37.5, "memory": 20.0}


def test_container_insights_task_counts(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    lab.service("web", lab.task_definition(), count=2)
    steady(lab, "web", 2)
    advance(sandbox, 2)
    assert stats(lab, sandbox, "ECS/ContainerInsights", "RunningTaskCount", ecs_dims(lab, "web"), "Average") == []
    # update-cluster-settings (moto lacks it) turns Container Insights on.
    cluster = lab.ecs.update_cluster_settings(cluster=lab.cluster, settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"]
    assert cluster["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    described = lab.ecs.describe_clusters(clusters=[lab.cluster], include=["SETTINGS"])["clusters"][0]
    assert described["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    advance(sandbox, 2)
    assert stats(lab, sandbox, "ECS/ContainerInsights", "RunningTaskCount", ecs_dims(lab, "web"), "Average", minutes=1) == [2.0]
    assert stats(lab, sandbox, "ECS/ContainerInsights", "DesiredTaskCount", ecs_dims(lab, "web"), "Maximum", minutes=1) == [2.0]
    # ... and its performance log group, as AWS creates it.
    group = f"/aws/ecs/containerinsights/{lab.cluster}/performance"
    logs = lab.client("logs")
    described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in described] == [(group, 1)]
    events = logs.filter_log_events(logGroupName=group, filterPattern='{ $.Type = "Service" }')["events"]
    assert events and json.loads(events[-1]["message"])["ServiceName"] == "web"
    lab.ecs.update_service(cluster=lab.cluster, service="web", desiredCount=0)
    steady(lab, "web", 0)
    advance(sandbox, 2)
    assert stats(lab, sandbox, "ECS/ContainerInsights", "RunningTaskCount", ecs_dims(lab, "web"), "Maximum", minutes=1) == [0.0]


def test_request_counts_through_the_proxy(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("count-alb")
    tg_arn = alb["tg"]["TargetGroupArn"]
    lab.service("web", lab.task_definition(), count=2, loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])
    steady(lab, "web", 2)
    advance(sandbox, 1)  # start from a fresh minute
    for _ in range(7):
        assert via_proxy(sandbox, f"http://{alb['lb']['DNSName']}/items")[0] == 200
    advance(sandbox, 1)
    tg_dim = {"Name": "TargetGroup", "Value": tg_arn.split(":")[-1]}
    lb_dim = {"Name": "LoadBalancer", "Value": alb["lb"]["LoadBalancerArn"].split(":loadbalancer/")[-1]}
    # (A real minute may have ended while the requests were made: add the minutes up.)
    assert sum(stats(lab, sandbox, "AWS/ApplicationELB", "RequestCount", [lb_dim], "Sum", minutes=3)) == 7.0
    assert sum(stats(lab, sandbox, "AWS/ApplicationELB", "RequestCountPerTarget", [tg_dim], "Sum", minutes=3)) == 3.5
    per_target = sandbox.control("GET", "state")["metrics"]["targets"][tg_arn]
    assert sum(per_target.values()) == 7 and len(per_target) == 2


def describe_alarm(lab: Lab, name: str) -> dict:
    return lab.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"][0]


def test_alarm_goes_ok_alarm_ok(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    svc = lab.service("web", lab.task_definition(), count=2)
    steady(lab, "web", 2)
    cw = lab.client("cloudwatch")
    cw.put_metric_alarm(
        AlarmName="cpu-high", Namespace="AWS/ECS", MetricName="CPUUtilization", Dimensions=ecs_dims(lab, "web"),
        Statistic="Average", Period=60, EvaluationPeriods=2, Threshold=70, ComparisonOperator="GreaterThanThreshold",
    )
    assert describe_alarm(lab, "cpu-high")["StateValue"] == "INSUFFICIENT_DATA"
    advance(sandbox, 3)
    alarm = describe_alarm(lab, "cpu-high")
    assert alarm["StateValue"] == "OK"
    # The first evaluation may have seen one or two minutes of data.
    assert alarm["StateReason"].startswith("Threshold Crossed: ") and " datapoints [10.0 (" in alarm["StateReason"]
    assert alarm["StateReason"].endswith(
        "not greater than the threshold (70.0) (minimum 1 datapoint for ALARM -> OK transition)."
    )

    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 90})
    advance(sandbox, 1)
    assert describe_alarm(lab, "cpu-high")["StateValue"] == "OK"  # one breaching minute of two
    advance(sandbox, 1)
    alarm = describe_alarm(lab, "cpu-high")
    assert alarm["StateValue"] == "ALARM"
    assert alarm["StateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints [90.0 (")
    assert alarm["StateReason"].endswith(
        "were greater than the threshold (70.0) (minimum 2 datapoints for OK -> ALARM transition)."
    )
    assert '"recentDatapoints": [90.0, 90.0]' in alarm["StateReasonData"]

    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 20})
    advance(sandbox, 1)
    alarm = describe_alarm(lab, "cpu-high")
    assert alarm["StateValue"] == "OK"
    assert "1 out of the last 2 datapoints [20.0 (" in alarm["StateReason"]
    # No data at all: INSUFFICIENT_DATA.
    lab.ecs.update_service(cluster=lab.cluster, service="web", desiredCount=0)
    advance(sandbox, 3)
    alarm = describe_alarm(lab, "cpu-high")
    assert (alarm["StateValue"], alarm["StateReason"]) == ("INSUFFICIENT_DATA", "Insufficient Data: 2 datapoints were unknown.")


def scalable(lab: Lab, service: str, low: int, high: int) -> tuple[object, str]:
    aas = lab.client("application-autoscaling")
    resource = f"service/{lab.cluster}/{service}"
    aas.register_scalable_target(
        ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount", MinCapacity=low, MaxCapacity=high
    )
    return aas, resource


def activities(aas, resource: str) -> list[dict]:
    return aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=resource)["ScalingActivities"]


def test_target_tracking_scales_out_then_in(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    svc = lab.service("web", lab.task_definition(), count=2)
    steady(lab, "web", 2)
    aas, resource = scalable(lab, "web", 1, 6)
    policy = aas.put_scaling_policy(
        PolicyName="cpu50", ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 50.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
            "ScaleOutCooldown": 60,
            "ScaleInCooldown": 60,
        },
    )
    names = {("AlarmHigh" if "-AlarmHigh-" in a["AlarmName"] else "AlarmLow"): a["AlarmName"] for a in policy["Alarms"]}
    high = describe_alarm(lab, names["AlarmHigh"])
    low = describe_alarm(lab, names["AlarmLow"])
    assert high["AlarmName"].startswith(f"TargetTracking-{resource}-AlarmHigh-")
    assert (high["Threshold"], high["EvaluationPeriods"], high["ComparisonOperator"]) == (50.0, 3, "GreaterThanThreshold")
    assert (low["Threshold"], low["EvaluationPeriods"], low["ComparisonOperator"]) == (45.0, 15, "LessThanThreshold")

    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 90})
    advance(sandbox, 4)  # three breaching minutes, then the policy acts
    done = activities(aas, resource)
    assert len(done) == 1
    assert done[0]["Description"] == "Setting desired count to 4."
    assert done[0]["Cause"] == f"monitor alarm {names['AlarmHigh']} in state ALARM triggered policy cpu50"
    assert done[0]["StatusCode"] == "Successful"
    assert done[0]["StatusMessage"] == "Successfully set desired count to 4. Change successfully fulfilled by ecs."
    assert steady(lab, "web", 4)["desiredCount"] == 4
    advance(sandbox, 4)  # 45 % per task now: no further scale-out
    assert lab.describe("web")["desiredCount"] == 4

    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 10})
    advance(sandbox, 17)
    done = activities(aas, resource)
    assert done[0]["Description"] == "Setting desired count to 1."
    assert done[0]["Cause"] == f"monitor alarm {names['AlarmLow']} in state ALARM triggered policy cpu50"
    assert steady(lab, "web", 1)["desiredCount"] == 1


def test_step_scaling_respects_its_cooldown(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    svc = lab.service("web", lab.task_definition(), count=2)
    steady(lab, "web", 2)
    aas, resource = scalable(lab, "web", 1, 10)
    arn = aas.put_scaling_policy(
        PolicyName="steps", ServiceNamespace="ecs", ResourceId=resource, ScalableDimension="ecs:service:DesiredCount",
        PolicyType="StepScaling",
        StepScalingPolicyConfiguration={
            "AdjustmentType": "ChangeInCapacity",
            "Cooldown": 600,
            "MetricAggregationType": "Average",
            "StepAdjustments": [
                {"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 20, "ScalingAdjustment": 1},
                {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 3},
            ],
        },
    )["PolicyARN"]
    lab.client("cloudwatch").put_metric_alarm(
        AlarmName="cpu-steps", Namespace="AWS/ECS", MetricName="CPUUtilization", Dimensions=ecs_dims(lab, "web"),
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=60, ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[arn],
    )
    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 95})  # 35 above: +3
    advance(sandbox, 2)
    done = activities(aas, resource)
    assert [a["Description"] for a in done] == ["Setting desired count to 5."]
    assert done[0]["Cause"] == "monitor alarm cpu-steps in state ALARM triggered policy steps"
    steady(lab, "web", 5)
    sandbox.control("POST", "force", {"load": svc["serviceArn"], "cpu": 70})  # 10 above: +1, after the cooldown
    advance(sandbox, 3)
    assert describe_alarm(lab, "cpu-steps")["StateValue"] == "ALARM"
    assert len(activities(aas, resource)) == 1
    advance(sandbox, 8)
    assert [a["Description"] for a in activities(aas, resource)][0] == "Setting desired count to 6."


def test_request_count_target_tracking_scales_out_under_proxy_load(sandbox, session):
    """What the flask-inventory lab does: ALBRequestCountPerTarget with a resource label,
    requests through the load-balancer proxy minute after minute, a scale-out; and
    describe-scaling-policies --policy-names picks one of two policies on the service."""
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("req-alb")
    lb_arn, tg_arn = alb["lb"]["LoadBalancerArn"], alb["tg"]["TargetGroupArn"]
    lab.service("web", lab.task_definition(), count=2, loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])
    steady(lab, "web", 2)
    aas, resource = scalable(lab, "web", 2, 4)
    common = {"ServiceNamespace": "ecs", "ResourceId": resource, "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling"}
    aas.put_scaling_policy(
        PolicyName="cpu70", **common,
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 70.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}},
    )
    label = f"{lb_arn.split(':loadbalancer/')[-1]}/{tg_arn.split(':')[-1]}"
    aas.put_scaling_policy(
        PolicyName="requests", **common,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 5.0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": label},
            "ScaleOutCooldown": 60,
        },
    )
    picked = aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource, PolicyNames=["requests"])["ScalingPolicies"]
    assert [p["PolicyName"] for p in picked] == ["requests"]
    assert picked[0]["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["ResourceLabel"] == label
    assert len(aas.describe_scaling_policies(ServiceNamespace="ecs", ResourceId=resource)["ScalingPolicies"]) == 2

    # 30 requests a minute over two targets: 15 per target against a target of 5.
    advance(sandbox, 1)
    for _ in range(5):
        for _ in range(30):
            assert via_proxy(sandbox, f"http://{alb['lb']['DNSName']}/items")[0] == 200
        advance(sandbox, 1)
        if lab.describe("web")["desiredCount"] > 2:
            break
    done = activities(aas, resource)
    assert done and done[0]["Description"] == "Setting desired count to 4."
    assert "-AlarmHigh-" in done[0]["Cause"] and done[0]["Cause"].endswith("triggered policy requests")


def test_describe_alarms_filters_by_state_together_with_a_prefix(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    cw = lab.client("cloudwatch")
    for name in ("pfx-one", "pfx-two", "other"):
        cw.put_metric_alarm(
            AlarmName=name, Namespace="AWS/ECS", MetricName="CPUUtilization", Statistic="Average",
            Period=60, EvaluationPeriods=1, Threshold=50, ComparisonOperator="GreaterThanThreshold",
        )
    cw.set_alarm_state(AlarmName="pfx-two", StateValue="ALARM", StateReason="test")
    cw.set_alarm_state(AlarmName="other", StateValue="ALARM", StateReason="test")
    names = lambda **kw: sorted(a["AlarmName"] for a in cw.describe_alarms(**kw)["MetricAlarms"])
    assert names(AlarmNamePrefix="pfx-") == ["pfx-one", "pfx-two"]
    assert names(AlarmNamePrefix="pfx-", StateValue="ALARM") == ["pfx-two"]
    assert names(AlarmNames=["pfx-one", "other"], StateValue="ALARM") == ["other"]
    assert names(StateValue="ALARM") == ["other", "pfx-two"]
