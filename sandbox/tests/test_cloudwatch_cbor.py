"""CloudWatch over Smithy RPC v2 CBOR, the protocol the AWS SDK for Rust uses:
hand-made CBOR requests, and botocore's own CBOR client as a second opinion."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import botocore.model
import cbor2
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

SERVICE = "GraniteServiceVersion20100801"


class Cbor:
    """Sends RPC v2 CBOR requests as one account."""

    def __init__(self, sandbox, session) -> None:
        self.endpoint = sandbox.endpoint
        creds = session.get_credentials().get_frozen_credentials()
        self.auth = (
            f"AWS4-HMAC-SHA256 Credential={creds.access_key}/20240101/us-east-1/monitoring/aws4_request, "
            "SignedHeaders=host;smithy-protocol, Signature=0"
        )
        self.token = creds.token

    def raw(self, operation: str, body: bytes) -> tuple[int, dict, bytes]:
        headers = {
            "smithy-protocol": "rpc-v2-cbor",
            "Content-Type": "application/cbor",
            "Accept": "application/cbor",
            "Authorization": self.auth,
        }
        if self.token:
            headers["X-Amz-Security-Token"] = self.token
        req = urllib.request.Request(f"{self.endpoint}/service/{SERVICE}/operation/{operation}", data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

    def __call__(self, operation: str, params: dict | None = None, expect: int = 200) -> tuple[dict, bytes]:
        status, headers, body = self.raw(operation, cbor2.dumps(params or {}))
        assert status == expect, (operation, status, body)
        assert headers["smithy-protocol"] == "rpc-v2-cbor"
        assert headers["content-type"] == "application/cbor"
        decoded = cbor2.loads(body)
        assert isinstance(decoded, dict)
        return decoded, body


def epoch_tag(seconds: float) -> cbor2.CBORTag:
    return cbor2.CBORTag(1, seconds)


def test_alarms_over_cbor(sandbox, session):
    cw = Cbor(sandbox, session)
    account = session.client("sts", endpoint_url=sandbox.endpoint).get_caller_identity()["Account"]
    out, _ = cw(
        "PutMetricAlarm",
        {
            "AlarmName": "cpu-high",
            "AlarmDescription": "CPU above 70 %",
            "Namespace": "AWS/ECS",
            "MetricName": "CPUUtilization",
            "Dimensions": [{"Name": "ClusterName", "Value": "lab"}, {"Name": "ServiceName", "Value": "web"}],
            "Statistic": "Average",
            "Period": 60,
            "EvaluationPeriods": 3,
            "Threshold": 70,
            "ComparisonOperator": "GreaterThanThreshold",
            "ActionsEnabled": False,
        },
    )
    assert out == {}
    # The call labrunner's `alarm` check makes.
    out, raw = cw("DescribeAlarms", {"AlarmNames": ["cpu-high"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]})
    assert out["CompositeAlarms"] == []
    alarm = out["MetricAlarms"][0]
    assert alarm["AlarmArn"] == f"arn:aws:cloudwatch:us-east-1:{account}:alarm:cpu-high"
    assert alarm["StateValue"] == "INSUFFICIENT_DATA" and alarm["EvaluationPeriods"] == 3  # as in AWS
    assert alarm["Threshold"] == 70.0 and isinstance(alarm["Threshold"], float)
    # Timestamps are tag 1 (epoch seconds), which cbor2 decodes to datetimes.
    assert isinstance(alarm["StateUpdatedTimestamp"], datetime)
    assert abs(alarm["StateUpdatedTimestamp"].timestamp() - time.time()) < 3600
    assert b"\xc1\xfb" in raw  # tag 1 followed by a double

    out, _ = cw("SetAlarmState", {"AlarmName": "cpu-high", "StateValue": "ALARM", "StateReason": "forced by a test"})
    assert out == {}
    alarm = cw("DescribeAlarms", {"StateValue": "ALARM"})[0]["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM" and alarm["StateReason"] == "forced by a test"

    arn = alarm["AlarmArn"]
    assert cw("TagResource", {"ResourceARN": arn, "Tags": [{"Key": "labrunner:lab", "Value": "demo"}]})[0] == {}
    assert cw("ListTagsForResource", {"ResourceARN": arn})[0]["Tags"] == [{"Key": "labrunner:lab", "Value": "demo"}]
    assert cw("DeleteAlarms", {"AlarmNames": ["cpu-high"]})[0] == {}
    assert cw("DescribeAlarms", {})[0]["MetricAlarms"] == []


def test_dashboards_over_cbor(sandbox, session):
    cw = Cbor(sandbox, session)
    body = json.dumps({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3, "properties": {"markdown": "hi"}}]})
    out, _ = cw("PutDashboard", {"DashboardName": "lab", "DashboardBody": body})
    assert out.get("DashboardValidationMessages", []) == []
    entries = cw("ListDashboards", {})[0]["DashboardEntries"]
    assert [e["DashboardName"] for e in entries] == ["lab"]
    assert isinstance(entries[0]["LastModified"], datetime)
    assert isinstance(entries[0]["Size"], int)
    got = cw("GetDashboard", {"DashboardName": "lab"})[0]
    assert got["DashboardName"] == "lab" and json.loads(got["DashboardBody"]) == json.loads(body)
    assert cw("DeleteDashboards", {"DashboardNames": ["lab"]})[0] == {}
    gone = cw("DeleteDashboards", {"DashboardNames": ["lab"]}, expect=404)[0]
    assert gone["__type"] == "ResourceNotFound" and "does not exist" in gone["message"]
    assert cw("ListDashboards", {})[0].get("DashboardEntries", []) == []


def test_metric_data_over_cbor(sandbox, session):
    cw = Cbor(sandbox, session)
    now = int(time.time()) // 60 * 60
    data = [
        {"MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "web"}], "Timestamp": epoch_tag(float(now - 120)), "Value": 10.0, "Unit": "Count"},
        {"MetricName": "Requests", "Dimensions": [{"Name": "Service", "Value": "web"}], "Timestamp": epoch_tag(now - 60), "Value": 30, "Unit": "Count"},
    ]
    assert cw("PutMetricData", {"Namespace": "Lab", "MetricData": data})[0] == {}
    out, raw = cw(
        "GetMetricStatistics",
        {
            "Namespace": "Lab",
            "MetricName": "Requests",
            "Dimensions": [{"Name": "Service", "Value": "web"}],
            "StartTime": epoch_tag(now - 600),
            "EndTime": epoch_tag(now + 60),
            "Period": 60,
            "Statistics": ["Sum", "Maximum"],
        },
    )
    points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
    assert [p["Sum"] for p in points] == [10.0, 30.0]
    assert all(isinstance(p["Timestamp"], datetime) and p["Timestamp"].tzinfo is not None for p in points)
    assert points[1]["Timestamp"] == datetime.fromtimestamp(now - 60, timezone.utc)
    assert b"\xc1" in raw


def test_errors_over_cbor(sandbox, session):
    cw = Cbor(sandbox, session)
    out, _ = cw("GetDashboard", {"DashboardName": "missing"}, expect=404)
    assert out["__type"] == "ResourceNotFound"
    assert out["message"] == "Dashboard does not exist"
    out, _ = cw("NoSuchOperation", {}, expect=404)
    assert out["__type"] == "UnknownOperationException"
    status, headers, body = cw.raw("DescribeAlarms", b"\xff\x00 not cbor")
    assert status == 400 and cbor2.loads(body)["__type"] == "SerializationException"
    # An empty body is an empty input structure.
    status, _, body = cw.raw("DescribeAlarms", b"")
    assert status == 200 and "MetricAlarms" in cbor2.loads(body)


def test_throttle_fault_answers_in_cbor(sandbox, session):
    cw = Cbor(sandbox, session)
    key = session.get_credentials().access_key
    rule = sandbox.control("POST", "faults", {"kind": "throttle", "services": ["monitoring"], "actions": ["DescribeAlarms"], "match": key, "count": 1})
    try:
        out, _ = cw("DescribeAlarms", {}, expect=400)
        assert out["__type"] == "ThrottlingException"
        cw("DescribeAlarms", {})
    finally:
        sandbox.control("DELETE", "faults", {"id": rule["id"]})


@pytest.fixture
def cbor_client(sandbox, session, monkeypatch):
    """A botocore CloudWatch client that prefers RPC v2 CBOR, as the Rust SDK does."""
    monkeypatch.setattr(
        botocore.model,
        "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS",
        ("smithy-rpc-v2-cbor",) + tuple(p for p in botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS if p != "smithy-rpc-v2-cbor"),
    )
    client = session.client("cloudwatch", endpoint_url=sandbox.endpoint, config=Config(retries={"total_max_attempts": 1}))
    assert client.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    return client


def test_botocore_cbor_client_round_trip(cbor_client):
    cw = cbor_client
    cw.put_metric_alarm(
        AlarmName="mem", Namespace="AWS/ECS", MetricName="MemoryUtilization", Statistic="Average",
        Period=60, EvaluationPeriods=2, Threshold=80.5, ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    alarm = cw.describe_alarms(AlarmNames=["mem"])["MetricAlarms"][0]
    assert alarm["Threshold"] == 80.5
    assert isinstance(alarm["AlarmConfigurationUpdatedTimestamp"], datetime)
    now = datetime.now(timezone.utc).replace(second=0, microsecond=0)
    cw.put_metric_data(Namespace="Lab", MetricData=[{"MetricName": "Latency", "Timestamp": now, "Value": 0.25}])
    stats = cw.get_metric_statistics(
        Namespace="Lab", MetricName="Latency", StartTime=now.timestamp() - 300, EndTime=now.timestamp() + 60,
        Period=60, Statistics=["Average"],
    )
    assert [p["Average"] for p in stats["Datapoints"]] == [0.25]
    assert stats["Datapoints"][0]["Timestamp"] == now
    with pytest.raises(ClientError) as err:
        cw.get_dashboard(DashboardName="nope")
    assert err.value.response["Error"]["Code"] == "ResourceNotFound"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    cw.delete_alarms(AlarmNames=["mem"])
