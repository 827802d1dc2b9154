//! The verification engine: proves, after a step, that the account is in the expected state.
//!
//! Every check kind is a *fetch* (SDK calls that condense the account into a small plain
//! observation) followed by a pure *evaluate* function that turns the observation into a
//! [`Verdict`]: pass or fail, one line of evidence, and whether waiting longer could change
//! the answer. Each family of kinds lives in its own file; [`poll`] waits, paces and backs
//! off; this module holds the public API and the dispatch from [`CheckSpec`] to the family.
//!
//! The engine never prints: it returns [`Outcome`] values and reports [`Progress`] through a
//! callback. Time comes only from the injected [`Clock`].

mod cloudmap;
mod cloudwatch;
mod command;
mod dns;
mod dynamodb;
mod ecs;
mod elb;
mod http;
mod iam;
mod identity;
mod poll;
mod resource;
pub use crate::clock::{Clock, SystemClock};
pub(crate) use crate::concurrent::join_all;
mod scaling;
mod text;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
pub(crate) mod testing;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio_util::sync::CancellationToken;

use crate::aws::{describe, Clients, ErrorClass};
use crate::lab::check::{Check, CheckSpec};
use crate::lab::model::Hint;

/// Options that shape every check: deadlines, the DNS server, pacing, command environment.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// `--timeout`: replaces every check's deadline.
    pub timeout_override: Option<Duration>,
    /// `--dns-server` / `LABRUNNER_DNS_SERVER`; `None` means the system resolver.
    pub dns_server: Option<std::net::SocketAddr>,
    /// During long waits, never more than one fetch per check per this interval (default 2 s).
    pub max_interval: Duration,
    /// Extra environment for `command` checks (the lab variables, the AWS identity and region).
    pub command_env: Vec<(String, String)>,
    /// Inherited variables `command` checks must not see.
    pub command_unset: Vec<String>,
    /// Working directory for `command` checks; the current one when `None`.
    pub workdir: Option<PathBuf>,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            timeout_override: None,
            dns_server: None,
            max_interval: Duration::from_secs(2),
            command_env: Vec::new(),
            command_unset: Vec::new(),
            workdir: None,
        }
    }
}

/// A new HTTP client as `http` checks use it: the public roots plus any CA bundle the
/// environment names, environment proxies, short timeouts.
pub fn http_client() -> reqwest::Client {
    http::client()
}

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The account is in the expected state.
    Pass,
    /// It is not (or not yet, when the deadline passed or the wait was cancelled).
    Fail,
    /// labrunner could not look: access denied, bad credentials, bad parameters.
    Error,
}

/// The result of one check, with the evidence behind it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The check's kind (`service_stable`).
    pub kind: &'static str,
    /// What was checked, in a few words.
    pub description: String,
    /// Pass, fail or error.
    pub status: Status,
    /// One line: what was seen on the last look.
    pub evidence: String,
    /// On fail or error: why, one line each; empty on pass.
    pub diagnostics: Vec<String>,
    /// How many looks were taken.
    pub attempts: u32,
    /// How long the check took (serialized as milliseconds).
    #[serde(serialize_with = "as_millis")]
    pub elapsed: Duration,
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A report after each look while waiting.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The look just taken, from 1.
    pub attempt: u32,
    /// What it saw (the evidence, or the error being backed off from).
    pub status_line: String,
    /// What else AWS shows while the check waits (the latest service event, failed tasks,
    /// each target's health with its reason code): the live view under the status line.
    pub details: Vec<String>,
    /// Time since the wait started.
    pub elapsed: Duration,
}

/// Runs checks against the account the clients point at.
pub struct Verifier {
    clients: Arc<Clients>,
    settings: VerifySettings,
    clock: Arc<dyn Clock>,
    http: reqwest::Client,
}

impl Verifier {
    /// A verifier on the system clock.
    pub fn new(clients: Arc<Clients>, settings: VerifySettings) -> Self {
        Verifier { clients, settings, clock: Arc::new(SystemClock), http: http::client() }
    }

    /// A verifier on the system clock whose `http` checks use `http` (validation shares one
    /// client across every account: building a client parses its trust roots).
    pub fn with_http(clients: Arc<Clients>, settings: VerifySettings, http: reqwest::Client) -> Self {
        Verifier { clients, settings, clock: Arc::new(SystemClock), http }
    }

    /// The same verifier on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// One look, no waiting (`labrunner verify`, instructor validation), with diagnostics on failure.
    pub async fn check_once(&self, check: &Check) -> Outcome {
        let started = self.clock.now();
        let (result, _calls) = self.look(check, self.deadline(check)).await;
        let (status, evidence, mut diagnostics) = match result {
            Ok(v) => (v.status, v.evidence, Vec::new()),
            Err(e) => match e.class {
                ErrorClass::NotFound => (Status::Fail, e.message, Vec::new()),
                _ => (Status::Error, format!("could not look: {}", e.message), vec![e.advice()]),
            },
        };
        if status == Status::Fail {
            diagnostics.extend(self.diagnose(check).await);
        }
        self.outcome(check, status, evidence, diagnostics, 1, started)
    }

    /// Polls until the check passes, fails for good (a FAILED rollout), the deadline passes, or
    /// `cancel` fires. A cancelled wait is a `Fail` whose evidence says it was cancelled.
    pub async fn wait(
        &self,
        check: &Check,
        cancel: &CancellationToken,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Outcome {
        self.wait_seeded(check, 0, cancel, progress).await
    }

    /// Waits for all checks of one step concurrently; progress reports carry the check's index.
    ///
    /// A check that fails for good (a FAILED rollout, tasks that keep failing the same way,
    /// targets that stay unhealthy) ends the wait for its siblings at once: the step has
    /// failed, and its diagnosis is told now, not at a sibling's deadline. Diagnostics two
    /// checks share (two checks of one service) are told once.
    pub async fn wait_all(
        &self,
        checks: &[Check],
        cancel: &CancellationToken,
        progress: &(dyn Fn(usize, &Progress) + Send + Sync),
    ) -> Vec<Outcome> {
        let stop = cancel.child_token();
        let stop = &stop;
        let waits: Vec<_> = checks
            .iter()
            .enumerate()
            .map(|(i, check)| {
                Box::pin(async move {
                    let report = move |p: &Progress| progress(i, p);
                    let (outcome, end) = self.wait_ended(check, i as u64 + 1, stop, &report).await;
                    if end == End::Final {
                        stop.cancel();
                    }
                    (outcome, end)
                }) as Pin<Box<dyn Future<Output = (Outcome, End)> + Send + '_>>
            })
            .collect();
        let ended = crate::concurrent::join_all(waits).await;
        let failed_for_good =
            ended.iter().find(|(_, e)| *e == End::Final).map(|(o, _)| o.description.clone());
        let mut seen: Vec<String> = Vec::new();
        ended
            .into_iter()
            .map(|(mut outcome, end)| {
                if let (End::Cancelled, Some(other), false) = (end, &failed_for_good, cancel.is_cancelled()) {
                    outcome.evidence = outcome.evidence.replacen(
                        "cancelled after",
                        &format!("not waited for: `{other}` failed for good after"),
                        1,
                    );
                    outcome.diagnostics.clear();
                }
                outcome.diagnostics.retain(|d| {
                    let new = !seen.contains(d);
                    seen.push(d.clone());
                    new
                });
                outcome
            })
            .collect()
    }

    async fn wait_seeded(
        &self,
        check: &Check,
        seed: u64,
        cancel: &CancellationToken,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Outcome {
        self.wait_ended(check, seed, cancel, progress).await.0
    }

    async fn wait_ended(
        &self,
        check: &Check,
        seed: u64,
        cancel: &CancellationToken,
        progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> (Outcome, End) {
        let started = self.clock.now();
        let deadline = self.deadline(check);
        let pacing = poll::Pacing {
            deadline,
            max_interval: self.settings.max_interval,
            seed: poll::seed_for(&check.describe(), seed),
        };
        let end =
            poll::poll(&*self.clock, &pacing, cancel, |remaining| self.look(check, remaining), progress)
                .await;
        let waited = humantime::format_duration(Duration::from_secs(end.elapsed.as_secs()));
        let attempts = end.attempts;
        let mut how = End::Other;
        let (status, evidence, mut diagnostics) = match end.ending {
            poll::Ending::Passed(v) => (Status::Pass, v.evidence, Vec::new()),
            poll::Ending::Definitive(v) => {
                how = End::Final;
                (Status::Fail, v.evidence, Vec::new())
            }
            poll::Ending::Error(e) => {
                (Status::Error, format!("could not look: {}", e.message), vec![e.advice()])
            }
            poll::Ending::TimedOut(last) => {
                let line = format!("gave up after {waited} ({attempts} looks)");
                match last {
                    Some(Ok(v)) => (Status::Fail, v.evidence, vec![line]),
                    Some(Err(e)) if e.class == ErrorClass::NotFound => (Status::Fail, e.message, vec![line]),
                    Some(Err(e)) => (Status::Error, format!("could not look: {}", e.message), vec![line]),
                    None => (Status::Fail, "no look completed before the deadline".to_string(), vec![line]),
                }
            }
            poll::Ending::Cancelled(last) => {
                let seen = match last {
                    Some(Ok(v)) => format!("; last seen: {}", v.evidence),
                    Some(Err(e)) => format!("; last seen: {}", e.message),
                    None => String::new(),
                };
                let evidence = format!("cancelled after {waited}{seen}");
                let outcome = self.outcome(
                    check,
                    Status::Fail,
                    evidence,
                    vec!["the wait was cancelled".into()],
                    attempts,
                    started,
                );
                return (outcome, End::Cancelled);
            }
        };
        if status == Status::Fail && !cancel.is_cancelled() {
            diagnostics.extend(self.diagnose(check).await);
        }
        (self.outcome(check, status, evidence, diagnostics, attempts, started), how)
    }

    fn deadline(&self, check: &Check) -> Duration {
        self.settings.timeout_override.unwrap_or_else(|| check.deadline())
    }

    fn outcome(
        &self,
        check: &Check,
        status: Status,
        evidence: String,
        diagnostics: Vec<String>,
        attempts: u32,
        started: Instant,
    ) -> Outcome {
        Outcome {
            kind: check.kind(),
            description: check.describe(),
            status,
            evidence: text::one_line(&evidence, 400),
            diagnostics: if status == Status::Pass {
                Vec::new()
            } else {
                diagnostics.iter().map(|d| text::one_line(d, 300)).collect()
            },
            attempts,
            elapsed: self.clock.now().saturating_duration_since(started),
        }
    }

    fn ctx(&self, remaining: Duration) -> Fetch<'_> {
        Fetch {
            clients: &self.clients,
            settings: &self.settings,
            http: &self.http,
            calls: AtomicU32::new(0),
            remaining,
        }
    }

    /// One fetch and evaluation; returns the verdict and the number of calls it took.
    async fn look(&self, check: &Check, remaining: Duration) -> (Result<Verdict, LookError>, u32) {
        let ctx = self.ctx(remaining);
        let result = match &check.spec {
            CheckSpec::CallerIdentity(p) => identity::caller_identity(&ctx, p).await,
            CheckSpec::ClusterActive(p) => ecs::cluster_active(&ctx, p).await,
            CheckSpec::TaskDefinition(p) => ecs::task_definition(&ctx, p).await,
            CheckSpec::ServiceStable(p) => ecs::service_stable(&ctx, p).await,
            CheckSpec::ServiceActive(p) => ecs::service_active(&ctx, p).await,
            CheckSpec::DeploymentFailed(p) => ecs::deployment_failed(&ctx, p).await,
            CheckSpec::TaskStopped(p) => ecs::task_stopped(&ctx, p).await,
            CheckSpec::ServiceEvent(p) => ecs::service_event(&ctx, p).await,
            CheckSpec::ServiceDesiredCount(p) => ecs::service_desired_count(&ctx, p).await,
            CheckSpec::ServiceTaskDefinition(p) => ecs::service_task_definition(&ctx, p).await,
            CheckSpec::TargetsHealthy(p) => elb::targets_healthy(&ctx, p).await,
            CheckSpec::LoadBalancerActive(p) => elb::load_balancer_active(&ctx, p).await,
            CheckSpec::DnsResolves(p) => dns::dns_resolves(&ctx, p).await,
            CheckSpec::PrivateDns(p) => cloudmap::private_dns(&ctx, p).await,
            CheckSpec::ServiceConnect(p) => cloudmap::service_connect(&ctx, p).await,
            CheckSpec::CloudmapNamespace(p) => cloudmap::namespace(&ctx, p).await,
            CheckSpec::CloudmapInstances(p) => cloudmap::instances(&ctx, p).await,
            CheckSpec::Http(p) => http::http(&ctx, p).await,
            CheckSpec::ScalableTarget(p) => scaling::scalable_target(&ctx, p).await,
            CheckSpec::ScalingPolicy(p) => scaling::scaling_policy(&ctx, p).await,
            CheckSpec::Alarm(p) => cloudwatch::alarm(&ctx, p).await,
            CheckSpec::LogGroup(p) => cloudwatch::log_group(&ctx, p).await,
            CheckSpec::IamRole(p) => iam::iam_role(&ctx, p).await,
            CheckSpec::RoleAllows(p) => iam::role_allows(&ctx, p).await,
            CheckSpec::RoleDenies(p) => iam::role_denies(&ctx, p).await,
            CheckSpec::DynamodbTable(p) => dynamodb::table(&ctx, p).await,
            CheckSpec::Exists(p) => resource::exists(&ctx, &p.0).await,
            CheckSpec::Command(p) => command::command(&ctx, p).await,
        };
        (result, ctx.calls.load(Ordering::Relaxed))
    }

    /// Why a check failed: gathered once, after the last look.
    async fn diagnose(&self, check: &Check) -> Vec<String> {
        let ctx = self.ctx(Duration::from_secs(30));
        let lines = match &check.spec {
            CheckSpec::ServiceStable(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::ServiceDesiredCount(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::ServiceTaskDefinition(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::DeploymentFailed(p) | CheckSpec::ServiceActive(p) => {
                ecs::diagnose_service(&ctx, &p.cluster, &p.service).await
            }
            CheckSpec::TaskStopped(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::ServiceEvent(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::TargetsHealthy(p) => elb::diagnose_targets(&ctx, p).await,
            CheckSpec::PrivateDns(p) => cloudmap::diagnose_private_dns(&ctx, p).await,
            CheckSpec::ServiceConnect(p) => ecs::diagnose_service(&ctx, &p.cluster, &p.service).await,
            CheckSpec::LogGroup(p) => cloudwatch::diagnose_log_group(&ctx, p).await,
            CheckSpec::Http(p) => http::diagnose(&ctx, p).await,
            _ => Ok(Vec::new()),
        };
        match lines {
            Ok(lines) => lines,
            Err(e) => vec![format!("could not gather diagnostics: {}", e.message)],
        }
    }
}

/// How a wait ended, beyond its outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Failed for good: waiting longer would not help.
    Final,
    /// Cancelled (Ctrl-C, or a sibling check failed for good).
    Cancelled,
    /// Passed, timed out, or could not look.
    Other,
}

/// Hints whose `when` regex (case-insensitive) matches the evidence or a diagnostic of any
/// outcome that did not pass, in the order the hints are declared.
pub fn matching_hints<'a>(hints: &'a [Hint], outcomes: &[Outcome]) -> Vec<&'a Hint> {
    let texts: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.status != Status::Pass)
        .flat_map(|o| std::iter::once(o.evidence.as_str()).chain(o.diagnostics.iter().map(String::as_str)))
        .collect();
    hints
        .iter()
        .filter(|hint| {
            let Some(when) = &hint.when else { return false };
            // A broken pattern is a lint finding, not a reason to stop a run.
            let Ok(re) = regex::RegexBuilder::new(when).case_insensitive(true).build() else {
                return false;
            };
            texts.iter().any(|t| re.is_match(t))
        })
        .collect()
}

/// What one look concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Pass or Fail (never Error: errors are [`LookError`]s).
    pub status: Status,
    /// One line of what was seen.
    pub evidence: String,
    /// Waiting longer cannot make a failing check pass.
    pub definitive: bool,
    /// A failure that is final once it has lasted this long, unchanged (its signature, the
    /// time): every target unhealthy for longer than the health check allows to recover.
    pub final_after: Option<(String, Duration)>,
    /// Facts beside the evidence for the live view (see [`Progress::details`]).
    pub details: Vec<String>,
}

impl Verdict {
    /// The check passes.
    pub fn pass(evidence: impl Into<String>) -> Self {
        Verdict {
            status: Status::Pass,
            evidence: evidence.into(),
            definitive: false,
            final_after: None,
            details: Vec::new(),
        }
    }

    /// Not (yet) in the expected state.
    pub fn fail(evidence: impl Into<String>) -> Self {
        Verdict {
            status: Status::Fail,
            evidence: evidence.into(),
            definitive: false,
            final_after: None,
            details: Vec::new(),
        }
    }

    /// Failed for good: waiting longer will not help.
    pub fn fail_now(evidence: impl Into<String>) -> Self {
        Verdict {
            status: Status::Fail,
            evidence: evidence.into(),
            definitive: true,
            final_after: None,
            details: Vec::new(),
        }
    }

    /// The same verdict with live facts for the waiting view.
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }

    /// This failure is final once the same `signature` has been seen for `after`.
    pub fn final_after(mut self, signature: impl Into<String>, after: Duration) -> Self {
        self.final_after = Some((signature.into(), after));
        self
    }

    /// Pass when `ok`, otherwise a (non-definitive) fail; same evidence either way.
    pub fn pass_if(ok: bool, evidence: impl Into<String>) -> Self {
        if ok {
            Verdict::pass(evidence)
        } else {
            Verdict::fail(evidence)
        }
    }
}

/// A look that could not be completed: an SDK error, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LookError {
    /// Throttling, transient, not found, access denied, credentials, other.
    pub class: ErrorClass,
    /// "DescribeServices: AccessDeniedException: ..."
    pub message: String,
}

impl LookError {
    /// An error of `class` with `message`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        LookError { class, message: message.into() }
    }

    /// Classifies an SDK error from the operation `op`.
    pub fn sdk<E, R>(op: &str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        LookError { class: ErrorClass::of(err), message: format!("{op}: {}", describe(err)) }
    }

    /// What the student can do about it, one line.
    pub fn advice(&self) -> String {
        match self.class {
            ErrorClass::Credentials => {
                "the AWS credentials are missing, invalid or expired: sign in again (aws sso login) or pass --profile".into()
            }
            ErrorClass::AccessDenied => "the credentials in use may not read this; check the IAM permissions".into(),
            ErrorClass::Throttling | ErrorClass::Transient => "AWS did not answer in time; try again".into(),
            ErrorClass::NotFound | ErrorClass::Other => format!("AWS refused the request: {}", self.message),
        }
    }
}

/// What a fetch needs: the clients, the settings, and a counter of SDK calls made.
pub(crate) struct Fetch<'a> {
    clients: &'a Clients,
    settings: &'a VerifySettings,
    http: &'a reqwest::Client,
    calls: AtomicU32,
    /// Time left before the deadline, for fetches that take real time (commands).
    remaining: Duration,
}

impl Fetch<'_> {
    /// Sends one SDK request, counting it and classifying its error.
    pub async fn call<T, E, R>(
        &self,
        op: &str,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<T, LookError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        self.calls.fetch_add(1, Ordering::Relaxed);
        request.await.map_err(|e| LookError::sdk(op, &e))
    }

    /// Like [`Fetch::call`], but a not-found error becomes `Ok(None)`.
    pub async fn call_opt<T, E, R>(
        &self,
        op: &str,
        request: impl Future<Output = Result<T, SdkError<E, R>>>,
    ) -> Result<Option<T>, LookError>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match self.call(op, request).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.class == ErrorClass::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Counts a request made outside the SDK (HTTP, DNS).
    pub fn count(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Status, evidence: &str, diagnostics: &[&str]) -> Outcome {
        Outcome {
            kind: "service_stable",
            description: "d".into(),
            status,
            evidence: evidence.into(),
            diagnostics: diagnostics.iter().map(|s| s.to_string()).collect(),
            attempts: 1,
            elapsed: Duration::from_millis(1500),
        }
    }

    fn hint(when: Option<&str>, text: &str) -> Hint {
        Hint { when: when.map(String::from), text: text.into() }
    }

    #[test]
    fn hints_match_failed_outcomes_case_insensitively_in_declared_order() {
        let hints = vec![
            hint(Some("CannotPullContainer"), "pull"),
            hint(None, "always on request"),
            hint(Some("ResponseCodeMismatch|\\[502\\]"), "health"),
            hint(Some("(unclosed"), "broken"),
            hint(Some("circuit breaker"), "cb"),
        ];
        let outcomes = vec![
            outcome(Status::Pass, "circuit breaker ok", &[]),
            outcome(Status::Fail, "0/2 running", &["task stopped: cannotpullcontainererror: pull image"]),
            outcome(Status::Error, "x", &["10.0.1.2:5001 unhealthy Target.ResponseCodeMismatch"]),
        ];
        let got: Vec<&str> = matching_hints(&hints, &outcomes).iter().map(|h| h.text.as_str()).collect();
        assert_eq!(got, vec!["pull", "health"]);
        assert!(matching_hints(&hints, &[]).is_empty());
    }

    #[test]
    fn outcome_serializes_status_lowercase_and_elapsed_in_ms() {
        let json = serde_json::to_value(outcome(Status::Fail, "e", &["d"])).unwrap();
        assert_eq!(json["status"], "fail");
        assert_eq!(json["elapsed"], 1500);
        assert_eq!(json["kind"], "service_stable");
    }
}
