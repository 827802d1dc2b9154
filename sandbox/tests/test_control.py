"""The /_sandbox control endpoint, fault injection, accounts and sockets."""

from __future__ import annotations

import os
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import wait_for
from infra import Lab
from test_ecs_lifecycle import steady
from test_load_balancing import health

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})


def test_health_clock_config_state(sandbox):
    h = sandbox.control("GET", "health")
    assert h == {"ok": True, "port": sandbox.port, "dns_port": sandbox.dns_port, "proxy_port": sandbox.proxy_port}
    c1 = sandbox.control("GET", "clock")
    wait_for(lambda: sandbox.control("GET", "clock")["ticks"] > c1["ticks"], what="ticks advance")
    cfg = sandbox.control("GET", "config")
    assert cfg["pending"] == 0.3
    assert sandbox.control("POST", "config", {"pending": 0.25})["pending"] == 0.25
    sandbox.control("POST", "config", {"pending": 0.3})
    state = sandbox.control("GET", "state")
    assert {"clock", "config", "services", "targetGroups"} <= set(state)


def test_throttle_fault_is_deterministic(sandbox, session):
    ecs = session.client("ecs", endpoint_url=sandbox.endpoint, config=NO_RETRY)
    ecs.create_cluster(clusterName="faulty")
    sandbox.control("POST", "faults", {"kind": "throttle", "fraction": 0.5, "services": ["ecs"], "actions": ["DescribeClusters"], "count": 2})
    try:
        outcomes = []
        for _ in range(6):
            try:
                ecs.describe_clusters(clusters=["faulty"])
                outcomes.append("ok")
            except ClientError as err:
                assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
                outcomes.append(err.response["Error"]["Code"])
        assert outcomes == ["ok", "ThrottlingException", "ok", "ThrottlingException", "ok", "ok"]
        # Other actions are untouched.
        ecs.list_clusters()
        faults = sandbox.control("GET", "faults")["faults"]
        assert faults[0]["injected"] == 2
    finally:
        sandbox.control("DELETE", "faults")


def test_error5xx_fault_query_protocol(sandbox, session):
    elbv2 = session.client("elbv2", endpoint_url=sandbox.endpoint, config=NO_RETRY)
    sandbox.control("POST", "faults", {"kind": "error5xx", "fraction": 1.0, "services": ["elbv2"], "count": 1})
    try:
        with pytest.raises(ClientError) as err:
            elbv2.describe_load_balancers()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert err.value.response["Error"]["Code"] == "ServiceUnavailable"
        elbv2.describe_load_balancers()  # count exhausted
    finally:
        sandbox.control("DELETE", "faults")
    assert sandbox.control("GET", "faults") == {"faults": []}


def test_fault_targets_one_account_and_goes_by_id(sandbox, session):
    """A `match` fault hits only requests naming that text (here one account's role), and
    DELETE with an id removes only that rule, so tests sharing a sandbox stay independent."""
    sts = session.client("sts", endpoint_url=sandbox.endpoint, config=NO_RETRY)
    denied = "arn:aws:iam::333344445555:role/Grader"
    rule = sandbox.control(
        "POST", "faults", {"kind": "access_denied", "services": ["sts"], "actions": ["AssumeRole"], "match": "333344445555"}
    )
    other = sandbox.control("POST", "faults", {"kind": "throttle", "services": ["ecs"], "actions": ["ListClusters"], "count": 1})
    try:
        with pytest.raises(ClientError) as err:
            sts.assume_role(RoleArn=denied, RoleSessionName="grader")
        assert err.value.response["Error"]["Code"] == "AccessDenied"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        fine = sts.assume_role(RoleArn="arn:aws:iam::333344446666:role/Grader", RoleSessionName="grader")
        assert fine["AssumedRoleUser"]["Arn"].startswith("arn:aws:sts::333344446666:assumed-role/Grader/")
        left = sandbox.control("DELETE", "faults", {"id": rule["id"]})["faults"]
        assert [f["id"] for f in left] == [other["id"]]
        sts.assume_role(RoleArn=denied, RoleSessionName="grader")
    finally:
        sandbox.control("DELETE", "faults")


def test_default_retries_absorb_throttling(sandbox, session):
    ecs = session.client("ecs", endpoint_url=sandbox.endpoint)  # default: legacy retries
    sandbox.control("POST", "faults", {"kind": "throttle", "fraction": 1.0, "services": ["ecs"], "actions": ["ListClusters"], "count": 2})
    try:
        ecs.list_clusters()
    finally:
        sandbox.control("DELETE", "faults")


def test_force_rollout_and_target_health(sandbox, session):
    lab = Lab(session, sandbox.endpoint)
    alb = lab.alb("force-alb")
    tg = alb["tg"]["TargetGroupArn"]
    td = lab.task_definition()
    svc = lab.service("web", td, count=1, loadBalancers=[{"targetGroupArn": tg, "containerName": "app", "containerPort": 8080}])
    steady(lab, "web", 1)
    out = sandbox.control("POST", "force", {"service": svc["serviceArn"], "rolloutState": "FAILED"})
    assert out["rolloutState"] == "FAILED"
    assert lab.describe("web")["deployments"][0]["rolloutState"] == "FAILED"
    target = next(iter(health(lab, tg)))
    sandbox.control("POST", "force", {"targetGroup": tg, "target": target, "state": "unhealthy", "reason": "Target.Timeout", "description": "Request timed out"})
    d = health(lab, tg)[target]["TargetHealth"]
    assert d == {"State": "unhealthy", "Reason": "Target.Timeout", "Description": "Request timed out"}


def test_non_default_and_default_accounts_are_isolated(sandbox):
    default = sandbox.session()
    assert default.client("sts", endpoint_url=sandbox.endpoint).get_caller_identity()["Account"] == "123456789012"
    other = sandbox.session(sandbox.new_account_id())
    lab = Lab(other, sandbox.endpoint, cluster="iso")
    lab.service("iso-web", lab.task_definition(), count=1)
    steady(lab, "iso-web", 1)
    ecs_default = default.client("ecs", endpoint_url=sandbox.endpoint)
    assert "iso" not in str(ecs_default.list_clusters()["clusterArns"])
    # The default account works too.
    dlab = Lab(default, sandbox.endpoint, cluster="default-acct")
    dlab.service("web", dlab.task_definition(), count=1)
    steady(dlab, "web", 1)


def test_reset_clears_everything(sandbox):
    # Runs on its own server so the other tests keep their state.
    import json
    import subprocess
    import sys

    from conftest import REPO

    proc = subprocess.Popen(
        [sys.executable, "-m", "labsandbox", "--exit-on-stdin-eof"],
        env=dict(os.environ, PYTHONPATH=str(REPO / "sandbox")), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline().split(" ", 2)[2])
        from conftest import Sandbox

        box = Sandbox(ready, proc)
        s = box.session()
        ecs = s.client("ecs", endpoint_url=box.endpoint)
        ecs.create_cluster(clusterName="gone")
        box.control("POST", "faults", {"kind": "throttle", "services": ["sts"], "count": 100})
        assert box.control("POST", "reset", {}) == {"reset": True}
        assert ecs.list_clusters()["clusterArns"] == []
        assert box.control("GET", "faults") == {"faults": []}
        ecs.create_cluster(clusterName="again")
        req = urllib.request.Request(f"{box.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
        assert ecs.list_clusters()["clusterArns"] == []
    finally:
        proc.stdin.close()  # --exit-on-stdin-eof
        assert proc.wait(timeout=10) == 0


def _listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for proto in ("tcp", "udp", "tcp6", "udp6"):
        with open(f"/proc/{pid}/net/{proto}") as f:
            next(f)
            for line in f:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if inode not in inodes:
                    continue
                if proto.startswith("tcp") and state != "0A":  # LISTEN
                    continue
                addr_hex, port_hex = local.split(":")
                found.append((proto, addr_hex, int(port_hex, 16)))
    return found


def test_every_socket_is_loopback(sandbox):
    sockets = _listening_sockets(sandbox.proc.pid)
    ports = {p for _, _, p in sockets}
    assert {sandbox.port, sandbox.proxy_port, sandbox.dns_port} <= ports
    for proto, addr, port in sockets:
        assert proto in ("tcp", "udp") and addr == "0100007F", (proto, addr, port)  # 127.0.0.1
