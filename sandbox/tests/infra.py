"""Builders for the AWS resources the tests need, through the real APIs."""

from __future__ import annotations

import json

import boto3


class Lab:
    """A small ECS lab in one account: VPC, subnets, cluster, optional ALB."""

    def __init__(self, session: boto3.Session, endpoint: str, cluster: str = "lab") -> None:
        self.s = session
        self.ep = endpoint
        self.ecs = self.client("ecs")
        self.ec2 = self.client("ec2")
        self.elbv2 = self.client("elbv2")
        self.iam = self.client("iam")
        self.sd = self.client("servicediscovery")
        self.logs = self.client("logs")
        self.route53 = self.client("route53")
        self.account = self.client("sts").get_caller_identity()["Account"]
        vpc = self.ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]
        self.vpc_id = vpc["VpcId"]
        self.subnets = [
            self.ec2.create_subnet(VpcId=self.vpc_id, CidrBlock=cidr, AvailabilityZone=az)["Subnet"]
            for cidr, az in (("10.42.1.0/24", "us-east-1a"), ("10.42.2.0/24", "us-east-1b"))
        ]
        self.subnet_ids = [s["SubnetId"] for s in self.subnets]
        self.sg = self.ec2.create_security_group(GroupName="lab", Description="lab", VpcId=self.vpc_id)["GroupId"]
        self.cluster = cluster
        self.ecs.create_cluster(clusterName=cluster)

    def client(self, name: str):
        return self.s.client(name, endpoint_url=self.ep)

    def task_definition(self, family: str = "web", image: str = "public.ecr.aws/nginx/nginx:latest", env=None, role_arn=None, log_group=None, port: int = 8080, port_name: str = "http") -> str:
        container = {
            "name": "app",
            "image": image,
            "memory": 512,
            "essential": True,
            "portMappings": [{"containerPort": port, "protocol": "tcp", "name": port_name}],
            "environment": env or [],
        }
        if log_group:
            container["logConfiguration"] = {
                "logDriver": "awslogs",
                "options": {
                    "awslogs-group": log_group,
                    "awslogs-region": "us-east-1",
                    "awslogs-stream-prefix": "ecs",
                    "awslogs-create-group": "true",
                },
            }
        kwargs = dict(
            family=family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[container],
        )
        if role_arn:
            kwargs["taskRoleArn"] = role_arn
        return self.ecs.register_task_definition(**kwargs)["taskDefinition"]["taskDefinitionArn"]

    def network(self) -> dict:
        return {"awsvpcConfiguration": {"subnets": self.subnet_ids, "securityGroups": [self.sg], "assignPublicIp": "DISABLED"}}

    def service(self, name: str, td: str, count: int = 2, **kwargs) -> dict:
        return self.ecs.create_service(
            cluster=self.cluster,
            serviceName=name,
            taskDefinition=td,
            desiredCount=count,
            launchType="FARGATE",
            networkConfiguration=self.network(),
            **kwargs,
        )["service"]

    def describe(self, name: str) -> dict:
        return self.ecs.describe_services(cluster=self.cluster, services=[name])["services"][0]

    def tasks(self, service: str, status: str = "RUNNING") -> list[dict]:
        arns = self.ecs.list_tasks(cluster=self.cluster, serviceName=service, desiredStatus=status)["taskArns"]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster=self.cluster, tasks=arns)["tasks"]

    def alb(self, name: str = "lab-alb", port: int = 8080) -> dict:
        lb = self.elbv2.create_load_balancer(Name=name, Subnets=self.subnet_ids, SecurityGroups=[self.sg], Type="application")["LoadBalancers"][0]
        tg = self.elbv2.create_target_group(
            Name=f"{name}-tg", Protocol="HTTP", Port=port, VpcId=self.vpc_id, TargetType="ip", HealthCheckPath="/health"
        )["TargetGroups"][0]
        listener = self.elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        )["Listeners"][0]
        return {"lb": lb, "tg": tg, "listener": listener}

    def role(self, name: str, policy_actions: list[str] | None) -> str:
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        if policy_actions:
            self.iam.put_role_policy(
                RoleName=name, PolicyName="app",
                PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": policy_actions, "Resource": "*"}]}),
            )
        return arn
