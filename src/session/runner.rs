//! The step state machine: for each step, show it, run it or let the student do it, record
//! what it created, verify, and save progress, never advancing until the account is right.
//!
//! Progress is saved at every transition and the ledger as soon as a resource is seen, so a
//! closed terminal, a Ctrl-C or a crash loses at most the block that was running.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::event::{Event, Reporter, StepResult};
use super::prompt::Prompter;
use super::vars::{may_set_secret, missing_advice, Values};
use crate::aws::{whoami, Clients, Identity};
use crate::cleanup;
use crate::error::{AccountMismatch, Error};
use crate::exec::{run_block, Stream};
use crate::lab::{vars, Lab, Step, StepMode, VariableSource};
use crate::state::ledger::Ledger;
use crate::state::progress::{Progress, StepOutcome};
use crate::state::RunDir;
use crate::ui::page::check_line;
use crate::verify::{matching_hints, Outcome, Status, Verifier, VerifySettings};

/// How the run behaves.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Run every step unattended; stop at the first failure.
    pub auto: bool,
    /// Mark the steps before this one as done and start here.
    pub from: Option<String>,
    /// Check deadline override and DNS server.
    pub verify: VerifySettings,
    /// How often the "do it yourself" watch looks again.
    pub watch_interval: Duration,
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
    /// Steps started before in this run (their resources are the lab's even if found before).
    attempted: HashSet<String>,
}

enum Choice {
    Run,
    Myself,
    Skip,
    Quit,
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
        let attempted = progress.current.iter().cloned().collect();
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
            attempted,
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
        if resumed {
            self.recheck_finished().await?;
        }
        if let Some(from) = self.options.from.clone() {
            self.skip_to(&from)?;
        }
        let steps: Vec<(usize, &'a Step)> = self.lab.steps().map(|(_, s)| s).enumerate().collect();
        let total = steps.len();
        for (i, step) in steps {
            if self.progress.is_finished(&step.id) {
                continue;
            }
            match self.step(step, i + 1, total).await? {
                Flow::Next(StepResult::Done) => self.progress.finish(&step.id, StepOutcome::Done),
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
        }
        self.finish_event();
        Ok(RunEnd::Complete)
    }

    fn interrupted(&self) -> Error {
        Error::Interrupted {
            what: "interrupted; progress and the cleanup ledger are saved".into(),
            hint: Some(format!("run `labrunner resume {}` to continue where you stopped", self.lab.id())),
        }
    }

    fn finish_event(&mut self) {
        let done = self.progress.finished.iter().filter(|r| r.outcome == StepOutcome::Done).count();
        let skipped = self.progress.finished.iter().filter(|r| r.outcome == StepOutcome::Skipped).count();
        self.reporter.event(&Event::LabFinished {
            done,
            skipped,
            total: self.lab.step_count(),
            resources: self.ledger.entries.len(),
            complete: done + skipped == self.lab.step_count(),
        });
    }

    fn save_progress(&mut self) -> Result<(), Error> {
        self.progress.variables = self.values.persistable();
        self.progress.save(&self.run)
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

    /// Re-verifies every finished step: state may have drifted since the last session.
    async fn recheck_finished(&mut self) -> Result<(), Error> {
        let verifier = self.verifier();
        let mut drifted = Vec::new();
        for (_, step) in self.lab.steps() {
            if self.progress.outcome(&step.id) != Some(StepOutcome::Done) || step.checks.is_empty() {
                continue;
            }
            let mut failures = Vec::new();
            for check in &step.checks {
                let outcome = match self.values.resolve_check(check) {
                    Ok(resolved) => verifier.check_once(&resolved).await,
                    Err(_) => continue, // A value we no longer know cannot prove drift.
                };
                if outcome.status != Status::Pass {
                    let outcome = self.masked(&outcome);
                    failures.push(format!("{}: {}", outcome.description, outcome.evidence));
                }
            }
            if !failures.is_empty() {
                drifted.push((step.id.clone(), failures));
            }
        }
        for (id, evidence) in drifted {
            self.progress.unfinish(&id);
            self.reporter.event(&Event::Drifted { step: id, evidence });
        }
        self.save_progress()
    }

    fn verifier(&self) -> Verifier {
        // Command checks run in the lab's working directory, which exists once a block ran;
        // a run that has only watched or resumed must still have it.
        let _ = std::fs::create_dir_all(self.run.workdir());
        let mut settings = self.options.verify.clone();
        settings.command_env = self.values.env().into_iter().collect();
        settings.workdir = Some(self.run.workdir());
        Verifier::new(Arc::clone(&self.clients), settings)
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
            .map(|c| self.values.mask(&check_line(&c.resolve(&known).unwrap_or_else(|_| c.clone()))))
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
        self.progress.current = Some(step.id.clone());
        self.save_progress()?;

        let runnable = step.runnable_blocks().next().is_some();
        // What exists as the step begins is not the lab's to delete, however the student then
        // does the step (even by hand in another terminal before answering).
        let preexisting = self.preexisting(step).await;
        let mut choice = self.choose(step, runnable)?;
        loop {
            let result = match choice {
                Choice::Quit => return Ok(Flow::Quit),
                Choice::Skip => {
                    let result = StepResult::Skipped;
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    return Ok(Flow::Next(result));
                }
                Choice::Run => match self.run_blocks(step, &preexisting).await? {
                    Some(result) => result,
                    None => self.verify_step(step).await,
                },
                Choice::Myself => self.watch(step, &preexisting).await,
            };
            match result {
                StepResult::Done | StepResult::Skipped | StepResult::Interrupted => {
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    return Ok(Flow::Next(result));
                }
                StepResult::Failed => {
                    self.reporter.event(&Event::StepFinished { step: step.id.clone(), result });
                    if self.options.auto {
                        return Ok(Flow::Next(StepResult::Failed));
                    }
                    choice = self.after_failure(step, runnable)?;
                }
            }
        }
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

    fn after_failure(&mut self, step: &Step, runnable: bool) -> Result<Choice, Error> {
        let Some(prompter) = self.prompter.as_deref_mut() else { return Ok(Choice::Quit) };
        let mut items = vec!["Check again (I fixed it)"];
        let mut map = vec![Choice::Myself];
        if runnable {
            items.push("Run the commands again");
            map.push(Choice::Run);
        }
        items.extend(["Skip this step", "Quit (progress is saved)"]);
        map.extend([Choice::Skip, Choice::Quit]);
        let picked = prompter
            .select(&format!("Step `{}` is not done yet. What now?", step.id), &items, 0)
            .map_err(prompt_error)?;
        Ok(map.into_iter().nth(picked).unwrap_or(Choice::Quit))
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
                // Identity values are always known; step values come from the blocks.
                _ => continue,
            };
            self.values.set(self.lab, &var.name, value);
            self.reporter.event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
        }
        Ok(())
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
        let result = run_block(
            command,
            &self.values.env(),
            &self.run.workdir(),
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

    /// Runs the step's blocks; `Some(result)` when they did not all succeed.
    async fn run_blocks(
        &mut self,
        step: &Step,
        preexisting: &HashSet<String>,
    ) -> Result<Option<StepResult>, Error> {
        self.attempted.insert(step.id.clone());
        let blocks: Vec<_> = step.runnable_blocks().cloned().collect();
        for (n, block) in blocks.iter().enumerate() {
            let number = n + 1;
            self.reporter.event(&Event::BlockStarted {
                step: step.id.clone(),
                block: number,
                code: self.values.mask(&block.code),
            });
            let env = self.values.env();
            let values = &self.values;
            let reporter = &mut *self.reporter;
            let step_id = &step.id;
            // A block that may set a secret prints it before labrunner knows the value:
            // its output is held until the block ends, then masked with what it exported.
            let hold = may_set_secret(self.lab, &block.code);
            let mut held: Vec<(Stream, String)> = Vec::new();
            let result = run_block(
                &block.code,
                &env,
                &self.run.workdir(),
                &mut |stream, line| {
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
                self.record_resources(step, preexisting).await?;
                return Ok(Some(StepResult::Interrupted));
            }
            if !result.success() || !empty.is_empty() {
                self.record_resources(step, preexisting).await?;
                return Ok(Some(StepResult::Failed));
            }
        }
        self.record_resources(step, preexisting).await?;
        Ok(None)
    }

    /// Declared resources that already exist before a first attempt at the step: they are
    /// not the lab's, so cleanup must never delete them.
    async fn preexisting(&mut self, step: &Step) -> HashSet<String> {
        let mut found = HashSet::new();
        if self.attempted.contains(&step.id) {
            return found;
        }
        for resource in &step.creates {
            let Ok(resolved) = self.values.resolve_resource(resource) else { continue };
            if self.ledger.entries.iter().any(|e| e.resource == resolved) {
                continue;
            }
            if let Ok(Some(_)) = cleanup::lookup(&self.clients, &resolved).await {
                found.insert(resolved.describe());
            }
        }
        found
    }

    /// Looks each declared resource up and writes what exists to the ledger, at once.
    async fn record_resources(&mut self, step: &Step, preexisting: &HashSet<String>) -> Result<(), Error> {
        for resource in &step.creates {
            let resolved = match self.values.resolve_resource(resource) {
                Ok(r) => r,
                Err(missing) => {
                    self.reporter.event(&Event::ResourceNotFound {
                        step: step.id.clone(),
                        resource: resource.describe(),
                        reason: missing,
                    });
                    continue;
                }
            };
            if preexisting.contains(&resolved.describe()) {
                self.reporter.event(&Event::ResourcePreexisting {
                    step: step.id.clone(),
                    resource: resolved.describe(),
                });
                continue;
            }
            match cleanup::lookup(&self.clients, &resolved).await {
                Ok(Some(ids)) => {
                    self.ledger.record(resolved.clone(), ids, &step.id);
                    self.ledger.save(&self.run)?;
                    if let Some(entry) = self.ledger.entries.iter().find(|e| e.resource == resolved) {
                        let _ = cleanup::tag(&self.clients, entry, self.lab.id()).await;
                    }
                    self.reporter.event(&Event::ResourceRecorded {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                    });
                }
                Ok(None) => self.reporter.event(&Event::ResourceNotFound {
                    step: step.id.clone(),
                    resource: resolved.describe(),
                    reason: "not found after the step".into(),
                }),
                Err(e) => self.reporter.event(&Event::ResourceNotFound {
                    step: step.id.clone(),
                    resource: resolved.describe(),
                    reason: e.message.clone(),
                }),
            }
        }
        Ok(())
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
    fn ask_step_outputs(&mut self, step: &Step) -> Result<(), Error> {
        let Some(prompter) = self.prompter.as_deref_mut() else { return Ok(()) };
        for var in &self.lab.manifest.variables {
            let set_here = step.shell.iter().any(|b| b.code.contains(&format!("{}=", var.name)));
            if var.source != VariableSource::Step || !set_here || self.values.get(&var.name).is_some() {
                continue;
            }
            let label = if var.description.is_empty() {
                format!("{}, as the commands above print it", var.name)
            } else {
                format!("{}: {} The commands above print it", var.name, var.description.trim())
            };
            let value = prompter.input(&label, None).map_err(prompt_error)?;
            let value = value.trim().to_string();
            if value.is_empty() {
                continue;
            }
            self.values.set(self.lab, &var.name, value);
            let shown = if self.values.is_secret(&var.name) {
                "****".to_string()
            } else {
                self.values.get(&var.name).unwrap_or_default().to_string()
            };
            self.reporter.event(&Event::VariableSet { name: var.name.clone(), value: shown });
        }
        self.save_progress()
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
        let verifier = self.verifier();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let progress = move |i: usize, p: &crate::verify::Progress| {
            let _ = tx.send((i, p.status_line.clone(), p.attempt));
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
            while let Some((index, status, attempt)) = rx.recv().await {
                let status = values.mask(&status);
                reporter.event(&Event::CheckProgress { step: step_id.clone(), index, status, attempt });
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
    async fn watch(&mut self, step: &Step, preexisting: &HashSet<String>) -> StepResult {
        self.attempted.insert(step.id.clone());
        if step.checks.is_empty() {
            if let Some(p) = self.prompter.as_deref_mut() {
                if !matches!(p.confirm("Done with this step?", true), Ok(true)) {
                    return StepResult::Skipped;
                }
            }
            if let Err(e) = self.record_resources(step, preexisting).await {
                self.reporter.event(&Event::Notice { text: e.to_string() });
            }
            return StepResult::Done;
        }
        if self.prompter.is_none() || self.options.auto {
            return self.verify_step(step).await;
        }
        if let Err(e) = self.ask_step_outputs(step) {
            self.reporter.event(&Event::Notice { text: e.to_string() });
            return StepResult::Failed;
        }
        self.reporter.event(&Event::Notice {
            text: "labrunner is watching the checks: press Enter to look now, Ctrl-C to stop (progress is saved)".into(),
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
        let started = std::time::Instant::now();
        // One wait for Enter at a time, kept across looks.
        let mut pending: Option<tokio::sync::oneshot::Receiver<()>> = None;
        let mut input_open = true;
        loop {
            let (checks, unresolved) = self.resolved_checks(step);
            let verifier = self.verifier();
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
                    attempt: 0,
                });
            }
            let all_pass = outcomes.iter().all(|o| o.status == Status::Pass);
            let timed_out = deadline.is_some_and(|d| started.elapsed() > d);
            if all_pass || timed_out {
                if let Err(e) = self.record_resources(step, preexisting).await {
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
                    pending = None;
                }
                () = self.cancel.cancelled() => return StepResult::Interrupted,
            }
        }
    }
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
