//! CloudWatch checks: alarms (optionally in a state) and log groups (optionally with an event
//! matching a filter pattern in the last hour), plus the latest log events as diagnostics.
//!
//! Pattern searches cover the last hour, not all time: the check is about what the step just
//! produced, and a bounded window keeps each look cheap. The window's start comes from the wall
//! clock, which is a query parameter here, not polling time.

use serde_json::{json, Value};

use super::text::{one_line, truncate};
use super::{Fetch, LookError, Verdict};
use crate::lab::check::{Alarm, LogGroup};

/// `alarm`, pure; `found` is (state, reason) when the alarm exists.
pub(crate) fn evaluate_alarm(p: &Alarm, found: Option<(&str, &str)>) -> Verdict {
    let Some((state, reason)) = found else {
        return Verdict::fail(format!("alarm {} not found", p.name));
    };
    let evidence = format!("alarm {} is {state}: {}", p.name, truncate(reason, 160));
    match &p.state {
        Some(want) if !want.eq_ignore_ascii_case(state) => {
            Verdict::fail(format!("{evidence} (waiting for {want})"))
        }
        _ => Verdict::pass(evidence),
    }
}

/// `alarm`: one DescribeAlarms call (metric and composite alarms).
pub(crate) async fn alarm(ctx: &Fetch<'_>, p: &Alarm) -> Result<Verdict, LookError> {
    let request = ctx
        .clients
        .cloudwatch
        .describe_alarms()
        .alarm_names(&p.name)
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::MetricAlarm)
        .alarm_types(aws_sdk_cloudwatch::types::AlarmType::CompositeAlarm)
        .send();
    let out = ctx.call("DescribeAlarms", request).await?;
    let metric =
        out.metric_alarms().iter().find(|a| a.alarm_name() == Some(p.name.as_str())).map(|a| {
            (a.state_value().map(|s| s.as_str()).unwrap_or("UNKNOWN"), a.state_reason().unwrap_or(""))
        });
    let composite =
        out.composite_alarms().iter().find(|a| a.alarm_name() == Some(p.name.as_str())).map(|a| {
            (a.state_value().map(|s| s.as_str()).unwrap_or("UNKNOWN"), a.state_reason().unwrap_or(""))
        });
    Ok(evaluate_alarm(p, metric.or(composite)))
}

/// What `log_group` saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LogGroupObs {
    pub exists: bool,
    pub retention_days: Option<i32>,
    pub stored_bytes: Option<i64>,
    /// With a pattern: the first matching event's message, if one was found.
    pub matched: Option<Option<String>>,
}

/// `log_group`, pure.
pub(crate) fn evaluate_log_group(p: &LogGroup, o: &LogGroupObs) -> Verdict {
    if !o.exists {
        return Verdict::fail(format!("log group {} not found", p.name));
    }
    let retention = o.retention_days.map_or("never expires".to_string(), |d| format!("retention {d} days"));
    let stored = o.stored_bytes.map(|b| format!(", {b} bytes stored")).unwrap_or_default();
    match (&p.pattern, &o.matched) {
        (Some(pattern), Some(Some(message))) => Verdict::pass(format!(
            "log group {}: event matching {pattern:?}: {}",
            p.name,
            one_line(message, 160)
        )),
        (Some(pattern), _) => {
            Verdict::fail(format!("log group {}: no event matching {pattern:?} in the last hour", p.name))
        }
        (None, _) => Verdict::pass(format!("log group {} exists ({retention}{stored})", p.name)),
    }
}

/// The objects of the list `field` of a JSON answer.
fn list<'a>(doc: &'a Value, field: &str) -> impl Iterator<Item = &'a Value> {
    doc.get(field).and_then(Value::as_array).into_iter().flatten()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `log_group`: DescribeLogGroups (prefix, then the exact name), and with a pattern up to three
/// FilterLogEvents pages over the last hour.
pub(crate) async fn log_group(ctx: &Fetch<'_>, p: &LogGroup) -> Result<Verdict, LookError> {
    let request = ctx.clients.logs.call("DescribeLogGroups", json!({ "logGroupNamePrefix": p.name }));
    let out = ctx.call_opt("DescribeLogGroups", request).await?;
    // The exact name sorts first among the names it prefixes, so one page is enough.
    let group = out.as_ref().and_then(|o| {
        list(o, "logGroups").find(|g| g.get("logGroupName").and_then(Value::as_str) == Some(p.name.as_str()))
    });
    let number = |field: &str| group.and_then(|g| g.get(field)).and_then(Value::as_i64);
    let mut o = LogGroupObs {
        exists: group.is_some(),
        retention_days: number("retentionInDays").and_then(|n| i32::try_from(n).ok()),
        stored_bytes: number("storedBytes"),
        matched: None,
    };
    if let (true, Some(pattern)) = (o.exists, &p.pattern) {
        let mut token: Option<String> = None;
        let mut found = None;
        for _ in 0..3 {
            let mut input = json!({
                "logGroupName": p.name,
                "filterPattern": pattern,
                "startTime": now_ms() - 3_600_000,
                "limit": 1,
            });
            if let Some(token) = token.take() {
                input["nextToken"] = Value::String(token);
            }
            let request = ctx.clients.logs.call("FilterLogEvents", input);
            let Some(page) = ctx.call_opt("FilterLogEvents", request).await? else {
                break;
            };
            if let Some(e) = list(&page, "events").next() {
                found = Some(e.get("message").and_then(Value::as_str).unwrap_or_default().to_string());
                break;
            }
            match page.get("nextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_string()),
                None => break,
            }
        }
        o.matched = Some(found);
    }
    Ok(evaluate_log_group(p, &o))
}

/// The latest five events of the most recently written stream.
pub(crate) async fn diagnose_log_group(ctx: &Fetch<'_>, p: &LogGroup) -> Result<Vec<String>, LookError> {
    let request = ctx.clients.logs.call(
        "DescribeLogStreams",
        json!({ "logGroupName": p.name, "orderBy": "LastEventTime", "descending": true, "limit": 1 }),
    );
    let Some(streams) = ctx.call_opt("DescribeLogStreams", request).await? else {
        return Ok(vec![format!("log group {} does not exist", p.name)]);
    };
    let Some(stream) =
        list(&streams, "logStreams").next().and_then(|s| s.get("logStreamName")).and_then(Value::as_str)
    else {
        return Ok(vec![format!("log group {} has no log streams yet", p.name)]);
    };
    let request = ctx.clients.logs.call(
        "GetLogEvents",
        json!({ "logGroupName": p.name, "logStreamName": stream, "limit": 5, "startFromHead": false }),
    );
    let events = ctx.call("GetLogEvents", request).await?;
    let mut lines: Vec<String> = list(&events, "events")
        .map(|e| {
            let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
            format!("log {stream}: {}", one_line(message, 200))
        })
        .collect();
    if lines.is_empty() {
        lines.push(format!("log stream {stream} has no events"));
    }
    Ok(lines)
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    #[test]
    fn alarm_table() {
        let p = |state: Option<&str>| Alarm { name: "cpu-high".into(), state: state.map(String::from) };
        let cases = [
            (
                p(None),
                Some(("OK", "Threshold not crossed")),
                Pass,
                "alarm cpu-high is OK: Threshold not crossed",
            ),
            (p(Some("alarm")), Some(("ALARM", "")), Pass, "is ALARM"),
            (p(Some("ALARM")), Some(("INSUFFICIENT_DATA", "")), Fail, "(waiting for ALARM)"),
            (p(None), None, Fail, "alarm cpu-high not found"),
        ];
        for (p, found, status, evidence) in cases {
            let v = evaluate_alarm(&p, found);
            assert_eq!(v.status, status, "{}", v.evidence);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }

    #[test]
    fn log_group_table() {
        let p =
            |pattern: Option<&str>| LogGroup { name: "/ecs/inv".into(), pattern: pattern.map(String::from) };
        let exists =
            LogGroupObs { exists: true, retention_days: Some(7), stored_bytes: Some(10), matched: None };
        #[rustfmt::skip]
        let cases = vec![
            (p(None), exists.clone(), Pass, "log group /ecs/inv exists (retention 7 days, 10 bytes stored)"),
            (p(None), LogGroupObs::default(), Fail, "not found"),
            (p(Some("ERROR")), LogGroupObs { matched: Some(Some("ERROR boom\n".into())), ..exists.clone() }, Pass, "event matching \"ERROR\": ERROR boom"),
            (p(Some("ERROR")), LogGroupObs { matched: Some(None), ..exists.clone() }, Fail, "no event matching \"ERROR\" in the last hour"),
            (p(Some("ERROR")), LogGroupObs::default(), Fail, "not found"),
        ];
        for (p, o, status, evidence) in cases {
            let v = evaluate_log_group(&p, &o);
            assert_eq!(v.status, status, "{}", v.evidence);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }
}
