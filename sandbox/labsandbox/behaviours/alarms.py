"""CloudWatch metric alarms that evaluate, as they do in AWS.

moto stores alarms but never evaluates them.  Here, once per minute of the
sandbox clock, every metric alarm (one metric, no metric math) is evaluated
over its last ``EvaluationPeriods`` periods of ``Period`` seconds: the
statistic of each period is compared with the threshold, ``DatapointsToAlarm``
of them (default: all) must breach for ALARM, and periods without data count
as ``TreatMissingData`` says (``missing``, the default: INSUFFICIENT_DATA when
every period is empty).  A change of state gets AWS's state reason ("Threshold
Crossed: 3 out of the last 3 datapoints [...] were greater than the threshold
(70.0) ...") and reason data, and lands in the alarm's history.

New alarms start in INSUFFICIENT_DATA, as in AWS (moto: OK).  An alarm is left
alone for a minute after it was created or its state was set
(``set-alarm-state``), as AWS re-evaluates at its next period.
``describe-alarms --state-value`` filters together with a name prefix, names or
an action prefix (moto would ignore it then).  While an alarm
is in ALARM with actions enabled, every evaluation passes its alarm actions to
the functions in :data:`ACTIONS` (auto scaling invokes its policies so).

State: ``alarms`` (state and last evaluated value of each alarm).
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Callable

from moto.cloudwatch.models import Alarm, CloudWatchBackend, cloudwatch_backends
from moto.cloudwatch.responses import CloudWatchResponse

from .base import Context, backends, first_install, guarded, patch

NAME = "alarms"
ctx: Context
INTERVAL = 60

# action(alarm, action ARN, value that breached, account, region)
ACTIONS: list[Callable[[Any, str, float | None, str, str], None]] = []

_last_round: int | None = None

OPERATORS = {
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}


def install(context: Context) -> None:
    global ctx
    ctx = context
    if first_install(__name__):
        _patch_moto()


def _patch_moto() -> None:
    # moto starts a new alarm in OK; AWS starts it in INSUFFICIENT_DATA.  The
    # alarm's timestamps follow the sandbox clock, so that "a minute after it
    # was created or set" holds after an advance too.
    @patch(CloudWatchBackend, "put_metric_alarm")
    def put_metric_alarm(original: Any, self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        existed = name in self.alarms
        alarm = original(self, name, *args, **kwargs)
        alarm.configuration_updated_timestamp = _naive(ctx.clock.epoch())
        if not existed:
            alarm.state_updated_timestamp = alarm.configuration_updated_timestamp
            if not alarm.rule:
                alarm.state_value = "INSUFFICIENT_DATA"
        return alarm

    # describe-alarms: moto applies only the first of ActionPrefix, AlarmNamePrefix,
    # AlarmNames and StateValue; AWS applies StateValue together with the others.
    @patch(CloudWatchResponse, "describe_alarms")
    def describe_alarms(original: Any, self: Any) -> Any:
        result = original(self)
        state = self._get_param("StateValue")
        if state and (self._get_param("ActionPrefix") or self._get_param("AlarmNamePrefix") or self._get_param("AlarmNames")):
            for key in ("MetricAlarms", "CompositeAlarms"):
                result.result[key] = [a for a in result.result[key] if a.state_value == state]
        return result

    @patch(Alarm, "update_state")
    def update_state(original: Any, self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.state_updated_timestamp = _naive(ctx.clock.epoch())


def tick(now: float) -> None:
    global _last_round
    epoch = ctx.clock.epoch()
    current = math.floor(epoch / INTERVAL)
    if current == _last_round:
        return
    _last_round = current
    for acct, region, cw in backends(cloudwatch_backends):
        for alarm in list(cw.alarms.values()):
            if alarm.metric_data_queries or not alarm.metric_name or alarm.rule:
                continue  # metric math and composite alarms are not evaluated
            guarded(evaluate, cw, alarm, epoch, acct, region)


def _naive(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _aws_date(epoch: float, short: bool = False) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    if short:
        return moment.strftime("%d/%m/%y %H:%M:%S")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def _statistic(alarm: Any, points: list) -> float | None:
    values: list[float] = []
    total = count = 0.0
    lows, highs = [], []
    for p in points:
        if hasattr(p, "value"):
            values.append(p.value)
            total += p.value
            count += 1
            lows.append(p.value)
            highs.append(p.value)
        else:  # StatisticValues
            total += p.sum
            count += p.sample_count
            lows.append(p.min)
            highs.append(p.max)
    if not count:
        return None
    stat = alarm.statistic or ""
    if stat == "Sum":
        return total
    if stat == "SampleCount":
        return count
    if stat == "Minimum":
        return min(lows)
    if stat == "Maximum":
        return max(highs)
    if stat == "Average":
        return total / count
    extended = alarm.extended_statistic or ""
    if extended.startswith("p") and values:
        ordered = sorted(values)
        rank = max(0, math.ceil(float(extended[1:]) / 100 * len(ordered)) - 1)
        return ordered[rank]
    return total / count


def periods(cw: Any, alarm: Any, epoch: float) -> list[tuple[float, float | None, int]]:
    """(period start, statistic or None, samples) for the evaluated periods, newest first."""
    period = int(alarm.period or 60)
    end = math.floor(epoch / period) * period
    start = end - period * int(alarm.evaluation_periods or 1)
    dims = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    lo, hi = _naive(start), _naive(end)
    matching = [
        p
        for p in cw.get_all_metrics()
        if lo <= p.timestamp < hi and p.filter(alarm.namespace, alarm.metric_name, dims) and (not alarm.unit or p.unit in (None, alarm.unit))
    ]
    out = []
    for i in range(int(alarm.evaluation_periods or 1)):
        p_start = end - (i + 1) * period
        p_lo, p_hi = _naive(p_start), _naive(p_start + period)
        inside = [p for p in matching if p_lo <= p.timestamp < p_hi]
        out.append((p_start, _statistic(alarm, inside), len(inside)))
    return out


def evaluate(cw: Any, alarm: Any, epoch: float, acct: str, region: str) -> None:
    # A state set from outside (creation, set-alarm-state) holds for a minute.
    if alarm.state_updated_timestamp != getattr(alarm, "_sbx_updated", None):
        since = (alarm.state_updated_timestamp - _naive(0)).total_seconds()
        if epoch - since < INTERVAL:
            return
    words, breaches = OPERATORS.get(alarm.comparison_operator, OPERATORS["GreaterThanThreshold"])
    threshold = float(alarm.threshold)
    evaluated = periods(cw, alarm, epoch)
    n = len(evaluated)
    m = int(alarm.datapoints_to_alarm or n)
    missing = alarm.treat_missing_data or "missing"
    present = [(t, v) for t, v, _ in evaluated if v is not None]
    breaching = [(t, v) for t, v in present if breaches(v, threshold)]
    n_missing = n - len(present)
    n_breaching = len(breaching) + (n_missing if missing == "breaching" else 0)

    if n_breaching >= m:
        new_state = "ALARM"
    elif not present and missing in ("missing", "ignore"):
        new_state = "INSUFFICIENT_DATA" if missing == "missing" else alarm.state_value
    else:
        new_state = "OK"

    last_value = present[0][1] if present else None
    alarm._sbx_last = {"value": last_value, "evaluatedAt": _aws_date(epoch)}
    if new_state != alarm.state_value:
        reason = _reason(new_state, present, breaching, n, m, words, threshold, n_missing)
        data = {
            "version": "1.0",
            "queryDate": _aws_date(epoch),
            "startDate": _aws_date(evaluated[-1][0]),
            "statistic": alarm.statistic or alarm.extended_statistic,
            "period": int(alarm.period or 60),
            "recentDatapoints": [v for _, v in present],
            "threshold": threshold,
            "evaluatedDatapoints": [
                {"timestamp": _aws_date(t), "sampleCount": float(c), "value": v} for t, v, c in evaluated if v is not None
            ],
        }
        alarm.update_state(reason, json.dumps(data), new_state)
        alarm._sbx_updated = alarm.state_updated_timestamp
    if alarm.state_value == "ALARM" and alarm.actions_enabled:
        value = breaching[0][1] if breaching else last_value
        for arn in list(alarm.alarm_actions or []):
            for action in ACTIONS:
                action(alarm, arn, value, acct, region)


def _points(items: list[tuple[float, float]]) -> str:
    return ", ".join(f"{float(v)!r} ({_aws_date(t, short=True)})" for t, v in items)


def _reason(state: str, present: list, breaching: list, n: int, m: int, words: str, threshold: float, n_missing: int) -> str:
    if state == "INSUFFICIENT_DATA":
        return f"Insufficient Data: {n_missing} datapoint{'s were' if n_missing != 1 else ' was'} unknown."
    if state == "ALARM":
        shown = breaching or present
        verb = "were" if len(shown) != 1 else "was"
        if n == 1:
            return f"Threshold Crossed: 1 datapoint [{_points(shown)}] was {words} the threshold ({threshold!r})."
        return (
            f"Threshold Crossed: {len(shown)} out of the last {n} datapoints [{_points(shown)}] {verb} {words} "
            f"the threshold ({threshold!r}) (minimum {m} datapoint{'s' if m != 1 else ''} for OK -> ALARM transition)."
        )
    fine = [p for p in present if p not in breaching]
    verb = "were" if len(fine) != 1 else "was"
    if n == 1:
        return f"Threshold Crossed: 1 datapoint [{_points(fine)}] was not {words} the threshold ({threshold!r})."
    return (
        f"Threshold Crossed: {len(fine)} out of the last {n} datapoints [{_points(fine)}] {verb} not {words} "
        f"the threshold ({threshold!r}) (minimum 1 datapoint for ALARM -> OK transition)."
    )


def state() -> dict:
    out = []
    for acct, region, cw in backends(cloudwatch_backends):
        for alarm in cw.alarms.values():
            if alarm.rule:
                continue
            out.append(
                {
                    "account": acct,
                    "region": region,
                    "name": alarm.name,
                    "state": alarm.state_value,
                    "reason": alarm.state_reason,
                    "lastValue": (getattr(alarm, "_sbx_last", None) or {}).get("value"),
                }
            )
    return {"alarms": out}
