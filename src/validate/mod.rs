//! Instructor validation: run a lab's checks read-only across many student accounts and report
//! who reached which checkpoint (`labrunner validate`), or whether each account is ready to
//! start (`--preflight`, and `labrunner preflight` for one's own account).
//!
//! The pieces:
//! - [`accounts`] reads the class list (CSV or YAML) with line-precise errors;
//! - [`policy`] is the write-denying session policy sent with every AssumeRole;
//! - [`run`] assumes into each account (bounded concurrency, isolated failures, throttling
//!   backed off) and evaluates checkpoints or readiness into a [`Report`];
//! - [`readiness`] holds the preflight checks;
//! - [`report`] renders the matrix, the summary, JSON, CSV and JUnit, and [`html`] the
//!   self-contained HTML page, all pure;
//! - [`watch`] keeps a running report across rounds (`--watch`): which accounts are due, with
//!   per-account back-off, and when each account first reached each checkpoint.
//!
//! Nothing here prints: the commands draw the [`Report`].

pub mod accounts;
pub mod html;
pub mod policy;
pub mod readiness;
pub mod report;
pub mod run;
pub mod watch;

use std::time::SystemTime;

use serde::{Serialize, Serializer};

pub use accounts::Student;
pub use run::{Access, Validation};
pub use watch::WallClock;

/// `2026-11-22T13:11:05Z`: a time as reports write it (UTC, to the second).
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// `13:11:05Z`: the time of day (UTC) as the terminal matrix shows it.
pub fn time_of_day(time: SystemTime) -> String {
    let full = rfc3339(time);
    full.get(11..).unwrap_or(&full).to_string()
}

fn serialize_time<S: Serializer>(time: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => s.serialize_str(&rfc3339(*t)),
        None => s.serialize_none(),
    }
}

/// What a validation looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The lab's steps that have checks, in order.
    Checkpoints,
    /// Readiness to start the lab.
    Preflight,
}

/// One column of the matrix: a checkpoint (a step with checks) or a readiness check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    /// The step id (or readiness check id).
    pub id: String,
    /// The step's title.
    pub title: String,
}

/// The state of one cell or one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// Passed.
    Pass,
    /// Failed: the account is not in the expected state.
    Fail,
    /// Could not be checked read-only (a step-exported variable, a command check).
    NotCheckable,
    /// Could not look (access denied, throttled, an SDK error).
    Error,
}

impl Mark {
    /// The matrix symbol: ✓ ✗ – !
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Pass => "✓",
            Mark::Fail => "✗",
            Mark::NotCheckable => "–",
            Mark::Error => "!",
        }
    }

    /// The word used in CSV.
    pub fn word(self) -> &'static str {
        match self {
            Mark::Pass => "pass",
            Mark::Fail => "fail",
            Mark::NotCheckable => "not_checkable",
            Mark::Error => "error",
        }
    }

    /// The mark of a group: any error, else any fail, else pass when something passed,
    /// else not checkable.
    pub fn combine(marks: impl IntoIterator<Item = Mark>) -> Mark {
        let marks: Vec<Mark> = marks.into_iter().collect();
        if marks.contains(&Mark::Error) {
            Mark::Error
        } else if marks.contains(&Mark::Fail) {
            Mark::Fail
        } else if marks.contains(&Mark::Pass) {
            Mark::Pass
        } else {
            Mark::NotCheckable
        }
    }
}

/// One check's result in one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// The check kind (`service_stable`), or the readiness check id.
    pub kind: String,
    /// What was checked.
    pub description: String,
    /// Pass, fail, not checkable or error.
    pub status: Mark,
    /// What was seen, or why it was not checked.
    pub evidence: String,
    /// Why it failed, and what to do.
    pub diagnostics: Vec<String>,
}

/// One cell: a checkpoint (or readiness check) in one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// The column's id.
    pub id: String,
    /// The combined mark of the checks.
    pub status: Mark,
    /// Every check, in declaration order.
    pub checks: Vec<CheckResult>,
    /// When validation first saw this cell pass (RFC 3339 in JSON): in a watch, the first round
    /// that found it passed, kept when it fails again later; in a single run, the time of the
    /// check. A checkpoint already passed when validation started shows that start.
    #[serde(serialize_with = "serialize_time")]
    pub reached_at: Option<SystemTime>,
}

impl Cell {
    /// A cell whose mark combines `checks`.
    pub fn of(id: &str, checks: Vec<CheckResult>) -> Self {
        Cell {
            id: id.to_string(),
            status: Mark::combine(checks.iter().map(|c| c.status)),
            checks,
            reached_at: None,
        }
    }
}

/// Why an account could not be validated at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// AssumeRole was refused (no such role, or its trust policy does not trust the caller).
    AccessDenied,
    /// Credentials missing, invalid or expired.
    Credentials,
    /// Still throttled after backing off.
    Throttled,
    /// AWS did not answer.
    Unreachable,
    /// Anything else.
    Other,
}

/// An account-level failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// What AWS said.
    pub message: String,
    /// What the instructor can do.
    pub advice: String,
}

/// The overall state of one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Every column passed (or was not checkable).
    Complete,
    /// Some column failed.
    Incomplete,
    /// The account could not be validated, or a check could not look.
    Error,
}

/// One account's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountReport {
    /// Who.
    #[serde(flatten)]
    pub student: Student,
    /// The identity the checks ran as (the assumed role's session ARN), when reached.
    pub arn: Option<String>,
    /// Complete, incomplete or error.
    pub status: AccountStatus,
    /// Why the account could not be validated.
    pub problem: Option<Problem>,
    /// One per column, in column order. Empty when `problem` is set, except in a watch, where
    /// they are the cells an earlier round saw (their `reached_at` is kept).
    pub cells: Vec<Cell>,
    /// When the account was last checked (RFC 3339 in JSON).
    #[serde(serialize_with = "serialize_time")]
    pub checked_at: Option<SystemTime>,
}

impl AccountReport {
    /// A row from its cells, with the status they imply.
    pub fn new(student: Student, arn: Option<String>, cells: Vec<Cell>) -> Self {
        let status = status_of(&cells);
        AccountReport { student, arn, status, problem: None, cells, checked_at: None }
    }

    /// A row for an account that could not be validated.
    pub fn failed(student: Student, problem: Problem) -> Self {
        AccountReport {
            student,
            arn: None,
            status: AccountStatus::Error,
            problem: Some(problem),
            cells: Vec::new(),
            checked_at: None,
        }
    }

    /// Records that the row was checked at `at`: its check time, and the time its passed cells
    /// were reached (unless already known).
    pub fn stamp(&mut self, at: SystemTime) {
        self.checked_at = Some(at);
        if self.problem.is_none() {
            for cell in &mut self.cells {
                if cell.status == Mark::Pass && cell.reached_at.is_none() {
                    cell.reached_at = Some(at);
                }
            }
        }
    }

    /// The mark shown for column `i`: error for an account that could not be validated.
    pub fn mark(&self, i: usize) -> Mark {
        if self.problem.is_some() {
            Mark::Error
        } else {
            self.cells.get(i).map_or(Mark::NotCheckable, |c| c.status)
        }
    }
}

fn status_of(cells: &[Cell]) -> AccountStatus {
    if cells.iter().any(|c| c.status == Mark::Error) {
        AccountStatus::Error
    } else if cells.iter().any(|c| c.status == Mark::Fail) {
        AccountStatus::Incomplete
    } else {
        AccountStatus::Complete
    }
}

/// The whole validation: columns and one row per account, in the order given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The lab id.
    pub lab: String,
    /// Checkpoints or preflight.
    pub mode: Mode,
    /// The matrix columns.
    pub columns: Vec<Column>,
    /// The rows.
    pub accounts: Vec<AccountReport>,
    /// When the report was last brought up to date (the end of the run, or of a watch's round).
    #[serde(serialize_with = "serialize_time")]
    pub checked_at: Option<SystemTime>,
    /// The watch's round (1 for the first), or `None` for a single run.
    pub round: Option<u32>,
}

/// Counts of a report's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Accounts.
    pub accounts: usize,
    /// Accounts where everything passed.
    pub complete: usize,
    /// Accounts with a failed column.
    pub incomplete: usize,
    /// Accounts that could not be validated (fully or in part).
    pub errors: usize,
}

impl Report {
    /// Counts of complete, incomplete and failed accounts.
    pub fn summary(&self) -> Summary {
        let count = |s: AccountStatus| self.accounts.iter().filter(|a| a.status == s).count();
        Summary {
            accounts: self.accounts.len(),
            complete: count(AccountStatus::Complete),
            incomplete: count(AccountStatus::Incomplete),
            errors: count(AccountStatus::Error),
        }
    }

    /// Whether every account passed every column (the exit code is 0 only then).
    pub fn all_passed(&self) -> bool {
        !self.accounts.is_empty() && self.accounts.iter().all(|a| a.status == AccountStatus::Complete)
    }
}

/// The checkpoints of a lab: its steps that have checks, in order.
pub fn checkpoints(lab: &crate::lab::Lab) -> Vec<Column> {
    lab.steps()
        .filter(|(_, s)| !s.checks.is_empty())
        .map(|(_, s)| Column { id: s.id.clone(), title: s.title.clone() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_combine() {
        use Mark::*;
        assert_eq!(Mark::combine([Pass, NotCheckable]), Pass);
        assert_eq!(Mark::combine([Pass, Fail, NotCheckable]), Fail);
        assert_eq!(Mark::combine([Fail, Error]), Error);
        assert_eq!(Mark::combine([NotCheckable]), NotCheckable);
        assert_eq!(Mark::combine([]), NotCheckable);
    }
}
