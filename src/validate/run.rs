//! Running a validation: reach each account (AssumeRole with the read-only session policy, or
//! a profile), then evaluate the lab's checkpoints or the readiness checks there. Accounts run
//! concurrently up to a bound; each account's failure stays in its own row.
//!
//! At scale (a thousand accounts) the costs per account are kept to the calls themselves: one
//! AssumeRole whose credentials serve all the account's checks (and, in a watch, later rounds
//! until they are about to expire), one HTTP client shared by every account, and no more than
//! `concurrency` accounts in flight, so memory stays flat however long the class list is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use futures_util::StreamExt;

use super::{
    readiness, AccountReport, AccountStatus, Cell, CheckResult, Mark, Mode, Problem, ProblemKind, Report,
    Student, WallClock,
};
use crate::aws::{describe, AwsOptions, Clients, ErrorClass, Identity};
use crate::lab::check::CheckSpec;
use crate::lab::Lab;
use crate::session::vars::{missing_advice, Values};
use crate::verify::{Status, Verifier, VerifySettings};

/// The session name every validation AssumeRole uses (visible in the students' CloudTrail).
pub const SESSION_NAME: &str = "labrunner-validate";
/// How long the assumed credentials live: the shortest STS allows.
pub const SESSION_SECONDS: i32 = 900;
/// Assumed credentials are used again (by a watch's next round) only while they have at least
/// this long to live.
pub const SESSION_MARGIN: Duration = Duration::from_secs(120);
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

/// The assumed sessions of a validation, by account, kept in memory only (never written) so a
/// watch's next round reuses them while they are valid.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Assumed>>>);

impl Sessions {
    /// The session for `account` if it lives at least [`SESSION_MARGIN`] past `now`.
    fn valid(&self, account: &str, now: SystemTime) -> Option<Assumed> {
        let sessions = self.0.lock().ok()?;
        let session = sessions.get(account)?;
        let expiry = session.credentials.expiry()?;
        (expiry > now + SESSION_MARGIN).then(|| session.clone())
    }

    fn keep(&self, account: &str, session: Assumed) {
        if let Ok(mut sessions) = self.0.lock() {
            sessions.insert(account.to_string(), session);
        }
    }

    fn forget(&self, account: &str) {
        if let Ok(mut sessions) = self.0.lock() {
            sessions.remove(account);
        }
    }
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
    /// Where the time stamps of rows and reached checkpoints come from.
    pub clock: WallClock,
    /// Assumed sessions, reused across a watch's rounds.
    pub sessions: Sessions,
    /// The HTTP client of `http` checks, one for every account (built once: its trust roots
    /// are parsed when it is made).
    pub http: reqwest::Client,
}

impl Validation {
    /// Validates every student, at most `concurrency` at a time, in a report in input order.
    pub async fn run(&self, students: Vec<Student>) -> Report {
        let total = students.len();
        let mut rows: Vec<Option<AccountReport>> = vec![None; total];
        self.run_each(students.into_iter().enumerate(), |i, row| rows[i] = Some(row)).await;
        Report {
            lab: self.lab.id().to_string(),
            mode: self.mode,
            columns: self.columns(),
            accounts: rows.into_iter().flatten().collect(),
            checked_at: Some(self.clock.wall()),
            round: None,
        }
    }

    /// The matrix columns of this validation's mode.
    pub fn columns(&self) -> Vec<super::Column> {
        match self.mode {
            Mode::Checkpoints => super::checkpoints(&self.lab),
            Mode::Preflight => readiness::columns(),
        }
    }

    /// Validates each `(index, student)`, at most `concurrency` at a time, starting in the
    /// order given, and hands each row to `on_row` as soon as it is done. Dropping the future
    /// stops the accounts in flight (everything they do is a read).
    pub async fn run_each(
        &self,
        students: impl IntoIterator<Item = (usize, Student)>,
        mut on_row: impl FnMut(usize, AccountReport),
    ) {
        let accounts = students.into_iter().map(|(i, student)| {
            let this = self.clone();
            async move { (i, this.account(student).await) }
        });
        let mut rows = crate::concurrent::bounded_spawned(accounts, self.concurrency);
        while let Some(done) = rows.next().await {
            if let Ok((i, row)) = done {
                on_row(i, row);
            }
        }
    }

    /// One account, start to end; never fails (failures become the row), stamped with the
    /// time it was checked.
    pub async fn account(&self, mut student: Student) -> AccountReport {
        let (clients, identity) = match self.open(&student).await {
            Ok(pair) => pair,
            Err(problem) => {
                let mut row = AccountReport::failed(student, problem);
                row.stamp(self.clock.wall());
                return row;
            }
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
            Mode::Checkpoints => {
                let verifier = Verifier::with_http(clients, self.settings.clone(), self.http.clone());
                checkpoint_cells(&self.lab, Arc::new(verifier), &values).await
            }
            Mode::Preflight => readiness::cells(&self.lab, &clients, &values).await,
        };
        let mut row = AccountReport::new(student, Some(identity.arn), cells);
        if row.status == AccountStatus::Error {
            // A check that could not look may mean the session no longer works: the next
            // round assumes the role again.
            self.sessions.forget(&row.student.account_id);
        }
        row.stamp(self.clock.wall());
        row
    }

    /// Credentials for one account: assumed (or a still valid session of an earlier round),
    /// or the student's profile.
    async fn open(&self, student: &Student) -> Result<(Clients, Identity), Problem> {
        match (&self.access, &student.profile) {
            (Access::Role { sts, role_name, external_id }, _) => {
                let region = self.base.region().map(|r| r.to_string()).unwrap_or_default();
                let assumed = match self.sessions.valid(&student.account_id, self.clock.wall()) {
                    Some(session) => session,
                    None => {
                        let arn = role_arn(&region, &student.account_id, role_name);
                        let session =
                            assume(sts, &arn, external_id.as_deref(), self.backoff, self.attempts).await?;
                        self.sessions.keep(&student.account_id, session.clone());
                        session
                    }
                };
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
#[derive(Debug, Clone)]
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
pub async fn checkpoint_cells(lab: &Lab, verifier: Arc<Verifier>, values: &Values) -> Vec<Cell> {
    let steps: Vec<_> = lab.steps().map(|(_, s)| s).filter(|s| !s.checks.is_empty()).collect();
    let mut slots: Vec<Vec<Option<CheckResult>>> = steps.iter().map(|s| vec![None; s.checks.len()]).collect();
    let mut looks = Vec::new();
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
                    looks.push(async move {
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
    for (si, ci, result) in crate::concurrent::join_all(looks).await {
        slots[si][ci] = Some(result);
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
