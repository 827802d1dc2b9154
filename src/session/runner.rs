//! The guided run: for each step, show it, run it or let the student do it, record what it
//! created, verify, and save progress, never advancing until the account is right.
//!
//! What happens next in a step is decided by the pure step machine (`session::machine`);
//! `Session::step` is the driver that performs its actions: asking, running blocks and
//! recording to the ledger (`session::act`), verifying and watching (`session::watch`).
//!
//! Progress is saved at every transition and the ledger as soon as a resource is seen, so a
//! closed terminal, a Ctrl-C or a crash loses at most the block that was running. What that
//! block may have created is not lost: before a step's commands run, the ledger gets an intent
//! for each resource it declares (with what matched before), and progress notes that the
//! commands began. A step that ran before (interrupted, drifted, or found while rebuilding
//! lost progress) is looked at before anything runs again (`Session::reconcile`): no resume
//! creates a second copy of what the ledger holds.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::event::{Event, Reporter, StepResult};
use super::machine::{Action, Flow, Input, Machine, Menu, Ran, Situation};
use super::prompt::Prompter;
use super::vars::{looks_secret, lookup_field, Values};
use crate::aws::{whoami, Clients, Identity, ShellEnv};
use crate::error::{AccountMismatch, Error};
use crate::exec::{reap_leftovers, run_block, Block, Stream};
use crate::lab::{vars, Check, Lab, Module, ResourceSpec, Step, VariableSource};
use crate::state::ledger::{Ledger, LedgerEntry};
use crate::state::progress::{Completion, Progress};
use crate::state::RunDir;
use crate::verify::{Clock, Outcome, Status, SystemClock, Verifier, VerifySettings};

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

/// The account and region a run acts in: the clients for it and who labrunner is there.
pub struct Account {
    /// The AWS clients.
    pub clients: Arc<Clients>,
    /// The account, caller and region the run was confirmed for.
    pub identity: Identity,
}

/// What a run keeps, loaded: where it lives on disk, progress, the cleanup ledger, values.
pub struct RunState {
    /// The run's directory (lab, account, region).
    pub run: RunDir,
    /// Progress so far.
    pub progress: Progress,
    /// The cleanup ledger.
    pub ledger: Ledger,
    /// Variable values: identity, saved and `--var` values already in.
    pub values: Values,
}

/// How the session talks with the student: events out, answers in, and Ctrl-C.
pub struct Io<'a> {
    /// Draws the events.
    pub reporter: &'a mut dyn Reporter,
    /// Asks questions; `None` when nobody may be asked.
    pub prompter: Option<&'a mut dyn Prompter>,
    /// Cancelled on Ctrl-C or SIGTERM.
    pub cancel: CancellationToken,
}

/// One lab run in one account and region.
pub struct Session<'a> {
    pub(super) lab: &'a Lab,
    pub(super) account: Account,
    pub(super) state: RunState,
    pub(super) io: Io<'a>,
    pub(super) options: RunOptions,
    /// Time for the watch and for how fresh the shell environment is.
    pub(super) clock: Arc<dyn Clock>,
    /// The environment shell blocks get (identity, region), and when it was resolved.
    shell: Option<(ShellEnv, Instant)>,
}

/// How long resolved credentials are handed to blocks before they are resolved again.
const SHELL_ENV_FRESH: Duration = Duration::from_secs(5 * 60);
/// Credentials closer than this to their expiry are resolved again before a block runs.
const SHELL_ENV_MARGIN: Duration = Duration::from_secs(15 * 60);

/// The identities that matched each of a step's declared resources when it began.
pub(super) type Before = HashMap<ResourceSpec, Vec<String>>;

impl<'a> Session<'a> {
    /// A session over loaded state, on the system clock.
    pub fn new(lab: &'a Lab, account: Account, state: RunState, io: Io<'a>, options: RunOptions) -> Self {
        Session { lab, account, state, io, options, clock: Arc::new(SystemClock), shell: None }
    }

    /// The same session on another clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The cleanup ledger as it stands.
    pub fn ledger(&self) -> &Ledger {
        &self.state.ledger
    }

    /// Runs the lab from the first unfinished step to the end, a quit or a failure.
    pub async fn run(&mut self, resumed: bool) -> Result<RunEnd, Error> {
        self.io.reporter.event(&Event::LabStarted {
            lab: self.lab.id().to_string(),
            title: self.lab.manifest.title.clone(),
            account: self.account.identity.account.clone(),
            arn: self.account.identity.arn.clone(),
            region: self.account.identity.region.clone(),
            total: self.lab.step_count(),
            finished: self.state.progress.finished.len(),
            resumed,
        });
        // A block a killed run left behind (its script, its process group) goes first; the
        // ids it had captured are kept.
        // They are newer than anything saved before the block ran.
        for (name, value) in reap_leftovers(&self.state.run.scratch()) {
            let wanted = self.lab.variable(&name).is_some_and(|v| v.source == VariableSource::Step);
            if wanted && !is_empty_capture(self.lab, &name, &value) {
                self.state.values.set(self.lab, &name, value);
                self.io.reporter.event(&Event::VariableSet { name: name.clone(), value: self.shown(&name) });
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
            if self.state.progress.is_finished(&step.id) {
                continue;
            }
            if introduced != Some(module.path.as_path()) {
                introduced = Some(module.path.as_path());
                // A module's introduction (its concepts, a billing warning) comes before its
                // first step, and again when a resumed run enters the module mid-way.
                let first = module.steps.first().is_some_and(|s| s.id == step.id);
                self.io.reporter.event(&Event::ModuleStarted {
                    title: module.title.clone(),
                    intro: module.intro.clone(),
                    resumed: !first,
                });
            }
            match self.step(step, i + 1, total).await? {
                Flow::Next(StepResult::Done) => self.state.progress.finish(&step.id, Completion::Done),
                Flow::Next(StepResult::Shown) => self.state.progress.finish(&step.id, Completion::Shown),
                Flow::Next(StepResult::Skipped) => self.state.progress.finish(&step.id, Completion::Skipped),
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
            self.record_appeared().await?;
            if self.options.until.as_deref() == Some(step.id.as_str()) && !self.all_finished() {
                self.io.reporter.event(&Event::Notice {
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
        self.lab.steps().all(|(_, s)| self.state.progress.is_finished(&s.id))
    }

    pub(super) fn interrupted(&self) -> Error {
        Error::Interrupted {
            what: "interrupted; progress and the cleanup ledger are saved".into(),
            hint: Some(format!("run `labrunner resume {}` to continue where you stopped", self.lab.id())),
        }
    }

    fn finish_event(&mut self) {
        let count = |o: Completion| self.state.progress.finished.iter().filter(|r| r.outcome == o).count();
        let (done, shown, skipped) =
            (count(Completion::Done), count(Completion::Shown), count(Completion::Skipped));
        self.io.reporter.event(&Event::LabFinished {
            done,
            shown,
            skipped,
            skipped_steps: self
                .state
                .progress
                .finished
                .iter()
                .filter(|r| r.outcome == Completion::Skipped)
                .map(|r| r.step.clone())
                .collect(),
            total: self.lab.step_count(),
            resources: self.state.ledger.entries.len(),
            complete: done + shown + skipped == self.lab.step_count(),
        });
    }

    pub(super) fn save_progress(&mut self) -> Result<(), Error> {
        self.state.progress.variables = self.state.values.persistable();
        // The ledger keeps the values too: with it, lost progress can be rebuilt.
        if !self.state.ledger.is_empty() && self.state.ledger.variables != self.state.progress.variables {
            self.state.ledger.variables = self.state.progress.variables.clone();
            self.state.ledger.save(&self.state.run)?;
        }
        self.state.progress.save(&self.state.run)
    }

    /// The environment for shell blocks and command checks, resolved again when stale.
    pub(super) async fn shell(&mut self) -> Result<ShellEnv, Error> {
        match &self.shell {
            Some((env, at))
                if self.clock.now().saturating_duration_since(*at) < SHELL_ENV_FRESH
                    && env.expires.is_none_or(|t| t > std::time::SystemTime::now() + SHELL_ENV_MARGIN) =>
            {
                Ok(env.clone())
            }
            _ => {
                let env = self.account.clients.shell_env().await?;
                for secret in env.secret_values() {
                    self.state.values.also_mask(secret);
                }
                self.shell = Some((env.clone(), self.clock.now()));
                Ok(env)
            }
        }
    }

    /// The step variables a killed block may leave for the next run: ids, never secrets.
    pub(super) fn kept_names(&self) -> Vec<String> {
        self.lab
            .manifest
            .variables
            .iter()
            .filter(|v| v.source == VariableSource::Step && !v.secret && !looks_secret(&v.name, ""))
            .map(|v| v.name.clone())
            .collect()
    }

    /// Lab values plus the AWS identity and region: the variables a child process gets.
    pub(super) fn child_env(&self, shell: &ShellEnv) -> std::collections::BTreeMap<String, String> {
        let mut env = self.state.values.env();
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
            if !self.state.progress.is_finished(&id) {
                self.state.progress.finish(&id, Completion::Done);
            }
        }
        self.io.reporter.event(&Event::Notice {
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
            .filter(|s| self.state.progress.outcome(&s.id) == Some(Completion::Done) && !s.checks.is_empty())
            .collect();
        if !done.is_empty() {
            self.io.reporter.event(&Event::Notice {
                text: format!("checking the {} finished step(s) against the account first", done.len()),
            });
        }
        // Every check of every finished step, looked at eight at a time: a resumed run waits
        // seconds, not the sum of forty looks.
        let mut looks: Vec<(usize, Check)> = Vec::new();
        for (i, step) in done.iter().enumerate() {
            for check in &step.checks {
                // A value we no longer know cannot prove drift.
                if let Ok(resolved) = self.state.values.resolve_check(check) {
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
            self.io.reporter.event(&Event::Unchecked { step: id, evidence });
        }
        for (id, evidence) in drifted {
            self.state.progress.unfinish(&id);
            self.io.reporter.event(&Event::Drifted { step: id, evidence });
        }
        self.save_progress()
    }

    /// Progress was lost but the ledger remains: mark done, in order, every step that checks
    /// out against the account, and stop at the first that does not. Nothing is run.
    async fn rebuild_progress(&mut self) -> Result<(), Error> {
        self.state.values.extend_missing(&self.state.ledger.variables.clone());
        self.fill_from_ledger();
        let verifier = self.verifier().await?;
        let mut stopped_at = None;
        for (_, step) in self.lab.steps() {
            let provable = if step.checks.is_empty() {
                step.creates.iter().all(|r| {
                    self.state
                        .values
                        .resolve_resource(r)
                        .is_ok_and(|r| self.state.ledger.recorded(&r).next().is_some())
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
            self.state.progress.finish(&step.id, Completion::Done);
        }
        let done = self.state.progress.finished.len();
        self.io.reporter.event(&Event::Notice {
            text: match &stopped_at {
                Some(id) => format!(
                    "progress rebuilt from the account and the cleanup ledger: {done} step(s) check out; continuing at step `{id}`"
                ),
                None => format!("progress rebuilt from the account and the cleanup ledger: all {done} step(s) check out"),
            },
        });
        self.save_progress()
    }

    pub(super) async fn verifier(&mut self) -> Result<Verifier, Error> {
        // Command checks run in the lab's working directory, which exists once a block ran;
        // a run that has only watched or resumed must still have it.
        let _ = crate::exec::private_dir(&self.state.run.workdir());
        let shell = self.shell().await?;
        let mut settings = self.options.verify.clone();
        settings.command_env = self.child_env(&shell).into_iter().collect();
        settings.command_unset = shell.unset.clone();
        settings.workdir = Some(self.state.run.workdir());
        Ok(Verifier::new(Arc::clone(&self.account.clients), settings).with_clock(Arc::clone(&self.clock)))
    }

    /// Stops before touching anything if the credentials now point elsewhere.
    async fn guard_identity(&mut self) -> Result<(), Error> {
        let now = whoami(&self.account.clients).await?;
        if now.account != self.account.identity.account || now.region != self.account.identity.region {
            return Err(Error::WrongAccount(Box::new(AccountMismatch {
                what: "stopping before the next step".into(),
                record: "progress".into(),
                expected_account: self.account.identity.account.clone(),
                expected_region: self.account.identity.region.clone(),
                actual_account: now.account,
                actual_region: now.region,
            })));
        }
        Ok(())
    }

    /// One step: announce it, settle its variables, then let the step machine decide and
    /// perform what it asks until the step is over.
    async fn step(&mut self, step: &'a Step, number: usize, total: usize) -> Result<Flow, Error> {
        self.guard_identity().await?;
        self.announce(step, number, total);
        self.resolve_variables(step).await?;
        // The same step, stopped after its commands began: they may have created things.
        let interrupted = self.state.progress.current.as_deref() == Some(step.id.as_str())
            && self.state.progress.commands_began;
        self.state.progress.current = Some(step.id.clone());
        self.state.progress.commands_began = interrupted;
        self.save_progress()?;

        let ran_before = interrupted || self.state.ledger.entries.iter().any(|e| e.step == step.id);
        let mut machine = Machine::new(Situation::of(
            self.lab.id(),
            step,
            self.options.auto,
            self.io.prompter.is_some(),
            ran_before,
        ));
        // What matches the step's resources as it begins is not the lab's to delete, however
        // the student then does the step (even by hand in another terminal before answering).
        let mut before = Before::new();
        let mut next = machine.start();
        loop {
            for event in &next.events {
                self.io.reporter.event(event);
            }
            let input = match next.action {
                Action::Finish(flow) => return Ok(flow),
                Action::Reconcile => Input::Reconciled(self.reconcile(step).await?),
                Action::LookBefore => Input::Looked(self.before(step).await.map(|now| before = now)),
                Action::Ask(menu) => Input::Picked(self.ask_menu(&menu)?),
                Action::ConfirmSkip => Input::SkipConfirmed(self.confirm_skip(step)?),
                Action::Run => Input::Ran(match self.run_blocks(step, &before).await? {
                    Ok(()) => Ran::Succeeded,
                    Err(_) if self.io.cancel.is_cancelled() => Ran::Interrupted,
                    Err(failure) => Ran::Failed(failure),
                }),
                Action::LookForCreated => Input::NothingCreated(self.nothing_created(step).await),
                Action::LookIfAdoptable => Input::Adoptable(self.exists_and_passes(step).await),
                Action::Adopt => {
                    // What exists is used as it is: recorded for cleanup only if it appeared
                    // during this step (what existed before stays the student's).
                    if let Err(e) = self.record_with(step, &before, true).await {
                        self.io.reporter.event(&Event::Notice { text: e.to_string() });
                    }
                    Input::Adopted
                }
                Action::Verify => Input::Checked(self.verify_step(step).await),
                Action::Watch => Input::Checked(self.watch(step, &before).await),
                Action::ShowExisting => {
                    self.show_existing(step).await;
                    Input::Shown
                }
            };
            next = machine.feed(input);
        }
    }

    /// The step begins: its checks and resources described with the values known so far.
    fn announce(&mut self, step: &Step, number: usize, total: usize) {
        let values = &self.state.values;
        let known =
            |name: &str| Some(values.get(name).map_or_else(|| format!("${{{name}}}"), str::to_string));
        let checks = step
            .checks
            .iter()
            .map(|c| values.mask(&c.resolve(&known).unwrap_or_else(|_| c.clone()).summary()))
            .collect();
        let describe = |r: &crate::lab::ResourceSpec| {
            values.mask(&r.resolve(&known).unwrap_or_else(|_| r.clone()).describe())
        };
        let creates = step
            .creates
            .iter()
            .map(describe)
            .chain(step.aws_creates.iter().map(|r| format!("{} (made by AWS for the lab)", describe(r))))
            .collect();
        self.io.reporter.event(&Event::StepStarted {
            step: step.id.clone(),
            title: step.title.clone(),
            number,
            total,
            checks,
            creates,
        });
    }

    /// Asks the student to pick an item of `menu`.
    fn ask_menu(&mut self, menu: &Menu) -> Result<usize, Error> {
        let prompter = self
            .io
            .prompter
            .as_deref_mut()
            .ok_or_else(|| prompt_error(std::io::ErrorKind::Interrupted.into()))?;
        prompter.select(&menu.question, &menu.items, 0).map_err(prompt_error)
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
        let Some(prompter) = self.io.prompter.as_deref_mut() else { return Ok(true) };
        prompter.confirm(&question, false).map_err(prompt_error)
    }

    /// Values this step needs that are not known yet: asked, computed or defaulted.
    async fn resolve_variables(&mut self, step: &Step) -> Result<(), Error> {
        for var in &self.lab.manifest.variables {
            if self.state.values.get(&var.name).is_some() || !step_uses(step, &var.name) {
                continue;
            }
            let default =
                match var.default.as_deref().map(|d| vars::interpolate(d, &self.state.values.lookup())) {
                    Some(Ok(d)) => Some(d),
                    _ => None,
                };
            let value = match &var.source {
                VariableSource::Prompt => {
                    match (self.io.prompter.as_deref_mut().filter(|_| !self.options.auto), default) {
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
            self.state.values.set(self.lab, &var.name, value);
            self.io
                .reporter
                .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
        }
        Ok(())
    }

    /// A step variable's value from its lookup, in what the ledger recorded: the lab's own
    /// resource, never one that merely carries the same name. `None` when there is no lookup
    /// or no single recorded resource.
    fn look_up(&self, var: &crate::lab::Variable) -> Option<String> {
        let lookup = var.lookup.as_ref()?;
        let resource = self.state.values.resolve_resource(&lookup.resource).ok()?;
        let recorded: Vec<&LedgerEntry> = self.state.ledger.recorded(&resource).collect();
        let [one] = recorded.as_slice() else { return None };
        lookup_field(&lookup.field, &one.ids)
    }

    /// Fills step variables that have no value from their lookups (after intents resolved).
    pub(super) fn fill_from_ledger(&mut self) {
        for var in &self.lab.manifest.variables {
            if self.state.values.get(&var.name).is_some() {
                continue;
            }
            if let Some(value) = self.look_up(var) {
                self.state.values.set(self.lab, &var.name, value);
                self.io
                    .reporter
                    .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
            }
        }
    }

    /// `outcome` with secret values masked, for display.
    pub(super) fn masked(&self, outcome: &Outcome) -> Outcome {
        let mut o = outcome.clone();
        o.description = self.state.values.mask(&o.description);
        o.evidence = self.state.values.mask(&o.evidence);
        o.diagnostics = o.diagnostics.iter().map(|d| self.state.values.mask(d)).collect();
        o
    }

    pub(super) fn shown(&self, name: &str) -> String {
        if self.state.values.is_secret(name) {
            "****".into()
        } else {
            self.state.values.get(name).unwrap_or_default().to_string()
        }
    }

    async fn command_value(&mut self, name: &str, command: &str) -> Result<String, Error> {
        let mut output = String::new();
        let shell = self.shell().await?;
        let env = self.child_env(&shell);
        let (workdir, scratch) = (self.state.run.workdir(), self.state.run.scratch());
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
            &self.io.cancel,
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

pub(super) fn prompt_error(e: std::io::Error) -> Error {
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
pub(super) fn is_empty_capture(lab: &Lab, name: &str, value: &str) -> bool {
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
pub(super) fn step_uses(step: &Step, name: &str) -> bool {
    let in_shell = step.shell.iter().any(|b| mentions(&b.code, name));
    in_shell
        || step.checks.iter().any(|c| c.variables().iter().any(|v| v == name))
        || step.creates.iter().chain(&step.aws_creates).any(|r| r.variables().iter().any(|v| v == name))
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

    /// Events drawn, kept for the test to read.
    #[derive(Default)]
    struct Recorder(Vec<Event>);

    impl Reporter for Recorder {
        fn event(&mut self, event: &Event) {
            self.0.push(event.clone());
        }
    }

    /// A lab of two steps: one to read, one whose command prints `hello`.
    fn two_steps() -> Lab {
        let page = "# Two\n\n<!-- labrunner:step\nid: read\n-->\nRead this.\n\n<!-- labrunner:step\nid: hello\n-->\n```bash\necho hello\n```\n";
        let module = crate::lab::parse::parse_module(std::path::Path::new("m.md"), page).unwrap();
        let manifest = crate::lab::Manifest { id: "two".into(), ..Default::default() };
        Lab { manifest, manifest_path: "labs/two.yaml".into(), modules: vec![module] }
    }

    /// Runs `lab` in a session over mocked AWS (STS answers who we are) and a temporary
    /// state directory; returns how it ended, the events and the questions asked.
    async fn run_session(
        lab: &Lab,
        auto: bool,
        answers: Option<&[&str]>,
    ) -> (RunEnd, Vec<Event>, Vec<String>) {
        use crate::verify::testing::{FakeClock, Mocks};
        use aws_smithy_mocks::mock;
        let sts = mock!(aws_sdk_sts::Client::get_caller_identity).then_output(|| {
            aws_sdk_sts::operation::get_caller_identity::GetCallerIdentityOutput::builder()
                .account("123456789012")
                .arn("arn:aws:iam::123456789012:user/student")
                .build()
        });
        let clients = Arc::new(Mocks { sts: vec![sts], ..Default::default() }.clients());
        let identity = whoami(&clients).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path(), lab.id(), &identity.account, &identity.region);
        let state = RunState {
            progress: Progress::new(lab.id(), &identity.account, &identity.region, &identity.arn),
            ledger: Ledger::new(lab.id(), &identity.account, &identity.region),
            values: Values::from_identity(lab, &identity),
            run,
        };
        let mut reporter = Recorder::default();
        let mut prompter = answers.map(ScriptedPrompter::new);
        let options = RunOptions { auto, watch_interval: Duration::from_secs(5), ..RunOptions::default() };
        let mut session = Session::new(
            lab,
            Account { clients, identity },
            state,
            Io {
                reporter: &mut reporter,
                prompter: prompter.as_mut().map(|p| -> &mut dyn Prompter { p }),
                cancel: CancellationToken::new(),
            },
            options,
        )
        .with_clock(FakeClock::new());
        let end = session.run(false).await.unwrap();
        drop(session);
        (end, reporter.0, prompter.map(|p| p.asked).unwrap_or_default())
    }

    fn finished(events: &[Event]) -> Vec<(String, StepResult)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::StepFinished { step, result } => Some((step.clone(), *result)),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn an_unattended_session_reads_one_step_and_runs_the_other() {
        let lab = two_steps();
        let (end, events, asked) = run_session(&lab, true, None).await;
        assert_eq!(end, RunEnd::Complete);
        assert!(asked.is_empty());
        assert_eq!(
            finished(&events),
            [("read".to_string(), StepResult::Shown), ("hello".to_string(), StepResult::Done)]
        );
        assert!(
            events.iter().any(|e| matches!(e, Event::Output { line, .. } if line == "hello")),
            "{events:?}"
        );
        assert!(matches!(events.last(), Some(Event::LabFinished { done: 1, shown: 1, complete: true, .. })));
    }

    #[tokio::test]
    async fn a_declined_skip_asks_again_and_quit_ends_the_session() {
        let lab = two_steps();
        let (end, events, asked) = run_session(&lab, false, Some(&["continue", "skip", "n", "quit"])).await;
        assert_eq!(end, RunEnd::Quit);
        assert_eq!(finished(&events), [("read".to_string(), StepResult::Shown)]);
        assert_eq!(
            asked,
            [
                "What next?",
                "What next?",
                "Skip step `hello`? It stays unverified, and `status` lists it as skipped.",
                "What next?",
            ]
        );
        assert!(!events.iter().any(|e| matches!(e, Event::Output { .. })), "nothing ran: {events:?}");
    }
}
