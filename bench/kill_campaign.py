#!/usr/bin/env python3
"""Kill campaign for labrunner (run it through bench/kill-campaign, which installs the venv).

Kill trials: an unattended `start flask-inventory --auto --yes` is SIGKILLed at a random moment;
then orphans (processes of the killed tree still alive 3 s later), secrets (the trial's secret
key / session token in any file under the state dir or TMPDIR), unrecorded resources (created,
yet neither their id/ARN nor an intent of their type in ledger.json), `resume` (must exit 0),
duplicates after resume and leaks after `cleanup` are measured, each trial in a fresh account,
state dir and TMPDIR. Cleanup-kill trials SIGKILL `cleanup` after a complete run and clean up
again. Fault trials (--faults) run the lab under 10 % throttling and 10 % 5xx of the account's
calls. The inventory is independent of labrunner (boto3).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB = "flask-inventory"
REGION = "us-east-1"
READY = "LABSANDBOX READY "

# Time limits (seconds): every wait in this script is bounded by one of these.
SANDBOX_START_TIMEOUT = 120
CALIBRATION_TIMEOUT = 900
START_TIMEOUT = 900  # complete runs (cleanup-kill set-up, fault trials)
RESUME_TIMEOUT = 300
CLEANUP_TIMEOUT = 600
ORPHAN_GRACE = 3.0

# Inventory type -> the ledger's resource type key.
LEDGER_TYPE = {
    "vpc": "vpc",
    "subnet": "subnet",
    "security_group": "security_group",
    "route_table": "route_table",
    "internet_gateway": "internet_gateway",
    "load_balancer": "load_balancer",
    "target_group": "target_group",
    "listener": "listener",
    "listener_rule": "listener_rule",
    "ecs_cluster": "ecs_cluster",
    "ecs_service": "ecs_service",
    "task_definition": "task_definition",
    "log_group": "log_group",
    "iam_role": "iam_role",
    "cloudmap_namespace": "cloudmap_namespace",
    "cloudmap_service": "cloudmap_service",
}


class Interrupted(Exception):
    pass


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Processes (/proc)


def proc_stat(pid: int) -> tuple[int, str, int] | None:
    """(ppid, state, starttime) of a live pid, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    # rest[0] = state (field 3), rest[1] = ppid (4), rest[19] = starttime (22)
    return int(rest[1]), rest[0], int(rest[19])


def proc_cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return " ".join(a.decode("utf-8", "replace") for a in raw.split(b"\0") if a)[:300]


def all_pids() -> list[int]:
    return [int(d) for d in os.listdir("/proc") if d.isdigit()]


def descendants(root: int) -> list[dict]:
    """Every descendant of `root` now (pid, starttime, cmdline)."""
    children: dict[int, list[int]] = {}
    info: dict[int, tuple[int, str, int]] = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st is None:
            continue
        info[pid] = st
        children.setdefault(st[0], []).append(pid)
    out, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        out.append({"pid": pid, "start": info[pid][2], "cmd": proc_cmdline(pid)})
        todo.extend(children.get(pid, []))
    return out


def alive(p: dict) -> bool:
    """The snapshotted process still exists (same start time) and is not a zombie."""
    st = proc_stat(p["pid"])
    return st is not None and st[2] == p["start"] and st[1] not in ("Z", "X")


def env_marked(marker: bytes) -> list[dict]:
    """Live, non-zombie processes whose environment holds `marker` (e.g. TMPDIR=<trial tmp>)."""
    found = []
    me = os.getpid()
    for pid in all_pids():
        if pid == me:
            continue
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if marker in env.split(b"\0"):
            st = proc_stat(pid)
            if st and st[1] not in ("Z", "X"):
                found.append({"pid": pid, "start": st[2], "cmd": proc_cmdline(pid)})
    return found


def kill_procs(procs: list[dict]) -> None:
    for p in procs:
        if alive(p):
            try:
                os.kill(p["pid"], signal.SIGKILL)
            except OSError:
                pass


class Running:
    """A labrunner (or other) child started in its own session; tracked so that an interrupted
    campaign ends it and everything below it."""

    current: "Running | None" = None

    def __init__(self, argv: list[str], env: dict, cwd: Path, out: Path, err: Path) -> None:
        self.argv = argv
        self.t0 = time.monotonic()
        with open(out, "wb") as o, open(err, "wb") as e:
            self.popen = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=o, stderr=e, start_new_session=True
            )
        Running.current = self

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def wait(self, timeout: float) -> int | str:
        """Exit code, or "timeout" (then the whole tree is killed)."""
        try:
            rc = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_tree()
            return "timeout"
        Running.current = None
        return rc

    def kill_tree(self) -> None:
        tree = descendants(self.popen.pid)
        try:
            self.popen.send_signal(signal.SIGKILL)
        except OSError:
            pass
        kill_procs(tree)
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        Running.current = None


# --------------------------------------------------------------------------------------------
# The sandbox


class Sandbox:
    def __init__(self, logdir: Path) -> None:
        self.log_path = logdir / "sandbox.log"
        env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
        env["PYTHONPATH"] = str(ROOT / "sandbox")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/python"), "-m", "labsandbox", "--port", "0", "--exit-on-stdin-eof"],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.logf,
            start_new_session=True,
        )
        box: dict = {}

        def reader() -> None:
            for raw in self.proc.stdout:  # type: ignore[union-attr]
                line = raw.decode("utf-8", "replace")
                if line.startswith(READY):
                    box["info"] = json.loads(line[len(READY):])
                    return

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t.join(SANDBOX_START_TIMEOUT)
        if "info" not in box:
            self.stop()
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"sandbox not ready within {SANDBOX_START_TIMEOUT}s; log:\n{tail}")
        self.port = int(box["info"]["port"])
        self.dns_port = int(box["info"]["dns_port"])
        self.proxy_port = int(box["info"]["proxy_port"])
        self.endpoint = f"http://127.0.0.1:{self.port}"
        health = self.control("GET", "health")
        if health.get("ok") is not True:
            raise RuntimeError(f"unhealthy sandbox: {health}")

    def control(self, method: str, route: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.endpoint}/_sandbox/{route}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass
            try:
                self.proc.terminate()
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.logf.close()


# --------------------------------------------------------------------------------------------
# Accounts, environment, inventory


class Account:
    def __init__(self, sb: Sandbox, account_id: str, home: Path) -> None:
        import boto3

        sts = boto3.client("sts", endpoint_url=sb.endpoint, region_name=REGION,
                           aws_access_key_id="test", aws_secret_access_key="test")
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/kill-campaign",
                                RoleSessionName="kill-campaign")["Credentials"]
        self.id = account_id
        self.key = creds["AccessKeyId"]
        self.secret = creds["SecretAccessKey"]
        self.token = creds["SessionToken"]
        self.sb = sb
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.session = boto3.session.Session(aws_access_key_id=self.key, aws_secret_access_key=self.secret,
                                             aws_session_token=self.token, region_name=REGION)
        who = self.client("sts").get_caller_identity()
        if who["Account"] != account_id:
            raise RuntimeError(f"AssumeRole into {account_id} acts in {who['Account']}")

    def client(self, service: str):
        from botocore.config import Config

        cfg = Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=10, read_timeout=60)
        return self.session.client(service, endpoint_url=self.sb.endpoint, config=cfg)

    def env(self, state: Path, tmp: Path) -> dict:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in ("https_proxy", "all_proxy", "http_proxy", "no_proxy")
               and not k.startswith("LABRUNNER_")}
        proxy = f"http://127.0.0.1:{self.sb.proxy_port}"
        env.update({
            "AWS_ENDPOINT_URL": self.sb.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_SESSION_TOKEN": self.token,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": str(self.home / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.home / "no-aws-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
            "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
            "LABRUNNER_DNS_SERVER": f"127.0.0.1:{self.sb.dns_port}",
            "LABRUNNER_SANDBOX": "1",
            "LABRUNNER_STATE_DIR": str(state),
            "TMPDIR": str(tmp),
            "http_proxy": proxy,
            "HTTP_PROXY": proxy,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
            "HOME": str(self.home),
            "PATH": f"{ROOT / '.venv/bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "NO_COLOR": "1",
        })
        return env

    # -- inventory -----------------------------------------------------------------------

    def inventory(self) -> dict[str, dict]:
        """{key: {"type", "name", "ids": [...]}} for every resource of the listed types."""
        inv: dict[str, dict] = {}

        def add(rtype: str, key: str, name: str, *ids: str | None) -> None:
            inv[key] = {"type": rtype, "name": name, "ids": [key, *sorted({i for i in ids if i and i != key})]}

        def tag(tags: list | None, key: str = "Name") -> str | None:
            for t in tags or []:
                if t.get("Key") == key:
                    return t.get("Value")
            return None

        ec2 = self.client("ec2")
        for v in paged(ec2, "describe_vpcs", "Vpcs"):
            add("vpc", v["VpcId"], tag(v.get("Tags")) or v["VpcId"])
        for s in paged(ec2, "describe_subnets", "Subnets"):
            add("subnet", s["SubnetId"], tag(s.get("Tags")) or f"{s['VpcId']}:{s['CidrBlock']}", s.get("SubnetArn"))
        for g in paged(ec2, "describe_security_groups", "SecurityGroups"):
            if g.get("GroupName") != "default":
                add("security_group", g["GroupId"], f"{g['GroupName']}", g.get("SecurityGroupArn"))
        for r in paged(ec2, "describe_route_tables", "RouteTables"):
            if not any(a.get("Main") for a in r.get("Associations") or []):
                add("route_table", r["RouteTableId"], tag(r.get("Tags")) or r["RouteTableId"])
        for g in paged(ec2, "describe_internet_gateways", "InternetGateways"):
            add("internet_gateway", g["InternetGatewayId"], tag(g.get("Tags")) or g["InternetGatewayId"])

        elb = self.client("elbv2")
        for lb in paged(elb, "describe_load_balancers", "LoadBalancers"):
            add("load_balancer", lb["LoadBalancerArn"], lb["LoadBalancerName"])
            for ls in paged(elb, "describe_listeners", "Listeners", LoadBalancerArn=lb["LoadBalancerArn"]):
                lname = f"{lb['LoadBalancerName']}:{ls.get('Port')}"
                add("listener", ls["ListenerArn"], lname)
                for rule in elb.describe_rules(ListenerArn=ls["ListenerArn"]).get("Rules", []):
                    if not rule.get("IsDefault"):
                        add("listener_rule", rule["RuleArn"], f"{lname}:priority {rule.get('Priority')}")
        for tg in paged(elb, "describe_target_groups", "TargetGroups"):
            add("target_group", tg["TargetGroupArn"], tg["TargetGroupName"])

        ecs = self.client("ecs")
        cluster_arns = list(paged(ecs, "list_clusters", "clusterArns"))
        for i in range(0, len(cluster_arns), 100):
            for c in ecs.describe_clusters(clusters=cluster_arns[i:i + 100]).get("clusters", []):
                if c.get("status") == "ACTIVE":
                    add("ecs_cluster", c["clusterArn"], c["clusterName"])
        for carn in cluster_arns:
            sarns = list(paged(ecs, "list_services", "serviceArns", cluster=carn))
            for i in range(0, len(sarns), 10):
                for s in ecs.describe_services(cluster=carn, services=sarns[i:i + 10]).get("services", []):
                    if s.get("status") in ("ACTIVE", "DRAINING"):
                        cname = carn.rsplit("/", 1)[-1]
                        add("ecs_service", s["serviceArn"], f"{cname}/{s['serviceName']}")
        for arn in paged(ecs, "list_task_definitions", "taskDefinitionArns", status="ACTIVE"):
            family = arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]
            add("task_definition", arn, family)

        logs = self.client("logs")
        for g in paged(logs, "describe_log_groups", "logGroups"):
            arn = g.get("arn")
            add("log_group", g["logGroupName"], g["logGroupName"], arn, arn[:-2] if arn and arn.endswith(":*") else None,
                g.get("logGroupArn"))

        iam = self.client("iam")
        for r in paged(iam, "list_roles", "Roles"):
            # Service-linked roles are AWS's own, created by AWS (never by a lab step).
            if not (r.get("Path") or "/").startswith("/aws-service-role/"):
                add("iam_role", r["Arn"], r["RoleName"], r.get("RoleId"))

        sd = self.client("servicediscovery")
        for ns in paged(sd, "list_namespaces", "Namespaces"):
            add("cloudmap_namespace", ns["Id"], ns["Name"], ns.get("Arn"))
        ns_names = {k: v["name"] for k, v in inv.items() if v["type"] == "cloudmap_namespace"}
        for s in paged(sd, "list_services", "Services"):
            detail = sd.get_service(Id=s["Id"]).get("Service", {})
            ns = ns_names.get(detail.get("NamespaceId", ""), detail.get("NamespaceId", "?"))
            add("cloudmap_service", s["Id"], f"{ns}/{s['Name']}", s.get("Arn"))
        return inv


def paged(client, op: str, key: str, **kw):
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate(**kw, PaginationConfig={"MaxItems": 5000}):
            yield from page.get(key, [])
    else:
        yield from getattr(client, op)(**kw).get(key, [])


def created(before: dict, now: dict) -> dict:
    return {k: v for k, v in now.items() if k not in before}


def describe(res: dict) -> str:
    return f"{res['type']} {res['name']} ({res['ids'][0]})" if res["ids"] else f"{res['type']} {res['name']}"


# --------------------------------------------------------------------------------------------
# Ledger, secrets, events


def ledger_path(state: Path, account: str) -> Path:
    return state / LAB / f"{account}-{REGION}" / "ledger.json"


def read_ledger(state: Path, account: str) -> tuple[dict | None, str | None]:
    p = ledger_path(state, account)
    if not p.exists():
        return None, None
    try:
        return json.loads(p.read_text()), None
    except (OSError, ValueError) as e:
        return None, f"unreadable ledger: {e}"


def ledger_summary(ledger: dict | None) -> dict:
    if not ledger:
        return {"entries": 0, "intents": [], "ids": []}
    ids, intents = set(), []
    for e in ledger.get("entries", []):
        rtype = next(iter(e.get("resource", {})), "?")
        if e.get("intent"):
            intents.append({"type": rtype, "resource": e.get("resource"), "step": e.get("step"),
                            "preexisting": e.get("preexisting", [])})
        for v in (e.get("ids") or {}).values():
            if isinstance(v, str):
                ids.add(v)
    return {"entries": len(ledger.get("entries", [])), "intents": intents, "ids": sorted(ids)}


def unrecorded(new: dict, ledger: dict | None) -> list[dict]:
    """Created resources whose ids are not in the ledger and whose type has no intent entry."""
    summary = ledger_summary(ledger)
    ids = set(summary["ids"])
    intent_types = {i["type"] for i in summary["intents"]}
    out = []
    for res in new.values():
        if any(i in ids for i in res["ids"]):
            continue
        if LEDGER_TYPE[res["type"]] in intent_types:
            continue
        out.append(res)
    return out


def secret_hits(dirs: list[Path], secrets: dict[str, str]) -> list[dict]:
    needles = {name: s.encode() for name, s in secrets.items() if s}
    hits = []
    for d in dirs:
        if not d.exists():
            continue
        for dirpath, _dirs, files in os.walk(d, followlinks=False):
            for f in files:
                p = Path(dirpath) / f
                try:
                    if p.is_symlink() or not p.is_file():
                        continue
                    data = p.read_bytes()
                except OSError:
                    continue
                for name, needle in needles.items():
                    if needle in data:
                        hits.append({"file": str(p), "secret": name})
    return hits


def events(path: Path) -> list[dict]:
    out = []
    try:
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def position(evs: list[dict]) -> str:
    """Where a run was, from its JSON events: `step create-vpc (5/25), block 1` or `... check`."""
    step, num, total, where = None, None, None, ""
    done = 0
    for e in evs:
        kind = e.get("event")
        if kind == "step_started":
            step, num, total, where = e.get("step"), e.get("number"), e.get("total"), "before its commands"
        elif kind == "block_started":
            where = f"block {e.get('block')} running"
        elif kind == "block_finished":
            where = f"block {e.get('block')} finished (status {e.get('status')})"
        elif kind and kind.startswith("check"):
            where = "checks"
        elif kind == "step_finished":
            where = f"step finished ({e.get('result')})"
            done += 1
        elif kind == "lab_finished":
            return f"run finished ({e.get('done')}/{e.get('total')} done)"
    if step is None:
        return "before the first step"
    return f"step {step} ({num}/{total}), {where}"


def last_step(evs: list[dict]) -> str | None:
    for e in reversed(evs):
        if e.get("event") == "step_started":
            return e.get("step")
    return None


def failed_step(evs: list[dict]) -> str | None:
    for e in evs:
        if e.get("event") == "step_finished" and e.get("result") not in ("done", "passed", "skipped", "ok"):
            return f"{e.get('step')}: {e.get('result')}"
    return None


def run_outcome(rc, evs: list[dict], err: Path) -> str:
    """What a resume (or start) did, in a few words."""
    if rc == "timeout":
        return "timed out"
    refused = next((e for e in evs if e.get("event") == "notice" and "is not run again unattended" in e.get("text", "")),
                   None)
    if refused is not None:
        step = refused["text"].split("`")[1] if "`" in refused["text"] else "?"
        exist = next((e.get("resources", []) for e in reversed(evs) if e.get("event") == "resources_exist"), [])
        return (f"refused to re-run the interrupted step `{step}` unattended (its commands had begun and "
                f"{'; '.join(exist) or 'some of its resources'} exist{'s' if len(exist) == 1 else ''})")
    if rc == 0:
        return "completed"
    failed = failed_step(evs)
    if failed:
        return f"step {failed}"
    last = tail(err, 1)
    return f"exit {rc}: {last}" if last else f"exit {rc}"


def cleanup_position(err: Path) -> str:
    """Where a killed cleanup was: its last wave and how many deletions it had confirmed."""
    try:
        lines = err.read_text(errors="replace").splitlines()
    except OSError:
        return "?"
    waves = [l for l in lines if l.startswith("wave ")]
    deleted = sum(1 for l in lines if l.strip().startswith("✓ deleted"))
    last = next((l.strip() for l in reversed(lines) if l.strip()), "")
    if not waves:
        return f"before the first wave ({last[:80]})"
    return f"{waves[-1].rstrip(':')}, {deleted} deleted; last: {last[:110]}"


def tail(path: Path, n: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# The campaign


class Campaign:
    def __init__(self, args: argparse.Namespace, sb: Sandbox, results: Path) -> None:
        self.args = args
        self.sb = sb
        self.results = results
        self.rng = random.Random(args.seed)
        self.bin = str(Path(args.bin).resolve())
        self.next_account = 510_000_000_000
        self.deadline = time.monotonic() + args.max_minutes * 60

    def account(self, tdir: Path) -> tuple[Account, Path, Path]:
        acct_id = f"{self.next_account:012d}"
        self.next_account += 1
        acct = Account(self.sb, acct_id, tdir / "home")
        state, tmp = tdir / "state", tdir / "tmp"
        state.mkdir(parents=True, exist_ok=True)
        tmp.mkdir(parents=True, exist_ok=True)
        return acct, state, tmp

    def lr(self, *args: str) -> list[str]:
        return [self.bin, "--color", "never", "--labs-dir", str(ROOT / "labs"), *args]

    def run(self, tdir: Path, name: str, argv: list[str], env: dict, timeout: float) -> tuple[int | str, float]:
        r = Running(argv, env, tdir, tdir / f"{name}.out", tdir / f"{name}.err")
        rc = r.wait(timeout)
        return rc, r.elapsed()

    def save(self, tdir: Path, name: str, obj) -> None:
        (tdir / name).write_text(json.dumps(obj, indent=1, default=str))

    def keep_state(self, tdir: Path, state: Path, acct: Account, tag: str) -> None:
        run_dir = state / LAB / f"{acct.id}-{REGION}"
        for f in ("ledger.json", "progress.json"):
            if (run_dir / f).exists():
                shutil.copy(run_dir / f, tdir / f"{tag}-{f}")

    # -- calibration ---------------------------------------------------------------------

    def calibrate(self) -> dict:
        tdir = self.results / "calibration"
        tdir.mkdir(parents=True)
        acct, state, tmp = self.account(tdir)
        env = acct.env(state, tmp)
        before = acct.inventory()
        log(f"calibration: full unattended run in account {acct.id}")
        rc, t = self.run(tdir, "start", self.lr("start", LAB, "--auto", "--yes", "--json"), env, CALIBRATION_TIMEOUT)
        evs = events(tdir / "start.out")
        after_run = acct.inventory()
        self.keep_state(tdir, state, acct, "run")
        log(f"calibration: start exit {rc} in {t:.1f}s; cleanup")
        crc, c = self.run(tdir, "cleanup", self.lr("cleanup", LAB, "--yes"), env, CLEANUP_TIMEOUT)
        leaked = created(before, acct.inventory())
        cal = {
            "account": acct.id, "start_rc": rc, "T": round(t, 2), "cleanup_rc": crc, "C": round(c, 2),
            "created": len(created(before, after_run)), "leaked": [describe(r) for r in leaked.values()],
            "position": position(evs), "failed_step": failed_step(evs),
        }
        self.save(tdir, "trial.json", cal)
        log(f"calibration: T={t:.1f}s ({cal['created']} resources), cleanup exit {crc} in C={c:.1f}s, "
            f"leaked {len(leaked)}")
        return cal

    # -- kill trials ---------------------------------------------------------------------

    def kill_trial(self, n: int, T: float) -> dict:
        tdir = self.results / f"kill-{n:02d}"
        tdir.mkdir(parents=True)
        kill_at = self.rng.uniform(0.5, max(0.95 * T, 0.6))
        acct, state, tmp = self.account(tdir)
        env = acct.env(state, tmp)
        res: dict = {"trial": f"kill-{n:02d}", "account": acct.id, "kill_at": round(kill_at, 2)}
        before = acct.inventory()
        self.save(tdir, "inventory-before.json", before)

        r = Running(self.lr("start", LAB, "--auto", "--yes", "--json"), env, tdir, tdir / "start.out", tdir / "start.err")
        while r.elapsed() < kill_at and r.popen.poll() is None:
            time.sleep(min(0.02, max(0.0, kill_at - r.elapsed())))
        if r.popen.poll() is not None:
            res["finished_before_kill"] = True
            res["start_rc"] = r.popen.returncode
            tree: list[dict] = []
            Running.current = None
        else:
            tree = descendants(r.popen.pid)
            os.kill(r.popen.pid, signal.SIGKILL)
            res["killed_after"] = round(r.elapsed(), 2)
            r.popen.wait(timeout=30)
            Running.current = None
        evs = events(tdir / "start.out")
        res["at_kill"] = position(evs)
        res["step_at_kill"] = last_step(evs)
        res["tree"] = tree

        # Orphans: the killed tree (and anything else carrying this trial's TMPDIR) 3 s later.
        time.sleep(ORPHAN_GRACE)
        marker = f"TMPDIR={tmp}".encode()
        survivors = [p for p in tree if alive(p)]
        seen = {(p["pid"], p["start"]) for p in survivors}
        survivors += [p for p in env_marked(marker) if (p["pid"], p["start"]) not in seen]
        res["orphans"] = survivors
        kill_procs(survivors)

        # Secrets on disk.
        res["secret_hits"] = secret_hits([state, tmp], {"secret_access_key": acct.secret, "session_token": acct.token})
        res["home_secret_hits"] = secret_hits([acct.home], {"secret_access_key": acct.secret,
                                                            "session_token": acct.token})

        # Unrecorded resources.
        after_kill = acct.inventory()
        self.save(tdir, "inventory-after-kill.json", after_kill)
        self.keep_state(tdir, state, acct, "after-kill")
        ledger, err = read_ledger(state, acct.id)
        new = created(before, after_kill)
        res["created_at_kill"] = [describe(x) for x in new.values()]
        res["ledger_at_kill"] = ledger_summary(ledger) | {"error": err}
        res["unrecorded"] = [describe(x) for x in unrecorded(new, ledger)]

        # Resume, duplicates.
        rc, t = self.run(tdir, "resume", self.lr("resume", LAB, "--auto", "--yes", "--json"), env, RESUME_TIMEOUT)
        res["resume_rc"], res["resume_s"] = rc, round(t, 1)
        revs = events(tdir / "resume.out")
        res["resume_position"] = position(revs)
        res["resume_failed_step"] = failed_step(revs)
        res["resume_outcome"] = run_outcome(rc, revs, tdir / "resume.err")
        after_resume = acct.inventory()
        self.save(tdir, "inventory-after-resume.json", after_resume)
        self.keep_state(tdir, state, acct, "after-resume")
        groups: dict[tuple[str, str], list[dict]] = {}
        for x in created(before, after_resume).values():
            groups.setdefault((x["type"], x["name"]), []).append(x)
        res["duplicates"] = [{"type": k[0], "name": k[1], "ids": [x["ids"][0] for x in v]}
                             for k, v in sorted(groups.items()) if len(v) > 1]
        # Diagnostic, not a criterion: by now resume has resolved the intents, so a resource of the
        # killed run that is still in no entry is one cleanup will not know about.
        ledger, _ = read_ledger(state, acct.id)
        res["unrecorded_after_resume"] = [describe(x) for x in unrecorded(created(before, after_resume), ledger)]

        # Cleanup, leaks.
        rc, t = self.run(tdir, "cleanup", self.lr("cleanup", LAB, "--yes"), env, CLEANUP_TIMEOUT)
        res["cleanup_rc"], res["cleanup_s"] = rc, round(t, 1)
        after_cleanup = acct.inventory()
        self.save(tdir, "inventory-after-cleanup.json", after_cleanup)
        self.keep_state(tdir, state, acct, "after-cleanup")
        res["leaked"] = [describe(x) for x in created(before, after_cleanup).values()]
        res["ok"] = (res["resume_rc"] == 0 and not res["duplicates"] and not res["unrecorded"]
                     and not res["orphans"] and not res["secret_hits"] and not res["leaked"])
        self.save(tdir, "trial.json", res)
        return res

    # -- cleanup-kill trials -------------------------------------------------------------

    def cleanup_kill_trial(self, n: int, C: float) -> dict:
        tdir = self.results / f"cleanup-kill-{n:02d}"
        tdir.mkdir(parents=True)
        kill_at = self.rng.uniform(0.2, max(0.9 * C, 0.3))
        acct, state, tmp = self.account(tdir)
        env = acct.env(state, tmp)
        res: dict = {"trial": f"cleanup-kill-{n:02d}", "account": acct.id, "kill_at": round(kill_at, 2)}
        before = acct.inventory()
        rc, t = self.run(tdir, "start", self.lr("start", LAB, "--auto", "--yes", "--json"), env, START_TIMEOUT)
        res["start_rc"], res["start_s"] = rc, round(t, 1)
        res["start_failed_step"] = failed_step(events(tdir / "start.out"))
        res["created"] = len(created(before, acct.inventory()))
        self.keep_state(tdir, state, acct, "after-run")

        r = Running(self.lr("cleanup", LAB, "--yes"), env, tdir, tdir / "cleanup-killed.out", tdir / "cleanup-killed.err")
        while r.elapsed() < kill_at and r.popen.poll() is None:
            time.sleep(min(0.02, max(0.0, kill_at - r.elapsed())))
        tree: list[dict] = []
        if r.popen.poll() is not None:
            res["finished_before_kill"] = True
            res["killed_cleanup_rc"] = r.popen.returncode
            Running.current = None
        else:
            tree = descendants(r.popen.pid)
            os.kill(r.popen.pid, signal.SIGKILL)
            res["killed_after"] = round(r.elapsed(), 2)
            r.popen.wait(timeout=30)
            Running.current = None
        res["tree"] = tree
        res["at_kill"] = cleanup_position(tdir / "cleanup-killed.err")
        time.sleep(ORPHAN_GRACE)
        marker = f"TMPDIR={tmp}".encode()
        survivors = [p for p in tree if alive(p)]
        seen = {(p["pid"], p["start"]) for p in survivors}
        survivors += [p for p in env_marked(marker) if (p["pid"], p["start"]) not in seen]
        res["orphans"] = survivors
        kill_procs(survivors)
        res["secret_hits"] = secret_hits([state, tmp], {"secret_access_key": acct.secret, "session_token": acct.token})
        mid = acct.inventory()
        res["left_by_killed_cleanup"] = len(created(before, mid))
        self.keep_state(tdir, state, acct, "after-kill")
        ledger, err = read_ledger(state, acct.id)
        res["ledger_at_kill"] = ledger_summary(ledger) | {"error": err}
        res["unrecorded"] = [describe(x) for x in unrecorded(created(before, mid), ledger)]

        rc, t = self.run(tdir, "cleanup", self.lr("cleanup", LAB, "--yes"), env, CLEANUP_TIMEOUT)
        res["cleanup_rc"], res["cleanup_s"] = rc, round(t, 1)
        after = acct.inventory()
        self.save(tdir, "inventory-after-cleanup.json", after)
        self.keep_state(tdir, state, acct, "after-cleanup")
        res["leaked"] = [describe(x) for x in created(before, after).values()]
        res["ok"] = (res["start_rc"] == 0 and res["cleanup_rc"] == 0 and not res["orphans"]
                     and not res["secret_hits"] and not res["unrecorded"] and not res["leaked"])
        self.save(tdir, "trial.json", res)
        return res

    # -- fault trials --------------------------------------------------------------------

    def fault_trial(self, kind: str) -> dict:
        tdir = self.results / f"fault-{kind}"
        tdir.mkdir(parents=True)
        acct, state, tmp = self.account(tdir)
        env = acct.env(state, tmp)
        res: dict = {"trial": f"fault-{kind}", "account": acct.id, "kind": kind}
        before = acct.inventory()
        # `match` is compared with the request's path, query, body and signing access key id:
        # the access key id singles out every call of this account (the account id alone
        # appears only in calls that carry an ARN).
        rule = self.sb.control("POST", "faults", {"kind": kind, "fraction": 0.1, "match": acct.key})
        try:
            rc, t = self.run(tdir, "start", self.lr("start", LAB, "--auto", "--yes", "--json"), env, START_TIMEOUT)
        finally:
            faults = self.sb.control("GET", "faults").get("faults", [])
            self.sb.control("DELETE", "faults", {"id": rule["id"]})
        mine = next((f for f in faults if f.get("id") == rule["id"]), {})
        res["fault"] = {"matched": mine.get("matched"), "injected": mine.get("injected"), "status": mine.get("status")}
        evs = events(tdir / "start.out")
        res["start_rc"], res["start_s"] = rc, round(t, 1)
        res["position"] = position(evs)
        res["failed_step"] = failed_step(evs)
        after_run = acct.inventory()
        new = created(before, after_run)
        ledger, err = read_ledger(state, acct.id)
        res["created"] = len(new)
        res["unrecorded"] = [describe(x) for x in unrecorded(new, ledger)]
        self.keep_state(tdir, state, acct, "after-run")
        rc, t = self.run(tdir, "cleanup", self.lr("cleanup", LAB, "--yes"), env, CLEANUP_TIMEOUT)
        res["cleanup_rc"], res["cleanup_s"] = rc, round(t, 1)
        after = acct.inventory()
        self.save(tdir, "inventory-after-cleanup.json", after)
        self.keep_state(tdir, state, acct, "after-cleanup")
        res["leaked"] = [describe(x) for x in created(before, after).values()]
        res["ok"] = res["start_rc"] == 0 and not res["leaked"] and not res["unrecorded"]
        self.save(tdir, "trial.json", res)
        return res

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline


# --------------------------------------------------------------------------------------------
# Reporting


def kill_row(r: dict) -> str:
    when = f"{r['kill_at']:.1f}s" + (" (ended first)" if r.get("finished_before_kill") else "")
    outcome = r.get("resume_outcome", "")
    resume = f"{r['resume_rc']}" + (" (refused)" if outcome.startswith("refused") else "")
    return (f"| {r['trial']} | {r['account']} | {when} | {r.get('at_kill', '')} | {resume} | "
            f"{len(r['duplicates'])} | {len(r['unrecorded'])} | {len(r['orphans'])} | {len(r['secret_hits'])} | "
            f"{len(r['leaked'])} | {'ok' if r['ok'] else '**FAIL**'} |")


def ckill_row(r: dict) -> str:
    when = f"{r['kill_at']:.1f}s" + (" (ended first)" if r.get("finished_before_kill") else "")
    return (f"| {r['trial']} | {r['account']} | {r['start_rc']} | {when} | {r['left_by_killed_cleanup']} | "
            f"{r['cleanup_rc']} | {len(r['unrecorded'])} | {len(r['orphans'])} | {len(r['secret_hits'])} | "
            f"{len(r['leaked'])} | {'ok' if r['ok'] else '**FAIL**'} |")


def fault_row(r: dict) -> str:
    f = r["fault"]
    return (f"| {r['trial']} | {r['account']} | {f.get('injected')}/{f.get('matched')} | {r['start_rc']} | "
            f"{r['position']} | {r['cleanup_rc']} | {len(r['unrecorded'])} | {len(r['leaked'])} | "
            f"{'ok' if r['ok'] else '**FAIL**'} |")


KILL_HEAD = ("| trial | account | kill at | where the run was | resume exit | duplicates | unrecorded | orphans | "
             "secret hits | leaked | |\n|---|---|---|---|---|---|---|---|---|---|---|")
CKILL_HEAD = ("| trial | account | run exit | cleanup killed at | left after kill | 2nd cleanup exit | unrecorded | "
              "orphans | secret hits | leaked | |\n|---|---|---|---|---|---|---|---|---|---|---|")
FAULT_HEAD = ("| trial | account | injected/matched calls | start exit | where the run ended | cleanup exit | "
              "unrecorded | leaked | |\n|---|---|---|---|---|---|---|---|---|")


def summaries(out: dict) -> list[str]:
    lines = []
    k = out["kills"]
    if k or out["args"]["trials"]:
        lines.append(
            f"kills: {len(k)}, resumed {sum(r['resume_rc'] == 0 for r in k)}/{len(k)}, "
            f"duplicates {sum(len(r['duplicates']) for r in k)}, unrecorded {sum(len(r['unrecorded']) for r in k)}, "
            f"orphan processes {sum(len(r['orphans']) for r in k)}, secret hits {sum(len(r['secret_hits']) for r in k)}, "
            f"leaked {sum(len(r['leaked']) for r in k)}")
    if k:
        refused = sum(r.get("resume_outcome", "").startswith("refused") for r in k)
        done = sum(r["resume_rc"] == 0 for r in k)
        lines.append(f"  resume outcomes: completed {done}, refused to re-run the interrupted step {refused}, "
                     f"other {len(k) - done - refused}")
    c = out["cleanup_kills"]
    if c or out["args"]["cleanup_kills"]:
        lines.append(
            f"cleanup kills: {len(c)}, runs completed {sum(r['start_rc'] == 0 for r in c)}/{len(c)}, "
            f"second cleanup clean {sum(r['cleanup_rc'] == 0 for r in c)}/{len(c)}, "
            f"unrecorded {sum(len(r['unrecorded']) for r in c)}, orphan processes {sum(len(r['orphans']) for r in c)}, "
            f"secret hits {sum(len(r['secret_hits']) for r in c)}, leaked {sum(len(r['leaked']) for r in c)}")
    f = out["faults"]
    if f or out["args"]["faults"]:
        detail = ", ".join(f"{r['kind']} exit {r['start_rc']}" for r in f) or "none run"
        lines.append(
            f"faults: {len(f)}, completed {sum(r['start_rc'] == 0 for r in f)}/{len(f)} "
            f"({detail}), "
            f"unrecorded {sum(len(r['unrecorded']) for r in f)}, leaked {sum(len(r['leaked']) for r in f)}")
    return lines


def failure_notes(out: dict) -> list[str]:
    notes = []
    for r in out["kills"] + out["cleanup_kills"] + out["faults"]:
        if r["ok"]:
            continue
        bits = []
        if r.get("at_kill"):
            bits.append(f"killed at {r.get('killed_after', r['kill_at'])}s, {r['at_kill']}")
            running = [p["cmd"] for p in r.get("tree", []) if "/bin/aws " in p["cmd"]]
            if running:
                bits.append("running `aws " + running[-1].split("/bin/aws ", 1)[1][:150] + "`")
        if "resume_rc" in r and r["resume_rc"] != 0:
            bits.append(f"resume exit {r['resume_rc']}: {r.get('resume_outcome')}")
        if "resume_rc" not in r and r.get("start_rc") != 0:
            bits.append(f"start exit {r.get('start_rc')} ({r.get('position') or r.get('start_failed_step')})")
        if r.get("cleanup_rc") not in (None, 0):
            bits.append(f"cleanup exit {r['cleanup_rc']}")
        if r.get("unrecorded_after_resume"):
            bits.append("in no ledger entry after resume: " + ", ".join(r["unrecorded_after_resume"]))
        if r.get("duplicates"):
            bits.append("duplicates: " + "; ".join(f"{d['type']} {d['name']} ×{len(d['ids'])} ({', '.join(d['ids'])})"
                                                   for d in r["duplicates"]))
        if r.get("unrecorded"):
            li = r.get("ledger_at_kill", {})
            bits.append(f"unrecorded: {', '.join(r['unrecorded'])} (ledger: {li.get('entries', '?')} entries, intents "
                        f"{[i['type'] + ' @' + str(i['step']) for i in li.get('intents', [])]})")
        if r.get("orphans"):
            bits.append("orphans: " + "; ".join(f"{p['pid']} `{p['cmd'][:80]}`" for p in r["orphans"]))
        if r.get("secret_hits"):
            bits.append("secrets in: " + ", ".join(f"{h['file']} ({h['secret']})" for h in r["secret_hits"]))
        if r.get("leaked"):
            bits.append("leaked: " + ", ".join(r["leaked"]))
        notes.append(f"- **{r['trial']}** (account {r['account']}, logs `{r['trial']}/`): " + "; ".join(bits))
    return notes


def write_markdown(path: Path, out: dict) -> None:
    a = out["args"]
    cal = out.get("calibration") or {}
    md = [
        "# Kill campaign",
        "",
        f"Command: `{out['command']}`, seed {a['seed']}, run {out['date']} on {os.cpu_count()} CPUs against the "
        f"local sandbox (moto 5.2.5), {out['duration_min']:.1f} min. Binary: `{out['binary']}` "
        f"(built {out['binary_mtime']}, sha256 {out.get('binary_sha256')}…, copied before the first trial), "
        f"tree `{out['git']}`.",
        "",
        f"Calibration (account {cal.get('account')}): unattended run T = {cal.get('T')} s (exit {cal.get('start_rc')}, "
        f"{cal.get('created')} resources), cleanup C = {cal.get('C')} s (exit {cal.get('cleanup_rc')}, "
        f"leaked {len(cal.get('leaked', []))}). Kill moments: uniform in [0.5 s, 0.95·T] for runs, "
        f"[0.2 s, 0.9·C] for cleanups.",
        "",
        "```",
        *out["summary"],
        "```",
        "",
        f"Result: **{'all criteria hold' if out['passed'] else 'FAILED'}**"
        + (f" — {out['aborted']}" if out.get("aborted") else ""),
        "",
        "Criteria: resume exits 0 after every kill; no duplicate (type, name) among the trial's resources after "
        "resume; no created resource missing from the ledger (id/ARN, or an intent of its type); no process "
        f"of the killed tree alive {ORPHAN_GRACE:.0f} s after the kill; neither the secret key nor the session token "
        "in any file under the state dir or TMPDIR; nothing created left after cleanup. Fault runs must also complete.",
    ]
    if out["kills"]:
        md += ["", "## Kills during `start --auto --yes`", "", KILL_HEAD, *map(kill_row, out["kills"])]
    if out["cleanup_kills"]:
        md += ["", "## Kills during `cleanup --yes`", "", CKILL_HEAD, *map(ckill_row, out["cleanup_kills"])]
    if out["faults"]:
        md += ["", "## Fault runs (10 % of the account's calls)", "", FAULT_HEAD, *map(fault_row, out["faults"])]
    notes = failure_notes(out)
    if notes:
        md += ["", "## Failing trials", "", *notes]
    md += ["", f"Per-trial logs (not committed): `{out['results_dir']}/<trial>/`.", ""]
    path.write_text("\n".join(md))


def print_tables(out: dict) -> None:
    for title, head, rows, fmt in (("kills during start", KILL_HEAD, out["kills"], kill_row),
                                   ("kills during cleanup", CKILL_HEAD, out["cleanup_kills"], ckill_row),
                                   ("fault runs", FAULT_HEAD, out["faults"], fault_row)):
        if rows:
            print(f"\n{title}:\n{head}")
            for r in rows:
                print(fmt(r))
    notes = failure_notes(out)
    if notes:
        print("\nfailing trials:")
        print("\n".join(notes))
    print()
    print("\n".join(out["summary"]))


# --------------------------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/kill-campaign",
        description="SIGKILL labrunner at random moments of `start flask-inventory --auto --yes` (and of "
                    "`cleanup --yes`), then resume and clean up in the local sandbox, and check: resume exits 0, "
                    "no duplicates, nothing created outside the ledger, no orphan processes, no secrets on disk, "
                    "nothing leaked. Exit 0 when every criterion holds, 1 otherwise, 2 when the campaign "
                    "could not run.",
    )
    p.add_argument("--seed", type=int, default=None, help="random seed of the kill moments (default: from the clock, "
                                                          "printed)")
    p.add_argument("--trials", type=int, default=20, help="kill trials during start (default 20)")
    p.add_argument("--cleanup-kills", type=int, default=5, help="kill trials during cleanup (default 5)")
    p.add_argument("--faults", action="store_true", help="also run the two fault trials (10%% throttling, 10%% 5xx)")
    p.add_argument("--bin", default=None, help="labrunner binary (default target/debug/labrunner of the repository)")
    p.add_argument("--json", dest="json_out", metavar="FILE", help="write every trial's results as JSON here")
    p.add_argument("--results-dir", default=str(ROOT / "bench/results/kill-campaign"),
                   help="per-trial logs; its trial directories are replaced (default bench/results/kill-campaign)")
    p.add_argument("--summary", default=str(ROOT / "bench/results/kill-campaign.md"), help="markdown summary (default bench/results/kill-campaign.md)")
    p.add_argument("--max-minutes", type=float, default=120, help="start no new trial after this long (default 120)")
    a = p.parse_args(argv)
    a.bin = str(Path(a.bin).resolve()) if a.bin else str(ROOT / "target/debug/labrunner")
    if a.seed is None:
        a.seed = int(time.time()) % 1_000_000
    for name in ("trials", "cleanup_kills"):
        if not 0 <= getattr(a, name) <= 1000:
            p.error(f"--{name.replace('_', '-')} must be between 0 and 1000")
    return a


def prepare_results(results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    (results / ".gitignore").write_text("# per-trial logs of bench/kill-campaign: not committed\n*\n")
    for child in results.iterdir():
        if child.is_dir() and (child.name == "calibration" or child.name.startswith(("kill-", "cleanup-kill-", "fault-"))):
            shutil.rmtree(child)
        elif child.name in ("results.json", "sandbox.log", "campaign.log", "labrunner-under-test"):
            child.unlink()


def freeze_binary(binary: Path, results: Path) -> tuple[Path, str]:
    """Copies the binary (once it has not changed for 2 s) into the results directory."""
    import hashlib

    dest = results / "labrunner-under-test"
    for _ in range(30):
        try:
            st = binary.stat()
            time.sleep(2)
            if binary.stat().st_mtime != st.st_mtime or binary.stat().st_size != st.st_size:
                continue
            shutil.copy2(binary, dest)
            if dest.stat().st_size != binary.stat().st_size:
                continue
            check = subprocess.run([str(dest), "--version"], capture_output=True, text=True, timeout=60)
            if check.returncode == 0:
                return dest, hashlib.sha256(dest.read_bytes()).hexdigest()[:16]
        except (OSError, subprocess.SubprocessError):
            pass
        log(f"{binary} is changing; waiting")
        time.sleep(5)
    raise RuntimeError(f"could not take a stable copy of {binary}")


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    binary = Path(args.bin)
    for _ in range(30):  # the binary is rebuilt from time to time
        if binary.is_file() and os.access(binary, os.X_OK):
            break
        log(f"waiting for {binary} to appear")
        time.sleep(10)
    else:
        log(f"no executable at {binary}")
        return 2
    results = Path(args.results_dir).resolve()
    prepare_results(results)
    # The binary may be rebuilt while the campaign runs: every trial uses one frozen copy.
    try:
        frozen, digest = freeze_binary(binary, results)
    except RuntimeError as e:
        log(str(e))
        return 2
    args.bin = str(frozen)

    def on_signal(signum, _frame):
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    t_start = time.monotonic()
    try:
        git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        git = "?"
    out: dict = {
        "command": "bench/kill-campaign " + " ".join(shlex.quote(a) for a in argv) if argv else "bench/kill-campaign",
        "args": {"seed": args.seed, "trials": args.trials, "cleanup_kills": args.cleanup_kills, "faults": args.faults},
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "binary": os.path.relpath(binary, ROOT), "binary_sha256": digest, "binary_mtime": dt.datetime.fromtimestamp(binary.stat().st_mtime, dt.timezone.utc)
        .strftime("%Y-%m-%dT%H:%M:%SZ"), "git": git,
        "results_dir": os.path.relpath(results, ROOT), "calibration": None,
        "kills": [], "cleanup_kills": [], "faults": [], "aborted": None,
    }
    if "--seed" not in " ".join(argv):
        out["command"] += f"  (seed {args.seed})"
    log(f"seed {args.seed}; results in {results}")
    sb = None
    rc = 2
    try:
        sb = Sandbox(results)
        log(f"sandbox on 127.0.0.1:{sb.port} (dns {sb.dns_port}, proxy {sb.proxy_port})")
        camp = Campaign(args, sb, results)
        cal = camp.calibrate()
        out["calibration"] = cal
        if cal["start_rc"] != 0:
            out["aborted"] = (f"the calibration run did not complete (exit {cal['start_rc']}, {cal['position']}); "
                              f"see calibration/start.out")
            raise RuntimeError(out["aborted"])
        for n in range(1, args.trials + 1):
            if not camp.time_left():
                out["aborted"] = f"time limit ({args.max_minutes} min) reached after {n - 1} kill trials"
                break
            r = camp.kill_trial(n, cal["T"])
            out["kills"].append(r)
            log(f"{r['trial']}: killed at {r['kill_at']}s ({r['at_kill']}); resume {r['resume_rc']} "
                f"({r['resume_outcome']}), dup "
                f"{len(r['duplicates'])}, unrecorded {len(r['unrecorded'])}, orphans {len(r['orphans'])}, "
                f"secrets {len(r['secret_hits'])}, leaked {len(r['leaked'])} -> {'ok' if r['ok'] else 'FAIL'}")
        for n in range(1, args.cleanup_kills + 1):
            if not camp.time_left():
                out["aborted"] = out["aborted"] or f"time limit ({args.max_minutes} min) reached"
                break
            r = camp.cleanup_kill_trial(n, cal["C"])
            out["cleanup_kills"].append(r)
            log(f"{r['trial']}: run {r['start_rc']}, cleanup killed at {r['kill_at']}s ({r['at_kill']}), second cleanup "
                f"{r['cleanup_rc']}, orphans {len(r['orphans'])}, leaked {len(r['leaked'])} -> "
                f"{'ok' if r['ok'] else 'FAIL'}")
        if args.faults:
            for kind in ("throttle", "error5xx"):
                if not camp.time_left():
                    out["aborted"] = out["aborted"] or f"time limit ({args.max_minutes} min) reached"
                    break
                r = camp.fault_trial(kind)
                out["faults"].append(r)
                log(f"{r['trial']}: {r['fault']['injected']} of {r['fault']['matched']} calls failed; start "
                    f"{r['start_rc']} ({r['position']}), cleanup {r['cleanup_rc']}, leaked {len(r['leaked'])} -> "
                    f"{'ok' if r['ok'] else 'FAIL'}")
        all_ok = all(r["ok"] for r in out["kills"] + out["cleanup_kills"] + out["faults"])
        rc = 0 if all_ok and not out["aborted"] else 1
    except Interrupted as e:
        out["aborted"] = f"interrupted ({e})"
        log(out["aborted"])
        rc = 130
    except Exception as e:  # noqa: BLE001 - reported, then the campaign stops
        out["aborted"] = out["aborted"] or f"error: {e}"
        log(traceback.format_exc())
        rc = 2 if not (out["kills"] or out["cleanup_kills"] or out["faults"]) else 1
        if out["calibration"] and out["calibration"].get("start_rc") != 0:
            rc = 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if Running.current is not None:
            Running.current.kill_tree()
        if sb is not None:
            sb.stop()
        out["duration_min"] = (time.monotonic() - t_start) / 60
        out["passed"] = rc == 0
        out["summary"] = summaries(out)
        try:
            write_markdown(Path(args.summary), out)
            (results / "results.json").write_text(json.dumps(out, indent=1, default=str))
            if args.json_out:
                Path(args.json_out).write_text(json.dumps(out, indent=1, default=str))
        except OSError as e:
            log(f"writing results: {e}")
        print_tables(out)
        if out["aborted"]:
            print(f"campaign stopped: {out['aborted']}")
        print(f"summary: {os.path.relpath(args.summary, Path.cwd())}; logs: {results}")
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
