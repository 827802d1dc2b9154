//! Running a validation: reach each account (AssumeRole with the read-only session policy, or
//! a profile), then evaluate the lab's checkpoints or the readiness checks there. Accounts run
//! concurrently up to a bound; each account's failure stays in its own row.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{readiness, AccountReport, Cell, CheckResult, Mark, Mode, Problem, ProblemKind, Report, Student};
use crate::aws::{describe, AwsOptions, Clients, ErrorClass, Identity};
use crate::lab::check::CheckSpec;
use crate::lab::Lab;
use crate::session::vars::{missing_advice, Values};
use crate::verify::{Status, Verifier, VerifySettings};

/// The session name every validation AssumeRole uses (visible in the students' CloudTrail).
pub const SESSION_NAME: &str = "labrunner-validate";
/// How long the assumed credentials live: the shortest STS allows.
pub const SESSION_SECONDS: i32 = 900;
/// Evidence of a `command` check in a validation.
pub const COMMAND_NOT_RUN: &str =
    "not run (command checks could write; validation runs typed read-only checks only)";

/// How accounts are reached.
#[derive(Debug, Clone)]
pub enum Access {
    /// AssumeRole into `arn:<partition>:iam::<account>:role/<role_name>` with the instructor's STS client.
    Role {
        /// The instructor's STS client.
        sts: aws_sdk_sts::Client,
        /// The role in every student account.
        role_name: String,
        /// The external id the roles' trust policies require, if any.
        external_id: Option<String>,
    },
    /// Each student is a named profile (`Student::profile`), loaded with these options.
    Profiles {
        /// Region and endpoint shared by every profile.
        options: AwsOptions,
    },
}

/// A validation run's settings.
#[derive(Clone)]
pub struct Validation {
    /// The lab.
    pub lab: Arc<Lab>,
    /// Checkpoints or preflight.
    pub mode: Mode,
    /// The instructor's configuration: region, endpoint, retry settings for the accounts' clients.
    pub base: SdkConfig,
    /// How accounts are reached.
    pub access: Access,
    /// Check settings (DNS server, deadlines).
    pub settings: VerifySettings,
    /// Accounts at once (at least 1).
    pub concurrency: usize,
    /// First pause when AssumeRole is throttled; doubles per retry.
    pub backoff: Duration,
    /// AssumeRole attempts on throttling (on top of the SDK's own retries).
    pub attempts: u32,
}

impl Validation {
    /// Validates every student, at most `concurrency` at a time, in a report in input order.
    pub async fn run(&self, students: Vec<Student>) -> Report {
        let columns = match self.mode {
            Mode::Checkpoints => super::checkpoints(&self.lab),
            Mode::Preflight => readiness::columns(),
        };
        let permits = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        let total = students.len();
        for (i, student) in students.into_iter().enumerate() {
            // Taking the permit before spawning keeps accounts starting in input order.
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let this = self.clone();
            tasks.spawn(async move {
                let row = this.account(student).await;
                drop(permit);
                (i, row)
            });
        }
        let mut rows: Vec<Option<AccountReport>> = vec![None; total];
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, row)) = joined {
                rows[i] = Some(row);
            }
        }
        Report {
            lab: self.lab.id().to_string(),
            mode: self.mode,
            columns,
            accounts: rows.into_iter().flatten().collect(),
        }
    }

    /// One account, start to end; never fails (failures become the row).
    pub async fn account(&self, mut student: Student) -> AccountReport {
        let (clients, identity) = match self.open(&student).await {
            Ok(pair) => pair,
            Err(problem) => return AccountReport::failed(student, problem),
        };
        if student.account_id.is_empty() {
            student.account_id = identity.account.clone();
        }
        let clients = Arc::new(clients);
        let mut values = Values::from_identity(&self.lab, &identity);
        values.apply_defaults(&self.lab);
        // Values a step exported (a load balancer's DNS name, a namespace id) are found
        // read-only from the resources the lab names, so those checkpoints can be graded.
        if self.mode == Mode::Checkpoints {
            values.resolve_lookups(&self.lab, &clients).await;
        }
        let cells = match self.mode {
            Mode::Checkpoints => checkpoint_cells(&self.lab, clients, &values, &self.settings).await,
            Mode::Preflight => readiness::cells(&self.lab, &clients, &values).await,
        };
        AccountReport::new(student, Some(identity.arn), cells)
    }

    /// Credentials for one account: assumed, or the student's profile.
    async fn open(&self, student: &Student) -> Result<(Clients, Identity), Problem> {
        match (&self.access, &student.profile) {
            (Access::Role { sts, role_name, external_id }, _) => {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_default();
                let arn = role_arn(&region, &student.account_id, role_name);
                let assumed = assume(sts, &arn, external_id.as_deref(), self.backoff, self.attempts).await?;
                let config = self
                    .base
                    .to_builder()
                    .credentials_provider(SharedCredentialsProvider::new(assumed.credentials))
                    .build();
                let identity = Identity { account: student.account_id.clone(), arn: assumed.arn, region };
                Ok((Clients::new(config), identity))
            }
            (Access::Profiles { options }, Some(profile)) => {
                let options = AwsOptions { profile: Some(profile.clone()), ..options.clone() };
                let config = crate::aws::load_config(&options).await.map_err(|e| Problem {
                    kind: ProblemKind::Other,
                    message: e.to_string(),
                    advice: e.hint().unwrap_or_default(),
                })?;
                let clients = Clients::new(config);
                let identity = crate::aws::whoami(&clients).await.map_err(|e| Problem {
                    kind: if matches!(e, crate::error::Error::Credentials { .. }) {
                        ProblemKind::Credentials
                    } else {
                        ProblemKind::Other
                    },
                    message: e.to_string(),
                    advice: format!(
                        "refresh the credentials of profile `{profile}` (aws sso login --profile {profile})"
                    ),
                })?;
                Ok((clients, identity))
            }
            (Access::Profiles { .. }, None) => Err(Problem {
                kind: ProblemKind::Other,
                message: "no profile for this account".into(),
                advice: "use --accounts with --role-name, or --profiles".into(),
            }),
        }
    }
}

/// `arn:<partition>:iam::<account>:role/<name>`, the partition following the region.
pub fn role_arn(region: &str, account: &str, role_name: &str) -> String {
    let partition = if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    };
    format!("arn:{partition}:iam::{account}:role/{role_name}")
}

/// Temporary credentials from AssumeRole, and the session's ARN.
pub struct Assumed {
    /// The credentials (with their expiry).
    pub credentials: Credentials,
    /// `arn:aws:sts::<account>:assumed-role/<role>/labrunner-validate`.
    pub arn: String,
}

/// AssumeRole into `arn` with the read-only session policy, 900 s, the external id if any;
/// throttling is retried with doubling pauses from `backoff`, up to `attempts` tries.
pub async fn assume(
    sts: &aws_sdk_sts::Client,
    arn: &str,
    external_id: Option<&str>,
    backoff: Duration,
    attempts: u32,
) -> Result<Assumed, Problem> {
    let policy = super::policy::session_policy();
    let mut pause = backoff;
    let mut tries = 0;
    loop {
        tries += 1;
        let result = sts
            .assume_role()
            .role_arn(arn)
            .role_session_name(SESSION_NAME)
            .duration_seconds(SESSION_SECONDS)
            .policy(policy.clone())
            .set_external_id(external_id.map(str::to_string))
            .send()
            .await;
        match result {
            Ok(out) => {
                let Some(c) = out.credentials() else {
                    return Err(Problem {
                        kind: ProblemKind::Other,
                        message: format!("AssumeRole on {arn} returned no credentials"),
                        advice: "try again".into(),
                    });
                };
                let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
                let credentials = Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_string()),
                    expiry,
                    "labrunner-validate",
                );
                let session_arn =
                    out.assumed_role_user().map(|u| u.arn().to_string()).unwrap_or_else(|| arn.to_string());
                return Ok(Assumed { credentials, arn: session_arn });
            }
            Err(e) => {
                let class = ErrorClass::of(&e);
                if class == ErrorClass::Throttling && tries < attempts {
                    tokio::time::sleep(pause).await;
                    pause = pause.saturating_mul(2);
                    continue;
                }
                return Err(assume_problem(arn, class, &describe(&e), tries));
            }
        }
    }
}

/// The row's problem for a failed AssumeRole.
fn assume_problem(arn: &str, class: ErrorClass, detail: &str, tries: u32) -> Problem {
    let message = format!("could not assume {arn}: {detail}");
    match class {
        ErrorClass::AccessDenied => Problem {
            kind: ProblemKind::AccessDenied,
            message,
            advice: "check that the role exists in this account, that its trust policy trusts your account (and --external-id if it requires one)".into(),
        },
        ErrorClass::Credentials => Problem {
            kind: ProblemKind::Credentials,
            message,
            advice: "your own credentials are missing, invalid or expired: sign in again and re-run".into(),
        },
        ErrorClass::Throttling => Problem {
            kind: ProblemKind::Throttled,
            message: format!("{message} (still throttled after {tries} tries)"),
            advice: "run again with a lower --concurrency".into(),
        },
        ErrorClass::Transient => Problem {
            kind: ProblemKind::Unreachable,
            message,
            advice: "STS did not answer; check the network and try again".into(),
        },
        ErrorClass::NotFound | ErrorClass::Other => Problem {
            kind: ProblemKind::Other,
            message,
            advice: "check the account id and --role-name".into(),
        },
    }
}

/// The checkpoint cells of one account: every check of every checkpoint, looked at once,
/// concurrently; command checks and checks needing unknown variables are not checkable.
pub async fn checkpoint_cells(
    lab: &Lab,
    clients: Arc<Clients>,
    values: &Values,
    settings: &VerifySettings,
) -> Vec<Cell> {
    let verifier = Arc::new(Verifier::new(clients, settings.clone()));
    let steps: Vec<_> = lab.steps().map(|(_, s)| s).filter(|s| !s.checks.is_empty()).collect();
    let mut slots: Vec<Vec<Option<CheckResult>>> = steps.iter().map(|s| vec![None; s.checks.len()]).collect();
    let mut tasks = JoinSet::new();
    for (si, step) in steps.iter().enumerate() {
        for (ci, check) in step.checks.iter().enumerate() {
            if matches!(check.spec, CheckSpec::Command(_)) {
                slots[si][ci] = Some(CheckResult {
                    kind: check.kind().to_string(),
                    description: check.describe(),
                    status: Mark::NotCheckable,
                    evidence: COMMAND_NOT_RUN.into(),
                    diagnostics: Vec::new(),
                });
                continue;
            }
            match values.resolve_check(check) {
                Err(message) => {
                    let why = values.first_missing(check).map_or(message, |name| missing_advice(lab, &name));
                    slots[si][ci] = Some(CheckResult {
                        kind: check.kind().to_string(),
                        description: check.describe(),
                        status: Mark::NotCheckable,
                        evidence: format!("not checkable: {why}"),
                        diagnostics: Vec::new(),
                    });
                }
                Ok(resolved) => {
                    let verifier = verifier.clone();
                    tasks.spawn(async move {
                        let o = verifier.check_once(&resolved).await;
                        let status = match o.status {
                            Status::Pass => Mark::Pass,
                            Status::Fail => Mark::Fail,
                            Status::Error => Mark::Error,
                        };
                        let result = CheckResult {
                            kind: o.kind.to_string(),
                            description: o.description,
                            status,
                            evidence: o.evidence,
                            diagnostics: o.diagnostics,
                        };
                        (si, ci, result)
                    });
                }
            }
        }
    }
    while let Some(joined) = tasks.join_next().await {
        if let Ok((si, ci, result)) = joined {
            slots[si][ci] = Some(result);
        }
    }
    steps
        .iter()
        .zip(slots)
        .map(|(step, checks)| Cell::of(&step.id, checks.into_iter().flatten().collect()))
        .collect()
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
