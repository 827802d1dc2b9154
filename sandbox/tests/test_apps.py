"""Real applications: the app map, a process per RUNNING task, routing through
the load balancer and by Cloud Map name, crashes, and no process left behind."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from conftest import FAST, FLAGSHIP_APPS, REPO, TEST_APPS, Sandbox, wait_for
from infra import Lab
from labsandbox import appmap, proxy
from labsandbox.behaviours import apps
from test_ecs_lifecycle import steady

# ---------------------------------------------------------------------------
# Unit tests: the map, image patterns, placeholders, the caller token
# ---------------------------------------------------------------------------


def test_map_entries_resolve_paths_against_the_map_file(tmp_path):
    (tmp_path / "lab").mkdir()
    path = tmp_path / "lab" / "apps.yaml"
    path.write_text('apps:\n  - image: "*/shop/web:*"\n    command: ["{python}", "web.py", "{port}"]\n    cwd: app\n    env: {DEBUG: true, N: 3}\n')
    [entry] = appmap.load_map(str(path))
    assert entry.cwd == str(tmp_path / "lab" / "app")
    assert entry.name == "*/shop/web:*" and entry.command == ("{python}", "web.py", "{port}")
    assert dict(entry.env) == {"DEBUG": "true", "N": "3"}
    assert appmap.load_map(str(FLAGSHIP_APPS))[0].cwd == str(FLAGSHIP_APPS.parent)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[]", "expected a mapping with a list under 'apps'"),
        ("apps: [{image: x}]", "needs 'image' and 'command'"),
        ("apps: [{image: x, command: 'python app.py'}]", "must be a list (argv)"),
        ("apps: [{image: x, command: [a], port: 1}]", "unknown key(s) port"),
        ("apps: [{image: [], command: [a]}]", "image must be a non-empty string"),
        ("apps: [{image: x, command: [a], env: [A]}]", "env must be a mapping"),
        ("apps: [: :", "not valid YAML"),
    ],
)
def test_bad_maps_are_refused_with_the_reason(tmp_path, text, message):
    path = tmp_path / "apps.yaml"
    path.write_text(text)
    with pytest.raises(appmap.MapError, match=None) as err:
        appmap.load_map(str(path))
    assert message in str(err.value) and str(path) in str(err.value)


def test_missing_map_file_is_refused(tmp_path):
    with pytest.raises(appmap.MapError, match="No such file"):
        appmap.load_map(str(tmp_path / "none.json"))


def test_image_patterns_match_with_and_without_registry():
    entries = appmap.parse_map(
        {"apps": [
            {"name": "v2", "image": "*/flask-inventory/invsys:v2*", "command": ["a"]},
            {"name": "any", "image": "*/flask-inventory/invsys:*", "command": ["a"]},
            {"name": "short", "image": "shop/web:*", "command": ["a"]},
        ]},
        "/labs", "inline",
    )
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert appmap.find_entry(entries, f"{ecr}/flask-inventory/invsys:v2.0.0").name == "v2"
    assert appmap.find_entry(entries, f"{ecr}/flask-inventory/invsys:latest").name == "any"
    assert appmap.find_entry(entries, f"{ecr}/flask-inventory/invsys").name == "any"  # no tag: latest
    assert appmap.find_entry(entries, f"{ecr}/shop/web:1").name == "short"  # registry dropped
    assert appmap.find_entry(entries, "shop/web").name == "short"
    assert appmap.find_entry(entries, "localhost:5000/shop/web:1").name == "short"
    assert appmap.find_entry(entries, "public.ecr.aws/nginx/nginx:latest") is None
    assert appmap.image_forms("docker.io/library/nginx@sha256:ab") == ["docker.io/library/nginx@sha256:ab", "library/nginx@sha256:ab"]


def test_placeholders_and_environment():
    assert appmap.expand("{python} -m http.server {port} {unknown}", {"python": "py", "port": "81"}) == "py -m http.server 81 {unknown}"
    entry = appmap.parse_map({"apps": [{"image": "x", "command": ["a"], "env": {"PORT": "{port}", "MODE": "local"}}]}, "/", "m")[0]
    cdef = {"environment": [{"name": "MODE", "value": "production"}, {"name": "PORT", "value": "5000"}, {"name": "URL", "value": "http://a.local"}]}
    old = apps.SETTINGS.proxy_port
    apps.SETTINGS.proxy_port = 4321
    try:
        env = apps.app_env(cdef, entry, {"port": "40000"}, "eu-west-1", "tok")
    finally:
        apps.SETTINGS.proxy_port = old
    # The task definition's variables pass through; the map's entry wins where both set one.
    assert env["URL"] == "http://a.local" and env["MODE"] == "local" and env["PORT"] == "40000"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["HTTP_PROXY"] == env["http_proxy"] == "http://task:tok@127.0.0.1:4321"
    assert env["NO_PROXY"] == "127.0.0.1,localhost"
    assert not any(k.startswith("LABSANDBOX_") for k in env)


def test_caller_token_comes_from_proxy_authorization():
    def headers(user_pass: str) -> dict:
        return {"Proxy-Authorization": "Basic " + base64.b64encode(user_pass.encode()).decode()}

    assert proxy.caller_token(headers("task:abc123")) == "abc123"
    assert proxy.caller_token(headers("someone:abc123")) is None
    assert proxy.caller_token({"Proxy-Authorization": "Bearer x"}) is None
    assert proxy.caller_token({}) is None


# ---------------------------------------------------------------------------
# Helpers for the sandbox tests
# ---------------------------------------------------------------------------


def request(sandbox, url: str, method: str = "GET", body: object = None, timeout: float = 15):
    """(status, text, headers) of a request through the sandbox proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{sandbox.proxy_port}"}))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with opener.open(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode(), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(), dict(err.headers)


def processes(sandbox, lab: Lab | None = None) -> list[dict]:
    procs = sandbox.control("GET", "apps")["processes"]
    return [p for p in procs if lab is None or f":{lab.account}:" in p["task"]]


def ready(sandbox, lab: Lab, count: int) -> list[dict]:
    def check():
        procs = processes(sandbox, lab)
        return procs if len([p for p in procs if p["state"] == "ready"]) == count else None

    return wait_for(check, timeout=20, what=f"{count} app processes ready")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def image(lab: Lab, repository: str, tag: str = "latest") -> str:
    return f"{lab.account}.dkr.ecr.us-east-1.amazonaws.com/{repository}:{tag}"


def register(lab: Lab, family: str, container: str, img: str, port: int, env: dict | None = None, log_group: str | None = None) -> str:
    cdef = {
        "name": container, "image": img, "memory": 512, "essential": True,
        "portMappings": [{"containerPort": port, "protocol": "tcp", "name": f"{container}-{port}"}],
        "environment": [{"name": k, "value": v} for k, v in (env or {}).items()],
    }
    if log_group:
        cdef["logConfiguration"] = {"logDriver": "awslogs", "options": {
            "awslogs-group": log_group, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs", "awslogs-create-group": "true"}}
    return lab.ecs.register_task_definition(
        family=family, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512", containerDefinitions=[cdef],
    )["taskDefinition"]["taskDefinitionArn"]


def namespace(lab: Lab, name: str) -> str:
    op = lab.sd.create_private_dns_namespace(Name=name, Vpc=lab.vpc_id)["OperationId"]
    return lab.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]


def discovery_service(lab: Lab, ns_id: str, name: str) -> str:
    return lab.sd.create_service(
        Name=name, NamespaceId=ns_id, DnsConfig={"DnsRecords": [{"Type": "A", "TTL": 60}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]["Arn"]


def flagship(lab: Lab, alb_name: str, invsys_count: int = 1, gateway_count: int = 2) -> dict:
    """The flask-inventory lab's shape: invsys registered as invsys.local (and behind
    invsys-tg on the load balancer's port 5000), the gateway behind port 80.  (moto
    names a load balancer's DNS after its name alone: each test needs its own.)"""
    alb = lab.alb(alb_name, port=5001)
    invsys_tg = lab.elbv2.create_target_group(
        Name="invsys-tg", Protocol="HTTP", Port=5000, VpcId=lab.vpc_id, TargetType="ip", HealthCheckPath="/items",
    )["TargetGroups"][0]["TargetGroupArn"]
    lab.elbv2.create_listener(
        LoadBalancerArn=alb["lb"]["LoadBalancerArn"], Protocol="HTTP", Port=5000,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": invsys_tg}],
    )
    registry = discovery_service(lab, namespace(lab, "local"), "invsys")
    common = {"FLASK_ENV": "production", "PYTHONUNBUFFERED": "1"}
    invsys_td = register(lab, "flask-inventory-invsys", "invsys", image(lab, "flask-inventory/invsys"), 5000, common, "/ecs/flask-inventory-invsys")
    gateway_td = register(
        lab, "flask-inventory-gateway", "gateway", image(lab, "flask-inventory/gateway"), 5001,
        {**common, "INVSYS_URL": "http://invsys.local:5000"},
    )
    lab.service("invsys-service", invsys_td, count=invsys_count, serviceRegistries=[{"registryArn": registry}],
                loadBalancers=[{"targetGroupArn": invsys_tg, "containerName": "invsys", "containerPort": 5000}])
    lab.service("gateway-service", gateway_td, count=gateway_count,
                loadBalancers=[{"targetGroupArn": alb["tg"]["TargetGroupArn"], "containerName": "gateway", "containerPort": 5001}])
    steady(lab, "invsys-service", invsys_count)
    steady(lab, "gateway-service", gateway_count)
    ready(sandbox_of(lab), lab, invsys_count + gateway_count)
    return {"dns": alb["lb"]["DNSName"], "invsys_td": invsys_td}


_SANDBOXES: dict[int, Sandbox] = {}


def sandbox_of(lab: Lab) -> Sandbox:
    return _SANDBOXES[id(lab)]


def new_lab(sandbox: Sandbox, session) -> Lab:
    lab = Lab(session, sandbox.endpoint)
    _SANDBOXES[id(lab)] = sandbox
    return lab


DEVICE = {"id": "ecs-device-001", "name": "ECS Test Device", "location": "AWS Cloud", "status": "active"}


# ---------------------------------------------------------------------------
# The flagship's applications
# ---------------------------------------------------------------------------


def test_flagship_round_trip_through_the_load_balancer(sandbox, session):
    lab = new_lab(sandbox, session)
    dns = flagship(lab, "flask-trip")["dns"]

    status, body, headers = request(sandbox, f"http://{dns}/")
    assert (status, body) == (200, "Hello from Gateway!")
    assert headers["Server"].startswith("gateway/") and "X-Sandbox-Target" in headers
    assert request(sandbox, f"http://{dns}/health")[:2] == (200, '{"status":"healthy"}\n')
    # The bodies read as the lab's pages show them (content/flask-inventory/04-gateway-service.md).
    assert request(sandbox, f"http://{dns}/items")[1] == '{"items":[]}\n'

    # POST through the gateway, which finds invsys by its Cloud Map name ...
    status, body, _ = request(sandbox, f"http://{dns}/items", "POST", DEVICE)
    assert status == 201
    assert body == '{"Posted a device":{"id":"ecs-device-001","name":"ECS Test Device","location":"AWS Cloud","status":"active"}}\n'
    # ... and read it back through the gateway and from invsys' own listener.
    for url in (f"http://{dns}/items", f"http://{dns}:5000/items"):
        status, body, _ = request(sandbox, url)
        assert status == 200 and json.loads(body) == {"items": [DEVICE]}, url
    assert json.loads(request(sandbox, f"http://{dns}/items/ecs-device-001")[1]) == DEVICE
    status, body, _ = request(sandbox, f"http://{dns}/items", "POST", {"id": "x"})
    assert status == 400 and json.loads(body)["errors"] == {"name": ["Missing data for required field."]}
    assert request(sandbox, f"http://{dns}/items", "POST", DEVICE)[0] == 409
    assert request(sandbox, f"http://{dns}/items/nothing")[0] == 404
    status, body, _ = request(sandbox, f"http://{dns}/items/ecs-device-001", "PUT", {**DEVICE, "status": "retired"})
    assert status == 200 and json.loads(body)["Updated a device"]["status"] == "retired"
    assert request(sandbox, f"http://{dns}/items/ecs-device-001", "DELETE")[0] == 200
    assert json.loads(request(sandbox, f"http://{dns}:5000/items")[1]) == {"items": []}
    # invsys 1.0.0 has no /version (that came with 2.0.0).
    assert request(sandbox, f"http://{dns}:5000/version")[0] == 404

    # What the application printed is in its awslogs stream.
    [task] = lab.tasks("invsys-service")
    stream = f"ecs/invsys/{task['taskArn'].split('/')[-1]}"

    def logged():
        events = lab.logs.get_log_events(logGroupName="/ecs/flask-inventory-invsys", logStreamName=stream)["events"]
        return [e["message"] for e in events]

    lines = wait_for(lambda: (m := logged()) and any('"POST /items HTTP/1.1" 201' in x for x in m) and m, what="request lines in the log")
    assert any(line.startswith("invsys 1.0.0 listening on") for line in lines)


def test_invsys_v2_image_has_the_release_routes(sandbox, session):
    lab = new_lab(sandbox, session)
    dns = flagship(lab, "flask-v2", gateway_count=1)["dns"]
    v2 = register(lab, "flask-inventory-invsys", "invsys", image(lab, "flask-inventory/invsys", "v2.0.0"), 5000, {"APP_VERSION": "2.0.0"})
    lab.ecs.update_service(cluster=lab.cluster, service="invsys-service", taskDefinition=v2)
    steady(lab, "invsys-service", 1)
    wait_for(lambda: all(p["app"] == "invsys-v2" for p in processes(sandbox, lab) if p["container"] == "invsys")
             and request(sandbox, f"http://{dns}:5000/version")[0] == 200, what="v2 answering")
    assert json.loads(request(sandbox, f"http://{dns}:5000/version")[1]) == {"version": "2.0.0", "service": "inventory-system"}
    assert json.loads(request(sandbox, f"http://{dns}:5000/health/live")[1]) == {"alive": True}
    # The gateway keeps finding invsys by name after the rollout.
    assert json.loads(request(sandbox, f"http://{dns}/items")[1]) == {"items": []}


def test_gateway_follows_cloud_map_and_processes_follow_tasks(sandbox, session):
    lab = new_lab(sandbox, session)
    dns = flagship(lab, "flask-follow", invsys_count=1, gateway_count=1)["dns"]
    [invsys] = [p for p in processes(sandbox, lab) if p["container"] == "invsys"]
    assert alive(invsys["pid"])

    # stop-task: the process goes with the task; the replacement gets a process of its own.
    lab.ecs.stop_task(cluster=lab.cluster, task=invsys["task"], reason="test")
    wait_for(lambda: not alive(invsys["pid"]), what="the stopped task's process gone")
    steady(lab, "invsys-service", 1)
    ready(sandbox, lab, 2)
    assert request(sandbox, f"http://{dns}/items")[0] == 200

    # Scaled to 0, invsys.local has no address: the proxy answers the gateway's request
    # with a 502, which the gateway passes on.
    pids = [p["pid"] for p in processes(sandbox, lab) if p["container"] == "invsys"]
    lab.ecs.update_service(cluster=lab.cluster, service="invsys-service", desiredCount=0)
    steady(lab, "invsys-service", 0)
    wait_for(lambda: not any(alive(pid) for pid in pids), what="invsys processes gone")
    wait_for(lambda: [p["container"] for p in processes(sandbox, lab)] == ["gateway"], what="only the gateway's process listed")
    status, body, _ = request(sandbox, f"http://{dns}/items")
    assert status == 502 and "no load balancer or running task answers to invsys.local:5000" in body

    # Deleting the gateway service leaves no process of this account.
    gateway_pid = processes(sandbox, lab)[0]["pid"]
    lab.ecs.delete_service(cluster=lab.cluster, service="gateway-service", force=True)
    wait_for(lambda: not processes(sandbox, lab) and not alive(gateway_pid), what="no processes left")


# ---------------------------------------------------------------------------
# The echo app: environment, unmapped images, discovery scope, crashes
# ---------------------------------------------------------------------------


def echo_service(lab: Lab, name: str, tag: str = "1", count: int = 1, alb: dict | None = None, registry: str | None = None, **kwargs) -> str:
    td = register(lab, name, "app", image(lab, "sandbox-tests/echo", tag), 8080, {"GREETING": f"hello from {name}"}, log_group=f"/ecs/{name}")
    extra = dict(kwargs)
    if alb:
        extra["loadBalancers"] = [{"targetGroupArn": alb["tg"]["TargetGroupArn"], "containerName": "app", "containerPort": 8080}]
    if registry:
        extra["serviceRegistries"] = [{"registryArn": registry}]
    lab.service(name, td, count=count, **extra)
    return td


def test_mapped_image_gets_the_request_and_the_task_environment(sandbox, session):
    lab = new_lab(sandbox, session)
    alb = lab.alb("echo-alb")
    echo_service(lab, "echo", alb=alb)
    steady(lab, "echo", 1)
    [proc] = ready(sandbox, lab, 1)
    dns = alb["lb"]["DNSName"]

    status, body, headers = request(sandbox, f"http://{dns}/some/path?a=1", "POST", {"k": "v"})
    assert status == 200 and headers["X-Echo"] == "1"
    got = json.loads(body)
    assert (got["method"], got["path"], got["query"], json.loads(got["body"])) == ("POST", "/some/path", "a=1", {"k": "v"})
    assert got["headers"]["Host"] == dns and got["headers"]["X-Forwarded-Proto"] == "http"
    assert got["headers"]["X-Forwarded-Port"] == "80" and "Proxy-Authorization" not in got["headers"]
    env = got["env"]
    assert env["GREETING"] == "hello from echo" and env["AWS_REGION"] == "us-east-1"
    assert env["ECHO_LOCAL_PORT"] == str(proc["port"]) and env["ECHO_CONTAINER_PORT"] == "8080"
    assert env["HTTP_PROXY"].endswith(f"@127.0.0.1:{sandbox.proxy_port}") and env["AWS_ENDPOINT_URL"] is None


def test_unmapped_image_keeps_the_stand_in(sandbox, session):
    lab = new_lab(sandbox, session)
    alb = lab.alb("plain-alb")
    td = lab.task_definition()  # public.ecr.aws/nginx/nginx: not in any map
    lab.service("web", td, count=1, loadBalancers=[{"targetGroupArn": alb["tg"]["TargetGroupArn"], "containerName": "app", "containerPort": 8080}])
    steady(lab, "web", 1)
    status, body, _ = request(sandbox, f"http://{alb['lb']['DNSName']}/items")
    assert status == 200 and json.loads(body)["sandbox"] is True
    assert processes(sandbox, lab) == []


def test_discovery_by_name_and_ip_stays_in_the_callers_account(sandbox, session):
    lab = new_lab(sandbox, session)
    registry = discovery_service(lab, namespace(lab, "apps.local"), "peer")
    lab.sd.create_http_namespace(Name="apps-sc")
    caller_alb = lab.alb("caller-alb")
    echo_service(lab, "caller", alb=caller_alb)
    connect = {"enabled": True, "namespace": "apps-sc", "services": [
        {"portName": "app-8080", "discoveryName": "peer", "clientAliases": [{"port": 80, "dnsName": "peer.sc"}]}]}
    echo_service(lab, "peer", registry=registry, serviceConnectConfiguration=connect)
    steady(lab, "caller", 1)
    steady(lab, "peer", 1)
    ready(sandbox, lab, 2)
    peer_ip = lab.tasks("peer")[0]["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]

    def fetch_from(alb: dict, url: str) -> dict:
        """Have the task behind ``alb`` fetch ``url`` (through the proxy, as itself)."""
        quoted = urllib.request.quote(url, safe="")
        status, body, _ = request(sandbox, f"http://{alb['lb']['DNSName']}/fetch?url={quoted}")
        assert status == 200, body
        return json.loads(body)

    got = fetch_from(caller_alb, "http://peer.apps.local:8080/hello")
    assert got["status"] == 200 and json.loads(got["body"])["env"]["GREETING"] == "hello from peer"
    assert json.loads(got["body"])["headers"]["Host"] == "peer.apps.local:8080"
    got = fetch_from(caller_alb, f"http://{peer_ip}:8080/")
    assert json.loads(got["body"])["env"]["GREETING"] == "hello from peer"
    # A Service Connect client alias on port 80 leads to the container's port 8080.
    got = fetch_from(caller_alb, "http://peer.sc/")
    assert got["status"] == 200 and json.loads(got["body"])["env"]["GREETING"] == "hello from peer"
    assert fetch_from(caller_alb, "http://peer.sc:8080/")["status"] == 502
    # A port the task does not serve, and a name nobody has, get the proxy's 502.
    assert fetch_from(caller_alb, f"http://{peer_ip}:9999/")["status"] == 502
    assert fetch_from(caller_alb, "http://nobody.apps.local:8080/")["status"] == 502

    # Another account's task: this account's name and task IPs are not in its network.
    other = new_lab(sandbox, sandbox.session(sandbox.new_account_id()))
    other_alb = other.alb("other-alb")
    echo_service(other, "caller", alb=other_alb)
    steady(other, "caller", 1)
    ready(sandbox, other, 1)
    got = fetch_from(other_alb, "http://peer.apps.local:8080/")
    assert got["status"] == 502 and "no load balancer or running task answers to peer.apps.local:8080" in got["body"]
    other_ip = other.tasks("caller")[0]["containers"][0]["networkInterfaces"][0]["privateIpv4Address"]
    if other_ip != peer_ip:  # both accounts use the same subnets
        assert fetch_from(other_alb, f"http://{peer_ip}:8080/")["status"] == 502


def test_crashing_app_stops_its_task(sandbox, session):
    lab = new_lab(sandbox, session)
    alb = lab.alb("crash-alb")
    echo_service(lab, "echo", alb=alb)
    steady(lab, "echo", 1)
    [proc] = ready(sandbox, lab, 1)
    dns = alb["lb"]["DNSName"]
    assert json.loads(request(sandbox, f"http://{dns}/exit?code=7")[1]) == {"exiting": 7}

    def stopped():
        arns = lab.ecs.list_tasks(cluster=lab.cluster, serviceName="echo", desiredStatus="STOPPED")["taskArns"]
        tasks = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=arns)["tasks"] if arns else []
        return [t for t in tasks if t["lastStatus"] == "STOPPED"]

    [task] = wait_for(stopped, what="the task stopped")
    assert task["taskArn"] == proc["task"]
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["stopCode"] == "EssentialContainerExited"
    assert task["containers"][0]["exitCode"] == 7
    assert not alive(proc["pid"])
    svc = steady(lab, "echo", 1)  # the service replaced it ...
    task_id = task["taskArn"].split("/")[-1]
    assert f"(service echo) (task {task_id}) stopped: Essential container in task exited" in [e["message"] for e in svc["events"]]
    [new] = ready(sandbox, lab, 1)  # ... with a process of its own, which answers once healthy
    assert new["task"] != proc["task"] and new["pid"] != proc["pid"]
    wait_for(lambda: request(sandbox, f"http://{dns}/")[0] == 200, what="the replacement answering")


@pytest.mark.parametrize(
    "repository, tag, code, line",
    [
        ("sandbox-tests/echo", "broken", 3, "echo: failing at start as asked"),
        ("sandbox-tests/missing", "1", 127, "cannot start './no-such-program' in {dir}: No such file or directory"),
    ],
)
def test_app_failing_at_start_stops_its_task_with_its_output_logged(sandbox, session, repository, tag, code, line):
    lab = new_lab(sandbox, session)
    td = register(lab, "broken", "app", image(lab, repository, tag), 8080, log_group="/ecs/broken")
    arn = lab.ecs.run_task(cluster=lab.cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=lab.network())["tasks"][0]["taskArn"]

    def stopped():
        t = lab.ecs.describe_tasks(cluster=lab.cluster, tasks=[arn])["tasks"][0]
        return t if t["lastStatus"] == "STOPPED" else None

    task = wait_for(stopped, what="the broken task stopped")
    assert task["stoppedReason"] == "Essential container in task exited"
    assert task["containers"][0]["exitCode"] == code
    events = lab.logs.get_log_events(logGroupName="/ecs/broken", logStreamName=f"ecs/app/{arn.split('/')[-1]}")["events"]
    assert line.format(dir=TEST_APPS.parent) in [e["message"] for e in events]
    wait_for(lambda: processes(sandbox, lab) == [], what="no process listed")


# ---------------------------------------------------------------------------
# The sandbox going away takes the processes with it
# ---------------------------------------------------------------------------


def start_sandbox(*args: str, env: dict | None = None) -> Sandbox:
    full = dict(os.environ, PYTHONPATH=str(REPO / "sandbox"), **FAST, **(env or {}))
    full.pop("MOTO_ACCOUNT_ID", None)
    full.pop("LABSANDBOX_APPS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsandbox", "--port", "0", "--exit-on-stdin-eof", *args],
        env=full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("LABSANDBOX READY "), line
    return Sandbox(json.loads(line[len("LABSANDBOX READY ") :]), proc)


@pytest.mark.parametrize("how", ["stdin", "SIGKILL"])  # SIGTERM: scripts/sandbox stop, below
def test_no_process_outlives_the_sandbox(how):
    box = start_sandbox("--apps", str(TEST_APPS))
    try:
        assert box.control("GET", "apps")["files"] == [str(TEST_APPS)]
        lab = new_lab(box, box.session(box.new_account_id()))
        echo_service(lab, "echo", count=2)
        steady(lab, "echo", 2)
        pids = [p["pid"] for p in ready(box, lab, 2)]
        assert all(alive(pid) for pid in pids)
        if how == "stdin":
            box.proc.stdin.close()
        else:
            box.proc.kill()  # no clean-up at all: the parent-death signal does it
        box.proc.wait(timeout=10)
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout=5, what="app processes gone")
    finally:
        if box.proc.poll() is None:
            box.proc.kill()


def test_bad_map_stops_the_start_with_the_reason(tmp_path):
    bad = tmp_path / "apps.yaml"
    bad.write_text("apps: [{image: x}]\n")
    env = dict(os.environ, PYTHONPATH=str(REPO / "sandbox"), LABSANDBOX_APPS=str(bad))
    out = subprocess.run([sys.executable, "-m", "labsandbox", "--port", "0"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert f"labsandbox: app map: {bad}: apps[0] needs 'image' and 'command'" in out.stderr


def test_scripts_sandbox_start_takes_app_maps_and_stop_ends_the_processes(tmp_path):
    script = REPO / "scripts" / "sandbox"
    env = dict(os.environ, LABRUNNER_SANDBOX_DIR=str(tmp_path / "state"), **FAST)
    env.pop("LABSANDBOX_APPS", None)
    run = lambda *a: subprocess.run(["bash", str(script), *a], env=env, capture_output=True, text=True, timeout=120)  # noqa: E731
    try:
        out = run("start", "--apps", str(FLAGSHIP_APPS.relative_to(REPO)))
        assert out.returncode == 0, out.stderr
        port = int((tmp_path / "state" / "port").read_text())
        box = Sandbox({"port": port, "dns_port": 0, "proxy_port": 0, "endpoint": f"http://127.0.0.1:{port}", "ca_file": ""}, None)
        assert box.control("GET", "apps")["files"] == [str(FLAGSHIP_APPS)]
        # Started again with other maps while running: the map is replaced, the server kept.
        out = run("start", "--apps", str(TEST_APPS), "--apps", str(FLAGSHIP_APPS))
        assert out.returncode == 0, out.stderr
        assert box.control("GET", "apps")["files"] == [str(TEST_APPS), str(FLAGSHIP_APPS)]
        assert int((tmp_path / "state" / "port").read_text()) == port
        out = run("start", "--apps", str(tmp_path / "missing.yaml"))
        assert out.returncode != 0 and "no such app map" in out.stderr

        lab = new_lab(box, box.session(box.new_account_id()))
        echo_service(lab, "echo", count=2)
        steady(lab, "echo", 2)
        pids = [p["pid"] for p in ready(box, lab, 2)]
        assert run("stop").stdout.strip() == "stopped"  # SIGTERM
        wait_for(lambda: not any(alive(pid) for pid in pids), timeout=5, what="app processes gone")
    finally:
        run("stop")
