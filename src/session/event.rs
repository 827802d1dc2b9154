//! What the runner tells the UI. The runner never prints; a [`Reporter`] draws these events
//! on a terminal, as timestamped lines, or as JSON lines.

use serde::Serialize;

use crate::exec::Stream;
use crate::verify::Outcome;

/// One thing that happened during a lab run.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began (or resumed) in this account and region.
    LabStarted {
        /// Lab id.
        lab: String,
        /// Lab title.
        title: String,
        /// Account id.
        account: String,
        /// Caller ARN.
        arn: String,
        /// Region.
        region: String,
        /// Steps in the lab.
        total: usize,
        /// Steps already finished.
        finished: usize,
        /// Whether this continues earlier progress.
        resumed: bool,
    },
    /// Something worth saying that is not a step's result.
    Notice {
        /// The text.
        text: String,
    },
    /// A module began: its introduction comes before its first step.
    ModuleStarted {
        /// The module's title.
        title: String,
        /// Its introduction (Markdown), possibly empty.
        intro: String,
        /// Whether a resumed run enters it after its first step.
        resumed: bool,
    },
    /// A step began.
    StepStarted {
        /// Step id.
        step: String,
        /// Title.
        title: String,
        /// 1-based position.
        number: usize,
        /// Steps in the lab.
        total: usize,
        /// The step's checks, described with the values known so far.
        checks: Vec<String>,
        /// The resources it creates, described with the values known so far.
        creates: Vec<String>,
    },
    /// A shell block is about to run.
    BlockStarted {
        /// Step id.
        step: String,
        /// 1-based block number within the step.
        block: usize,
        /// The code (secrets masked).
        code: String,
    },
    /// A line of a block's output (secrets masked).
    Output {
        /// Step id.
        step: String,
        /// Which stream.
        stream: Stream,
        /// The line.
        line: String,
    },
    /// A shell block ended.
    BlockFinished {
        /// Step id.
        step: String,
        /// Block number.
        block: usize,
        /// Exit status, when it exited.
        status: Option<i32>,
    },
    /// A variable got a value (secret values are shown as `****`).
    VariableSet {
        /// Name.
        name: String,
        /// Value, masked when secret.
        value: String,
    },
    /// A created resource was written to the cleanup ledger.
    ResourceRecorded {
        /// Step id.
        step: String,
        /// The resource, described.
        resource: String,
    },
    /// A declared resource existed before the step, so it is not the lab's to delete.
    ResourcePreexisting {
        /// Step id.
        step: String,
        /// The resource, described.
        resource: String,
    },
    /// A resource AWS makes on the lab's behalf (`aws_creates`) has not appeared yet; it stays
    /// in the ledger as expected, and is recorded when a later look finds it.
    ResourceAwaited {
        /// Step id.
        step: String,
        /// The resource, described.
        resource: String,
    },
    /// A declared resource could not be looked up or was not found after the step.
    ResourceNotFound {
        /// Step id.
        step: String,
        /// The resource, described.
        resource: String,
        /// Why (not found, or the lookup error).
        reason: String,
    },
    /// The checks of a step began.
    ChecksStarted {
        /// Step id.
        step: String,
        /// Check descriptions, by index.
        checks: Vec<String>,
    },
    /// A check's latest look, while waiting.
    CheckProgress {
        /// Step id.
        step: String,
        /// Check index.
        index: usize,
        /// Latest status line.
        status: String,
        /// What else AWS shows meanwhile: the latest service event, failed tasks with their
        /// reason, each target's health and reason code.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        details: Vec<String>,
        /// Attempts so far.
        attempt: u32,
    },
    /// A check ended.
    CheckFinished {
        /// Step id.
        step: String,
        /// Check index.
        index: usize,
        /// The outcome.
        outcome: Outcome,
    },
    /// Hints that match the failures.
    Hints {
        /// Step id.
        step: String,
        /// Hint texts (Markdown).
        hints: Vec<String>,
    },
    /// A step ended.
    StepFinished {
        /// Step id.
        step: String,
        /// done, skipped, failed or interrupted.
        result: StepResult,
    },
    /// An earlier step no longer verifies (found when resuming).
    Drifted {
        /// Step id.
        step: String,
        /// What the checks saw.
        evidence: Vec<String>,
    },
    /// A finished step could not be re-checked (throttling, a 5xx, access denied): it stays
    /// done; nothing is run again on an answer that says nothing about the account.
    Unchecked {
        /// Step id.
        step: String,
        /// What went wrong, one line per check.
        evidence: Vec<String>,
    },
    /// A step whose commands may have run before (interrupted, or drifted) was looked at
    /// before anything runs again: these of its resources exist.
    ResourcesExist {
        /// Step id.
        step: String,
        /// `describe()` of each resource with its id.
        resources: Vec<String>,
    },
    /// Several resources match a declared resource and appeared during the step.
    ResourceAmbiguous {
        /// Step id.
        step: String,
        /// The declared resource.
        resource: String,
        /// The identities found.
        ids: Vec<String>,
    },
    /// The run ended.
    LabFinished {
        /// Steps done: verified by their checks, or their commands succeeded.
        done: usize,
        /// Steps shown but not verified (reading steps, plain pages without checks).
        shown: usize,
        /// Steps skipped.
        skipped: usize,
        /// The ids of the skipped steps.
        skipped_steps: Vec<String>,
        /// Steps in the lab.
        total: usize,
        /// Resources in the cleanup ledger.
        resources: usize,
        /// Whether every step is finished.
        complete: bool,
    },
}

/// How a step ended in this session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepResult {
    /// Commands ran (or the student did the work) and every check passed.
    Done,
    /// Shown to the student, who went on; nothing was verified (the step has no checks).
    Shown,
    /// The student skipped it.
    Skipped,
    /// A command or a check failed.
    Failed,
    /// Ctrl-C.
    Interrupted,
}

/// Draws events.
pub trait Reporter: Send {
    /// Draws one event.
    fn event(&mut self, event: &Event);
}
