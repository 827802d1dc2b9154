//! Application Auto Scaling checks: a scalable target with its capacity bounds, and a scaling
//! policy by name.

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};

use super::{Fetch, LookError, Verdict};
use crate::lab::check::{ScalableTarget, ScalingPolicy};

fn namespace(ns: &Option<String>) -> ServiceNamespace {
    ServiceNamespace::from(ns.as_deref().unwrap_or("ecs"))
}

/// `scalable_target`, pure; `found` is (min, max) when registered.
pub(crate) fn evaluate_scalable_target(p: &ScalableTarget, found: Option<(i32, i32)>) -> Verdict {
    let Some((min, max)) = found else {
        return Verdict::fail(format!("{} is not registered as a scalable target", p.resource_id));
    };
    let evidence = format!("{}: min {min}, max {max}", p.resource_id);
    let mut wrong = Vec::new();
    if p.min_capacity.is_some_and(|want| want != min) {
        wrong.push(format!("expected min {}", p.min_capacity.unwrap_or_default()));
    }
    if p.max_capacity.is_some_and(|want| want != max) {
        wrong.push(format!("expected max {}", p.max_capacity.unwrap_or_default()));
    }
    if wrong.is_empty() {
        Verdict::pass(evidence)
    } else {
        Verdict::fail(format!("{evidence}; {}", wrong.join(", ")))
    }
}

/// `scalable_target`: one DescribeScalableTargets call.
pub(crate) async fn scalable_target(ctx: &Fetch<'_>, p: &ScalableTarget) -> Result<Verdict, LookError> {
    let dimension = ScalableDimension::from(p.dimension.as_deref().unwrap_or("ecs:service:DesiredCount"));
    let request = ctx
        .clients
        .autoscaling
        .describe_scalable_targets()
        .service_namespace(namespace(&p.service_namespace))
        .resource_ids(&p.resource_id)
        .scalable_dimension(dimension)
        .send();
    let out = ctx.call_opt("DescribeScalableTargets", request).await?;
    let found = out
        .as_ref()
        .and_then(|o| o.scalable_targets().iter().find(|t| t.resource_id() == p.resource_id))
        .map(|t| (t.min_capacity(), t.max_capacity()));
    Ok(evaluate_scalable_target(p, found))
}

/// `scaling_policy`, pure; `found` is (policy type, target value) when the policy exists.
pub(crate) fn evaluate_scaling_policy(p: &ScalingPolicy, found: Option<(String, Option<f64>)>) -> Verdict {
    let Some((kind, target)) = found else {
        return Verdict::fail(format!("no scaling policy {} on {}", p.policy_name, p.resource_id));
    };
    let target = target.map(|t| format!(", target {t}")).unwrap_or_default();
    let evidence = format!("policy {} on {}: {kind}{target}", p.policy_name, p.resource_id);
    match &p.policy_type {
        Some(want) if !want.eq_ignore_ascii_case(&kind) => {
            Verdict::fail(format!("{evidence}; expected {want}"))
        }
        _ => Verdict::pass(evidence),
    }
}

/// `scaling_policy`: one DescribeScalingPolicies call.
pub(crate) async fn scaling_policy(ctx: &Fetch<'_>, p: &ScalingPolicy) -> Result<Verdict, LookError> {
    let request = ctx
        .clients
        .autoscaling
        .describe_scaling_policies()
        .service_namespace(namespace(&p.service_namespace))
        .resource_id(&p.resource_id)
        .policy_names(&p.policy_name)
        .send();
    let out = ctx.call_opt("DescribeScalingPolicies", request).await?;
    let found = out
        .as_ref()
        .and_then(|o| o.scaling_policies().iter().find(|s| s.policy_name() == p.policy_name))
        .map(|s| {
            let target = s.target_tracking_scaling_policy_configuration().map(|c| c.target_value());
            (s.policy_type().as_str().to_string(), target)
        });
    Ok(evaluate_scaling_policy(p, found))
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    #[test]
    fn scalable_target_table() {
        let p = |min, max| ScalableTarget {
            service_namespace: None,
            resource_id: "service/c/s".into(),
            dimension: None,
            min_capacity: min,
            max_capacity: max,
        };
        let cases = [
            (p(None, None), Some((1, 4)), Pass, "service/c/s: min 1, max 4"),
            (p(Some(1), Some(4)), Some((1, 4)), Pass, "min 1"),
            (p(Some(2), Some(4)), Some((1, 4)), Fail, "expected min 2"),
            (p(None, Some(10)), Some((1, 4)), Fail, "expected max 10"),
            (p(None, None), None, Fail, "not registered"),
        ];
        for (p, found, status, evidence) in cases {
            let v = evaluate_scalable_target(&p, found);
            assert_eq!(v.status, status, "{}", v.evidence);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }

    #[test]
    fn scaling_policy_table() {
        let p = |t: Option<&str>| ScalingPolicy {
            service_namespace: None,
            resource_id: "service/c/s".into(),
            policy_name: "cpu70".into(),
            policy_type: t.map(String::from),
        };
        let tt = || Some(("TargetTrackingScaling".to_string(), Some(70.0)));
        let cases = [
            (p(None), tt(), Pass, "policy cpu70 on service/c/s: TargetTrackingScaling, target 70"),
            (p(Some("targettrackingscaling")), tt(), Pass, "TargetTracking"),
            (p(Some("StepScaling")), tt(), Fail, "expected StepScaling"),
            (p(None), None, Fail, "no scaling policy cpu70"),
        ];
        for (p, found, status, evidence) in cases {
            let v = evaluate_scaling_policy(&p, found);
            assert_eq!(v.status, status, "{}", v.evidence);
            assert!(v.evidence.contains(evidence), "{:?}", v.evidence);
        }
    }
}
