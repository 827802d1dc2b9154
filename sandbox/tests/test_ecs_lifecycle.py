"""ECS services converge, roll out, scale and delete like AWS."""

from __future__ import annotations

import ipaddress

import pytest
from botocore.exceptions import ClientError

from conftest import wait_for
from infra import Lab


def steady(lab: Lab, name: str, count: int):
    def check():
        svc = lab.describe(name)
        deps = svc["deployments"]
        ok = (
            svc["runningCount"] == count
            and svc["pendingCount"] == 0
            and len(deps) == 1
            and deps[0]["rolloutState"] == "COMPLETED"
        )
        return svc if ok else None

    return wait_for(check, timeout=20, what=f"{name} steady at {count}")


def test_service_converges_with_tasks_inside_subnets(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    created = lab.service("web", td, count=2)
    assert created["runningCount"] == 0
    assert created["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    svc = steady(lab, "web", 2)
    dep = svc["deployments"][0]
    assert dep["status"] == "PRIMARY" and dep["id"].startswith("ecs-svc/")
    assert dep["runningCount"] == 2 and dep["taskDefinition"] == td
    messages = [e["message"] for e in svc["events"]]
    assert messages[0] == "(service web) has reached a steady state."
    assert f"(service web) deployment {dep['id']} deployment completed." in messages
    assert any(m.startswith("(service web) has started 2 tasks: (task ") for m in messages)

    tasks = lab.tasks("web")
    assert len(tasks) == 2
    nets = [ipaddress.ip_network(s["CidrBlock"]) for s in lab.subnets]
    for t in tasks:
        assert t["lastStatus"] == "RUNNING" and t["desiredStatus"] == "RUNNING"
        assert t["group"] == "service:web"
        assert t["startedBy"] == dep["id"]
        assert t["taskDefinitionArn"] == td
        details = {d["name"]: d["value"] for d in t["attachments"][0]["details"]}
        ip = ipaddress.ip_address(details["privateIPv4Address"])
        assert any(ip in n for n in nets), ip
        assert t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] == str(ip)
        assert "startedAt" in t and "createdAt" in t


def test_list_tasks_filters_by_service_and_status(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("a", td, count=1)
    lab.service("b", td, count=2)
    steady(lab, "a", 1)
    steady(lab, "b", 2)
    assert len(lab.ecs.list_tasks(cluster=lab.cluster, serviceName="a")["taskArns"]) == 1
    assert len(lab.ecs.list_tasks(cluster=lab.cluster, serviceName="b")["taskArns"]) == 2
    assert len(lab.ecs.list_tasks(cluster=lab.cluster)["taskArns"]) == 3
    assert lab.ecs.list_tasks(cluster=lab.cluster, serviceName="a", desiredStatus="STOPPED")["taskArns"] == []


def test_rolling_deployment_replaces_tasks(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td1 = lab.task_definition()
    lab.service("web", td1, count=2)
    first = steady(lab, "web", 2)["deployments"][0]["id"]
    old_tasks = {t["taskArn"] for t in lab.tasks("web")}
    td2 = lab.task_definition()  # web:2
    upd = lab.ecs.update_service(cluster=lab.cluster, service="web", taskDefinition="web:2")["service"]
    assert upd["taskDefinition"] == td2
    deps = upd["deployments"]
    assert [d["status"] for d in deps] == ["PRIMARY", "ACTIVE"]
    assert deps[0]["rolloutState"] == "IN_PROGRESS" and deps[0]["taskDefinition"] == td2
    assert deps[1]["id"] == first
    svc = steady(lab, "web", 2)
    assert svc["deployments"][0]["id"] == deps[0]["id"]
    assert svc["taskDefinition"] == td2
    new_tasks = lab.tasks("web")
    assert {t["taskDefinitionArn"] for t in new_tasks} == {td2}
    assert not old_tasks & {t["taskArn"] for t in new_tasks}
    stopped = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=list(old_tasks))["tasks"]
    for t in stopped:
        assert t["lastStatus"] == "STOPPED"
        assert t["stoppedReason"] == f"Scaling activity initiated by (deployment {deps[0]['id']})"
        assert "stoppedAt" in t
    stopped_listed = lab.ecs.list_tasks(cluster=lab.cluster, serviceName="web", desiredStatus="STOPPED")["taskArns"]
    assert old_tasks <= set(stopped_listed)

    # force-new-deployment with the same task definition
    upd = lab.ecs.update_service(cluster=lab.cluster, service="web", forceNewDeployment=True)["service"]
    assert len(upd["deployments"]) == 2 and upd["deployments"][0]["taskDefinition"] == td2
    steady(lab, "web", 2)


def test_scale_out_and_in(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("web", td, count=1)
    steady(lab, "web", 1)
    upd = lab.ecs.update_service(cluster=lab.cluster, service="web", desiredCount=3)["service"]
    assert upd["desiredCount"] == 3 and upd["runningCount"] == 1
    steady(lab, "web", 3)
    lab.ecs.update_service(cluster=lab.cluster, service="web", desiredCount=1)
    steady(lab, "web", 1)
    stopped = lab.tasks("web", "STOPPED")
    assert len(stopped) == 2
    assert all(t["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/") for t in stopped)


def test_delete_service_drains_then_inactive(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("web", td, count=2)
    steady(lab, "web", 2)
    with pytest.raises(ClientError) as err:
        lab.ecs.delete_service(cluster=lab.cluster, service="web")
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    deleted = lab.ecs.delete_service(cluster=lab.cluster, service="web", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    wait_for(lambda: lab.describe("web")["status"] == "INACTIVE", what="INACTIVE")
    assert lab.ecs.list_services(cluster=lab.cluster)["serviceArns"] == []
    assert lab.tasks("web") == []
    # The name can be used again once the service is INACTIVE.
    lab.service("web", td, count=1)
    steady(lab, "web", 1)


def test_duplicate_create_service_is_refused(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("web", td, count=1)
    with pytest.raises(ClientError) as err:
        lab.service("web", td, count=1)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    assert err.value.response["Error"]["Message"] == "Creation of service was not idempotent."


def test_stop_task_is_replaced(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("web", td, count=1)
    steady(lab, "web", 1)
    victim = lab.tasks("web")[0]["taskArn"]
    lab.ecs.stop_task(cluster=lab.cluster, task=victim, reason="testing")
    def replaced():
        running = lab.tasks("web")
        return running and running[0]["taskArn"] != victim and running[0]["lastStatus"] == "RUNNING"
    wait_for(replaced, what="replacement task")
    t = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[victim])["tasks"][0]
    assert t["lastStatus"] == "STOPPED" and t["stoppedReason"] == "testing" and t["stopCode"] == "UserInitiated"


def test_task_level_memory_only_still_runs(sandbox, session):
    """On Fargate a container may leave `memory` to the task; moto's resource sum fails on
    that, and the simulator must still start the tasks."""
    lab = Lab(session, sandbox.endpoint)
    td = lab.ecs.register_task_definition(
        family="task-memory-only",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "public.ecr.aws/nginx/nginx:latest", "essential": True}],
    )["taskDefinition"]["taskDefinitionArn"]
    lab.service("lean", td, count=2)
    steady(lab, "lean", 2)


def test_a_cluster_with_active_services_or_tasks_cannot_be_deleted(sandbox, session):
    """AWS refuses delete-cluster while a service is active or draining and while tasks run
    (moto would mark it INACTIVE at once); once they are gone, it is deleted."""
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition()
    lab.service("web", td, count=1)
    steady(lab, "web", 1)
    with pytest.raises(ClientError) as err:
        lab.ecs.delete_cluster(cluster=lab.cluster)
    assert err.value.response["Error"]["Code"] == "ClusterContainsServicesException"
    assert err.value.response["Error"]["Message"] == "The Cluster cannot be deleted while Services are active."
    lab.ecs.delete_service(cluster=lab.cluster, service="web", force=True)
    with pytest.raises(ClientError) as err:
        lab.ecs.delete_cluster(cluster=lab.cluster)
    assert err.value.response["Error"]["Code"] == "ClusterContainsServicesException", "draining counts as active"
    wait_for(lambda: lab.describe("web")["status"] == "INACTIVE", what="INACTIVE")
    # A standalone task keeps the cluster busy too.
    task = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=lab.network())["tasks"][0]
    with pytest.raises(ClientError) as err:
        lab.ecs.delete_cluster(cluster=lab.cluster)
    assert err.value.response["Error"]["Code"] == "ClusterContainsTasksException"
    lab.ecs.stop_task(cluster=lab.cluster, task=task["taskArn"])
    wait_for(
        lambda: lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[task["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED",
        what="STOPPED",
    )
    assert lab.ecs.delete_cluster(cluster=lab.cluster)["cluster"]["status"] == "INACTIVE"
