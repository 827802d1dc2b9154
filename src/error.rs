//! The errors labrunner reports, and the exit code of each. Rendered in one place
//! (`ui::report_error`); nothing else prints errors.
//!
//! Exit codes:
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success: everything passed |
//! | 1    | the command ran and found problems (lint findings, failed checks, a failed step, resources left) |
//! | 2    | unusable input: a broken lab, a bad argument, an unknown lab, a corrupt state file |
//! | 3    | AWS could not be used: no credentials, expired credentials, no region, a failed call |
//! | 4    | refused for safety: another account or region than the lab's, a lab already being run |
//! | 130  | interrupted (Ctrl-C); progress and ledger are saved |

use std::path::PathBuf;

use crate::lab::load::NotFound;
use crate::lab::LabError;

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran and found problems.
pub const EXIT_FINDINGS: u8 = 1;
/// Exit code: unusable input.
pub const EXIT_INPUT: u8 = 2;
/// Exit code: AWS could not be used.
pub const EXIT_AWS: u8 = 3;
/// Exit code: refused for safety.
pub const EXIT_REFUSED: u8 = 4;
/// Exit code: interrupted.
pub const EXIT_INTERRUPTED: u8 = 130;

/// Everything that can stop a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The lab's files are broken.
    #[error("the lab cannot be loaded ({} error{})", errors.len(), if errors.len() == 1 { "" } else { "s" })]
    Lab {
        /// Every problem found, each at its position.
        errors: Vec<LabError>,
    },
    /// No lab by that name.
    #[error("no lab `{}` in {}", .0.wanted, .0.dir.display())]
    LabNotFound(NotFound),
    /// A bad argument or combination of arguments.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// No region configured.
    #[error("no AWS region is set")]
    NoRegion,
    /// Credentials missing, invalid or expired.
    #[error("AWS credentials are missing, invalid or expired: {detail}")]
    Credentials {
        /// What the SDK said.
        detail: String,
    },
    /// An AWS call failed in a way that stops the command.
    #[error("AWS call failed while {context}: {detail}")]
    Aws {
        /// What labrunner was doing.
        context: String,
        /// What AWS said.
        detail: String,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}: {detail}", path.display())]
    Io {
        /// "read", "write", ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        detail: String,
    },
    /// A state file is unreadable or from a newer labrunner.
    #[error("{message} ({})", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: String,
    },
    /// Another labrunner holds the lab's lock.
    #[error("lab `{lab}` is already being run by another labrunner (lock {})", path.display())]
    Locked {
        /// The lab.
        lab: String,
        /// The lock file.
        path: PathBuf,
    },
    /// The account or region is not the one the lab's state belongs to.
    #[error("{0}")]
    WrongAccount(Box<AccountMismatch>),
    /// Ctrl-C: what was saved, and the command that continues.
    #[error("{what}")]
    Interrupted {
        /// What was interrupted and what is kept.
        what: String,
        /// What to run to continue.
        hint: Option<String>,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Lab { .. }
            | Error::LabNotFound(_)
            | Error::Usage { .. }
            | Error::State { .. }
            | Error::Io { .. } => EXIT_INPUT,
            Error::NoRegion | Error::Credentials { .. } | Error::Aws { .. } => EXIT_AWS,
            Error::Locked { .. } | Error::WrongAccount(_) => EXIT_REFUSED,
            Error::Interrupted { .. } => EXIT_INTERRUPTED,
        }
    }

    /// What the user can do about it.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Lab { .. } => Some("fix the errors above; `labrunner lint` checks a lab without running it".into()),
            Error::LabNotFound(nf) if nf.available.is_empty() => Some(
                "point labrunner at your labs with --labs-dir DIR or LABRUNNER_LABS (default ./labs)".into(),
            ),
            Error::LabNotFound(nf) => Some(format!("labs available: {}", nf.available.join(", "))),
            Error::Usage { hint, .. } => hint.clone(),
            Error::NoRegion => Some("pass --region, set AWS_REGION, or set a region in your AWS profile".into()),
            Error::Credentials { .. } => Some(
                "sign in again (for SSO: `aws sso login --profile NAME`), or pass --profile; check with `aws sts get-caller-identity`".into(),
            ),
            Error::Aws { .. } => Some("check your network, credentials and region, then run the command again".into()),
            Error::Io { .. } => None,
            Error::State { hint, .. } => Some(hint.clone()),
            Error::Locked { .. } => Some(
                "finish or quit the other run first; if none is running, the lock is released automatically when its process ends".into(),
            ),
            Error::WrongAccount(_) => Some(
                "switch back with --profile/--region (or AWS_PROFILE/AWS_REGION) to the account and region shown first".into(),
            ),
            Error::Interrupted { hint, .. } => hint.clone(),
        }
    }

    /// A usage error with a hint.
    pub fn usage(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Usage { message: message.into(), hint: Some(hint.into()) }
    }
}

impl From<Vec<LabError>> for Error {
    fn from(errors: Vec<LabError>) -> Self {
        Error::Lab { errors }
    }
}

impl From<NotFound> for Error {
    fn from(nf: NotFound) -> Self {
        Error::LabNotFound(nf)
    }
}

/// Details of a refusal because the account or region changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: this lab's {record} belongs to account {expected_account} in {expected_region}, but the current credentials are for account {actual_account} in {actual_region}")]
pub struct AccountMismatch {
    /// What was refused ("refusing to clean up").
    pub what: String,
    /// "progress" or "cleanup ledger".
    pub record: String,
    /// The account of the state.
    pub expected_account: String,
    /// The region of the state.
    pub expected_region: String,
    /// The account of the current credentials.
    pub actual_account: String,
    /// The region now in use.
    pub actual_region: String,
}
