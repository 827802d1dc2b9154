"""ECS on EC2: instances that name a cluster in their user data register as
container instances with their type's capacity; placement honours CPU,
memory, host ports and ENIs; capacity providers, draining and termination."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from conftest import wait_for
from infra import Lab
from test_load_balancing import health

USER_DATA = "#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n"
AMI = "ami-12c6146b"  # any image id moto knows


def boot(sandbox, seconds: float = 2.0) -> None:
    """Let instances boot (and tasks start) without waiting in real time."""
    sandbox.control("POST", "advance", {"seconds": seconds, "step": 0.1})


def launch(lab: Lab, instance_type: str, count: int = 1) -> list[str]:
    out = lab.ec2.run_instances(
        ImageId=AMI, MinCount=count, MaxCount=count, InstanceType=instance_type,
        SubnetId=lab.subnet_ids[0], UserData=USER_DATA.format(cluster=lab.cluster),
    )
    return [i["InstanceId"] for i in out["Instances"]]


def container_instances(lab: Lab) -> list[dict]:
    arns = lab.ecs.list_container_instances(cluster=lab.cluster)["containerInstanceArns"]
    if not arns:
        return []
    return lab.ecs.describe_container_instances(cluster=lab.cluster, containerInstances=arns)["containerInstances"]


def resources(ci: dict, key: str) -> dict:
    return {r["name"]: r.get("integerValue", r.get("stringSetValue")) for r in ci[key]}


def ec2_task_definition(lab: Lab, family: str, mode: str, memory: int, cpu: int = 256, host_port: int | None = None) -> str:
    pm = {"containerPort": 8080, "protocol": "tcp"}
    if host_port is not None:
        pm["hostPort"] = host_port
    return lab.ecs.register_task_definition(
        family=family, networkMode=mode, requiresCompatibilities=["EC2"],
        containerDefinitions=[{"name": "app", "image": "nginx", "cpu": cpu, "memory": memory, "essential": True, "portMappings": [pm]}],
    )["taskDefinition"]["taskDefinitionArn"]


def test_instance_registers_and_run_task_reports_memory(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="ec2lab")
    with pytest.raises(ClientError, match="No Container Instances were found in your cluster"):
        lab.ecs.run_task(cluster=lab.cluster, taskDefinition=ec2_task_definition(lab, "x", "bridge", 128), launchType="EC2")
    (instance_id,) = launch(lab, "t3.micro")
    assert container_instances(lab) == []  # still booting
    boot(sandbox)

    # The CLI sees what boto3 sees.
    out = sandbox.aws(session, "ecs", "list-container-instances", "--cluster", lab.cluster)
    assert out.returncode == 0, out.stderr
    assert len(json.loads(out.stdout)["containerInstanceArns"]) == 1
    (ci,) = container_instances(lab)
    assert ci["ec2InstanceId"] == instance_id and ci["status"] == "ACTIVE"
    assert resources(ci, "registeredResources")["CPU"] == 2048
    assert resources(ci, "registeredResources")["MEMORY"] == 944

    td = ec2_task_definition(lab, "big", "bridge", 600)
    run = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=td, count=2, launchType="EC2")
    assert len(run["tasks"]) == 1
    assert run["failures"] == [{"arn": ci["containerInstanceArn"], "reason": "RESOURCE:MEMORY"}]
    task = run["tasks"][0]
    assert task["containerInstanceArn"] == ci["containerInstanceArn"]
    boot(sandbox, 1.0)
    task = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert task["lastStatus"] == "RUNNING"
    binding = task["containers"][0]["networkBindings"][0]
    assert binding["containerPort"] == 8080 and binding["hostPort"] >= 32768  # dynamic port
    (ci,) = container_instances(lab)
    assert resources(ci, "remainingResources")["MEMORY"] == 944 - 600
    assert resources(ci, "remainingResources")["CPU"] == 2048 - 256
    assert ci["runningTasksCount"] == 1

    # CPU runs out before memory.
    cpu_td = ec2_task_definition(lab, "cpu", "bridge", 64, cpu=2048)
    run = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=cpu_td, launchType="EC2")
    assert run["tasks"] == [] and run["failures"][0]["reason"] == "RESOURCE:CPU"

    # Terminating the instance deregisters it and stops its task.
    lab.ec2.terminate_instances(InstanceIds=[instance_id])
    boot(sandbox, 1.0)
    assert container_instances(lab) == []
    task = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[task["taskArn"]])["tasks"][0]
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"] == f"Host EC2 (instance {instance_id}) terminated."


def test_host_ports_and_enis_limit_placement(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="ports")
    launch(lab, "t3.micro")  # 2 ENIs: one left for awsvpc tasks
    boot(sandbox)
    host = ec2_task_definition(lab, "host", "host", 128, cpu=128)
    run = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=host, count=2, launchType="EC2")
    assert len(run["tasks"]) == 1 and run["failures"][0]["reason"] == "RESOURCE:PORTS"
    fixed = ec2_task_definition(lab, "fixed", "bridge", 128, cpu=128, host_port=8080)
    assert lab.ecs.run_task(cluster=lab.cluster, taskDefinition=fixed, launchType="EC2")["failures"][0]["reason"] == "RESOURCE:PORTS"

    vpc = ec2_task_definition(lab, "vpc", "awsvpc", 128, cpu=128)
    net = {"awsvpcConfiguration": {"subnets": [lab.subnet_ids[0]], "securityGroups": [lab.sg]}}
    run = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=vpc, count=2, launchType="EC2", networkConfiguration=net)
    assert len(run["tasks"]) == 1 and run["failures"][0]["reason"] == "RESOURCE:ENI"


def test_service_on_capacity_provider_with_instance_targets_drains(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="asg")
    import base64

    lab.ec2.create_launch_template(
        LaunchTemplateName="ecs-nodes",
        LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small", "UserData": base64.b64encode(USER_DATA.format(cluster="asg").encode()).decode()},
    )
    autoscaling = lab.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="ecs-nodes", LaunchTemplate={"LaunchTemplateName": "ecs-nodes"},
        MinSize=1, MaxSize=3, DesiredCapacity=1, VPCZoneIdentifier=lab.subnet_ids[0],
    )
    asg_arn = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ecs-nodes"])["AutoScalingGroups"][0]["AutoScalingGroupARN"]
    lab.ecs.create_capacity_provider(
        name="nodes",
        autoScalingGroupProvider={"autoScalingGroupArn": asg_arn, "managedScaling": {"status": "ENABLED", "targetCapacity": 100}},
    )
    lab.ecs.put_cluster_capacity_providers(
        cluster=lab.cluster, capacityProviders=["nodes"], defaultCapacityProviderStrategy=[{"capacityProvider": "nodes", "weight": 1}]
    )
    boot(sandbox)
    (ci,) = container_instances(lab)
    assert ci["capacityProviderName"] == "nodes"

    lb = lab.elbv2.create_load_balancer(Name="ec2-alb", Subnets=lab.subnet_ids, SecurityGroups=[lab.sg])["LoadBalancers"][0]
    tg = lab.elbv2.create_target_group(Name="ec2-tg", Protocol="HTTP", Port=80, VpcId=lab.vpc_id, TargetType="instance")["TargetGroups"][0]
    lab.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    # host mode: one task per instance, so two tasks need a second instance.
    td = ec2_task_definition(lab, "web", "host", 256, cpu=256)
    lab.ecs.create_service(
        cluster=lab.cluster, serviceName="web", taskDefinition=td, desiredCount=2,
        loadBalancers=[{"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}],
    )
    boot(sandbox, 1.0)
    svc = lab.describe("web")
    assert svc["runningCount"] == 1
    messages = [e["message"] for e in svc["events"]]
    ci_id = ci["containerInstanceArn"].split("/")[-1]
    assert any(
        m.startswith("(service web) was unable to place a task because no container instance met all of its requirements. "
                     f"The closest matching (container-instance {ci_id}) is already using a port required by your task.")
        for m in messages
    ), messages
    # Managed scaling adds an instance; the second task lands there.
    boot(sandbox, 4.0)
    assert len(container_instances(lab)) == 2
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ecs-nodes"])["AutoScalingGroups"][0]["DesiredCapacity"] == 2
    boot(sandbox, 3.0)
    assert lab.describe("web")["runningCount"] == 2
    targets = health(lab, tg["TargetGroupArn"])
    assert len(targets) == 2 and all(t.startswith("i-") for t in targets)
    assert {d["Target"]["Port"] for d in targets.values()} == {8080}

    # Draining the first instance moves its task off; with host ports and
    # only two instances the replacement cannot be placed until a third one.
    lab.ecs.update_container_instances_state(cluster=lab.cluster, containerInstances=[ci["containerInstanceArn"]], status="DRAINING")
    boot(sandbox, 2.0)
    tasks = lab.tasks("web", "STOPPED")
    assert any(t["stoppedReason"] == "Container instance is in DRAINING state." for t in tasks)
    boot(sandbox, 8.0)
    running = lab.tasks("web")
    assert len(running) == 2 and all(t["containerInstanceArn"] != ci["containerInstanceArn"] for t in running)
    drained = next(c for c in container_instances(lab) if c["containerInstanceArn"] == ci["containerInstanceArn"])
    assert drained["status"] == "DRAINING" and drained["runningTasksCount"] == 0


def test_service_without_enough_memory_reports_closest_instance(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="mem")
    launch(lab, "t3.micro")
    boot(sandbox)
    td = ec2_task_definition(lab, "hungry", "bridge", 2048)
    lab.ecs.create_service(cluster=lab.cluster, serviceName="hungry", taskDefinition=td, desiredCount=1, launchType="EC2")
    boot(sandbox, 1.0)
    svc = lab.describe("hungry")
    assert svc["runningCount"] == 0 and svc["pendingCount"] == 0
    assert "has insufficient memory available." in svc["events"][0]["message"]


def test_bridge_tasks_sharing_an_instance_are_separate_targets(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="bridge")
    (instance_id,) = launch(lab, "t3.small")
    boot(sandbox)
    lb = lab.elbv2.create_load_balancer(Name="bridge-alb", Subnets=lab.subnet_ids, SecurityGroups=[lab.sg])["LoadBalancers"][0]
    tg = lab.elbv2.create_target_group(Name="bridge-tg", Protocol="HTTP", Port=80, VpcId=lab.vpc_id, TargetType="instance")["TargetGroups"][0]
    tg_arn = tg["TargetGroupArn"]
    lab.elbv2.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    td = ec2_task_definition(lab, "web", "bridge", 128, cpu=128)  # hostPort 0: dynamic
    lab.ecs.create_service(
        cluster=lab.cluster, serviceName="web", taskDefinition=td, desiredCount=2, launchType="EC2",
        loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}],
        deploymentConfiguration={"minimumHealthyPercent": 50, "maximumPercent": 200},
    )
    boot(sandbox, 3.0)

    def targets() -> list[tuple[str, int, str]]:
        out = lab.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        return sorted((d["Target"]["Id"], d["Target"]["Port"], d["TargetHealth"]["State"]) for d in out)

    ports = sorted(t["containers"][0]["networkBindings"][0]["hostPort"] for t in lab.tasks("web"))
    assert len(ports) == 2 and ports[0] != ports[1]
    # Both tasks run on the one instance, and each is a target of its own.
    assert targets() == [(instance_id, ports[0], "healthy"), (instance_id, ports[1], "healthy")]
    assert lab.describe("web")["deployments"][0]["rolloutState"] == "COMPLETED"

    # A rolling deployment replaces them one by one: stopping an old task
    # removes its own target only, and the new deployment completes.
    lab.ecs.update_service(cluster=lab.cluster, service="web", forceNewDeployment=True)
    boot(sandbox, 10.0)
    svc = lab.describe("web")
    assert [(d["status"], d["rolloutState"]) for d in svc["deployments"]] == [("PRIMARY", "COMPLETED")]
    new_ports = sorted(t["containers"][0]["networkBindings"][0]["hostPort"] for t in lab.tasks("web"))
    assert targets() == [(instance_id, p, "healthy") for p in new_ports]

    # Deregistering by hand names the instance and the port.
    lab.elbv2.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": instance_id, "Port": new_ports[0]}])
    assert targets() == [(instance_id, new_ports[1], "healthy")]


def test_a_capacity_provider_a_cluster_lists_is_not_deleted_and_says_why(sandbox, session):
    lab = Lab(session, sandbox.endpoint, cluster="cp-delete")
    lab.ec2.create_launch_template(LaunchTemplateName="cp-nodes", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"})
    autoscaling = lab.client("autoscaling")
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName="cp-nodes", LaunchTemplate={"LaunchTemplateName": "cp-nodes"},
        MinSize=0, MaxSize=1, DesiredCapacity=0, VPCZoneIdentifier=lab.subnet_ids[0],
    )
    asg_arn = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["cp-nodes"])["AutoScalingGroups"][0]["AutoScalingGroupARN"]
    lab.ecs.create_capacity_provider(name="cp", autoScalingGroupProvider={"autoScalingGroupArn": asg_arn})
    lab.ecs.put_cluster_capacity_providers(
        cluster=lab.cluster, capacityProviders=["cp"], defaultCapacityProviderStrategy=[{"capacityProvider": "cp", "weight": 1}]
    )
    td = ec2_task_definition(lab, "idle", "bridge", 64)
    lab.ecs.create_service(
        cluster=lab.cluster, serviceName="idle", taskDefinition=td, desiredCount=0,
        capacityProviderStrategy=[{"capacityProvider": "cp", "weight": 1}],
    )

    answer = lab.ecs.delete_capacity_provider(capacityProvider="cp")["capacityProvider"]
    assert answer["status"] == "ACTIVE" and answer["updateStatus"] == "DELETE_FAILED"
    assert answer["updateStatusReason"].startswith("The capacity provider cannot be deleted because it is associated with cluster: cp-delete.")
    assert lab.ecs.describe_capacity_providers(capacityProviders=["cp"])["capacityProviders"][0]["status"] == "ACTIVE"

    with pytest.raises(ClientError) as err:
        lab.ecs.put_cluster_capacity_providers(cluster=lab.cluster, capacityProviders=[], defaultCapacityProviderStrategy=[])
    assert err.value.response["Error"]["Code"] == "ResourceInUseException", "a service's strategy names it"

    lab.ecs.delete_service(cluster=lab.cluster, service="idle", force=True)
    wait_for(lambda: lab.describe("idle")["status"] == "INACTIVE", what="the service to drain")
    lab.ecs.put_cluster_capacity_providers(cluster=lab.cluster, capacityProviders=[], defaultCapacityProviderStrategy=[])
    lab.ecs.delete_capacity_provider(capacityProvider="cp")
    assert lab.ecs.describe_capacity_providers(capacityProviders=["cp"])["capacityProviders"] == []
    with pytest.raises(ClientError) as err:
        lab.ecs.delete_capacity_provider(capacityProvider="cp")
    assert err.value.response["Error"]["Code"] == "ClientException"
