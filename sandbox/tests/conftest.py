"""Fixtures: one sandbox server per test session, one fresh AWS account per test."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
# Unit tests import the package itself.
sys.path.insert(0, str(REPO / "sandbox"))

# Short timings keep the suite fast; the defaults are a few times longer.
FAST = {
    "LABSANDBOX_TICK": "0.1",
    "LABSANDBOX_PROVISIONING": "0.2",
    "LABSANDBOX_PENDING": "0.3",
    "LABSANDBOX_TARGET_HEALTHY": "0.5",
    "LABSANDBOX_DRAINING": "0.5",
    "LABSANDBOX_STOPPING": "0.2",
    "LABSANDBOX_CRASH_AFTER": "1.0",
    "LABSANDBOX_STABLE": "0.2",
    "LABSANDBOX_INSTANCE_BOOT": "0.5",
}

# The app maps the session's sandbox runs: the flagship lab's own and the tests' echo app.
FLAGSHIP_APPS = REPO / "content" / "flask-inventory" / "sandbox" / "apps.yaml"
TEST_APPS = REPO / "sandbox" / "tests" / "apps" / "apps.json"


class Sandbox:
    def __init__(self, ready: dict, proc: subprocess.Popen) -> None:
        self.port = ready["port"]
        self.dns_port = ready["dns_port"]
        self.proxy_port = ready["proxy_port"]
        self.endpoint = ready["endpoint"]
        self.ca_file = ready["ca_file"]
        self.proc = proc
        self._accounts = itertools.count(1)

    def control(self, method: str, route: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.endpoint}/_sandbox/{route}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def new_account_id(self) -> str:
        return f"{700000000000 + os.getpid() % 100000 * 1000 + next(self._accounts):012d}"

    def session(self, account_id: str | None = None) -> boto3.Session:
        base = boto3.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
        if account_id is None:
            return base
        creds = base.client("sts", endpoint_url=self.endpoint).assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/sandbox-test", RoleSessionName="pytest"
        )["Credentials"]
        return boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            region_name="us-east-1",
        )

    def cli_env(self, session: boto3.Session) -> dict:
        creds = session.get_credentials().get_frozen_credentials()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_ACCESS_KEY_ID": creds.access_key,
                "AWS_SECRET_ACCESS_KEY": creds.secret_key,
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_PAGER": "",
                "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
                "AWS_DISABLE_HOST_PREFIX_INJECTION": "true",
                "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}",
            }
        )
        if creds.token:
            env["AWS_SESSION_TOKEN"] = creds.token
        return env

    def aws(self, session: boto3.Session, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(VENV_BIN / "aws"), *args], env=self.cli_env(session), capture_output=True, text=True, timeout=timeout
        )


@pytest.fixture(scope="session")
def sandbox():
    env = dict(os.environ, PYTHONPATH=str(REPO / "sandbox"), LABSANDBOX_APPS=f"{FLAGSHIP_APPS}{os.pathsep}{TEST_APPS}", **FAST)
    env.pop("MOTO_ACCOUNT_ID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "labsandbox", "--port", "0", "--exit-on-stdin-eof"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("LABSANDBOX READY "), line
    box = Sandbox(json.loads(line[len("LABSANDBOX READY ") :]), proc)
    deadline = time.time() + 20
    while True:
        try:
            assert box.control("GET", "health")["ok"]
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    yield box
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture
def session(sandbox):
    """A boto3 session acting in a fresh account of its own."""
    return sandbox.session(sandbox.new_account_id())


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
