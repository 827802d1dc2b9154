"""Failure cases: image pull errors, a task role missing a permission, the
deployment circuit breaker (with and without rollback)."""

from __future__ import annotations

import json
import time

from conftest import wait_for
from infra import Lab
from test_ecs_lifecycle import steady
from test_load_balancing import health

BAD_IMAGE = "public.ecr.aws/does-not-exist/carts:1.0"


def test_image_pull_failure_keeps_retrying(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    td = lab.task_definition(image=BAD_IMAGE)
    lab.service("carts", td, count=1)

    stopped = wait_for(lambda: len(lab.tasks("carts", "STOPPED")) >= 3 and lab.tasks("carts", "STOPPED"), what="3 stopped tasks")
    t = stopped[0]
    assert t["stoppedReason"] == (
        "CannotPullContainerError: pull image manifest has been retried 5 time(s): "
        f"failed to resolve ref {BAD_IMAGE}: {BAD_IMAGE}: not found"
    )
    assert t["stopCode"] == "TaskFailedToStart"
    assert t["containers"][0]["reason"].startswith("CannotPullContainerError")
    assert "startedAt" not in t and "stoppedAt" in t
    svc = lab.describe("carts")
    messages = [e["message"] for e in svc["events"]]
    assert any(m.startswith("(service carts) is unable to consistently start tasks successfully.") for m in messages)
    assert any(m.startswith("(service carts) (task ") and "CannotPullContainerError" in m for m in messages)
    dep = svc["deployments"][0]
    assert dep["rolloutState"] == "IN_PROGRESS"  # no circuit breaker: never gives up
    assert dep["failedTasks"] >= 3
    assert svc["runningCount"] == 0


def test_missing_dynamodb_permission_crashes_until_fixed(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("carts-alb")
    tg_arn = alb["tg"]["TargetGroupArn"]
    role_arn = lab.role("carts-task-role", None)
    td = lab.task_definition(
        family="carts",
        env=[{"name": "CARTS_DYNAMODB_TABLENAME", "value": "Items"}],
        role_arn=role_arn,
        log_group="/ecs/carts",
    )
    lab.service("carts", td, count=1, loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])

    # The task runs, its target turns unhealthy, then the container exits.
    running = wait_for(lambda: lab.tasks("carts") and lab.tasks("carts")[0]["lastStatus"] == "RUNNING" and lab.tasks("carts"), what="running task")
    task_id = running[0]["taskArn"].split("/")[-1]

    def unhealthy():
        return any(d["TargetHealth"]["State"] == "unhealthy" for d in health(lab, tg_arn).values())

    wait_for(unhealthy, what="unhealthy target")
    d = next(d for d in health(lab, tg_arn).values() if d["TargetHealth"]["State"] == "unhealthy")
    assert d["TargetHealth"]["Reason"] in ("Target.ResponseCodeMismatch", "Target.Timeout")
    assert d["TargetHealth"]["Description"]

    stopped = wait_for(lambda: lab.tasks("carts", "STOPPED"), what="stopped task")
    t = next(t for t in stopped if t["taskArn"].endswith(task_id))
    assert t["stoppedReason"] == "Essential container in task exited"
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["containers"][0]["exitCode"] == 1
    assert "is not authorized to perform: dynamodb:Query" in t["containers"][0]["reason"]

    expected = (
        f"User: arn:aws:sts::{lab.account}:assumed-role/carts-task-role/{task_id} is not authorized to perform: "
        f"dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:{lab.account}:table/Items/index/idx_global_customerId "
        "because no identity-based policy allows the dynamodb:Query action"
    )
    messages = [e["message"] for e in lab.describe("carts")["events"]]
    assert any(expected in m for m in messages), messages[:5]
    logs = lab.logs.get_log_events(logGroupName="/ecs/carts", logStreamName=f"ecs/app/{task_id}")["events"]
    assert any(expected in e["message"] for e in logs)
    assert lab.describe("carts")["deployments"][0]["rolloutState"] == "IN_PROGRESS"

    # Fix the role: new tasks stay up and the deployment completes.
    policy = lab.iam.create_policy(
        PolicyName="carts-dynamo",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}]}),
    )["Policy"]["Arn"]
    lab.iam.attach_role_policy(RoleName="carts-task-role", PolicyArn=policy)
    svc = steady(lab, "carts", 1)
    assert svc["deployments"][0]["rolloutState"] == "COMPLETED"
    time.sleep(1.5)  # longer than crash_after: it really stays up
    assert lab.describe("carts")["runningCount"] == 1
    assert all(d["TargetHealth"]["State"] in ("healthy", "draining") for d in health(lab, tg_arn).values())


def test_aws_managed_policy_fixes_permission(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    role_arn = lab.role("carts-role-2", None)
    lab.iam.attach_role_policy(RoleName="carts-role-2", PolicyArn="arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess")
    td = lab.task_definition(family="carts", env=[{"name": "CARTS_DYNAMODB_TABLENAME", "value": "Items"}], role_arn=role_arn)
    lab.service("carts", td, count=1)
    steady(lab, "carts", 1)


def test_circuit_breaker_rolls_back(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    good = lab.task_definition()
    lab.service(
        "web", good, count=2,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}, "maximumPercent": 200, "minimumHealthyPercent": 100},
    )
    first = steady(lab, "web", 2)
    assert first["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    first_id = first["deployments"][0]["id"]
    bad = lab.task_definition(image=BAD_IMAGE)
    failing_id = lab.ecs.update_service(cluster=lab.cluster, service="web", taskDefinition=bad)["service"]["deployments"][0]["id"]

    def rolled_back():
        svc = lab.describe("web")
        msgs = [e["message"] for e in svc["events"]]
        return svc if any("deployment failed: tasks failed to start." in m for m in msgs) else None

    svc = wait_for(rolled_back, timeout=20, what="circuit breaker")
    msgs = [e["message"] for e in svc["events"]]
    assert f"(service web) (deployment {failing_id}) deployment failed: tasks failed to start." in msgs
    assert f"(service web) rolling back to deployment {first_id}." in msgs
    primary = svc["deployments"][0]
    assert primary["taskDefinition"] == good and primary["id"] not in (first_id, failing_id)
    assert primary["rolloutStateReason"] in (
        f"ECS deployment circuit breaker: rolling back to deploymentId {first_id}.",
        f"ECS deployment {primary['id']} completed.",  # the rollback may already be done
    )
    failed = [d for d in svc["deployments"] if d["id"] == failing_id]
    if failed:  # until its last task is gone
        assert failed[0]["rolloutState"] == "FAILED"
        assert failed[0]["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    final = steady(lab, "web", 2)
    assert final["taskDefinition"] == good
    assert final["deployments"][0]["rolloutState"] == "COMPLETED"
    # The original tasks were never stopped: minimumHealthyPercent=100 kept them.
    assert all(t["taskDefinitionArn"] == good for t in lab.tasks("web"))


def test_circuit_breaker_without_rollback_marks_failed(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    bad = lab.task_definition(image=BAD_IMAGE)
    lab.service("web", bad, count=1, deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}})

    def failed():
        dep = lab.describe("web")["deployments"][0]
        return dep if dep["rolloutState"] == "FAILED" else None

    dep = wait_for(failed, timeout=20, what="FAILED rollout")
    assert dep["rolloutStateReason"] == "ECS deployment circuit breaker: tasks failed to start."
    assert dep["failedTasks"] >= 3
    # No new tasks are launched for a failed deployment.
    time.sleep(1.0)
    assert lab.tasks("web") == []
