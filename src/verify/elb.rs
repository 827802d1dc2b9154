//! Elastic Load Balancing checks: target health (optionally tied to an ECS service's running
//! tasks) and load balancer state, plus the per-target diagnostics.

use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;

use super::text::list;
use super::{ecs, Fetch, LookError, Verdict};
use crate::lab::check::{NameRef, TargetsHealthy};

/// One registered target and its health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TargetObs {
    /// An IP address (ip targets) or an instance id (instance targets).
    pub id: String,
    pub port: Option<i32>,
    /// initial, healthy, unhealthy, unused, draining, unavailable.
    pub state: String,
    /// `Target.ResponseCodeMismatch` and the like.
    pub reason: Option<String>,
    pub description: Option<String>,
}

impl TargetObs {
    fn label(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.id),
            None => self.id.clone(),
        }
    }

    /// "10.0.1.23:5001 unhealthy Target.ResponseCodeMismatch: Health checks failed with these codes: [502]"
    fn health_line(&self) -> String {
        let mut line = format!("{} {}", self.label(), self.state);
        if let Some(r) = &self.reason {
            line.push_str(&format!(" {r}"));
        }
        if let Some(d) = &self.description {
            line.push_str(&format!(": {d}"));
        }
        line
    }
}

/// Where a running task can be reached: its ENI address (awsvpc) or its instance and host
/// ports (bridge and host modes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TaskEndpoint {
    pub ip: Option<String>,
    pub instance: Option<String>,
    pub host_ports: Vec<i32>,
}

impl TaskEndpoint {
    fn serves(&self, t: &TargetObs) -> bool {
        self.ip.as_deref() == Some(t.id.as_str())
            || (self.instance.as_deref() == Some(t.id.as_str())
                && t.port.is_some_and(|p| self.host_ports.contains(&p)))
    }
}

/// `targets_healthy`, pure. `tasks` are the service's running tasks when the check names one.
pub(crate) fn evaluate_targets(
    p: &TargetsHealthy,
    group: &str,
    targets: &[TargetObs],
    tasks: Option<&[TaskEndpoint]>,
) -> Verdict {
    let min = p.min_healthy.unwrap_or(1) as usize;
    let all = p.all_healthy.unwrap_or(true);
    let live: Vec<&TargetObs> = targets.iter().filter(|t| t.state != "draining").collect();
    let draining = targets.len() - live.len();
    let (healthy, sick): (Vec<&TargetObs>, Vec<&TargetObs>) = live.iter().partition(|t| t.state == "healthy");
    let (ours, strangers): (Vec<&TargetObs>, Vec<&TargetObs>) = match tasks {
        Some(tasks) => healthy.iter().partition(|t| tasks.iter().any(|k| k.serves(t))),
        None => (healthy.clone(), vec![]),
    };
    let labels = |ts: &[&TargetObs]| -> Vec<String> { ts.iter().map(|t| t.label()).collect() };
    let mut evidence = format!("{group}: {}/{} healthy", healthy.len(), live.len());
    if !healthy.is_empty() {
        evidence.push_str(&format!(" ({})", list(&labels(&healthy), 4)));
    }
    if draining > 0 {
        evidence.push_str(&format!(", {draining} draining"));
    }
    if !sick.is_empty() {
        let states: Vec<String> = sick
            .iter()
            .map(|t| match &t.reason {
                Some(r) => format!("{} {} ({r})", t.label(), t.state),
                None => format!("{} {}", t.label(), t.state),
            })
            .collect();
        evidence.push_str(&format!("; not healthy: {}", list(&states, 3)));
    }
    if let (Some(tasks), Some(service)) = (tasks, p.service.as_deref()) {
        evidence.push_str(&format!("; {} running task(s) of {service}", tasks.len()));
        if !strangers.is_empty() {
            evidence.push_str(&format!(
                ", healthy targets that are not its tasks: {}",
                list(&labels(&strangers), 3)
            ));
        }
    }
    let ok = ours.len() >= min && (!all || sick.is_empty()) && strangers.is_empty();
    if ok {
        Verdict::pass(evidence)
    } else {
        if ours.len() < min {
            evidence.push_str(&format!(" (need {min} healthy)"));
        }
        Verdict::fail(evidence)
    }
}

/// When every live target is `unhealthy` (past its threshold, not `initial`): the targets and
/// their reason codes, as the signature of a failure that waiting alone will not fix.
pub(crate) fn all_unhealthy(targets: &[TargetObs]) -> Option<String> {
    let live: Vec<&TargetObs> = targets.iter().filter(|t| t.state != "draining").collect();
    if live.is_empty() || live.iter().any(|t| t.state != "unhealthy") {
        return None;
    }
    // The targets themselves are part of it: replacement tasks (new targets) start the
    // recovery window again.
    let mut parts: Vec<String> = live
        .iter()
        .map(|t| format!("{} {}", t.label(), t.reason.as_deref().unwrap_or("unhealthy")))
        .collect();
    parts.sort_unstable();
    Some(parts.join(","))
}

/// The ARN of a target group given by name or ARN; `None` when there is none.
async fn target_group(
    ctx: &Fetch<'_>,
    name: &str,
) -> Result<Option<aws_sdk_elasticloadbalancingv2::types::TargetGroup>, LookError> {
    let request = ctx.clients.elbv2.describe_target_groups();
    let request =
        if name.starts_with("arn:") { request.target_group_arns(name) } else { request.names(name) };
    let out = ctx.call_opt("DescribeTargetGroups", request.send()).await?;
    Ok(out.and_then(|o| o.target_groups().first().cloned()))
}

fn group_name(name: &str) -> &str {
    // arn:aws:elasticloadbalancing:region:acct:targetgroup/NAME/id
    if name.starts_with("arn:") {
        name.split('/').nth(1).unwrap_or(name)
    } else {
        name
    }
}

async fn target_health(ctx: &Fetch<'_>, arn: &str) -> Result<Vec<TargetObs>, LookError> {
    let request = ctx.clients.elbv2.describe_target_health().target_group_arn(arn).send();
    let out = ctx.call("DescribeTargetHealth", request).await?;
    Ok(out
        .target_health_descriptions()
        .iter()
        .map(|d| {
            let health = d.target_health();
            TargetObs {
                id: d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                port: d.target().and_then(|t| t.port()),
                state: health.and_then(|h| h.state()).map(|s| s.as_str().to_string()).unwrap_or_default(),
                reason: health.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                description: health.and_then(|h| h.description()).map(str::to_string),
            }
        })
        .collect())
}

/// The running tasks of a service and where they listen.
async fn service_endpoints(
    ctx: &Fetch<'_>,
    cluster: &str,
    service: &str,
) -> Result<Vec<TaskEndpoint>, LookError> {
    let tasks = ecs::service_tasks(ctx, cluster, service, DesiredStatus::Running, 100).await?;
    let mut endpoints = Vec::new();
    let mut instances_wanted = Vec::new();
    for t in &tasks {
        if t.last_status() != Some("RUNNING") {
            continue;
        }
        let ip = t
            .attachments()
            .iter()
            .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
            .flat_map(|a| a.details())
            .find(|d| d.name() == Some("privateIPv4Address"))
            .and_then(|d| d.value())
            .map(str::to_string);
        let host_ports: Vec<i32> =
            t.containers().iter().flat_map(|c| c.network_bindings()).filter_map(|b| b.host_port()).collect();
        let instance = match (&ip, t.container_instance_arn()) {
            (None, Some(arn)) => {
                instances_wanted.push(arn.to_string());
                Some(arn.to_string())
            }
            _ => None,
        };
        endpoints.push(TaskEndpoint { ip, instance, host_ports });
    }
    if !instances_wanted.is_empty() {
        instances_wanted.sort();
        instances_wanted.dedup();
        let request = ctx
            .clients
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(instances_wanted))
            .send();
        let out = ctx.call("DescribeContainerInstances", request).await?;
        for e in &mut endpoints {
            if let Some(arn) = &e.instance {
                e.instance = out
                    .container_instances()
                    .iter()
                    .find(|ci| ci.container_instance_arn() == Some(arn.as_str()))
                    .and_then(|ci| ci.ec2_instance_id())
                    .map(str::to_string);
            }
        }
    }
    Ok(endpoints)
}

/// `targets_healthy`: DescribeTargetGroups (by name) + DescribeTargetHealth, and with a service
/// ListTasks + DescribeTasks (+ DescribeContainerInstances for bridge mode).
pub(crate) async fn targets_healthy(ctx: &Fetch<'_>, p: &TargetsHealthy) -> Result<Verdict, LookError> {
    let name = group_name(&p.target_group);
    let arn = if p.target_group.starts_with("arn:") {
        p.target_group.clone()
    } else {
        match target_group(ctx, &p.target_group).await? {
            Some(tg) => tg.target_group_arn().unwrap_or_default().to_string(),
            None => return Ok(Verdict::fail(format!("target group {name} not found"))),
        }
    };
    let Some(targets) = (match target_health(ctx, &arn).await {
        Ok(t) => Some(t),
        Err(e) if e.class == crate::aws::ErrorClass::NotFound => None,
        Err(e) => return Err(e),
    }) else {
        return Ok(Verdict::fail(format!("target group {name} not found")));
    };
    let tasks = match (&p.cluster, &p.service) {
        (Some(cluster), Some(service)) => Some(service_endpoints(ctx, cluster, service).await?),
        _ => None,
    };
    let details = targets.iter().take(6).map(TargetObs::health_line).collect();
    let verdict = evaluate_targets(p, name, &targets, tasks.as_deref()).with_details(details);
    if verdict.status == super::Status::Fail {
        if let Some(signature) = all_unhealthy(&targets) {
            // Unhealthy targets need `healthy threshold` passing checks in a row to recover: once
            // every target has stayed unhealthy longer than that (plus one interval), the check
            // fails now with the reason codes instead of at its deadline.
            let (interval, healthy) = match target_group(ctx, &arn).await? {
                Some(tg) => (
                    tg.health_check_interval_seconds().unwrap_or(30),
                    tg.healthy_threshold_count().unwrap_or(5),
                ),
                None => (30, 5),
            };
            let recover =
                Duration::from_secs(u64::try_from(interval.max(1) * (healthy.max(1) + 1)).unwrap_or(180));
            return Ok(verdict.final_after(signature, recover));
        }
    }
    Ok(verdict)
}

/// Target diagnostics: every target that is not healthy with its reason, the health check
/// settings, and with a service the service's own diagnostics.
pub(crate) async fn diagnose_targets(ctx: &Fetch<'_>, p: &TargetsHealthy) -> Result<Vec<String>, LookError> {
    let Some(tg) = target_group(ctx, &p.target_group).await? else {
        return Ok(vec![format!("target group {} not found", group_name(&p.target_group))]);
    };
    let mut lines = Vec::new();
    let arn = tg.target_group_arn().unwrap_or_default();
    let targets = target_health(ctx, arn).await?;
    if targets.is_empty() {
        lines.push(format!("no targets are registered in {}", group_name(&p.target_group)));
    }
    lines.extend(targets.iter().filter(|t| t.state != "healthy").map(TargetObs::health_line));
    lines.push(format!(
        "health check: {} {} on port {}, expecting {}",
        tg.health_check_protocol().map(|p| p.as_str()).unwrap_or("HTTP"),
        tg.health_check_path().unwrap_or("/"),
        tg.health_check_port().unwrap_or("traffic-port"),
        tg.matcher().and_then(|m| m.http_code()).unwrap_or("200"),
    ));
    if let (Some(cluster), Some(service)) = (&p.cluster, &p.service) {
        lines.extend(ecs::diagnose_service(ctx, cluster, service).await?);
    }
    Ok(lines)
}

/// `load_balancer_active`: one DescribeLoadBalancers call. A FAILED load balancer will not recover.
pub(crate) async fn load_balancer_active(ctx: &Fetch<'_>, p: &NameRef) -> Result<Verdict, LookError> {
    let request = ctx.clients.elbv2.describe_load_balancers();
    let request =
        if p.name.starts_with("arn:") { request.load_balancer_arns(&p.name) } else { request.names(&p.name) };
    let out = ctx.call_opt("DescribeLoadBalancers", request.send()).await?;
    let Some(lb) = out.as_ref().and_then(|o| o.load_balancers().first()) else {
        return Ok(Verdict::fail(format!("load balancer {} not found", p.name)));
    };
    let state = lb.state().and_then(|s| s.code()).map(|c| c.as_str().to_string()).unwrap_or_default();
    let reason = lb.state().and_then(|s| s.reason()).map(|r| format!(": {r}")).unwrap_or_default();
    Ok(evaluate_load_balancer(
        lb.load_balancer_name().unwrap_or(&p.name),
        &state,
        lb.dns_name().unwrap_or_default(),
        &reason,
    ))
}

/// `load_balancer_active`, pure.
pub(crate) fn evaluate_load_balancer(name: &str, state: &str, dns: &str, reason: &str) -> Verdict {
    let evidence = format!("load balancer {name} {state}{reason} ({dns})");
    match state {
        "active" => Verdict::pass(evidence),
        "failed" => Verdict::fail_now(evidence),
        _ => Verdict::fail(evidence),
    }
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;
    use crate::verify::Status::{Fail, Pass};

    fn t(id: &str, state: &str) -> TargetObs {
        TargetObs { id: id.into(), port: Some(5001), state: state.into(), ..Default::default() }
    }

    fn p(min: Option<u32>, all: Option<bool>, service: bool) -> TargetsHealthy {
        TargetsHealthy {
            target_group: "invsys-tg".into(),
            min_healthy: min,
            all_healthy: all,
            cluster: service.then(|| "c".into()),
            service: service.then(|| "invsys-service".into()),
        }
    }

    fn task(ip: &str) -> TaskEndpoint {
        TaskEndpoint { ip: Some(ip.into()), ..Default::default() }
    }

    #[test]
    fn targets_table() {
        let tasks = vec![task("10.0.1.1"), task("10.0.1.2")];
        let bridge = vec![TaskEndpoint { ip: None, instance: Some("i-1".into()), host_ports: vec![5001] }];
        #[rustfmt::skip]
        let cases: Vec<(&str, TargetsHealthy, Vec<TargetObs>, Option<&[TaskEndpoint]>, crate::verify::Status, &str)> = vec![
            ("all healthy", p(None, None, false), vec![t("10.0.1.1", "healthy"), t("10.0.1.2", "healthy")], None, Pass,
             "invsys-tg: 2/2 healthy (10.0.1.1:5001, 10.0.1.2:5001)"),
            ("no targets", p(None, None, false), vec![], None, Fail, "0/0 healthy (need 1 healthy)"),
            ("one unhealthy fails all_healthy", p(None, None, false), vec![t("10.0.1.1", "healthy"), t("10.0.1.2", "unhealthy")], None, Fail,
             "not healthy: 10.0.1.2:5001 unhealthy"),
            ("one unhealthy allowed without all_healthy", p(None, Some(false), false), vec![t("10.0.1.1", "healthy"), t("10.0.1.2", "unhealthy")], None, Pass, "1/2"),
            ("initial is not healthy yet", p(None, None, false), vec![t("10.0.1.1", "initial")], None, Fail, "initial"),
            ("draining targets are ignored", p(None, None, false), vec![t("10.0.1.1", "healthy"), t("10.0.9.9", "draining")], None, Pass, "1 draining"),
            ("min_healthy", p(Some(2), Some(false), false), vec![t("10.0.1.1", "healthy"), t("10.0.1.2", "initial")], None, Fail, "need 2 healthy"),
            ("targets are the service's tasks", p(Some(2), None, true), vec![t("10.0.1.1", "healthy"), t("10.0.1.2", "healthy")], Some(&tasks), Pass,
             "2 running task(s) of invsys-service"),
            ("healthy target not belonging to the service", p(None, None, true), vec![t("10.0.1.1", "healthy"), t("10.0.7.7", "healthy")], Some(&tasks), Fail,
             "healthy targets that are not its tasks: 10.0.7.7:5001"),
            ("service has no running tasks", p(None, None, true), vec![t("10.0.7.7", "healthy")], Some(&[]), Fail, "0 running task(s)"),
            ("bridge mode: instance and host port", p(None, None, true), vec![t("i-1", "healthy")], Some(&bridge), Pass, "i-1:5001"),
            ("bridge mode: other port", p(None, None, true), vec![TargetObs { port: Some(80), ..t("i-1", "healthy") }], Some(&bridge), Fail, "not its tasks"),
        ];
        for (name, p, targets, tasks, status, evidence) in cases {
            let v = evaluate_targets(&p, "invsys-tg", &targets, tasks);
            assert_eq!(v.status, status, "{name}: {}", v.evidence);
            assert!(!v.definitive);
            assert!(v.evidence.contains(evidence), "{name}: {:?} lacks {evidence:?}", v.evidence);
        }
    }

    #[test]
    fn health_line_reads_like_the_console() {
        let t = TargetObs {
            reason: Some("Target.ResponseCodeMismatch".into()),
            description: Some("Health checks failed with these codes: [502]".into()),
            ..t("10.0.1.23", "unhealthy")
        };
        assert_eq!(
            t.health_line(),
            "10.0.1.23:5001 unhealthy Target.ResponseCodeMismatch: Health checks failed with these codes: [502]"
        );
    }

    #[test]
    fn load_balancer_table() {
        let cases = [
            ("active", Pass, false),
            ("provisioning", Fail, false),
            ("active_impaired", Fail, false),
            ("failed", Fail, true),
        ];
        for (state, status, definitive) in cases {
            let v = evaluate_load_balancer("lb", state, "lb-1.elb", "");
            assert_eq!((v.status, v.definitive), (status, definitive), "{state}");
        }
        assert_eq!(group_name("arn:aws:elasticloadbalancing:r:1:targetgroup/invsys-tg/abc"), "invsys-tg");
    }
}
