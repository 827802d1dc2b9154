//! The step state machine: for each step, show it, run it or let the student do it, record
//! what it created, verify, and save progress, never advancing until the account is right.
//!
//! Progress is saved at every transition and the ledger as soon as a resource is seen, so a
//! closed terminal, a Ctrl-C or a crash loses at most the block that was running. What that
//! block may have created is not lost: before a step's commands run, the ledger gets an intent
//! for each resource it declares (with what matched before), and progress notes that the
//! commands began. A step that ran before (interrupted, drifted, or found while rebuilding
//! lost progress) is looked at before anything runs again ([`Session::reconcile`]): no resume
//! creates a second copy of what the ledger holds.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event::{Event, Reporter, StepResult};
use super::prompt::Prompter;
use super::vars::{looks_secret, lookup_field, may_set_secret, missing_advice, Values};
use crate::aws::{cli_failure_class, whoami, Clients, ErrorClass, Identity, ShellEnv};
use crate::cleanup::{self, Resolution};
use crate::error::{AccountMismatch, Error};
use crate::exec::{reap_leftovers, run_block, Block, Stream};
use crate::lab::{vars, Check, Lab, Module, ResourceSpec, Step, StepMode, VariableSource};
use crate::state::ledger::{Ledger, LedgerEntry};
use crate::state::progress::{Progress, StepOutcome};
use crate::state::RunDir;
use crate::verify::{matching_hints, Outcome, Status, Verifier, VerifySettings};

/// How the run behaves.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run every step unattended; stop at the first failure.
    pub auto: bool,
    /// Mark the steps before this one as done and start here.
    pub from: Option<String>,
    /// Stop once this step is finished (progress is saved; `resume` goes on from there).
    pub until: Option<String>,
    /// Check deadline override and DNS server.
    pub verify: VerifySettings,
    /// How often the "do it yourself" watch looks again.
    pub watch_interval: Duration,
    /// Progress was lost while the ledger lists resources: rebuild it by checking each step
    /// against the account before anything runs.
    pub rebuild: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step is finished.
    Complete,
    /// The student quit; progress is saved.
    Quit,
    /// A step failed in unattended mode.
    Failed,
    /// The step named by `until` finished; progress is saved.
    Stopped,
}

/// One lab run in one account and region.
pub struct Session<'a> {
    lab: &'a Lab,
    clients: Arc<Clients>,
    identity: Identity,
    run: RunDir,
    progress: Progress,
    ledger: Ledger,
    values: Values,
    reporter: &'a mut dyn Reporter,
    prompter: Option<&'a mut dyn Prompter>,
    options: RunOptions,
    cancel: CancellationToken,
    /// The environment shell blocks get (identity, region), and when it was resolved.
    shell: Option<(ShellEnv, Instant)>,
}

/// How long resolved credentials are handed to blocks before they are resolved again.
const SHELL_ENV_FRESH: Duration = Duration::from_secs(5 * 60);
/// Credentials closer than this to their expiry are resolved again before a block runs.
const SHELL_ENV_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The identities that matched each of a step's declared resources when it began.
type Before = HashMap<ResourceSpec, Vec<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Run,
    Myself,
    Skip,
    Quit,
    /// Unattended, and running the commands again could create a second copy.
    Refuse,
    /// The commands failed on "already exists", and the step's checks pass on what exists.
    Adopt,
}

/// Why a step's commands failed.
#[derive(Debug, Clone, Copy, Default)]
struct Failure {
    /// Throttling, an unreachable endpoint, ... as read from the aws CLI's output.
    class: Option<ErrorClass>,
    /// The output says what the commands create exists already ("already exists", "not
    /// idempotent", "Duplicate").
    exists: bool,
}

/// Whether a command's error output says that what it creates is there already.
fn says_already_exists(output: &str) -> bool {
    static EXISTS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)already exists|AlreadyExists|not idempotent|\.Duplicate\b|ResourceExistsException|EntityAlreadyExists")
            .expect("valid regex")
    });
    EXISTS.is_match(output)
}

/// What looking at a step that ran before found.
enum Reconciled {
    /// Its checks pass on what exists: done.
    Done,
    /// Nothing it creates exists: running it again is safe.
    Clear,
    /// Some of what it creates exists (described with ids).
    Exists(Vec<String>),
}

enum Flow {
    Next(StepResult),
    Quit,
}

impl<'a> Session<'a> {
    /// A session over loaded state. `values` already holds identity, saved and `--var` values.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lab: &'a Lab,
        clients: Arc<Clients>,
        identity: Identity,
        run: RunDir,
        progress: Progress,
        ledger: Ledger,
        values: Values,
        reporter: &'a mut dyn Reporter,
        prompter: Option<&'a mut dyn Prompter>,
        options: RunOptions,
        cancel: CancellationToken,
    ) -> Self {
        Session {
            lab,
            clients,
            identity,
            run,
            progress,
            ledger,
            values,
            reporter,
            prompter,
            options,
            cancel,
            shell: None,
        }
    }

    /// The cleanup ledger as it stands.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Runs the lab from the first unfinished step to the end, a quit or a failure.
    pub async fn run(&mut self, resumed: bool) -> Result<RunEnd, Error> {
        self.reporter.event(&Event::LabStarted {
            lab: self.lab.id().to_string(),
            title: self.lab.manifest.title.clone(),
            account: self.identity.account.clone(),
            arn: self.identity.arn.clone(),
            region: self.identity.region.clone(),
            total: self.lab.step_count(),
            finished: self.progress.finished.len(),
            resumed,
        });
        // A block a killed run left behind (its script, its process group) goes first; the
        // ids it had captured are kept.
        // They are newer than anything saved before the block ran.
        for (name, value) in reap_leftovers(&self.run.scratch()) {
            let wanted = self.lab.variable(&name).is_some_and(|v| v.source == VariableSource::Step);
            if wanted && !is_empty_capture(self.lab, &name, &value) {
                self.values.set(self.lab, &name, value);
                self.reporter.event(&Event::VariableSet { name: name.clone(), value: self.shown(&name) });
            }
        }
        if self.options.rebuild {
            self.rebuild_progress().await?;
        } else if resumed {
            self.recheck_finished().await?;
        }
        if let Some(from) = self.options.from.clone() {
            self.skip_to(&from)?;
        }
        if let Some(until) = &self.options.until {
            if self.lab.step(until).is_none() {
                let ids: Vec<&str> = self.lab.steps().map(|(_, s)| s.id.as_str()).collect();
                return Err(Error::usage(
                    format!("lab `{}` has no step `{until}`", self.lab.id()),
                    format!("its steps are: {}", ids.join(", ")),
                ));
            }
        }
        let steps: Vec<(usize, &'a Module, &'a Step)> =
            self.lab.steps().enumerate().map(|(i, (m, s))| (i, m, s)).collect();
        let total = steps.len();
        let mut introduced: Option<&Path> = None;
        for (i, module, step) in steps {
            if self.progress.is_finished(&step.id) {
                continue;
            }
            if introduced != Some(module.path.as_path()) {
                introduced = Some(module.path.as_path());
                // A module's introduction (its concepts, a billing warning) comes before its
                // first step, and again when a resumed run enters the module mid-way.
                let first = module.steps.first().is_some_and(|s| s.id == step.id);
                self.reporter.event(&Event::ModuleStarted {
                    title: module.title.clone(),
                    intro: module.intro.clone(),
                    resumed: !first,
                });
            }
            match self.step(step, i + 1, total).await? {
                Flow::Next(StepResult::Done) => self.progress.finish(&step.id, StepOutcome::Done),
                Flow::Next(StepResult::Shown) => self.progress.finish(&step.id, StepOutcome::Shown),
                Flow::Next(StepResult::Skipped) => self.progress.finish(&step.id, StepOutcome::Skipped),
                Flow::Next(StepResult::Failed) => {
                    self.save_progress()?;
                    self.finish_event();
                    return Ok(RunEnd::Failed);
                }
                Flow::Next(StepResult::Interrupted) => {
                    self.save_progress()?;
                    return Err(self.interrupted());
                }
                Flow::Quit => {
                    self.save_progress()?;
                    self.finish_event();
                    return Ok(RunEnd::Quit);
                }
            }
            self.save_progress()?;
            if self.options.until.as_deref() == Some(step.id.as_str()) && !self.all_finished() {
                self.reporter.event(&Event::Notice {
                    text: format!(
                        "stopped after step `{}` as asked; `labrunner resume {}` goes on from there",
                        step.id,
                        self.lab.id()
                    ),
                });
                self.finish_event();
                return Ok(RunEnd::Stopped);
            }
        }
        self.finish_event();
        Ok(RunEnd::Complete)
    }

    fn all_finished(&self) -> bool {
        self.lab.steps().all(|(_, s)| self.progress.is_finished(&s.id))
    }

    fn interrupted(&self) -> Error {
        Error::Interrupted {
            what: "interrupted; progress and the cleanup ledger are saved".into(),
            hint: Some(format!("run `labrunner resume {}` to continue where you stopped", self.lab.id())),
        }
    }

    fn finish_event(&mut self) {
        let count = |o: StepOutcome| self.progress.finished.iter().filter(|r| r.outcome == o).count();
        let (done, shown, skipped) =
            (count(StepOutcome::Done), count(StepOutcome::Shown), count(StepOutcome::Skipped));
        self.reporter.event(&Event::LabFinished {
            done,
            shown,
            skipped,
            skipped_steps: self
                .progress
                .finished
                .iter()
                .filter(|r| r.outcome == StepOutcome::Skipped)
                .map(|r| r.step.clone())
                .collect(),
            total: self.lab.step_count(),
            resources: self.ledger.entries.len(),
            complete: done + shown + skipped == self.lab.step_count(),
        });
    }

    fn save_progress(&mut self) -> Result<(), Error> {
        self.progress.variables = self.values.persistable();
        // The ledger keeps the values too: with it, lost progress can be rebuilt.
        if !self.ledger.is_empty() && self.ledger.variables != self.progress.variables {
            self.ledger.variables = self.progress.variables.clone();
            self.ledger.save(&self.run)?;
        }
        self.progress.save(&self.run)
    }

    /// The environment for shell blocks and command checks, resolved again when stale.
    async fn shell(&mut self) -> Result<ShellEnv, Error> {
        match &self.shell {
            Some((env, at))
                if at.elapsed() < SHELL_ENV_FRESH
                    && env.expires.is_none_or(|t| t > std::time::SystemTime::now() + SHELL_ENV_MARGIN) =>
            {
                Ok(env.clone())
            }
            _ => {
                let env = self.clients.shell_env().await?;
                for secret in env.secret_values() {
                    self.values.also_mask(secret);
                }
                self.shell = Some((env.clone(), Instant::now()));
                Ok(env)
            }
        }
    }

    /// The step variables a killed block may leave for the next run: ids, never secrets.
    fn kept_names(&self) -> Vec<String> {
        self.lab
            .manifest
            .variables
            .iter()
            .filter(|v| v.source == VariableSource::Step && !v.secret && !looks_secret(&v.name, ""))
            .map(|v| v.name.clone())
            .collect()
    }

    /// Lab values plus the AWS identity and region: the variables a child process gets.
    fn child_env(&self, shell: &ShellEnv) -> std::collections::BTreeMap<String, String> {
        let mut env = self.values.env();
        env.extend(shell.set.clone());
        env
    }

    fn skip_to(&mut self, from: &str) -> Result<(), Error> {
        let Some(index) = self.lab.step_index(from) else {
            let ids: Vec<&str> = self.lab.steps().map(|(_, s)| s.id.as_str()).collect();
            return Err(Error::usage(
                format!("lab `{}` has no step `{from}`", self.lab.id()),
                format!("its steps are: {}", ids.join(", ")),
            ));
        };
        let earlier: Vec<String> = self.lab.steps().take(index).map(|(_, s)| s.id.clone()).collect();
        for id in earlier {
            if !self.progress.is_finished(&id) {
                self.progress.finish(&id, StepOutcome::Done);
            }
        }
        self.reporter.event(&Event::Notice {
            text: format!("starting at step `{from}`; the steps before it count as done by hand"),
        });
        self.save_progress()
    }

    /// Re-verifies every finished step: state may have drifted since the last session. Only a
    /// definite answer that the state is not there is drift; a check that could not look
    /// (throttling, a 5xx, access denied) leaves the step done.
    async fn recheck_finished(&mut self) -> Result<(), Error> {
        let verifier = self.verifier().await?;
        let mut drifted = Vec::new();
        let mut unchecked = Vec::new();
        let done: Vec<&Step> = self
            .lab
            .steps()
            .map(|(_, s)| s)
            .filter(|s| self.progress.outcome(&s.id) == Some(StepOutcome::Done) && !s.checks.is_empty())
            .collect();
        if !done.is_empty() {
            self.reporter.event(&Event::Notice {
                text: format!("checking the {} finished step(s) against the account first", done.len()),
            });
        }
        // Every check of every finished step, looked at eight at a time: a resumed run waits
        // seconds, not the sum of forty looks.
        let mut looks: Vec<(usize, Check)> = Vec::new();
        for (i, step) in done.iter().enumerate() {
            for check in &step.checks {
                // A value we no longer know cannot prove drift.
                if let Ok(resolved) = self.values.resolve_check(check) {
                    looks.push((i, resolved));
                }
            }
        }
        let mut outcomes: Vec<(usize, Outcome)> = Vec::new();
        for chunk in looks.chunks(8) {
            let futures: Vec<_> = chunk
                .iter()
                .map(|(i, check)| {
                    let verifier = &verifier;
                    Box::pin(async move { (*i, verifier.check_once(check).await) })
                        as std::pin::Pin<Box<dyn std::future::Future<Output = (usize, Outcome)> + Send + '_>>
                })
                .collect();
            outcomes.extend(crate::verify::join_all(futures).await);
        }
        for (i, step) in done.iter().enumerate() {
            let mut failures = Vec::new();
            let mut errors = Vec::new();
            for (_, outcome) in outcomes.iter().filter(|(j, _)| *j == i) {
                let outcome = self.masked(outcome);
                let line = format!("{}: {}", outcome.description, outcome.evidence);
                match outcome.status {
                    Status::Pass => {}
                    Status::Fail => failures.push(line),
                    Status::Error => errors.push(line),
                }
            }
            if !failures.is_empty() {
                drifted.push((step.id.clone(), failures));
            } else if !errors.is_empty() {
                unchecked.push((step.id.clone(), errors));
            }
        }
        for (id, evidence) in unchecked {
            self.reporter.event(&Event::Unchecked { step: id, evidence });
        }
        for (id, evidence) in drifted {
            self.progress.unfinish(&id);
            self.reporter.event(&Event::Drifted { step: id, evidence });
        }
        self.save_progress()
    }

    /// Progress was lost but the ledger remains: mark done, in order, every step that checks
    /// out against the account, and stop at the first that does not. Nothing is run.
    async fn rebuild_progress(&mut self) -> Result<(), Error> {
        self.values.extend_missing(&self.ledger.variables.clone());
        self.fill_from_ledger();
        let verifier = self.verifier().await?;
        let mut stopped_at = None;
        for (_, step) in self.lab.steps() {
            let provable = if step.checks.is_empty() {
                step.creates.iter().all(|r| {
                    self.values.resolve_resource(r).is_ok_and(|r| self.ledger.recorded(&r).next().is_some())
                })
            } else {
                let (checks, unresolved) = self.resolved_checks(step);
                let mut all_pass = unresolved.is_empty();
                for check in &checks {
                    if !all_pass {
                        break;
                    }
                    all_pass = verifier.check_once(check).await.status == Status::Pass;
                }
                all_pass
            };
            if !provable {
                stopped_at = Some(step.id.clone());
                break;
            }
            self.progress.finish(&step.id, StepOutcome::Done);
        }
        let done = self.progress.finished.len();
        self.reporter.event(&Event::Notice {
            text: match &stopped_at {
                Some(id) => format!(
                    "progress rebuilt from the account and the cleanup ledger: {done} step(s) check out; continuing at step `{id}`"
                ),
                None => format!("progress rebuilt from the account and the cleanup ledger: all {done} step(s) check out"),
            },
        });
        self.save_progress()
    }

    async fn verifier(&mut self) -> Result<Verifier, Error> {
        // Command checks run in the lab's working directory, which exists once a block ran;
        // a run that has only watched or resumed must still have it.
        let _ = crate::exec::private_dir(&self.run.workdir());
        let shell = self.shell().await?;
        let mut settings = self.options.verify.clone();
        settings.command_env = self.child_env(&shell).into_iter().collect();
        settings.command_unset = shell.unset.clone();
        settings.workdir = Some(self.run.workdir());
        Ok(Verifier::new(Arc::clone(&self.clients), settings))
    }

    /// Stops before touching anything if the credentials now point elsewhere.
    async fn guard_identity(&mut self) -> Result<(), Error> {
        let now = whoami(&self.clients).await?;
        if now.account != self.identity.account || now.region != self.identity.region {
            return Err(Error::WrongAccount(Box::new(AccountMismatch {
                what: "stopping before the next step".into(),
                record: "progress".into(),
                expected_account: self.identity.account.clone(),
                expected_region: self.identity.region.clone(),
                actual_account: now.account,
                actual_region: now.region,
            })));
        }
        Ok(())
    }

    async fn step(&mut self, step: &'a Step, number: usize, total: usize) -> Result<Flow, Error> {
        self.guard_identity().await?;
        let known =
            |name: &str| Some(self.values.get(name).map_or_else(|| format!("${{{name}}}"), str::to_string));
        let checks = step
            .checks
            .iter()
            .map(|c| self.values.mask(&c.resolve(&known).unwrap_or_else(|_| c.clone()).summary()))
            .collect();
        let creates = step
            .creates
            .iter()
            .map(|r| self.values.mask(&r.resolve(&known).unwrap_or_else(|_| r.clone()).describe()))
            .collect();
        self.reporter.event(&Event::StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            number,
            total,
            checks,
            creates,
        });
        self.resolve_variables(step).await?;
        // The same step, stopped after its commands began: they may have created things.
        let interrupted =
            self.progress.current.as_deref() == Some(step.id.as_str()) && self.progress.commands_began;
        self.progress.current = Some(step.id.clone());
        self.progress.commands_began = interrupted;
        self.save_progress()?;

        let runnable = step.runnable_blocks().next().is_some();
        let mut existing = Vec::new();
        if interrupted || self.ledger.entries.iter().any(|e| e.step == step.id) {
            match self.reconcile(step).await? {
                Reconciled::Done => {
                    let result = StepResult::Done;
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    return Ok(Flow::Next(result));
                }
                Reconciled::Clear => {}
                Reconciled::Exists(found) => existing = found,
            }
        }
        // What matches the step's resources as it begins is not the lab's to delete, however
        // the student then does the step (even by hand in another terminal before answering).
        let mut before = match self.before(step).await {
            Ok(before) => before,
            Err(message) => return Ok(Flow::Next(self.cannot_look(step, &message))),
        };
        let mut choice = if existing.is_empty() {
            self.choose(step, runnable)?
        } else {
            self.choose_again(step, runnable)?
        };
        let mut retried = false;
        // The commands failed because what they create exists, and the checks pass on it.
        let mut adoptable = false;
        loop {
            let result = match choice {
                Choice::Quit => return Ok(Flow::Quit),
                Choice::Skip => {
                    if self.prompter.is_some() && !self.options.auto && !self.confirm_skip(step)? {
                        choice = self.choose(step, runnable)?;
                        continue;
                    }
                    let result = StepResult::Skipped;
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    return Ok(Flow::Next(result));
                }
                Choice::Refuse => {
                    self.reporter.event(&Event::Notice {
                        text: format!(
                            "step `{}` is not run again unattended: its commands already ran and some of what they create exists, so running them again could fail or make a second copy. Finish the step by hand (`labrunner show {} --step {}` shows it), then `labrunner resume {}`; or remove what it made with `labrunner cleanup {}`.",
                            step.id,
                            self.lab.id(),
                            step.id,
                            self.lab.id(),
                            self.lab.id()
                        ),
                    });
                    StepResult::Failed
                }
                Choice::Run => match self.run_blocks(step, &before).await? {
                    Ok(()) => self.verify_step(step).await,
                    Err(_) if self.cancel.is_cancelled() => StepResult::Interrupted,
                    Err(failure) => {
                        // A throttled or unavailable API is worth one more try unattended,
                        // but only while nothing the step creates exists.
                        if self.options.auto
                            && !retried
                            && failure.class.is_some_and(ErrorClass::is_retryable)
                            && self.nothing_created(step).await
                        {
                            retried = true;
                            self.reporter.event(&Event::Notice {
                                text: "the commands failed on throttling or an unavailable service, and nothing they create exists yet: running them once more".into(),
                            });
                            choice = Choice::Run;
                            continue;
                        }
                        if failure.class.is_some_and(ErrorClass::is_retryable) {
                            self.reporter.event(&Event::Notice {
                                text: "AWS throttled or was unavailable (see the output above); running the commands again later usually works".into(),
                            });
                        }
                        if failure.exists {
                            adoptable = self.exists_and_passes(step).await;
                            if adoptable && self.options.auto {
                                choice = Choice::Adopt;
                                continue;
                            }
                        }
                        StepResult::Failed
                    }
                },
                Choice::Adopt => {
                    // What exists is used as it is: recorded for cleanup only if it appeared
                    // during this step (what existed before stays the student's).
                    if let Err(e) = self.record_with(step, &before, true).await {
                        self.reporter.event(&Event::Notice { text: e.to_string() });
                    }
                    self.verify_step(step).await
                }
                Choice::Myself => self.watch(step, &before).await,
            };
            match result {
                StepResult::Done | StepResult::Shown | StepResult::Skipped | StepResult::Interrupted => {
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    return Ok(Flow::Next(result));
                }
                StepResult::Failed => {
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    if self.options.auto {
                        return Ok(Flow::Next(StepResult::Failed));
                    }
                    choice = self.after_failure(step, runnable, adoptable).await?;
                    adoptable = false;
                    if matches!(choice, Choice::Run | Choice::Myself) {
                        before = match self.before(step).await {
                            Ok(before) => before,
                            Err(message) => return Ok(Flow::Next(self.cannot_look(step, &message))),
                        };
                    }
                }
            }
        }
    }

    /// The step cannot start safely: labrunner could not see what exists.
    fn cannot_look(&mut self, step: &Step, message: &str) -> StepResult {
        self.reporter.event(&Event::Notice {
            text: format!(
                "could not look at the account before step `{}` ({message}); nothing was run. Try again in a moment: `labrunner resume {}`",
                step.id,
                self.lab.id()
            ),
        });
        let result = StepResult::Failed;
        self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
        result
    }

    /// The identities matching each declared resource now (those that resolve).
    async fn before(&self, step: &Step) -> Result<Before, String> {
        let mut before = Before::new();
        for resource in &step.creates {
            let Ok(resolved) = self.values.resolve_resource(resource) else { continue };
            let ids = cleanup::snapshot(&self.clients, &resolved)
                .await
                .map_err(|e| format!("looking for {}: {e}", resolved.describe()))?;
            before.insert(resolved, ids);
        }
        Ok(before)
    }

    /// A step that ran before: resolve its intents, then ask the account. Its checks passing
    /// means it is done; otherwise say which of its resources exist.
    async fn reconcile(&mut self, step: &Step) -> Result<Reconciled, Error> {
        let mut existing = Vec::new();
        self.fill_from_ledger();
        let intents: Vec<LedgerEntry> =
            self.ledger.entries.iter().filter(|e| e.intent && e.step == step.id).cloned().collect();
        for intent in intents {
            let known = self.ledger.identities();
            match cleanup::resolve_intent(&self.clients, &self.with_values(&intent), &known).await {
                Ok(Resolution::Found(ids)) => {
                    let resource = self.with_values(&intent).resource;
                    self.ledger.remove(&intent);
                    self.ledger.record(resource.clone(), ids, &step.id);
                    self.ledger.save(&self.run)?;
                    self.tag_recorded(step, &resource).await;
                }
                Ok(Resolution::Absent) => {
                    let resource = self.with_values(&intent).resource;
                    self.ledger.remove(&intent);
                    // Nothing matches its fields, but the block may have exported the id of
                    // what it made before it was killed (a gateway created, never attached).
                    if let Some(ids) = self.exported_identity(&resource, &intent.preexisting).await {
                        self.ledger.record(resource.clone(), ids, &step.id);
                        self.tag_recorded(step, &resource).await;
                    }
                    self.ledger.save(&self.run)?;
                }
                Ok(Resolution::Ambiguous(ids)) => {
                    existing.push(format!("{} (one of {})", intent.resource.describe(), ids.join(", ")));
                }
                Ok(Resolution::Unresolved(name)) => existing.push(format!(
                    "{} (may exist: ${{{name}}} was never captured, so labrunner cannot look)",
                    intent.resource.describe()
                )),
                Err(e) => existing.push(format!("{} (could not look: {e})", intent.resource.describe())),
            }
        }
        self.fill_from_ledger();
        let (checks, unresolved) = self.resolved_checks(step);
        if !checks.is_empty() && unresolved.is_empty() {
            let verifier = self.verifier().await?;
            let mut all_pass = true;
            for check in &checks {
                all_pass &= verifier.check_once(check).await.status == Status::Pass;
            }
            if all_pass {
                // Intents that did not resolve stay: cleanup reports them rather than forget.
                self.reporter.event(&Event::Notice {
                    text: format!(
                        "step `{}` ran before and its checks pass on what exists: it counts as done (what it created stays recorded for cleanup)",
                        step.id
                    ),
                });
                return Ok(Reconciled::Done);
            }
        }
        let recorded: Vec<LedgerEntry> =
            self.ledger.entries.iter().filter(|e| !e.intent && e.step == step.id).cloned().collect();
        for entry in recorded {
            match cleanup::exists(&self.clients, &entry).await {
                Ok(false) => {}
                Ok(true) => existing.push(entry.describe()),
                Err(e) => existing.push(format!("{} (could not look: {e})", entry.describe())),
            }
        }
        if existing.is_empty() {
            return Ok(Reconciled::Clear);
        }
        self.reporter.event(&Event::ResourcesExist { step: step.id.clone(), resources: existing.clone() });
        Ok(Reconciled::Exists(existing))
    }

    /// An intent with the variables known now filled in (its resource may have been written
    /// before the step captured them).
    fn with_values(&self, intent: &LedgerEntry) -> LedgerEntry {
        let mut entry = intent.clone();
        if let Ok(resource) = self.values.resolve_resource(&intent.resource) {
            entry.resource = resource;
        }
        entry
    }

    /// Whether none of the step's resources exist, recorded or new since it began.
    async fn nothing_created(&self, step: &Step) -> bool {
        let known = self.ledger.identities();
        for entry in self.ledger.entries.iter().filter(|e| e.step == step.id) {
            let live = if entry.intent {
                !matches!(
                    cleanup::resolve_intent(&self.clients, &self.with_values(entry), &known).await,
                    Ok(Resolution::Absent)
                )
            } else {
                !matches!(cleanup::exists(&self.clients, entry).await, Ok(false))
            };
            if live {
                return false;
            }
        }
        true
    }

    fn choose(&mut self, step: &Step, runnable: bool) -> Result<Choice, Error> {
        let Some(prompter) = self.prompter.as_deref_mut().filter(|_| !self.options.auto) else {
            return Ok(if runnable { Choice::Run } else { Choice::Myself });
        };
        let (items, map): (Vec<&str>, Vec<Choice>) = if runnable {
            (
                vec!["Run it for me", "I'll do it myself", "Skip this step", "Quit (progress is saved)"],
                vec![Choice::Run, Choice::Myself, Choice::Skip, Choice::Quit],
            )
        } else if step.mode == StepMode::Console || !step.checks.is_empty() {
            (
                vec![
                    "I'll do it now (labrunner watches the checks)",
                    "Skip this step",
                    "Quit (progress is saved)",
                ],
                vec![Choice::Myself, Choice::Skip, Choice::Quit],
            )
        } else {
            (vec!["Continue", "Quit (progress is saved)"], vec![Choice::Myself, Choice::Quit])
        };
        let picked = prompter.select("What next?", &items, 0).map_err(prompt_error)?;
        Ok(map.into_iter().nth(picked).unwrap_or(Choice::Quit))
    }

    /// The menu for a step whose commands ran before and whose resources partly exist.
    /// Unattended: run again only when the step says its commands are idempotent.
    fn choose_again(&mut self, step: &Step, runnable: bool) -> Result<Choice, Error> {
        let Some(prompter) = self.prompter.as_deref_mut().filter(|_| !self.options.auto) else {
            return Ok(if step.idempotent && runnable { Choice::Run } else { Choice::Refuse });
        };
        let mut items = vec!["I finished it by hand: check now"];
        let mut map = vec![Choice::Myself];
        if runnable {
            items.push("Run the commands again (they may fail on, or duplicate, what exists)");
            map.push(Choice::Run);
        }
        items.extend(["Skip this step", "Quit (progress is saved)"]);
        map.extend([Choice::Skip, Choice::Quit]);
        let picked = prompter
            .select(&format!("Step `{}` ran before and some of it exists. What now?", step.id), &items, 0)
            .map_err(prompt_error)?;
        Ok(map.into_iter().nth(picked).unwrap_or(Choice::Quit))
    }

    /// The menu after a step failed or was interrupted: what fits the step, with ways to look
    /// before choosing (what exists, the hints), and a confirmed skip that names the steps
    /// that depend on this one.
    async fn after_failure(&mut self, step: &Step, runnable: bool, adoptable: bool) -> Result<Choice, Error> {
        if self.prompter.is_none() {
            return Ok(Choice::Quit);
        }
        if adoptable {
            self.reporter.event(&Event::Notice {
                text: format!(
                    "what step `{}` creates exists already, and the step's checks pass on it: you can use it as it is",
                    step.id
                ),
            });
        }
        loop {
            let mut items: Vec<&str> = Vec::new();
            let mut map: Vec<Option<Choice>> = Vec::new();
            if adoptable {
                items.push("Use what exists (its checks pass)");
                map.push(Some(Choice::Adopt));
            }
            if !step.checks.is_empty() {
                items.push("I fixed it: check now");
                map.push(Some(Choice::Myself));
            }
            if runnable {
                items.push("Run the commands again");
                map.push(Some(Choice::Run));
            }
            if !step.creates.is_empty() {
                items.push("Show what exists of what this step creates");
                map.push(None);
            }
            if !step.hints.is_empty() {
                items.push("Show the hints");
                map.push(None);
            }
            items.extend(["Skip this step", "Quit (progress is saved)"]);
            map.extend([Some(Choice::Skip), Some(Choice::Quit)]);
            let picked = {
                let prompter = self
                    .prompter
                    .as_deref_mut()
                    .ok_or_else(|| prompt_error(std::io::ErrorKind::Interrupted.into()))?;
                prompter
                    .select(&format!("Step `{}` is not done yet. What now?", step.id), &items, 0)
                    .map_err(prompt_error)?
            };
            match (items.get(picked).copied(), map.get(picked).copied().flatten()) {
                (Some(label), None) if label.starts_with("Show what exists") => {
                    self.show_existing(step).await
                }
                (Some(_), None) => {
                    let hints = step.hints.iter().map(|h| h.text.clone()).collect();
                    self.reporter.event(&Event::Hints { step: step.id.clone(), hints });
                }
                (_, Some(choice)) => return Ok(choice),
                (None, None) => return Ok(Choice::Quit),
            }
        }
    }

    /// Asks before skipping, naming the later steps that use what this one makes.
    fn confirm_skip(&mut self, step: &Step) -> Result<bool, Error> {
        let dependents = dependents(self.lab, step);
        let question = if dependents.is_empty() {
            format!("Skip step `{}`? It stays unverified, and `status` lists it as skipped.", step.id)
        } else {
            format!(
                "Skip step `{}`? Later steps use what it makes and may fail: {}. Skip anyway?",
                step.id,
                dependents.join(", ")
            )
        };
        let Some(prompter) = self.prompter.as_deref_mut() else { return Ok(true) };
        prompter.confirm(&question, false).map_err(prompt_error)
    }

    /// Lists, for each resource the step creates, the ones that exist now, and whether the
    /// lab's ledger has them.
    async fn show_existing(&mut self, step: &Step) {
        let mut lines = Vec::new();
        for resource in &step.creates {
            let resolved = self.values.resolve_resource(resource).unwrap_or_else(|_| resource.clone());
            match cleanup::snapshot(&self.clients, &resolved).await {
                Ok(ids) if ids.is_empty() => lines.push(format!("{}: none", resolved.describe())),
                Ok(ids) => {
                    let recorded = self.ledger.identities();
                    for id in ids {
                        let whose =
                            if recorded.contains(&id) { "recorded by this lab" } else { "not the lab's" };
                        lines.push(format!("{} ({id}): exists, {whose}", resolved.describe()));
                    }
                }
                Err(e) => lines.push(format!("{}: could not look ({e})", resolved.describe())),
            }
        }
        self.reporter.event(&Event::ResourcesExist { step: step.id.clone(), resources: lines });
    }

    /// One look at the step's checks: do they all pass on what exists now?
    async fn exists_and_passes(&mut self, step: &Step) -> bool {
        if step.checks.is_empty() {
            return false;
        }
        let (checks, unresolved) = self.resolved_checks(step);
        if !unresolved.is_empty() {
            return false;
        }
        let Ok(verifier) = self.verifier().await else { return false };
        for check in &checks {
            if verifier.check_once(check).await.status != Status::Pass {
                return false;
            }
        }
        true
    }

    /// Values this step needs that are not known yet: asked, computed or defaulted.
    async fn resolve_variables(&mut self, step: &Step) -> Result<(), Error> {
        for var in &self.lab.manifest.variables {
            if self.values.get(&var.name).is_some() || !step_uses(step, &var.name) {
                continue;
            }
            let default = match var.default.as_deref().map(|d| vars::interpolate(d, &self.values.lookup())) {
                Some(Ok(d)) => Some(d),
                _ => None,
            };
            let value = match &var.source {
                VariableSource::Prompt => {
                    match (self.prompter.as_deref_mut().filter(|_| !self.options.auto), default) {
                        (Some(p), default) => ask(p, var, default.as_deref())?,
                        (None, Some(d)) => d,
                        (None, None) => {
                            return Err(Error::usage(
                                format!("variable {} needs a value and has no default", var.name),
                                format!("pass --var {}=VALUE", var.name),
                            ))
                        }
                    }
                }
                VariableSource::Command(command) => self.command_value(&var.name, command).await?,
                // A step value that was not captured (the block was killed, or the student
                // did the step by hand) is found read-only where the lab says how.
                VariableSource::Step => match self.look_up(var) {
                    Some(value) => value,
                    None => continue,
                },
                // Identity values are always known.
                _ => continue,
            };
            self.values.set(self.lab, &var.name, value);
            self.reporter.event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
        }
        Ok(())
    }

    /// A step variable's value from its lookup, in what the ledger recorded: the lab's own
    /// resource, never one that merely carries the same name. `None` when there is no lookup
    /// or no single recorded resource.
    fn look_up(&self, var: &crate::lab::Variable) -> Option<String> {
        let lookup = var.lookup.as_ref()?;
        let resource = self.values.resolve_resource(&lookup.resource).ok()?;
        let recorded: Vec<&LedgerEntry> = self.ledger.recorded(&resource).collect();
        let [one] = recorded.as_slice() else { return None };
        lookup_field(&lookup.field, &one.ids)
    }

    /// Fills step variables that have no value from their lookups (after intents resolved).
    fn fill_from_ledger(&mut self) {
        for var in &self.lab.manifest.variables {
            if self.values.get(&var.name).is_some() {
                continue;
            }
            if let Some(value) = self.look_up(var) {
                self.values.set(self.lab, &var.name, value);
                self.reporter
                    .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
            }
        }
    }

    /// `outcome` with secret values masked, for display.
    fn masked(&self, outcome: &Outcome) -> Outcome {
        let mut o = outcome.clone();
        o.description = self.values.mask(&o.description);
        o.evidence = self.values.mask(&o.evidence);
        o.diagnostics = o.diagnostics.iter().map(|d| self.values.mask(d)).collect();
        o
    }

    fn shown(&self, name: &str) -> String {
        if self.values.is_secret(name) {
            "****".into()
        } else {
            self.values.get(name).unwrap_or_default().to_string()
        }
    }

    async fn command_value(&mut self, name: &str, command: &str) -> Result<String, Error> {
        let mut output = String::new();
        let shell = self.shell().await?;
        let env = self.child_env(&shell);
        let (workdir, scratch) = (self.run.workdir(), self.run.scratch());
        let block = Block {
            code: command,
            env: &env,
            unset: &shell.unset,
            workdir: &workdir,
            scratch: &scratch,
            keep: &[],
        };
        let result = run_block(
            &block,
            &mut |stream, line| {
                if stream == Stream::Stdout {
                    output.push_str(line);
                    output.push('\n');
                }
            },
            &self.cancel,
        )
        .await
        .map_err(|e| crate::state::io_error("run", std::path::Path::new("bash"), &e))?;
        if result.cancelled {
            return Err(self.interrupted());
        }
        if !result.success() {
            return Err(Error::usage(
                format!("the command that sets {name} failed (exit {:?})", result.status),
                format!("run it yourself to see why, or pass --var {name}=VALUE: {command}"),
            ));
        }
        Ok(output.trim().to_string())
    }

    /// Runs the step's blocks and records what they created. `Err` when they did not all
    /// succeed, with the class of a failure that says nothing about the account (throttling,
    /// a 5xx) when the output shows one; cancellation is `Err(None)` with the step marked
    /// interrupted by the caller's check of the token.
    async fn run_blocks(&mut self, step: &Step, before: &Before) -> Result<Result<(), Failure>, Error> {
        // Record before you create: if labrunner dies while a block runs, the intents say what
        // may exist, and what matched before tells the lab's resource from others.
        for resource in &step.creates {
            let resolved = self.values.resolve_resource(resource).unwrap_or_else(|_| resource.clone());
            let existed = before.get(&resolved).cloned().unwrap_or_default();
            self.ledger.intend(resolved, &step.id, existed);
        }
        if !step.creates.is_empty() {
            self.ledger.save(&self.run)?;
        }
        self.progress.commands_began = true;
        self.save_progress()?;

        let keep = self.kept_names();
        let blocks: Vec<_> = step.runnable_blocks().cloned().collect();
        for (n, block) in blocks.iter().enumerate() {
            let number = n + 1;
            let shell = self.shell().await?;
            self.reporter.event(&Event::BlockStarted {
                step: step.id.clone(),
                block: number,
                code: self.values.mask(&block.code),
            });
            let env = self.child_env(&shell);
            let values = &self.values;
            let reporter = &mut *self.reporter;
            let step_id = &step.id;
            // A block that may set a secret prints it before labrunner knows the value:
            // its output is held until the block ends, then masked with what it exported.
            let hold = may_set_secret(self.lab, &block.code);
            let mut held: Vec<(Stream, String)> = Vec::new();
            // The end of the error output, to tell throttling from a real failure.
            let mut errors: std::collections::VecDeque<String> = std::collections::VecDeque::new();
            let (workdir, scratch) = (self.run.workdir(), self.run.scratch());
            let spec = Block {
                code: &block.code,
                env: &env,
                unset: &shell.unset,
                workdir: &workdir,
                scratch: &scratch,
                keep: &keep,
            };
            let result = run_block(
                &spec,
                &mut |stream, line| {
                    if stream == Stream::Stderr {
                        if errors.len() == 40 {
                            errors.pop_front();
                        }
                        errors.push_back(line.to_string());
                    }
                    if hold {
                        held.push((stream, line.to_string()));
                    } else {
                        reporter.event(&Event::Output {
                            step: step_id.clone(),
                            stream,
                            line: values.mask(line),
                        });
                    }
                },
                &self.cancel,
            )
            .await
            .map_err(|e| crate::state::io_error("run", std::path::Path::new("bash"), &e))?;
            let mut empty = Vec::new();
            for (name, value) in &result.exports {
                if is_empty_capture(self.lab, name, value) {
                    // `export X=$(aws ...)` hides a failed command from errexit: `export`
                    // itself succeeds. An empty or "None" id is that failure, caught here.
                    empty.push(name.clone());
                    continue;
                }
                self.values.set(self.lab, name, value.clone());
            }
            for (stream, line) in held {
                self.reporter.event(&Event::Output {
                    step: step.id.clone(),
                    stream,
                    line: self.values.mask(&line),
                });
            }
            for name in result.exports.keys() {
                self.reporter.event(&Event::VariableSet { name: name.clone(), value: self.shown(name) });
            }
            self.save_progress()?;
            for name in &empty {
                self.reporter.event(&Event::Output {
                    step: step.id.clone(),
                    stream: Stream::Stderr,
                    line: format!(
                        "labrunner: {name} came back empty (or \"None\"): the command that sets it failed or found nothing; read the output above"
                    ),
                });
            }
            let status =
                if empty.is_empty() { result.status } else { result.status.filter(|c| *c != 0).or(Some(1)) };
            self.reporter.event(&Event::BlockFinished { step: step.id.clone(), block: number, status });
            if result.cancelled {
                self.record_resources(step, before).await?;
                return Ok(Err(Failure::default()));
            }
            if !result.success() || !empty.is_empty() {
                self.record_resources(step, before).await?;
                let text: Vec<String> = errors.into_iter().collect();
                let text = text.join("\n");
                return Ok(Err(Failure {
                    class: cli_failure_class(&text),
                    exists: says_already_exists(&text),
                }));
            }
        }
        let missing = self.record_resources(step, before).await?;
        if !missing.is_empty() {
            self.reporter.event(&Event::Notice {
                text: format!(
                    "the commands succeeded, but {} could not be found in account {} in {}. If the commands used another region or profile of their own, the resources are there and labrunner cannot clean them up: look for them with the AWS CLI or console and delete them by hand, then run the step again here.",
                    missing.join(", "),
                    self.identity.account,
                    self.identity.region
                ),
            });
            return Ok(Err(Failure::default()));
        }
        Ok(Ok(()))
    }

    /// Records what the step created: for each declared resource, the live ones that were not
    /// there when the step began and are not recorded yet, by their ids. Returns the
    /// resources that were expected but not found. An intent whose lookup failed stays.
    async fn record_resources(&mut self, step: &Step, before: &Before) -> Result<Vec<String>, Error> {
        self.record_with(step, before, false).await
    }

    /// [`Session::record_resources`]; `adopting` (the commands failed on "already exists" and
    /// what exists is used as it is) records only what was looked at before the step and
    /// appeared since: never a resource the step could not see beforehand, and never by an
    /// exported id alone, since what exists is most likely the student's own.
    async fn record_with(
        &mut self,
        step: &Step,
        before: &Before,
        adopting: bool,
    ) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        for resource in &step.creates {
            let resolved = match self.values.resolve_resource(resource) {
                Ok(r) => r,
                Err(reason) => {
                    self.reporter.event(&Event::ResourceNotFound {
                        step: step.id.clone(),
                        resource: resource.describe(),
                        reason,
                    });
                    missing.push(resource.describe());
                    continue;
                }
            };
            let existed = before.get(&resolved);
            if adopting && existed.is_none() {
                self.reporter.event(&Event::ResourceNotFound {
                    step: step.id.clone(),
                    resource: resolved.describe(),
                    reason: "it could not be looked at before the step, so labrunner cannot tell the lab made it; cleanup leaves it".into(),
                });
                continue;
            }
            let known = self.ledger.identities();
            let found = cleanup::new_since(
                &self.clients,
                &resolved,
                existed.map(Vec::as_slice).unwrap_or_default(),
                &known,
            )
            .await;
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    self.reporter.event(&Event::ResourceNotFound {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                        reason: format!("could not look ({e}); it stays in the ledger as possibly created"),
                    });
                    continue;
                }
            };
            let ours = |e: &LedgerEntry| {
                e.intent && e.step == step.id && (e.resource == resolved || &e.resource == resource)
            };
            self.ledger.entries.retain(|e| !ours(e));
            let mut found = found;
            if found.is_empty() && !adopting {
                // The commands exported the id of what they made, but it does not match the
                // declared fields (yet): an internet gateway created, then never attached.
                let before = existed.cloned().unwrap_or_default();
                if let Some(ids) = self.exported_identity(&resolved, &before).await {
                    found.push(ids);
                }
            }
            if found.is_empty() {
                let recorded_before = self.ledger.recorded(&resolved).any(|e| e.step == step.id);
                if recorded_before {
                    // An earlier attempt of this step recorded it.
                } else if existed.is_some_and(|ids| !ids.is_empty()) {
                    self.reporter.event(&Event::ResourcePreexisting {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                    });
                } else {
                    self.reporter.event(&Event::ResourceNotFound {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                        reason: "not found after the step".into(),
                    });
                    missing.push(resolved.describe());
                }
                self.ledger.save(&self.run)?;
                continue;
            }
            if found.len() > 1 {
                // Several appeared while the step ran. The one whose id the commands exported
                // is the lab's; without that, none is recorded (someone else may have made the
                // others) and the intent stays for cleanup to report.
                let exported: Vec<&str> = self
                    .lab
                    .manifest
                    .variables
                    .iter()
                    .filter(|v| v.source == VariableSource::Step)
                    .filter_map(|v| self.values.get(&v.name))
                    .collect();
                let named: Vec<BTreeMap<String, String>> = found
                    .iter()
                    .filter(|ids| cleanup::identities(ids).iter().any(|id| exported.contains(&id.as_str())))
                    .cloned()
                    .collect();
                if named.len() == 1 {
                    found = named;
                } else {
                    self.reporter.event(&Event::ResourceAmbiguous {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                        ids: found.iter().flat_map(cleanup::identities).collect(),
                    });
                    self.ledger.intend(resolved.clone(), &step.id, existed.cloned().unwrap_or_default());
                    self.ledger.save(&self.run)?;
                    continue;
                }
            }
            for ids in found {
                self.ledger.record(resolved.clone(), ids.clone(), &step.id);
                self.ledger.save(&self.run)?;
                let entry = LedgerEntry {
                    resource: resolved.clone(),
                    ids,
                    step: step.id.clone(),
                    recorded_at: String::new(),
                    intent: false,
                    preexisting: Vec::new(),
                };
                let _ = cleanup::tag(&self.clients, &entry, self.lab.id()).await;
                self.reporter.event(&Event::ResourceRecorded {
                    step: step.id.clone(),
                    resource: self.values.mask(&entry.describe()),
                });
            }
        }
        Ok(missing)
    }

    /// The ids of `resource` as a step variable holds them: a variable whose `lookup` names this
    /// resource and has a value that identifies a live resource, not one of `before` and not
    /// recorded already. What the commands exported is what they made.
    async fn exported_identity(
        &self,
        resource: &ResourceSpec,
        before: &[String],
    ) -> Option<BTreeMap<String, String>> {
        let known = self.ledger.identities();
        for var in &self.lab.manifest.variables {
            let Some(lookup) = &var.lookup else { continue };
            if !matches!(lookup.field.as_str(), "id" | "arn") {
                continue;
            }
            if self.values.resolve_resource(&lookup.resource).ok().as_ref() != Some(resource) {
                continue;
            }
            let Some(value) = self.values.get(&var.name).filter(|v| !v.is_empty() && *v != "None") else {
                continue;
            };
            if before.iter().any(|b| b == value) || known.contains(value) {
                continue;
            }
            let key = if value.starts_with("arn:") { "arn" } else { "id" };
            let ids = BTreeMap::from([(key.to_string(), value.to_string())]);
            let entry = LedgerEntry {
                resource: resource.clone(),
                ids: ids.clone(),
                step: String::new(),
                recorded_at: String::new(),
                intent: false,
                preexisting: Vec::new(),
            };
            if matches!(cleanup::exists(&self.clients, &entry).await, Ok(true)) {
                return Some(ids);
            }
        }
        None
    }

    /// Tags what the ledger records for `resource` in this step (after an intent resolved).
    async fn tag_recorded(&mut self, step: &Step, resource: &ResourceSpec) {
        let entries: Vec<LedgerEntry> =
            self.ledger.recorded(resource).filter(|e| e.step == step.id).cloned().collect();
        for entry in entries {
            let _ = cleanup::tag(&self.clients, &entry, self.lab.id()).await;
            self.reporter.event(&Event::ResourceRecorded {
                step: step.id.clone(),
                resource: self.values.mask(&entry.describe()),
            });
        }
    }

    /// The step's checks resolved with the current values; unresolvable ones become errors.
    fn resolved_checks(&self, step: &Step) -> (Vec<crate::lab::Check>, Vec<Outcome>) {
        let mut resolved = Vec::new();
        let mut unresolved = Vec::new();
        for check in &step.checks {
            match self.values.resolve_check(check) {
                Ok(c) => resolved.push(c),
                Err(message) => {
                    let advice = self.values.first_missing(check).map(|name| missing_advice(self.lab, &name));
                    unresolved.push(Outcome {
                        kind: check.kind(),
                        description: check.describe(),
                        status: Status::Error,
                        evidence: message,
                        diagnostics: advice.into_iter().collect(),
                        attempts: 0,
                        elapsed: Duration::ZERO,
                    });
                }
            }
        }
        (resolved, unresolved)
    }

    /// When the student does a step by hand, the ids its commands would have exported (a VPC
    /// id, an ARN) are not captured: ask for the ones later checks and steps need.
    /// Asks for the values this step's commands would have exported that labrunner cannot
    /// find by itself (no `lookup`). An empty answer skips: the checks that need it wait.
    fn ask_step_outputs(&mut self, step: &Step) -> Result<(), Error> {
        for var in &self.lab.manifest.variables {
            let set_here = step.shell.iter().any(|b| b.code.contains(&format!("{}=", var.name)));
            if var.source != VariableSource::Step
                || !set_here
                || var.lookup.is_some()
                || self.values.get(&var.name).is_some()
                || !step.checks.iter().any(|c| c.variables().contains(&var.name))
            {
                continue;
            }
            let Some(prompter) = self.prompter.as_deref_mut() else { return Ok(()) };
            let label = if var.description.is_empty() {
                format!("{}, as your commands print it (Enter to skip)", var.name)
            } else {
                format!("{}: {} (as your commands print it; Enter to skip)", var.name, var.description.trim())
            };
            let Some(value) = ask_optional(prompter, var, &label)? else { continue };
            self.values.set(self.lab, &var.name, value);
            self.reporter.event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
        }
        self.save_progress()
    }

    /// Step variables still without a value whose `lookup` names a resource that appeared
    /// during this step (exactly one): found read-only, so a student doing the step by hand
    /// never types an id.
    async fn find_step_outputs(&mut self, step: &Step, before: &Before) {
        let mut found = false;
        for var in &self.lab.manifest.variables {
            let Some(lookup) = &var.lookup else { continue };
            if var.source != VariableSource::Step
                || self.values.get(&var.name).is_some()
                || !step_uses(step, &var.name)
            {
                continue;
            }
            let Ok(resource) = self.values.resolve_resource(&lookup.resource) else { continue };
            let Ok(live) = cleanup::live(&self.clients, &resource).await else { continue };
            let existed = before.get(&resource).cloned().unwrap_or_default();
            let new: Vec<_> = live
                .iter()
                .filter(|ids| cleanup::identities(ids).iter().all(|id| !existed.contains(id)))
                .collect();
            let [ids] = new.as_slice() else { continue };
            if let Some(value) = lookup_field(&lookup.field, ids) {
                self.values.set(self.lab, &var.name, value);
                self.reporter
                    .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
                found = true;
            }
        }
        if found {
            let _ = self.save_progress();
        }
    }

    /// Waits for the step's checks, with progress, until they pass or give up.
    async fn verify_step(&mut self, step: &Step) -> StepResult {
        if step.checks.is_empty() {
            return StepResult::Done;
        }
        let (checks, unresolved) = self.resolved_checks(step);
        self.reporter.event(&Event::ChecksStarted {
            step: step.id.clone(),
            checks: checks.iter().map(|c| self.values.mask(&c.describe())).collect(),
        });
        let verifier = match self.verifier().await {
            Ok(v) => v,
            Err(e) => {
                self.reporter.event(&Event::Notice { text: e.to_string() });
                return StepResult::Failed;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let progress = move |i: usize, p: &crate::verify::Progress| {
            let _ = tx.send((i, p.status_line.clone(), p.details.clone(), p.attempt));
        };
        let cancel = self.cancel.clone();
        let wait = async {
            let outcomes = verifier.wait_all(&checks, &cancel, &progress).await;
            drop(progress);
            outcomes
        };
        let reporter = &mut *self.reporter;
        let values = &self.values;
        let step_id = step.id.clone();
        let drain = async {
            while let Some((index, status, details, attempt)) = rx.recv().await {
                let status = values.mask(&status);
                let details = details.iter().map(|d| values.mask(d)).collect();
                reporter.event(&Event::CheckProgress {
                    step: step_id.clone(),
                    index,
                    status,
                    details,
                    attempt,
                });
            }
        };
        let (mut outcomes, ()) = tokio::join!(wait, drain);
        outcomes.extend(unresolved);
        self.conclude(step, outcomes)
    }

    fn conclude(&mut self, step: &Step, outcomes: Vec<Outcome>) -> StepResult {
        for (index, outcome) in outcomes.iter().enumerate() {
            let outcome = self.masked(outcome);
            self.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
        }
        if self.cancel.is_cancelled() {
            return StepResult::Interrupted;
        }
        if outcomes.iter().all(|o| o.status == Status::Pass) {
            return StepResult::Done;
        }
        let hints: Vec<String> =
            matching_hints(&step.hints, &outcomes).into_iter().map(|h| h.text.clone()).collect();
        let hints =
            if hints.is_empty() { step.hints.iter().map(|h| h.text.clone()).collect() } else { hints };
        if !hints.is_empty() {
            self.reporter.event(&Event::Hints { step: step.id.clone(), hints });
        }
        StepResult::Failed
    }

    /// "I'll do it myself": look at the checks now and again until they pass; Enter looks at
    /// once. Steps without checks just wait for the student to say they are done.
    async fn watch(&mut self, step: &Step, before: &Before) -> StepResult {
        if step.checks.is_empty() {
            // Nothing to look at: the step was read (Continue was the answer) or done by hand,
            // and either way labrunner has not verified anything.
            let reading = step.runnable_blocks().next().is_none();
            if !reading && !self.options.auto {
                if let Some(p) = self.prompter.as_deref_mut() {
                    if !matches!(p.confirm("Done with this step?", true), Ok(true)) {
                        return StepResult::Skipped;
                    }
                }
            }
            if let Err(e) = self.record_resources(step, before).await {
                self.reporter.event(&Event::Notice { text: e.to_string() });
            }
            return StepResult::Shown;
        }
        if self.prompter.is_none() || self.options.auto {
            // Unattended, someone else does the step (a console step, a script): what it
            // creates is recorded all the same, or cleanup would never know of it.
            let result = self.verify_step(step).await;
            if let Err(e) = self.record_resources(step, before).await {
                self.reporter.event(&Event::Notice { text: e.to_string() });
            }
            return result;
        }
        self.find_step_outputs(step, before).await;
        if let Err(e) = self.ask_step_outputs(step) {
            self.reporter.event(&Event::Notice { text: e.to_string() });
            return StepResult::Failed;
        }
        self.reporter.event(&Event::Notice {
            text: format!(
                "labrunner is watching the checks: press Enter to look now (with diagnostics and hints), Ctrl-C to stop (progress is saved). In your own shell, `eval \"$(labrunner env {})\"` sets the lab's values.",
                self.lab.id()
            ),
        });
        let (checks, _) = self.resolved_checks(step);
        self.reporter.event(&Event::ChecksStarted {
            step: step.id.clone(),
            checks: checks.iter().map(|c| self.values.mask(&c.describe())).collect(),
        });
        let deadline = step
            .checks
            .iter()
            .map(|c| self.options.verify.timeout_override.unwrap_or_else(|| c.deadline()))
            .max();
        let mut started = std::time::Instant::now();
        // One wait for Enter at a time, kept across looks.
        let mut pending: Option<tokio::sync::oneshot::Receiver<()>> = None;
        let mut input_open = true;
        // Enter was pressed: this look is shown in full.
        let mut asked = false;
        loop {
            self.find_step_outputs(step, before).await;
            let (checks, unresolved) = self.resolved_checks(step);
            let verifier = match self.verifier().await {
                Ok(v) => v,
                Err(e) => {
                    self.reporter.event(&Event::Notice { text: e.to_string() });
                    return StepResult::Failed;
                }
            };
            let mut outcomes = Vec::new();
            for check in &checks {
                outcomes.push(verifier.check_once(check).await);
            }
            outcomes.extend(unresolved);
            for (index, o) in outcomes.iter().enumerate() {
                self.reporter.event(&Event::CheckProgress {
                    step: step.id.clone(),
                    index,
                    status: self.values.mask(&o.evidence),
                    details: Vec::new(),
                    attempt: 0,
                });
            }
            let all_pass = outcomes.iter().all(|o| o.status == Status::Pass);
            if asked && !all_pass {
                // "Look now": the evidence, the diagnosis and the hints, not just a status line.
                for (index, outcome) in outcomes.iter().enumerate() {
                    let outcome = self.masked(outcome);
                    self.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
                }
                let hints: Vec<String> =
                    matching_hints(&step.hints, &outcomes).into_iter().map(|h| h.text.clone()).collect();
                if !hints.is_empty() {
                    self.reporter.event(&Event::Hints { step: step.id.clone(), hints });
                }
            }
            asked = false;
            let mut timed_out = deadline.is_some_and(|d| started.elapsed() > d);
            if timed_out && !all_pass && input_open {
                // The student may still be working: the watch goes on while they want it to.
                // Where things stand first (this also ends the live lines, so the question is
                // not drawn over).
                drop(pending.take());
                for (index, outcome) in outcomes.iter().enumerate() {
                    let outcome = self.masked(outcome);
                    self.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
                }
                let keep = self.prompter.as_deref_mut().map(|p| {
                    p.confirm("The checks have not passed yet. Keep watching?", true).unwrap_or(false)
                });
                if keep == Some(true) {
                    started = std::time::Instant::now();
                    timed_out = false;
                }
            }
            if all_pass || timed_out {
                if let Err(e) = self.record_resources(step, before).await {
                    self.reporter.event(&Event::Notice { text: e.to_string() });
                }
                // Dropping a pending Enter cancels it: the prompters consume no input for a
                // watch that stopped listening, so the next answer reaches the next question.
                drop(pending);
                return self.conclude(step, outcomes);
            }
            if pending.is_none() && input_open {
                pending = self.prompter.as_deref_mut().map(|p| p.enter());
            }
            let pressed = async {
                match pending.as_mut() {
                    Some(rx) => rx.await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(self.options.watch_interval) => {}
                // Enter: look again at once. A closed input stops listening for it.
                pressed_ok = pressed => {
                    input_open = pressed_ok;
                    asked = pressed_ok;
                    pending = None;
                }
                () = self.cancel.cancelled() => return StepResult::Interrupted,
            }
        }
    }
}

/// The ids of later steps that use a variable this step's commands set, or a resource it
/// creates (by the same identifying fields).
fn dependents(lab: &Lab, step: &Step) -> Vec<String> {
    let set: Vec<String> = lab
        .manifest
        .variables
        .iter()
        .filter(|v| v.source == VariableSource::Step)
        .filter(|v| step.shell.iter().any(|b| b.code.contains(&format!("{}=", v.name))))
        .map(|v| v.name.clone())
        .collect();
    let Some(index) = lab.step_index(&step.id) else { return Vec::new() };
    lab.steps()
        .skip(index + 1)
        .map(|(_, s)| s)
        .filter(|later| {
            let uses_var = set.iter().any(|name| step_uses(later, name));
            let names: Vec<String> = step.creates.iter().map(|r| r.describe()).collect();
            let uses_resource = later.checks.iter().any(|c| {
                names.iter().any(|n| c.describe().contains(n.split_once(' ').map_or(n.as_str(), |(_, x)| x)))
            });
            uses_var || uses_resource
        })
        .map(|s| s.id.clone())
        .collect()
}

/// The prefix an id of this variable has, judging by its name (`VPC_ID` → `vpc-`).
fn expected_prefix(name: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("VPC_ID", "vpc-"),
        ("SUBNET", "subnet-"),
        ("SG_ID", "sg-"),
        ("SECURITY_GROUP", "sg-"),
        ("IGW", "igw-"),
        ("ROUTE_TABLE", "rtb-"),
        ("NAMESPACE_ID", "ns-"),
        ("_ARN", "arn:"),
    ];
    PREFIXES.iter().find(|(part, _)| name.contains(part)).map(|(_, prefix)| *prefix)
}

/// Asks for an optional value: empty skips; a value must match the variable's pattern and
/// look like an id of its kind, or it is asked again (never saved wrong).
fn ask_optional(
    prompter: &mut dyn Prompter,
    var: &crate::lab::Variable,
    label: &str,
) -> Result<Option<String>, Error> {
    let pattern = var.pattern.as_deref().and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok());
    let mut problem = String::new();
    for _ in 0..5 {
        let value = prompter.input(&format!("{problem}{label}"), Some("")).map_err(prompt_error)?;
        let value = value.trim().to_string();
        if value.is_empty() {
            return Ok(None);
        }
        let fits_pattern = pattern.as_ref().is_none_or(|p| p.is_match(&value));
        let prefix = expected_prefix(&var.name);
        let fits_kind = prefix.is_none_or(|p| value.starts_with(p));
        if fits_pattern && fits_kind {
            return Ok(Some(value));
        }
        let want = match (prefix, &var.pattern) {
            (Some(p), _) if !fits_kind => format!("an id starting with `{p}`"),
            (_, Some(p)) => format!("a value matching `{p}`"),
            _ => "another value".into(),
        };
        problem = format!("`{value}` does not look like {} ({want}). ", var.name);
    }
    Ok(None)
}

fn prompt_error(e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::Interrupted {
        Error::Interrupted { what: "interrupted at a question; progress is saved".into(), hint: None }
    } else {
        Error::usage(format!("cannot ask at the terminal: {e}"), "run with --auto for an unattended run")
    }
}

fn ask(
    prompter: &mut dyn Prompter,
    var: &crate::lab::Variable,
    default: Option<&str>,
) -> Result<String, Error> {
    let pattern = var.pattern.as_deref().and_then(|p| regex::Regex::new(&format!("^(?:{p})$")).ok());
    let label = if var.description.is_empty() {
        var.name.clone()
    } else {
        format!("{} ({})", var.name, var.description)
    };
    for _ in 0..5 {
        let value = prompter.input(&label, default).map_err(prompt_error)?;
        match &pattern {
            Some(re) if !re.is_match(&value) => continue,
            _ if value.is_empty() => continue,
            _ => return Ok(value),
        }
    }
    Err(Error::usage(
        format!("no valid value for {}", var.name),
        var.pattern
            .as_ref()
            .map_or_else(|| "give a non-empty value".to_string(), |p| format!("the value must match {p}")),
    ))
}

/// A lab variable set by a step that came back as nothing: `""` or the AWS CLI's `None`.
fn is_empty_capture(lab: &Lab, name: &str, value: &str) -> bool {
    lab.variable(name).is_some_and(|v| v.source == VariableSource::Step)
        && matches!(value.trim(), "" | "None")
}

/// Whether bash code reads `$NAME` or `${NAME}` (and not merely a longer name starting so).
fn mentions(code: &str, name: &str) -> bool {
    let braced = format!("${{{name}}}");
    let bare = format!("${name}");
    code.contains(&braced)
        || code
            .match_indices(&bare)
            .any(|(i, m)| !code[i + m.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// Whether a step's commands, checks or resources reference `name`.
fn step_uses(step: &Step, name: &str) -> bool {
    let in_shell = step.shell.iter().any(|b| mentions(&b.code, name));
    in_shell
        || step.checks.iter().any(|c| c.variables().iter().any(|v| v == name))
        || step.creates.iter().any(|r| r.variables().iter().any(|v| v == name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::{Location, Variable};
    use crate::session::prompt::ScriptedPrompter;

    fn variable(pattern: Option<&str>) -> Variable {
        Variable {
            name: "CLUSTER_NAME".into(),
            description: "cluster name".into(),
            source: VariableSource::Prompt,
            default: Some("lab-cluster".into()),
            pattern: pattern.map(str::to_string),
            secret: false,
            lookup: None,
            location: Location::new("labs/x.yaml", 1, 1),
        }
    }

    #[test]
    fn prompts_until_the_value_matches_the_pattern() {
        let mut p = ScriptedPrompter::new(&["has spaces", "", "good-name"]);
        let value = ask(&mut p, &variable(Some("[a-z-]+")), Some("lab-cluster")).unwrap();
        // An empty answer takes the default, which matches too.
        assert_eq!(value, "lab-cluster");
        assert_eq!(p.asked, vec!["CLUSTER_NAME (cluster name)"; 2]);
    }

    #[test]
    fn gives_up_after_five_bad_answers_with_the_pattern_in_the_hint() {
        let mut p = ScriptedPrompter::new(&["A", "B", "C", "D", "E", "F"]);
        let err = ask(&mut p, &variable(Some("[a-z]+")), None).unwrap_err();
        assert_eq!(err.to_string(), "no valid value for CLUSTER_NAME");
        assert_eq!(err.hint().as_deref(), Some("the value must match [a-z]+"));
        assert_eq!(p.asked.len(), 5);
    }

    #[test]
    fn a_closed_prompt_is_a_usage_error_not_a_panic() {
        let mut p = ScriptedPrompter::new(&[]);
        let err = ask(&mut p, &variable(None), None).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_INPUT);
    }

    fn lab_with(step_yaml: &str, code: &str) -> Lab {
        let page = format!("<!-- labrunner:step\n{step_yaml}\n-->\n```bash\n{code}\n```\n");
        let module = crate::lab::parse::parse_module(std::path::Path::new("m.md"), &page).unwrap();
        let manifest = crate::lab::Manifest {
            variables: vec![
                Variable { source: VariableSource::Step, name: "VPC_ID".into(), ..variable(None) },
                variable(None),
            ],
            ..Default::default()
        };
        Lab { manifest, manifest_path: "labs/x.yaml".into(), modules: vec![module] }
    }

    #[test]
    fn which_variables_a_step_uses() {
        let lab = lab_with(
            "id: s\nchecks:\n  - cluster_active: { cluster: \"${CLUSTER_NAME}\" }",
            "aws ec2 describe-vpcs --vpc-ids \"$VPC_ID\"",
        );
        let step = &lab.modules[0].steps[0];
        assert!(step_uses(step, "VPC_ID"), "shell");
        assert!(step_uses(step, "CLUSTER_NAME"), "check");
        assert!(!step_uses(step, "VPC"), "prefix of a used name");
        assert!(!step_uses(step, "OTHER"));
    }

    #[test]
    fn empty_captures_of_step_variables_are_failures() {
        let lab = lab_with("id: s", "true");
        let cases = [
            ("VPC_ID", "", true),
            ("VPC_ID", "None", true),
            ("VPC_ID", " None\n", true),
            ("VPC_ID", "vpc-1", false),
        ];
        for (name, value, want) in cases {
            assert_eq!(is_empty_capture(&lab, name, value), want, "{name}={value:?}");
        }
        assert!(!is_empty_capture(&lab, "CLUSTER_NAME", ""), "only step variables are ids to capture");
        assert!(!is_empty_capture(&lab, "UNDECLARED", ""), "undeclared exports are the block's own business");
    }
}
