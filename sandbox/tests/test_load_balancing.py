"""Target registration and health follow the tasks; the proxy routes by it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from conftest import wait_for
from infra import Lab
from test_ecs_lifecycle import steady


def health(lab: Lab, tg_arn: str) -> dict:
    out = lab.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    return {d["Target"]["Id"]: d for d in out}


def via_proxy(sandbox, url: str, method: str = "GET"):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{sandbox.proxy_port}"}))
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=5) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def test_targets_follow_tasks_and_proxy_routes(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb()
    tg_arn = alb["tg"]["TargetGroupArn"]
    dns = alb["lb"]["DNSName"]
    td = lab.task_definition()
    # No targets yet: the ALB answers 503.
    status, body, headers = via_proxy(sandbox, f"http://{dns}/items")
    assert status == 503 and "503 Service Temporarily Unavailable" in body

    lab.service("web", td, count=2, loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])

    # Targets first appear as initial/Elb.RegistrationInProgress ...
    def initial():
        h = health(lab, tg_arn)
        return h if h and all(d["TargetHealth"]["State"] == "initial" for d in h.values()) else None

    h = wait_for(initial, what="initial targets")
    d = next(iter(h.values()))
    assert d["TargetHealth"]["Reason"] == "Elb.RegistrationInProgress"
    assert d["Target"]["Port"] == 8080
    status, _, _ = via_proxy(sandbox, f"http://{dns}/items")
    assert status == 503

    # ... then healthy, and the service settles.
    svc = steady(lab, "web", 2)
    h = health(lab, tg_arn)
    ips = sorted(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in lab.tasks("web"))
    assert sorted(h) == ips
    assert all(d["TargetHealth"]["State"] == "healthy" for d in h.values())
    assert any(e["message"] == f"(service web) registered 2 targets in (target-group {tg_arn})" for e in svc["events"])

    status, body, headers = via_proxy(sandbox, f"http://{dns}/items?x=1")
    assert status == 200, body
    payload = json.loads(body)
    assert payload["sandbox"] is True and payload["targetGroup"] == tg_arn and payload["path"] == "/items"
    assert payload["target"].split(":")[0] in ips and payload["target"].endswith(":8080")

    # Rolling deployment: old targets drain, then disappear.
    lab.ecs.update_service(cluster=lab.cluster, service="web", forceNewDeployment=True)

    def draining():
        return any(d["TargetHealth"]["State"] == "draining" for d in health(lab, tg_arn).values())

    wait_for(draining, what="draining target")
    d = next(d for d in health(lab, tg_arn).values() if d["TargetHealth"]["State"] == "draining")
    assert d["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
    steady(lab, "web", 2)
    new_ips = sorted(t["containers"][0]["networkInterfaces"][0]["privateIpv4Address"] for t in lab.tasks("web"))
    wait_for(lambda: sorted(health(lab, tg_arn)) == new_ips, what="old targets removed")
    assert not set(new_ips) & set(ips)


def test_listener_rules_and_fixed_response(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("rules-alb")
    listener = alb["listener"]["ListenerArn"]
    dns = alb["lb"]["DNSName"]
    other_tg = lab.elbv2.create_target_group(Name="other", Protocol="HTTP", Port=80, VpcId=lab.vpc_id, TargetType="ip")["TargetGroups"][0]
    lab.elbv2.register_targets(TargetGroupArn=other_tg["TargetGroupArn"], Targets=[{"Id": "10.42.1.77", "Port": 80}])
    lab.elbv2.create_rule(
        ListenerArn=listener, Priority=10,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/*"]}],
        Actions=[{"Type": "forward", "TargetGroupArn": other_tg["TargetGroupArn"]}],
    )
    lab.elbv2.create_rule(
        ListenerArn=listener, Priority=5,
        Conditions=[{"Field": "path-pattern", "Values": ["/api/maintenance*"]}],
        Actions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "418", "ContentType": "text/plain", "MessageBody": "teapot"}}],
    )
    status, body, _ = via_proxy(sandbox, f"http://{dns}/api/maintenance/now")
    assert (status, body) == (418, "teapot")
    status, body, _ = via_proxy(sandbox, f"http://{dns}/api/items")
    assert status == 200 and json.loads(body)["target"] == "10.42.1.77:80"
    status, _, _ = via_proxy(sandbox, f"http://{dns.upper()}/other")  # default action: empty target group
    assert status == 503
    status, body, _ = via_proxy(sandbox, "http://unknown-lb-1.us-east-1.elb.amazonaws.com/")
    assert status == 502


def test_cli_waiters(sandbox, session):
    """`aws ecs wait services-stable` and `aws elbv2 wait target-in-service` succeed."""
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("wait-alb")
    tg_arn = alb["tg"]["TargetGroupArn"]
    td = lab.task_definition()
    lab.service("web", td, count=1, loadBalancers=[{"targetGroupArn": tg_arn, "containerName": "app", "containerPort": 8080}])
    # Both waiters poll every 15 s; the first poll already sees the result
    # only if we are steady before it, so wait briefly first.
    steady(lab, "web", 1)
    r = sandbox.aws(session, "ecs", "wait", "services-stable", "--cluster", lab.cluster, "--services", "web")
    assert r.returncode == 0, r.stderr
    r = sandbox.aws(session, "elbv2", "wait", "target-in-service", "--target-group-arn", tg_arn)
    assert r.returncode == 0, r.stderr
    r = sandbox.aws(session, "ecs", "describe-services", "--cluster", lab.cluster, "--services", "web", "--query", "services[0].runningCount", "--output", "text")
    assert r.returncode == 0 and r.stdout.strip() == "1", r.stderr


def test_same_named_load_balancers_in_two_accounts_have_their_own_dns_names(sandbox):
    """AWS numbers each load balancer's DNS name; two accounts' `web-alb` must not share one,
    or the proxy would answer one account's requests with the other's listener."""
    a = Lab(sandbox.session(sandbox.new_account_id()), sandbox.endpoint)
    b = Lab(sandbox.session(sandbox.new_account_id()), sandbox.endpoint)
    lb_a = a.elbv2.create_load_balancer(Name="web-alb", Subnets=a.subnet_ids, SecurityGroups=[a.sg])["LoadBalancers"][0]
    lb_b = b.elbv2.create_load_balancer(Name="web-alb", Subnets=b.subnet_ids, SecurityGroups=[b.sg])["LoadBalancers"][0]
    assert lb_a["DNSName"] != lb_b["DNSName"]
    for lb in (lb_a, lb_b):
        name, rest = lb["DNSName"].split(".", 1)
        assert name.startswith("web-alb-") and name[len("web-alb-"):].isdigit(), lb["DNSName"]
        assert rest == "us-east-1.elb.amazonaws.com"
    # Each answers with its own listener's fixed response.
    for lab, lb, text in ((a, lb_a, "from a"), (b, lb_b, "from b")):
        lab.elbv2.create_listener(
            LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain", "MessageBody": text}}],
        )
    assert via_proxy(sandbox, f"http://{lb_a['DNSName']}/")[:2] == (200, "from a")
    assert via_proxy(sandbox, f"http://{lb_b['DNSName']}/")[:2] == (200, "from b")
    # The name stays the same when described again.
    again = a.elbv2.describe_load_balancers(Names=["web-alb"])["LoadBalancers"][0]
    assert again["DNSName"] == lb_a["DNSName"]
