"""Task secrets: the execution role's permissions and the subnet's way to
Secrets Manager / SSM (NAT, internet gateway with a public IP, interface
endpoint) decide whether a task starts."""

from __future__ import annotations

import json

from infra import Lab

PREFIX = "ResourceInitializationError: unable to pull secrets or registry auth: "


def advance(sandbox, seconds: float = 1.5) -> None:
    sandbox.control("POST", "advance", {"seconds": seconds, "step": 0.1})


def secret_task_definition(lab: Lab, value_from: str, role_arn: str) -> str:
    return lab.ecs.register_task_definition(
        family="auth", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        executionRoleArn=role_arn,
        containerDefinitions=[{
            "name": "auth", "image": "nginx", "memory": 512, "essential": True,
            "secrets": [{"name": "DB_PASSWORD", "valueFrom": value_from}],
        }],
    )["taskDefinition"]["taskDefinitionArn"]


def nat_route(lab: Lab) -> None:
    """A public subnet with an internet gateway and a NAT gateway (Elastic IP);
    the private subnets' main route table sends 0.0.0.0/0 to the NAT."""
    igw = lab.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    lab.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=lab.vpc_id)
    public = lab.ec2.create_subnet(VpcId=lab.vpc_id, CidrBlock="10.42.100.0/24")["Subnet"]["SubnetId"]
    public_rt = lab.ec2.create_route_table(VpcId=lab.vpc_id)["RouteTable"]["RouteTableId"]
    lab.ec2.create_route(RouteTableId=public_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    lab.ec2.associate_route_table(RouteTableId=public_rt, SubnetId=public)
    eip = lab.ec2.allocate_address(Domain="vpc")["AllocationId"]
    nat = lab.ec2.create_nat_gateway(SubnetId=public, AllocationId=eip)["NatGateway"]["NatGatewayId"]
    main = lab.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [lab.vpc_id]}, {"Name": "association.main", "Values": ["true"]}])
    main_rt = main["RouteTables"][0]["RouteTableId"]
    lab.ec2.create_route(RouteTableId=main_rt, DestinationCidrBlock="0.0.0.0/0", NatGatewayId=nat)


def stopped_reasons(lab: Lab, service: str) -> list[str]:
    return [t["stoppedReason"] for t in lab.tasks(service, "STOPPED")]


def test_execution_role_needs_get_secret_value(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    nat_route(lab)
    sm = lab.client("secretsmanager")
    secret_arn = sm.create_secret(Name="prod/auth/db", SecretString='{"password": "hunter2"}')["ARN"]
    role_arn = lab.role("authExecutionRole", ["logs:*", "ecr:*"])
    td = secret_task_definition(lab, f"{secret_arn}:password::", role_arn)
    lab.service("auth", td, count=1)
    advance(sandbox)

    reasons = stopped_reasons(lab, "auth")
    assert reasons, lab.describe("auth")["events"][:3]
    task = lab.tasks("auth", "STOPPED")[0]
    assert task["stopCode"] == "TaskFailedToStart"
    reason = task["stoppedReason"]
    assert reason.startswith(PREFIX + "execution resource retrieval failed: unable to retrieve secret from asm")
    assert (
        f"AccessDeniedException: User: arn:aws:sts::{lab.account}:assumed-role/authExecutionRole/{task['taskArn'].split('/')[-1]} "
        f"is not authorized to perform: secretsmanager:GetSecretValue on resource: {secret_arn} because no identity-based policy "
        "allows the secretsmanager:GetSecretValue action"
    ) in reason
    assert any("ResourceInitializationError" in e["message"] for e in lab.describe("auth")["events"])

    lab.iam.put_role_policy(
        RoleName="authExecutionRole", PolicyName="secrets",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}]}),
    )
    advance(sandbox, 3.0)
    svc = lab.describe("auth")
    assert svc["runningCount"] == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"


def test_private_subnet_needs_an_endpoint_or_nat(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    ssm = lab.client("ssm")
    ssm.put_parameter(Name="/auth/db-password", Value="hunter2", Type="SecureString")
    param_arn = f"arn:aws:ssm:us-east-1:{lab.account}:parameter/auth/db-password"
    role_arn = lab.role("execRole", ["ssm:GetParameters", "secretsmanager:GetSecretValue", "kms:Decrypt"])
    td = secret_task_definition(lab, param_arn, role_arn)
    lab.service("auth", td, count=1)
    advance(sandbox)
    reason = stopped_reasons(lab, "auth")[0]
    assert reason.startswith(PREFIX + "execution resource retrieval failed: unable to retrieve secrets from ssm: "
                             "There is a connection issue between the task and AWS Systems Manager Parameter Store.")

    # An endpoint for Secrets Manager does not help an SSM parameter ...
    lab.ec2.create_vpc_endpoint(VpcId=lab.vpc_id, ServiceName="com.amazonaws.us-east-1.secretsmanager", VpcEndpointType="Interface", SubnetIds=lab.subnet_ids)
    # ... but one for SSM does (created with the CLI, as a lab would).
    out = sandbox.aws(session, "ec2", "create-vpc-endpoint", "--vpc-id", lab.vpc_id, "--service-name", "com.amazonaws.us-east-1.ssm",
                      "--vpc-endpoint-type", "Interface", "--subnet-ids", *lab.subnet_ids, "--private-dns-enabled")
    assert out.returncode == 0, out.stderr
    advance(sandbox, 3.0)
    svc = lab.describe("auth")
    assert svc["runningCount"] == 1 and svc["deployments"][0]["rolloutState"] == "COMPLETED"


def test_public_ip_with_internet_gateway_reaches_secrets_manager(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    igw = lab.ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    lab.ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=lab.vpc_id)
    main_rt = lab.ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [lab.vpc_id]}])["RouteTables"][0]["RouteTableId"]
    lab.ec2.create_route(RouteTableId=main_rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
    secret_arn = lab.client("secretsmanager").create_secret(Name="api-key", SecretString="k")["ARN"]
    td = secret_task_definition(lab, secret_arn, lab.role("execRole", ["secretsmanager:GetSecretValue"]))

    def run(public: str) -> dict:
        net = {"awsvpcConfiguration": {"subnets": [lab.subnet_ids[0]], "securityGroups": [lab.sg], "assignPublicIp": public}}
        arn = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=net)["tasks"][0]["taskArn"]
        advance(sandbox)
        return lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[arn])["tasks"][0]

    private = run("DISABLED")
    assert private["lastStatus"] == "STOPPED"
    assert "There is a connection issue between the task and AWS Secrets Manager" in private["stoppedReason"]
    assert run("ENABLED")["lastStatus"] == "RUNNING"
