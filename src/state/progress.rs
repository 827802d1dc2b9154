//! Progress through a lab: which steps are done, which one is under way, and the variable
//! values a resumed session needs. Rewritten atomically on every transition.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{read_versioned, timestamp, write_json_atomic, Loaded, RunDir};
use crate::error::Error;

/// The progress file format this labrunner reads and writes.
pub const PROGRESS_VERSION: u32 = 1;

/// How a finished step was completed, as progress records it (a run's events also tell failed
/// and interrupted steps: `session::event::StepResult`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Completion {
    /// Its checks passed (or it has none and its commands succeeded).
    Done,
    /// Shown and read, but not verified: it has no checks and ran nothing.
    Shown,
    /// The student skipped it.
    Skipped,
}

/// One finished step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Step id.
    pub step: String,
    /// How it ended.
    pub outcome: Completion,
    /// When.
    pub at: String,
}

/// The progress of one lab run (lab + account + region).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    /// File format version.
    pub version: u32,
    /// Lab id.
    pub lab: String,
    /// Account the run belongs to.
    pub account: String,
    /// Region the run belongs to.
    pub region: String,
    /// The caller ARN when the run started.
    pub arn: String,
    /// When the run started.
    pub started_at: String,
    /// When the file was last written.
    pub updated_at: String,
    /// Finished steps, in the order they finished.
    pub finished: Vec<StepRecord>,
    /// The step under way, if a session stopped in the middle of one.
    pub current: Option<String>,
    /// Whether the current step's commands had begun (so they may have created something).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub commands_began: bool,
    /// Variable values (never secrets).
    pub variables: BTreeMap<String, String>,
    /// Where the lab was loaded from (an absolute manifest, page or directory path), so
    /// `resume` and `status` find it from any directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl Progress {
    /// A fresh run.
    pub fn new(lab: &str, account: &str, region: &str, arn: &str) -> Self {
        let now = timestamp();
        Progress {
            version: PROGRESS_VERSION,
            lab: lab.into(),
            account: account.into(),
            region: region.into(),
            arn: arn.into(),
            started_at: now.clone(),
            updated_at: now,
            finished: Vec::new(),
            current: None,
            commands_began: false,
            variables: BTreeMap::new(),
            source: None,
        }
    }

    /// Reads the run's progress; a corrupt file is moved aside and reported in the result.
    pub fn load(run: &RunDir) -> Result<Loaded<Progress>, Error> {
        read_versioned(&run.progress(), PROGRESS_VERSION, "progress file", true)
    }

    /// Reads the run's progress without changing anything: a corrupt file is reported as an
    /// error and left where it is (for `status`, which never writes).
    pub fn peek(run: &RunDir) -> Result<Option<Progress>, Error> {
        match read_versioned(&run.progress(), PROGRESS_VERSION, "progress file", false)? {
            Loaded::Found(p) => Ok(Some(p)),
            _ => Ok(None),
        }
    }

    /// Writes the progress atomically, stamping `updated_at`.
    pub fn save(&mut self, run: &RunDir) -> Result<(), Error> {
        self.updated_at = timestamp();
        write_json_atomic(&run.progress(), self)
    }

    /// Whether the step has finished (done or skipped).
    pub fn is_finished(&self, step: &str) -> bool {
        self.finished.iter().any(|r| r.step == step)
    }

    /// How the step finished, if it did.
    pub fn outcome(&self, step: &str) -> Option<Completion> {
        self.finished.iter().find(|r| r.step == step).map(|r| r.outcome)
    }

    /// Records that a step finished, replacing an earlier record of it.
    pub fn finish(&mut self, step: &str, outcome: Completion) {
        self.finished.retain(|r| r.step != step);
        self.finished.push(StepRecord { step: step.into(), outcome, at: timestamp() });
        if self.current.as_deref() == Some(step) {
            self.current = None;
            self.commands_began = false;
        }
    }

    /// Forgets that a step finished (it drifted and must be done again).
    pub fn unfinish(&mut self, step: &str) {
        self.finished.retain(|r| r.step != step);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_transitions() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path(), "lab", "111122223333", "eu-west-1");
        let mut p = Progress::new("lab", "111122223333", "eu-west-1", "arn:aws:iam::111122223333:user/s");
        p.current = Some("a".into());
        p.finish("a", Completion::Done);
        p.finish("b", Completion::Skipped);
        p.variables.insert("VPC_ID".into(), "vpc-1".into());
        p.save(&run).unwrap();
        let Loaded::Found(back) = Progress::load(&run).unwrap() else { panic!("not found") };
        assert_eq!(back.current, None);
        assert_eq!(back.outcome("a"), Some(Completion::Done));
        assert_eq!(back.outcome("b"), Some(Completion::Skipped));
        assert_eq!(back.variables["VPC_ID"], "vpc-1");
    }
}
