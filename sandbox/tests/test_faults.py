"""Injected throttling looks like AWS's for each protocol, and the SDK both
recognises it as throttling and retries it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff, RetryContext, ThrottledRetryableChecker

NO_RETRY = Config(retries={"total_max_attempts": 1, "mode": "standard"})
STANDARD = Config(retries={"total_max_attempts": 3, "mode": "standard"})


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch):
    """Retries here prove classification, not patience: skip the SDK's back-off."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


# (client, call, kwargs, fault service, action, HTTP status, error code)
CASES = [
    ("ec2", "describe_vpcs", {}, "ec2", "DescribeVpcs", 503, "RequestLimitExceeded"),
    ("iam", "list_roles", {}, "iam", "ListRoles", 400, "Throttling"),
    ("elbv2", "describe_load_balancers", {}, "elbv2", "DescribeLoadBalancers", 400, "Throttling"),
    ("sts", "get_caller_identity", {}, "sts", "GetCallerIdentity", 400, "Throttling"),
    ("autoscaling", "describe_auto_scaling_groups", {}, "autoscaling", "DescribeAutoScalingGroups", 400, "Throttling"),
    ("route53", "list_hosted_zones", {}, "route53", None, 400, "Throttling"),
    ("ecs", "list_clusters", {}, "ecs", "ListClusters", 400, "ThrottlingException"),
    ("logs", "describe_log_groups", {}, "logs", "DescribeLogGroups", 400, "ThrottlingException"),
    ("servicediscovery", "list_namespaces", {}, "servicediscovery", "ListNamespaces", 400, "ThrottlingException"),
    ("dynamodb", "list_tables", {}, "dynamodb", "ListTables", 400, "ThrottlingException"),
    ("application-autoscaling", "describe_scalable_targets", {"ServiceNamespace": "ecs"}, "application-autoscaling", "DescribeScalableTargets", 400, "ThrottlingException"),
    ("cloudwatch", "describe_alarms", {}, "monitoring", "DescribeAlarms", 400, "ThrottlingException"),
]


def add_fault(sandbox, service: str, action: str | None, account: str, **extra) -> dict:
    spec = {"kind": "throttle", "services": [service], "match": account, **extra}
    if action:
        spec["actions"] = [action]
    return sandbox.control("POST", "faults", spec)


@pytest.mark.parametrize("client_name,call,kwargs,service,action,status,code", CASES, ids=[c[0] for c in CASES])
def test_throttling_is_shaped_like_aws_and_retried(sandbox, client_name, call, kwargs, service, action, status, code):
    # A fresh account per case; the fault only matches requests signed with its key.
    account = sandbox.new_account_id()
    session = sandbox.session(account)
    key = session.get_credentials().access_key
    rule = add_fault(sandbox, service, action, key, count=1)
    try:
        assert rule["status"] == status
        client = session.client(client_name, endpoint_url=sandbox.endpoint, config=NO_RETRY)
        with pytest.raises(ClientError) as err:
            getattr(client, call)(**kwargs)
        response = err.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert response["Error"]["Code"] == code
        assert ThrottledRetryableChecker().is_retryable(RetryContext(attempt_number=1, parsed_response=response))
        # Standard retries (labrunner's mode) absorb a count-limited fault.
        sandbox.control("DELETE", "faults", {"id": rule["id"]})
        rule = add_fault(sandbox, service, action, key, count=1)
        retrying = session.client(client_name, endpoint_url=sandbox.endpoint, config=STANDARD)
        ok = getattr(retrying, call)(**kwargs)
        assert ok["ResponseMetadata"]["RetryAttempts"] == 1
        injected = [f for f in sandbox.control("GET", "faults")["faults"] if f["id"] == rule["id"]][0]["injected"]
        assert injected == 1
    finally:
        sandbox.control("DELETE", "faults", {"id": rule["id"]})


def raw(sandbox, service: str, body: bytes, headers: dict) -> tuple[int, dict, bytes]:
    auth = f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    req = urllib.request.Request(sandbox.endpoint + "/", data=body, method="POST", headers={"Authorization": auth, **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_wire_shapes(sandbox):
    marker = "wire-shape-test"
    rule = sandbox.control("POST", "faults", {"kind": "throttle", "match": marker})
    try:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        status, _, body = raw(sandbox, "ec2", f"Action=DescribeVpcs&Version=2016-11-15&X={marker}".encode(), form)
        assert status == 503
        assert b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>" in body
        assert b"<RequestID>" in body
        status, _, body = raw(sandbox, "iam", f"Action=ListRoles&Version=2010-05-08&X={marker}".encode(), form)
        assert status == 400
        assert b"<ErrorResponse" in body and b"<Type>Sender</Type><Code>Throttling</Code>" in body
        status, headers, body = raw(
            sandbox, "ecs", json.dumps({"x": marker}).encode(),
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonEC2ContainerServiceV20141113.ListClusters"},
        )
        assert status == 400
        assert json.loads(body) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
        assert headers["x-amzn-ErrorType"] == "ThrottlingException"
    finally:
        sandbox.control("DELETE", "faults", {"id": rule["id"]})


def test_fraction_below_one_is_retried_to_success(sandbox, session):
    """Every second call throttled: each call fails once at most, and standard
    retries make every one of them succeed."""
    key = session.get_credentials().access_key
    rule = add_fault(sandbox, "ec2", "DescribeVpcs", key, fraction=0.5)
    try:
        ec2 = session.client("ec2", endpoint_url=sandbox.endpoint, config=STANDARD)
        attempts = [ec2.describe_vpcs()["ResponseMetadata"]["RetryAttempts"] for _ in range(4)]
        assert sum(attempts) >= 1 and max(attempts) <= 1
    finally:
        sandbox.control("DELETE", "faults", {"id": rule["id"]})


def test_explicit_status_is_kept(sandbox, session):
    key = session.get_credentials().access_key
    rule = add_fault(sandbox, "ec2", "DescribeVpcs", key, count=1, status=400)
    try:
        ec2 = session.client("ec2", endpoint_url=sandbox.endpoint, config=NO_RETRY)
        with pytest.raises(ClientError) as err:
            ec2.describe_vpcs()
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert err.value.response["Error"]["Code"] == "RequestLimitExceeded"
    finally:
        sandbox.control("DELETE", "faults", {"id": rule["id"]})
