"""Everything of the kinds labs create that exists in one sandbox account, listed with boto3
(independent of labrunner) and named the way labrunner describes ledger entries.

Usage: python inventory.py VPC_ID IGW_ID   (either may be empty); prints a JSON list.
The account comes from the environment (AWS_ENDPOINT_URL, keys, region), as for the aws CLI.
One process for every listing: the aws CLI would start Python twenty times.
"""
import json
import sys

import boto3

vpc, igw = sys.argv[1], sys.argv[2]
found = set()
ecs = boto3.client("ecs")
for arn in ecs.list_clusters()["clusterArns"]:
    cluster = ecs.describe_clusters(clusters=[arn])["clusters"][0]
    name = cluster["clusterName"]
    if cluster["status"] != "INACTIVE":
        found.add(f"ecs_cluster {name}")
    for service in ecs.list_services(cluster=arn)["serviceArns"]:
        d = ecs.describe_services(cluster=arn, services=[service])["services"][0]
        if d["status"] != "INACTIVE":
            found.add(f"ecs_service {name}/{d['serviceName']}")
for arn in ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]:
    found.add("task_definition " + arn.rsplit("/", 1)[1].split(":")[0])

elb = boto3.client("elbv2")
for lb in elb.describe_load_balancers()["LoadBalancers"]:
    name = lb["LoadBalancerName"]
    found.add(f"load_balancer {name}")
    for listener in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]:
        port = listener["Port"]
        found.add(f"listener {name}:{port}")
        for rule in elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]:
            if not rule.get("IsDefault"):
                found.add(f"listener_rule {name}:{port} priority {rule['Priority']}")
for tg in elb.describe_target_groups()["TargetGroups"]:
    found.add(f"target_group {tg['TargetGroupName']}")

sd = boto3.client("servicediscovery")
namespaces = sd.list_namespaces()["Namespaces"]
for ns in namespaces:
    found.add(f"cloudmap_namespace {ns['Name']}")
for service in sd.list_services()["Services"]:
    ns_id = sd.get_service(Id=service["Id"])["Service"]["NamespaceId"]
    ns = next((n["Name"] for n in namespaces if n["Id"] == ns_id), ns_id)
    found.add(f"cloudmap_service {service['Name']}.{ns}")

for g in boto3.client("logs").describe_log_groups()["logGroups"]:
    found.add(f"log_group {g['logGroupName']}")
for t in boto3.client("dynamodb").list_tables()["TableNames"]:
    found.add(f"dynamodb_table {t}")
for role in boto3.client("iam").list_roles()["Roles"]:
    if not role["Path"].startswith("/aws-service-role/"):
        found.add(f"iam_role {role['RoleName']}")

ec2 = boto3.client("ec2")


def tag(item, key="Name"):
    return next((t["Value"] for t in item.get("Tags", []) if t["Key"] == key), None)


for v in ec2.describe_vpcs()["Vpcs"]:
    if not v.get("IsDefault"):
        found.add(f"vpc {tag(v) or v['VpcId']}")
if vpc:
    by_vpc = [{"Name": "vpc-id", "Values": [vpc]}]
    for sn in ec2.describe_subnets(Filters=by_vpc)["Subnets"]:
        found.add(f"subnet {sn['CidrBlock']} in {vpc}")
    for sg in ec2.describe_security_groups(Filters=by_vpc)["SecurityGroups"]:
        if sg["GroupName"] != "default":
            found.add(f"security_group {sg['GroupName']} in {vpc}")
    for rt in ec2.describe_route_tables(Filters=by_vpc)["RouteTables"]:
        if any(a.get("Main") for a in rt.get("Associations", [])):
            continue
        found.add(f"route_table {tag(rt) or rt['RouteTableId']} in {vpc}")
for g in ec2.describe_internet_gateways()["InternetGateways"]:
    attached = [a["VpcId"] for a in g.get("Attachments", [])]
    if g["InternetGatewayId"] == igw or (vpc and vpc in attached):
        found.add(f"internet_gateway attached to {vpc}")
    elif not attached:
        found.add(f"internet_gateway {g['InternetGatewayId']} (detached)")
print(json.dumps(sorted(found)))
