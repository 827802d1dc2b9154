//! ECS checks: clusters, task definitions, and services (stable, desired count, task
//! definition), plus the service diagnostics (events, deployments, stopped tasks).
//!
//! `service_stable` is stricter than the SDK's ServicesStable waiter: besides status ACTIVE,
//! one deployment and running == desired, the PRIMARY deployment's rollout must be COMPLETED
//! and, when the step names a task definition, run it. A circuit-breaker rollback ends the
//! wait at once as a failure, where the waiter would report success once the old revision is
//! back up.

use std::sync::OnceLock;

use aws_sdk_ecs::types::DesiredStatus;
use regex::Regex;

use super::text::{list, one_line, truncate};
use super::{Fetch, LookError, Status, Verdict};
use crate::lab::check::{
    ClusterRef, ServiceDesiredCount, ServiceEvent, ServiceRef, ServiceStable, ServiceTaskDefinition,
    TaskDefinitionCheck, TaskStopped,
};

/// A deployment, as much of it as the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeploymentObs {
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: String,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    /// COMPLETED, IN_PROGRESS or FAILED, when the API reports one.
    pub rollout_state: Option<String>,
    pub rollout_reason: Option<String>,
    /// Seconds since the epoch.
    pub created_at: Option<i64>,
}

/// A service event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EventObs {
    /// Seconds since the epoch.
    pub at: Option<i64>,
    pub message: String,
}

/// A service, as much of it as the checks read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceObs {
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub deployments: Vec<DeploymentObs>,
    /// Newest first, as the API returns them.
    pub events: Vec<EventObs>,
}

impl ServiceObs {
    fn primary(&self) -> Option<&DeploymentObs> {
        self.deployments.iter().find(|d| d.status == "PRIMARY")
    }

    fn counts(&self) -> String {
        format!("{}: {}/{} running, {} pending", self.name, self.running, self.desired, self.pending)
    }
}

/// `family`, `family:revision` or a task definition ARN, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskDefRef {
    pub family: String,
    pub revision: Option<u32>,
}

impl TaskDefRef {
    /// Parses any of the three forms.
    pub fn parse(text: &str) -> Self {
        let tail = text.rsplit('/').next().unwrap_or(text);
        match tail.rsplit_once(':') {
            Some((family, rev)) if rev.parse::<u32>().is_ok() => {
                TaskDefRef { family: family.to_string(), revision: rev.parse().ok() }
            }
            _ => TaskDefRef { family: tail.to_string(), revision: None },
        }
    }

    /// Whether the task definition `actual` (any form) is this one; without a revision, any
    /// revision of the family is.
    pub fn matches(&self, actual: &str) -> bool {
        let actual = TaskDefRef::parse(actual);
        actual.family == self.family && (self.revision.is_none() || self.revision == actual.revision)
    }
}

impl std::fmt::Display for TaskDefRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.revision {
            Some(r) => write!(f, "{}:{r}", self.family),
            None => write!(f, "{}", self.family),
        }
    }
}

/// `family:revision` of a task definition ARN, for evidence.
fn short_td(arn: &str) -> String {
    TaskDefRef::parse(arn).to_string()
}

fn deployment_line(d: &DeploymentObs) -> String {
    let state = d.rollout_state.as_deref().unwrap_or(d.status.as_str());
    format!("deployment {} {state} ({})", d.id, short_td(&d.task_definition))
}

fn rollback_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)circuit.breaker|roll(ed|ing)?[ -]?back|deployment failed").expect("valid regex")
    })
}

/// Whether the PRIMARY deployment is a rollback: its own reason says so, or an event since it
/// was created does (the failed deployment may already be gone from the list).
fn rolled_back(s: &ServiceObs, primary: &DeploymentObs) -> Option<String> {
    if let Some(reason) = primary.rollout_reason.as_deref().filter(|r| rollback_re().is_match(r)) {
        return Some(reason.to_string());
    }
    let since = primary.created_at?;
    // The rollback's events are written around the moment its deployment is created.
    s.events
        .iter()
        .filter(|e| e.at.is_some_and(|at| at >= since - 10))
        .find(|e| rollback_re().is_match(&e.message))
        .map(|e| e.message.clone())
}

/// `service_stable`, pure.
pub(crate) fn evaluate_service_stable(p: &ServiceStable, s: &ServiceObs) -> Verdict {
    let counts = s.counts();
    if s.status != "ACTIVE" {
        return Verdict::fail(format!("{}: service is {}", s.name, s.status));
    }
    let Some(primary) = s.primary() else {
        return Verdict::fail(format!("{counts}, no PRIMARY deployment"));
    };
    let evidence = format!("{counts}, {}", deployment_line(primary));
    let want = p.task_definition.as_deref().map(TaskDefRef::parse);
    if primary.rollout_state.as_deref() == Some("FAILED") {
        let reason = primary.rollout_reason.as_deref().unwrap_or("no reason given");
        return Verdict::fail_now(format!("{evidence}: rollout FAILED: {reason}"));
    }
    if let Some(failed) = s.deployments.iter().find(|d| d.rollout_state.as_deref() == Some("FAILED")) {
        let reason = failed.rollout_reason.as_deref().unwrap_or("no reason given");
        return Verdict::fail_now(format!(
            "{evidence}: deployment {} ({}) FAILED and ECS is rolling back: {reason}",
            failed.id,
            short_td(&failed.task_definition)
        ));
    }
    let primary_is_wanted = want.as_ref().is_some_and(|w| w.matches(&primary.task_definition));
    if !primary_is_wanted {
        if let Some(why) = rolled_back(s, primary) {
            return Verdict::fail_now(format!(
                "{evidence}: the deployment was rolled back to {} ({})",
                short_td(&primary.task_definition),
                truncate(&why, 160)
            ));
        }
    }
    if let Some(w) = &want {
        if !primary_is_wanted {
            return Verdict::fail(format!("{evidence}: waiting for a deployment of {w}"));
        }
    }
    if s.deployments.len() != 1 {
        let others: Vec<String> =
            s.deployments.iter().filter(|d| d.status != "PRIMARY").map(deployment_line).collect();
        return Verdict::fail(format!(
            "{evidence}; {} deployments: also {}",
            s.deployments.len(),
            list(&others, 2)
        ));
    }
    if s.running != s.desired {
        return Verdict::fail(evidence);
    }
    match primary.rollout_state.as_deref() {
        None | Some("COMPLETED") => Verdict::pass(evidence),
        Some(_) => Verdict::fail(evidence),
    }
}

/// `service_active`, pure: the service exists and is ACTIVE, however its tasks are doing.
pub(crate) fn evaluate_service_active(s: &ServiceObs) -> Verdict {
    Verdict::pass_if(s.status == "ACTIVE", format!("{} is {}; {}", s.name, s.status, s.counts()))
}

/// `deployment_failed`, pure: a deployment's rollout FAILED, or the service rolled back.
pub(crate) fn evaluate_deployment_failed(s: &ServiceObs) -> Verdict {
    if let Some(failed) = s.deployments.iter().find(|d| d.rollout_state.as_deref() == Some("FAILED")) {
        let reason = failed.rollout_reason.as_deref().unwrap_or("no reason given");
        return Verdict::pass(format!("{} FAILED: {}", deployment_line(failed), truncate(reason, 160)));
    }
    if let Some(primary) = s.primary() {
        if let Some(why) = rolled_back(s, primary) {
            return Verdict::pass(format!(
                "rolled back to {}: {}",
                short_td(&primary.task_definition),
                truncate(&why, 160)
            ));
        }
    }
    let state = s.primary().map_or_else(|| "no PRIMARY deployment".to_string(), deployment_line);
    Verdict::fail(format!("{}; no deployment has failed yet ({state})", s.counts()))
}

/// `service_event`, pure: the newest event whose message matches.
pub(crate) fn evaluate_service_event(pattern: &Regex, s: &ServiceObs) -> Verdict {
    match s.events.iter().find(|e| pattern.is_match(&e.message)) {
        Some(e) => Verdict::pass(truncate(&e.message, 200)),
        None => Verdict::fail(match s.events.first() {
            Some(latest) => format!("no event matches yet; latest: {}", truncate(&latest.message, 160)),
            None => format!("{} has no events yet", s.name),
        }),
    }
}

/// `task_stopped`, pure over the stopped-task lines (`stopped task <id> (<code>): <reason>; container ...`).
pub(crate) fn evaluate_task_stopped(pattern: &Regex, service: &str, stopped: &[String]) -> Verdict {
    match stopped.iter().find(|line| pattern.is_match(line)) {
        Some(line) => Verdict::pass(truncate(line, 240)),
        None => Verdict::fail(match stopped.first() {
            Some(latest) => format!("no stopped task matches yet; latest: {}", truncate(latest, 160)),
            None => format!("no task of {service} has stopped yet"),
        }),
    }
}

/// A case-insensitive regular expression from a check parameter.
fn pattern(text: &str) -> Result<Regex, LookError> {
    Regex::new(&format!("(?i){text}"))
        .map_err(|e| LookError::new(crate::aws::ErrorClass::Other, format!("invalid pattern {text:?}: {e}")))
}

/// `service_desired_count`, pure.
pub(crate) fn evaluate_desired_count(p: &ServiceDesiredCount, s: &ServiceObs) -> Verdict {
    let want = i64::from(p.count);
    let evidence = format!("{}: desired {}, {} running, {} pending", s.name, s.desired, s.running, s.pending);
    if s.status != "ACTIVE" {
        return Verdict::fail(format!("{}: service is {}", s.name, s.status));
    }
    Verdict::pass_if(i64::from(s.desired) == want && i64::from(s.running) == want, evidence)
}

/// `service_task_definition`, pure; `want` has the revision filled in when the check named
/// only a family and the latest revision could be read.
pub(crate) fn evaluate_service_task_definition(want: &TaskDefRef, s: &ServiceObs) -> Verdict {
    if s.status != "ACTIVE" {
        return Verdict::fail(format!("{}: service is {}", s.name, s.status));
    }
    let Some(primary) = s.primary() else {
        return Verdict::fail(format!("{}, no PRIMARY deployment", s.counts()));
    };
    let head = format!(
        "{}: PRIMARY runs {} ({}/{} running)",
        s.name,
        short_td(&primary.task_definition),
        primary.running,
        primary.desired
    );
    if let Some(failed) = s
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("FAILED") && want.matches(&d.task_definition))
    {
        let reason = failed.rollout_reason.as_deref().unwrap_or("no reason given");
        return Verdict::fail_now(format!("{head}: the deployment of {want} FAILED: {reason}"));
    }
    if !want.matches(&primary.task_definition) {
        return Verdict::fail(format!("{head}; waiting for {want}"));
    }
    let old: i32 = s.deployments.iter().filter(|d| d.status != "PRIMARY").map(|d| d.running).sum();
    if primary.running < primary.desired || old > 0 {
        return Verdict::fail(format!("{head}, {old} old task(s) still running"));
    }
    Verdict::pass(head)
}

/// A cluster, as much as `cluster_active` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ClusterObs {
    pub name: String,
    pub status: String,
    pub services: i32,
    pub running_tasks: i32,
}

/// `cluster_active`, pure.
pub(crate) fn evaluate_cluster(c: &ClusterObs) -> Verdict {
    Verdict::pass_if(
        c.status == "ACTIVE",
        format!(
            "cluster {} {}: {} service(s), {} running task(s)",
            c.name, c.status, c.services, c.running_tasks
        ),
    )
}

/// A container definition, as much as `task_definition` reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ContainerObs {
    pub name: String,
    pub image: String,
    pub container_ports: Vec<i32>,
    /// The health check command joined with spaces.
    pub health_check: Option<String>,
}

/// A task definition revision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TaskDefObs {
    pub family: String,
    pub revision: i32,
    pub status: String,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub network_mode: Option<String>,
    pub containers: Vec<ContainerObs>,
}

/// Exact, or a prefix match when `want` ends in `*`.
fn image_matches(want: &str, actual: &str) -> bool {
    match want.strip_suffix('*') {
        Some(prefix) => actual.starts_with(prefix),
        None => want == actual,
    }
}

/// `task_definition`, pure. A named revision never changes, so a mismatch on one is definitive.
pub(crate) fn evaluate_task_definition(p: &TaskDefinitionCheck, t: &TaskDefObs) -> Verdict {
    let id = format!("{}:{}", t.family, t.revision);
    let mut problems = Vec::new();
    if t.status != "ACTIVE" {
        problems.push(format!("status is {}", t.status));
    }
    let container = match &p.container {
        Some(name) => t.containers.iter().find(|c| &c.name == name),
        None => t.containers.first(),
    };
    let mut seen = vec![t.status.clone()];
    match container {
        None => problems.push(match &p.container {
            Some(name) => format!("no container named {name}"),
            None => "no containers".to_string(),
        }),
        Some(c) => {
            seen.push(format!("{} {}", c.name, c.image));
            if let Some(want) = &p.image {
                if !image_matches(want, &c.image) {
                    problems.push(format!("image is {}, expected {want}", c.image));
                }
            }
            if let Some(port) = p.container_port {
                if !c.container_ports.contains(&i32::from(port)) {
                    let ports: Vec<String> = c.container_ports.iter().map(|p| p.to_string()).collect();
                    problems.push(format!("container port {port} not mapped (ports: {})", list(&ports, 5)));
                }
            }
            if let Some(want) = &p.health_check {
                match &c.health_check {
                    Some(cmd) if cmd.contains(want.as_str()) => {}
                    Some(cmd) => problems.push(format!("health check {cmd:?} does not contain {want:?}")),
                    None => problems.push("no health check".to_string()),
                }
            }
        }
    }
    let fields = [
        ("cpu", &p.cpu, &t.cpu),
        ("memory", &p.memory, &t.memory),
        ("network mode", &p.network_mode, &t.network_mode),
    ];
    for (what, want, actual) in fields {
        if let Some(actual) = actual {
            seen.push(format!("{what} {actual}"));
        }
        if let Some(want) = want {
            if !actual.as_deref().is_some_and(|a| a.eq_ignore_ascii_case(want)) {
                problems.push(format!("{what} is {}, expected {want}", actual.as_deref().unwrap_or("unset")));
            }
        }
    }
    if problems.is_empty() {
        Verdict::pass(format!("{id}: {}", seen.join(", ")))
    } else {
        let evidence = format!("{id}: {}", problems.join("; "));
        if p.revision.is_some() {
            Verdict::fail_now(evidence)
        } else {
            Verdict::fail(evidence)
        }
    }
}

fn service_name(service: &str) -> &str {
    service.rsplit('/').next().unwrap_or(service)
}

fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// Reads one service; `Ok(Err(line))` says why it is not there.
pub(crate) async fn fetch_service(
    ctx: &Fetch<'_>,
    cluster: &str,
    service: &str,
) -> Result<Result<ServiceObs, String>, LookError> {
    let request = ctx.clients.ecs.describe_services().cluster(cluster).services(service).send();
    let Some(out) = ctx.call_opt("DescribeServices", request).await? else {
        return Ok(Err(format!("cluster {} not found", cluster_name(cluster))));
    };
    let Some(s) = out.services().first() else {
        let reason = out.failures().first().and_then(|f| f.reason()).unwrap_or("MISSING");
        return Ok(Err(format!(
            "service {} not found in cluster {} ({reason})",
            service_name(service),
            cluster_name(cluster)
        )));
    };
    Ok(Ok(service_obs(s)))
}

fn service_obs(s: &aws_sdk_ecs::types::Service) -> ServiceObs {
    ServiceObs {
        name: s.service_name().unwrap_or_default().to_string(),
        status: s.status().unwrap_or_default().to_string(),
        desired: s.desired_count(),
        running: s.running_count(),
        pending: s.pending_count(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| DeploymentObs {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_reason: d.rollout_state_reason().map(str::to_string),
                created_at: d.created_at().map(|t| t.secs()),
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| EventObs {
                at: e.created_at().map(|t| t.secs()),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect(),
    }
}

/// `service_active`: one DescribeServices call.
pub(crate) async fn service_active(ctx: &Fetch<'_>, p: &ServiceRef) -> Result<Verdict, LookError> {
    Ok(match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => evaluate_service_active(&s),
        Err(missing) => Verdict::fail(missing),
    })
}

/// `deployment_failed`: one DescribeServices call.
pub(crate) async fn deployment_failed(ctx: &Fetch<'_>, p: &ServiceRef) -> Result<Verdict, LookError> {
    Ok(match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => evaluate_deployment_failed(&s),
        Err(missing) => Verdict::fail(missing),
    })
}

/// `service_event`: one DescribeServices call.
pub(crate) async fn service_event(ctx: &Fetch<'_>, p: &ServiceEvent) -> Result<Verdict, LookError> {
    let re = pattern(&p.pattern)?;
    Ok(match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => evaluate_service_event(&re, &s),
        Err(missing) => Verdict::fail(missing),
    })
}

/// `task_stopped`: the service's recently stopped tasks (ListTasks + DescribeTasks).
pub(crate) async fn task_stopped(ctx: &Fetch<'_>, p: &TaskStopped) -> Result<Verdict, LookError> {
    let re = pattern(&p.reason)?;
    let mut tasks = service_tasks(ctx, &p.cluster, &p.service, DesiredStatus::Stopped, 20).await?;
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|d| d.secs())));
    let lines: Vec<String> = tasks.iter().map(stopped_task_line).collect();
    Ok(evaluate_task_stopped(&re, service_name(&p.service), &lines))
}

/// `service_stable`: one DescribeServices call.
pub(crate) async fn service_stable(ctx: &Fetch<'_>, p: &ServiceStable) -> Result<Verdict, LookError> {
    let s = match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => s,
        Err(missing) => return Ok(Verdict::fail(missing)),
    };
    let verdict = evaluate_service_stable(p, &s).with_details(service_details(&s));
    if verdict.status == Status::Pass || verdict.definitive {
        return Ok(verdict);
    }
    // Tasks of the current deployment keep failing the same way, or ECS itself says it cannot
    // start them: waiting will not change it. The stopped tasks (two more calls) are looked at
    // only then, for the reason.
    let event = cannot_start_event(&s);
    let Some(primary) = s
        .primary()
        .filter(|d| s.running < s.desired && (d.failed_tasks >= REPEATED_FAILURES || event.is_some()))
    else {
        return Ok(verdict);
    };
    let mut stopped = service_tasks(ctx, &p.cluster, &s.name, DesiredStatus::Stopped, 20).await?;
    stopped.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|d| d.secs())));
    let reasons: Vec<String> = stopped
        .iter()
        .filter(|t| t.started_by().is_none_or(|by| by == primary.id))
        .map(stop_reason)
        .collect();
    if let Some((reason, n)) = repeated_reason(&reasons, REPEATED_FAILURES as usize) {
        return Ok(Verdict::fail_now(format!(
            "{}: {n} tasks of this deployment stopped with the same reason: {}",
            verdict.evidence,
            one_line(&reason, 240)
        )));
    }
    if let Some(event) = event {
        let last = reasons.first().map(|r| format!("; the last task stopped with: {}", one_line(r, 200)));
        return Ok(Verdict::fail_now(format!(
            "{}: ECS says: {}{}",
            verdict.evidence,
            one_line(event, 200),
            last.unwrap_or_default()
        )));
    }
    Ok(verdict)
}

/// What a deployment looks like while it rolls out, for the live view: each deployment with its
/// counts, failed tasks and rollout state, then the latest service event.
pub(crate) fn service_details(s: &ServiceObs) -> Vec<String> {
    let mut deployments: Vec<&DeploymentObs> = s.deployments.iter().collect();
    deployments.sort_by_key(|d| d.status != "PRIMARY");
    let mut lines: Vec<String> = deployments
        .iter()
        .map(|d| {
            let mut line = format!(
                "{} {}: {}/{} running, {} pending",
                d.status.to_lowercase(),
                short_td(&d.task_definition),
                d.running,
                d.desired,
                d.pending
            );
            if d.failed_tasks > 0 {
                line.push_str(&format!(", {} failed", d.failed_tasks));
            }
            if let Some(state) = &d.rollout_state {
                line.push_str(&format!(", rollout {state}"));
            }
            line
        })
        .collect();
    if let Some(event) = s.events.first() {
        lines.push(format!("latest event: {}", one_line(&event.message, 200)));
    }
    lines
}

/// Failed tasks of one deployment after which the same stop reason is taken as final.
const REPEATED_FAILURES: i32 = 3;

/// ECS's own verdict that a deployment cannot start its tasks, newer than the deployment.
///
/// Only while ECS has started no task since saying it: after a fix that needs no new
/// deployment (a role, a secret, a pushed image) tasks start again, and the wait goes on.
pub(crate) fn cannot_start_event(s: &ServiceObs) -> Option<&str> {
    let since = s.primary().and_then(|d| d.created_at);
    // Events come newest first: anything before the verdict in the list is newer than it.
    let (index, event) = s
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| since.is_none_or(|t| e.at.is_none_or(|at| at >= t)))
        .find(|(_, e)| e.message.contains("unable to consistently start tasks successfully"))?;
    let started_since = s.events[..index].iter().any(|e| e.message.contains("has started"));
    (!started_since).then_some(event.message.as_str())
}

/// Why a task stopped, in one line: the container's reason first (`CannotPullContainerError:
/// ...`), else the task's.
fn stop_reason(t: &aws_sdk_ecs::types::Task) -> String {
    t.containers()
        .iter()
        .find_map(|c| c.reason().map(str::to_string))
        .or_else(|| t.stopped_reason().map(str::to_string))
        .unwrap_or_else(|| "no reason given".into())
}

/// The reason at least `min` of `reasons` share (compared on their first 60 characters, so
/// task ids and timestamps inside a message do not split them), with its count.
pub(crate) fn repeated_reason(reasons: &[String], min: usize) -> Option<(String, usize)> {
    let key = |r: &str| r.chars().take(60).collect::<String>();
    let mut counts: Vec<(String, String, usize)> = Vec::new();
    for r in reasons {
        let k = key(r);
        match counts.iter_mut().find(|(kk, _, _)| *kk == k) {
            Some(entry) => entry.2 += 1,
            None => counts.push((k, r.clone(), 1)),
        }
    }
    counts.into_iter().filter(|(_, _, n)| *n >= min).max_by_key(|(_, _, n)| *n).map(|(_, r, n)| (r, n))
}

/// `service_desired_count`: one DescribeServices call.
pub(crate) async fn service_desired_count(
    ctx: &Fetch<'_>,
    p: &ServiceDesiredCount,
) -> Result<Verdict, LookError> {
    Ok(match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => evaluate_desired_count(p, &s),
        Err(missing) => Verdict::fail(missing),
    })
}

/// `service_task_definition`: DescribeServices, plus DescribeTaskDefinition to find the latest
/// revision when only a family is named.
pub(crate) async fn service_task_definition(
    ctx: &Fetch<'_>,
    p: &ServiceTaskDefinition,
) -> Result<Verdict, LookError> {
    let mut want = TaskDefRef::parse(&p.task_definition);
    if want.revision.is_none() {
        if let Some(latest) = fetch_task_definition(ctx, &want.family).await? {
            want.revision = u32::try_from(latest.revision).ok();
        }
    }
    Ok(match fetch_service(ctx, &p.cluster, &p.service).await? {
        Ok(s) => evaluate_service_task_definition(&want, &s),
        Err(missing) => Verdict::fail(missing),
    })
}

/// `cluster_active`: one DescribeClusters call.
pub(crate) async fn cluster_active(ctx: &Fetch<'_>, p: &ClusterRef) -> Result<Verdict, LookError> {
    let request = ctx.clients.ecs.describe_clusters().clusters(&p.cluster).send();
    let Some(out) = ctx.call_opt("DescribeClusters", request).await? else {
        return Ok(Verdict::fail(format!("cluster {} not found", cluster_name(&p.cluster))));
    };
    let Some(c) = out.clusters().first() else {
        return Ok(Verdict::fail(format!("cluster {} not found", cluster_name(&p.cluster))));
    };
    Ok(evaluate_cluster(&ClusterObs {
        name: c.cluster_name().unwrap_or_default().to_string(),
        status: c.status().unwrap_or_default().to_string(),
        services: c.active_services_count(),
        running_tasks: c.running_tasks_count(),
    }))
}

/// Reads a task definition (`family` for the latest ACTIVE revision, or `family:revision`);
/// `None` when there is no such revision.
async fn fetch_task_definition(ctx: &Fetch<'_>, name: &str) -> Result<Option<TaskDefObs>, LookError> {
    let request = ctx.clients.ecs.describe_task_definition().task_definition(name).send();
    let out = match ctx.call_opt("DescribeTaskDefinition", request).await {
        Ok(Some(out)) => out,
        Ok(None) => return Ok(None),
        // ECS answers a missing family or revision with ClientException "Unable to describe task definition."
        Err(e) if e.message.contains("ClientException") => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(td) = out.task_definition() else {
        return Ok(None);
    };
    Ok(Some(TaskDefObs {
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        status: td.status().map(|s| s.as_str().to_string()).unwrap_or_else(|| "ACTIVE".into()),
        cpu: td.cpu().map(str::to_string),
        memory: td.memory().map(str::to_string),
        network_mode: td.network_mode().map(|m| m.as_str().to_string()),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| ContainerObs {
                name: c.name().unwrap_or_default().to_string(),
                image: c.image().unwrap_or_default().to_string(),
                container_ports: c.port_mappings().iter().filter_map(|m| m.container_port()).collect(),
                health_check: c.health_check().map(|h| h.command().join(" ")),
            })
            .collect(),
    }))
}

/// `task_definition`: one DescribeTaskDefinition call.
pub(crate) async fn task_definition(ctx: &Fetch<'_>, p: &TaskDefinitionCheck) -> Result<Verdict, LookError> {
    let name = match p.revision {
        Some(r) => format!("{}:{r}", p.family),
        None => p.family.clone(),
    };
    Ok(match fetch_task_definition(ctx, &name).await? {
        Some(t) => evaluate_task_definition(p, &t),
        None => Verdict::fail(format!("task definition {name} is not registered")),
    })
}

/// Service diagnostics: the deployments, the latest 5 events, and the latest stopped tasks
/// with their stop reasons and container exit codes.
pub(crate) async fn diagnose_service(
    ctx: &Fetch<'_>,
    cluster: &str,
    service: &str,
) -> Result<Vec<String>, LookError> {
    let s = match fetch_service(ctx, cluster, service).await? {
        Ok(s) => s,
        Err(missing) => return Ok(vec![missing]),
    };
    let mut lines: Vec<String> = s
        .deployments
        .iter()
        .map(|d| {
            let mut line = format!(
                "{} {}: {}/{} running, {} pending, {} failed task(s)",
                d.status,
                deployment_line(d),
                d.running,
                d.desired,
                d.pending,
                d.failed_tasks
            );
            if let Some(r) = &d.rollout_reason {
                line.push_str(&format!(": {r}"));
            }
            line
        })
        .collect();
    lines.extend(s.events.iter().take(5).map(|e| format!("event: {}", one_line(&e.message, 240))));
    lines.extend(stopped_tasks(ctx, cluster, &s.name).await?);
    Ok(lines)
}

/// The tasks of a service with the given desired status (at most `limit`), described.
///
/// ListTasks filters by service on AWS; the `group` check guards against stores that do not.
pub(super) async fn service_tasks(
    ctx: &Fetch<'_>,
    cluster: &str,
    service: &str,
    status: DesiredStatus,
    limit: usize,
) -> Result<Vec<aws_sdk_ecs::types::Task>, LookError> {
    let service = service.rsplit('/').next().unwrap_or(service);
    let request =
        ctx.clients.ecs.list_tasks().cluster(cluster).service_name(service).desired_status(status).send();
    let Some(listed) = ctx.call_opt("ListTasks", request).await? else {
        return Ok(vec![]);
    };
    let arns: Vec<String> = listed.task_arns().iter().take(limit).cloned().collect();
    if arns.is_empty() {
        return Ok(vec![]);
    }
    let request = ctx.clients.ecs.describe_tasks().cluster(cluster).set_tasks(Some(arns)).send();
    let Some(described) = ctx.call_opt("DescribeTasks", request).await? else {
        return Ok(vec![]);
    };
    let group = format!("service:{service}");
    Ok(described.tasks().iter().filter(|t| t.group().is_none_or(|g| g == group)).cloned().collect())
}

/// The latest stopped tasks of a service, one line each.
async fn stopped_tasks(ctx: &Fetch<'_>, cluster: &str, service: &str) -> Result<Vec<String>, LookError> {
    let mut tasks = service_tasks(ctx, cluster, service, DesiredStatus::Stopped, 20).await?;
    tasks.sort_by_key(|t| std::cmp::Reverse(t.stopped_at().map(|d| d.secs())));
    Ok(tasks.iter().take(5).map(stopped_task_line).collect())
}

fn stopped_task_line(t: &aws_sdk_ecs::types::Task) -> String {
    let id = t.task_arn().unwrap_or_default().rsplit('/').next().unwrap_or_default();
    let mut line = format!("stopped task {id}");
    if let Some(code) = t.stop_code() {
        line.push_str(&format!(" ({})", code.as_str()));
    }
    line.push_str(&format!(": {}", t.stopped_reason().unwrap_or("no reason given")));
    for c in t.containers() {
        let mut parts = vec![];
        if let Some(code) = c.exit_code() {
            parts.push(format!("exit {code}"));
        }
        if let Some(reason) = c.reason() {
            parts.push(reason.to_string());
        }
        if !parts.is_empty() {
            line.push_str(&format!("; container {}: {}", c.name().unwrap_or("?"), parts.join(", ")));
        }
    }
    line
}

#[cfg(test)]
#[allow(clippy::type_complexity)] // case tables are tuples
mod tests {
    use super::*;

    #[test]
    fn the_same_stop_reason_three_times_is_final() {
        let pull = |id: &str| {
            format!("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref {id}")
        };
        let reasons = vec![pull("a"), "Essential container in task exited".into(), pull("b"), pull("c")];
        let (reason, n) = repeated_reason(&reasons, 3).expect("three pull failures");
        assert_eq!(n, 3);
        assert!(reason.starts_with("CannotPullContainerError"));
        assert_eq!(repeated_reason(&reasons[..3], 3), None, "two are not yet a pattern");
    }

    #[test]
    fn ecs_saying_it_cannot_start_tasks_counts_only_for_the_current_deployment() {
        let mut s = ServiceObs {
            name: "web".into(),
            status: "ACTIVE".into(),
            desired: 2,
            running: 0,
            pending: 2,
            deployments: vec![DeploymentObs {
                created_at: Some(100),
                ..dep("d1", "PRIMARY", "web:2", 2, 0, Some("IN_PROGRESS"))
            }],
            events: vec![EventObs {
                at: Some(50),
                message: "(service web) is unable to consistently start tasks successfully.".into(),
            }],
        };
        assert_eq!(cannot_start_event(&s), None, "an event from before this deployment");
        s.events[0].at = Some(150);
        assert!(cannot_start_event(&s).is_some());
        // Tasks started since (a fix that needed no new deployment): the wait goes on.
        s.events.insert(
            0,
            EventObs {
                at: Some(160),
                message: "(service web) has started 2 tasks: (task a) (task b).".into(),
            },
        );
        assert_eq!(cannot_start_event(&s), None);
    }

    fn dep(
        id: &str,
        status: &str,
        td: &str,
        desired: i32,
        running: i32,
        rollout: Option<&str>,
    ) -> DeploymentObs {
        DeploymentObs {
            id: id.into(),
            status: status.into(),
            task_definition: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{td}"),
            desired,
            running,
            rollout_state: rollout.map(String::from),
            created_at: Some(1000),
            ..Default::default()
        }
    }

    fn svc(desired: i32, running: i32, deployments: Vec<DeploymentObs>) -> ServiceObs {
        ServiceObs {
            name: "invsys-service".into(),
            status: "ACTIVE".into(),
            desired,
            running,
            pending: desired - running,
            deployments,
            events: vec![],
        }
    }

    fn stable(td: Option<&str>) -> ServiceStable {
        ServiceStable {
            cluster: "c".into(),
            service: "invsys-service".into(),
            task_definition: td.map(String::from),
        }
    }

    #[test]
    fn expected_failures_pass_on_evidence_and_fail_while_it_is_missing() {
        use crate::verify::Status::{Fail, Pass};
        let mut failed = dep("ecs-svc/2", "PRIMARY", "inv:3", 2, 0, Some("FAILED"));
        failed.rollout_reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let v = evaluate_deployment_failed(&svc(2, 0, vec![failed]));
        assert_eq!(v.status, Pass);
        assert!(v.evidence.contains("circuit breaker"), "{}", v.evidence);
        let healthy = svc(2, 2, vec![dep("ecs-svc/1", "PRIMARY", "inv:2", 2, 2, Some("COMPLETED"))]);
        assert_eq!(evaluate_deployment_failed(&healthy).status, Fail);

        let events = ServiceObs {
            events: vec![
                EventObs {
                    at: Some(3),
                    message: "(service s) is unable to consistently start tasks successfully.".into(),
                },
                EventObs { at: Some(2), message: "(service s) has started 2 tasks".into() },
            ],
            ..healthy.clone()
        };
        let re = pattern("unable to consistently START").unwrap();
        assert_eq!(evaluate_service_event(&re, &events).status, Pass, "case-insensitive");
        let v = evaluate_service_event(&pattern("AccessDenied").unwrap(), &events);
        assert_eq!(
            (v.status, v.evidence.starts_with("no event matches yet; latest: (service s) is unable")),
            (Fail, true)
        );

        let stopped = vec![
            "stopped task 1 (EssentialContainerExited): Essential container in task exited; container carts: exit 1, AccessDeniedException: not authorized to perform: dynamodb:Query".to_string(),
        ];
        let v = evaluate_task_stopped(&pattern("dynamodb:Query").unwrap(), "carts", &stopped);
        assert_eq!(v.status, Pass);
        let v = evaluate_task_stopped(&pattern("CannotPull").unwrap(), "carts", &[]);
        assert_eq!((v.status, v.evidence.as_str()), (Fail, "no task of carts has stopped yet"));
        assert!(pattern("(unclosed").is_err());

        let mut draining = healthy.clone();
        draining.status = "DRAINING".into();
        assert_eq!(evaluate_service_active(&healthy).status, Pass);
        assert_eq!(evaluate_service_active(&draining).status, Fail);
    }

    #[test]
    fn service_stable_table() {
        use crate::verify::Status::{Fail, Pass};
        let completed = || dep("ecs-svc/1", "PRIMARY", "inv:2", 2, 2, Some("COMPLETED"));
        let mut with_failed_reason = completed();
        with_failed_reason.rollout_state = Some("FAILED".into());
        with_failed_reason.rollout_reason =
            Some("ECS deployment circuit breaker: tasks failed to start.".into());
        let mut rollback_primary = dep("ecs-svc/0", "PRIMARY", "inv:1", 2, 2, Some("COMPLETED"));
        rollback_primary.created_at = Some(2000);
        let rolled_back_events = ServiceObs {
            events: vec![
                EventObs { at: Some(2001), message: "(service invsys-service) rolling back to deployment ecs-svc/0.".into() },
                EventObs { at: Some(1990), message: "(service invsys-service) (deployment ecs-svc/1) deployment failed: tasks failed to start.".into() },
            ],
            ..svc(2, 2, vec![rollback_primary.clone()])
        };
        let old_events = ServiceObs {
            events: vec![EventObs { at: Some(100), message: "rolling back to deployment ecs-svc/x".into() }],
            ..svc(2, 2, vec![rollback_primary.clone()])
        };
        let mut inactive = svc(2, 2, vec![completed()]);
        inactive.status = "INACTIVE".into();
        #[rustfmt::skip]
        let cases: Vec<(&str, ServiceStable, ServiceObs, crate::verify::Status, bool, &str)> = vec![
            ("stable", stable(None), svc(2, 2, vec![completed()]), Pass, false,
             "invsys-service: 2/2 running, 0 pending, deployment ecs-svc/1 COMPLETED (inv:2)"),
            ("stable with wanted revision", stable(Some("inv:2")), svc(2, 2, vec![completed()]), Pass, false, "COMPLETED"),
            ("stable with wanted family", stable(Some("inv")), svc(2, 2, vec![completed()]), Pass, false, "COMPLETED"),
            ("no rollout state reported (older API) is the waiter's rule", stable(None),
             svc(1, 1, vec![dep("d", "PRIMARY", "inv:2", 1, 1, None)]), Pass, false, "deployment d PRIMARY"),
            ("running < desired", stable(None), svc(2, 1, vec![dep("d", "PRIMARY", "inv:2", 2, 1, Some("IN_PROGRESS"))]),
             Fail, false, "1/2 running, 1 pending"),
            ("counts match but rollout in progress", stable(None),
             svc(2, 2, vec![dep("d", "PRIMARY", "inv:2", 2, 2, Some("IN_PROGRESS"))]), Fail, false, "IN_PROGRESS"),
            ("two deployments", stable(None),
             svc(2, 2, vec![dep("new", "PRIMARY", "inv:3", 2, 1, Some("IN_PROGRESS")), dep("old", "ACTIVE", "inv:2", 2, 1, Some("COMPLETED"))]),
             Fail, false, "2 deployments: also deployment old COMPLETED (inv:2)"),
            ("rollout FAILED is definitive", stable(None), svc(2, 0, vec![with_failed_reason]), Fail, true,
             "rollout FAILED: ECS deployment circuit breaker"),
            ("FAILED deployment next to the rollback", stable(Some("inv:3")),
             svc(2, 2, vec![dep("ecs-svc/0", "PRIMARY", "inv:2", 2, 2, Some("IN_PROGRESS")), dep("ecs-svc/1", "ACTIVE", "inv:3", 0, 0, Some("FAILED"))]),
             Fail, true, "deployment ecs-svc/1 (inv:3) FAILED and ECS is rolling back"),
            ("rollback finished: old revision stable, events tell", stable(Some("inv:2")), rolled_back_events.clone(), Fail, true,
             "rolled back to inv:1"),
            ("rollback finished without a named revision", stable(None), rolled_back_events, Fail, true, "rolled back"),
            ("old rollback events before this deployment do not count", stable(None), old_events, Pass, false, "COMPLETED"),
            ("stable on another revision than the step deployed", stable(Some("inv:3")), svc(2, 2, vec![completed()]),
             Fail, false, "waiting for a deployment of inv:3"),
            ("another family", stable(Some("web")), svc(2, 2, vec![completed()]), Fail, false, "waiting for a deployment of web"),
            ("inactive service", stable(None), inactive, Fail, false, "service is INACTIVE"),
            ("no primary", stable(None), svc(0, 0, vec![]), Fail, false, "no PRIMARY deployment"),
        ];
        for (name, p, s, status, definitive, evidence) in cases {
            let v = evaluate_service_stable(&p, &s);
            assert_eq!(v.status, status, "{name}: {}", v.evidence);
            assert_eq!(v.definitive, definitive, "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?} lacks {evidence:?}", v.evidence);
        }
    }

    #[test]
    fn desired_count_table() {
        let p = |count| ServiceDesiredCount { cluster: "c".into(), service: "s".into(), count };
        let d = || vec![dep("d", "PRIMARY", "inv:1", 3, 3, Some("COMPLETED"))];
        let cases = [
            (3, svc(3, 3, d()), true),
            (3, svc(3, 2, d()), false),
            (3, svc(2, 2, d()), false),
            (0, svc(0, 0, d()), true),
        ];
        for (count, s, pass) in cases {
            let v = evaluate_desired_count(&p(count), &s);
            assert_eq!(v.status == crate::verify::Status::Pass, pass, "{}", v.evidence);
            assert!(v.evidence.contains("desired"));
        }
    }

    #[test]
    fn service_task_definition_table() {
        use crate::verify::Status::{Fail, Pass};
        let want = TaskDefRef::parse("inv:3");
        let mut failed = dep("n", "ACTIVE", "inv:3", 2, 0, Some("FAILED"));
        failed.rollout_reason = Some("tasks failed to start".into());
        #[rustfmt::skip]
        let cases = vec![
            ("rolled out", svc(2, 2, vec![dep("n", "PRIMARY", "inv:3", 2, 2, Some("COMPLETED"))]), Pass, false),
            ("still on old", svc(2, 2, vec![dep("o", "PRIMARY", "inv:2", 2, 2, Some("COMPLETED"))]), Fail, false),
            ("rolling", svc(2, 3, vec![dep("n", "PRIMARY", "inv:3", 2, 1, Some("IN_PROGRESS")), dep("o", "ACTIVE", "inv:2", 2, 2, None)]), Fail, false),
            ("old tasks draining", svc(2, 3, vec![dep("n", "PRIMARY", "inv:3", 2, 2, Some("IN_PROGRESS")), dep("o", "ACTIVE", "inv:2", 0, 1, None)]), Fail, false),
            ("failed and rolled back", svc(2, 2, vec![dep("o", "PRIMARY", "inv:2", 2, 2, Some("IN_PROGRESS")), failed]), Fail, true),
        ];
        for (name, s, status, definitive) in cases {
            let v = evaluate_service_task_definition(&want, &s);
            assert_eq!((v.status, v.definitive), (status, definitive), "{name}: {}", v.evidence);
        }
    }

    #[test]
    fn task_definition_refs_parse_and_match() {
        let cases = [
            ("arn:aws:ecs:us-east-1:1:task-definition/web:12", "web", Some(12)),
            ("web:3", "web", Some(3)),
            ("web", "web", None),
            ("my:odd", "my:odd", None),
        ];
        for (text, family, rev) in cases {
            assert_eq!(
                TaskDefRef::parse(text),
                TaskDefRef { family: family.into(), revision: rev },
                "{text}"
            );
        }
        assert!(TaskDefRef::parse("web").matches("arn:aws:ecs:r:1:task-definition/web:7"));
        assert!(TaskDefRef::parse("web:7").matches("web:7"));
        assert!(!TaskDefRef::parse("web:7").matches("web:8"));
        assert!(!TaskDefRef::parse("web").matches("webapp:1"));
    }

    #[test]
    fn cluster_table() {
        let c = |status: &str| ClusterObs {
            name: "c".into(),
            status: status.into(),
            services: 1,
            running_tasks: 2,
        };
        assert_eq!(evaluate_cluster(&c("ACTIVE")).status, crate::verify::Status::Pass);
        assert_eq!(evaluate_cluster(&c("INACTIVE")).status, crate::verify::Status::Fail);
        assert_eq!(
            evaluate_cluster(&c("ACTIVE")).evidence,
            "cluster c ACTIVE: 1 service(s), 2 running task(s)"
        );
    }

    #[test]
    fn task_definition_table() {
        use crate::verify::Status::{Fail, Pass};
        let td = TaskDefObs {
            family: "inv".into(),
            revision: 2,
            status: "ACTIVE".into(),
            cpu: Some("256".into()),
            memory: Some("512".into()),
            network_mode: Some("awsvpc".into()),
            containers: vec![
                ContainerObs {
                    name: "web".into(),
                    image: "123.dkr.ecr.us-east-1.amazonaws.com/inv:v2".into(),
                    container_ports: vec![5001],
                    health_check: Some("CMD-SHELL curl -f http://localhost:5001/health || exit 1".into()),
                },
                ContainerObs { name: "sidecar".into(), image: "busybox".into(), ..Default::default() },
            ],
        };
        let base = TaskDefinitionCheck {
            family: "inv".into(),
            revision: None,
            container: None,
            image: None,
            cpu: None,
            memory: None,
            network_mode: None,
            container_port: None,
            health_check: None,
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, TaskDefinitionCheck, crate::verify::Status, bool, &str)> = vec![
            ("just registered", base.clone(), Pass, false, "inv:2: ACTIVE, web 123"),
            ("all fields", TaskDefinitionCheck {
                image: Some("123.dkr.ecr.us-east-1.amazonaws.com/inv:*".into()), cpu: Some("256".into()),
                memory: Some("512".into()), network_mode: Some("AWSVPC".into()), container_port: Some(5001),
                health_check: Some("/health".into()), ..base.clone() }, Pass, false, "network mode awsvpc"),
            ("exact image mismatch", TaskDefinitionCheck { image: Some("inv:v2".into()), ..base.clone() }, Fail, false, "expected inv:v2"),
            ("wrong port, named revision: definitive", TaskDefinitionCheck { revision: Some(2), container_port: Some(80), ..base.clone() },
             Fail, true, "container port 80 not mapped (ports: 5001)"),
            ("memory", TaskDefinitionCheck { memory: Some("1024".into()), ..base.clone() }, Fail, false, "memory is 512, expected 1024"),
            ("named container without health check", TaskDefinitionCheck { container: Some("sidecar".into()), health_check: Some("x".into()), ..base.clone() },
             Fail, false, "no health check"),
            ("missing container", TaskDefinitionCheck { container: Some("db".into()), ..base.clone() }, Fail, false, "no container named db"),
            ("health check text", TaskDefinitionCheck { health_check: Some("/ready".into()), ..base.clone() }, Fail, false, "does not contain"),
        ];
        for (name, p, status, definitive, evidence) in cases {
            let v = evaluate_task_definition(&p, &td);
            assert_eq!((v.status, v.definitive), (status, definitive), "{name}: {}", v.evidence);
            assert!(v.evidence.contains(evidence), "{name}: {:?}", v.evidence);
        }
        let inactive = TaskDefObs { status: "INACTIVE".into(), ..td };
        assert!(evaluate_task_definition(&base, &inactive).evidence.contains("status is INACTIVE"));
    }
}
