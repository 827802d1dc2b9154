//! Verifying a step: waiting for its checks after the commands ran, or watching them while
//! the student does the step, with the ids the student's work made found or asked for.

use std::time::Duration;

use tokio::sync::mpsc;

use super::event::{Event, StepResult};
use super::prompt::Prompter;
use super::runner::{prompt_error, step_uses, Before, Session};
use super::vars::{lookup_field, missing_advice};
use crate::cleanup;
use crate::error::Error;
use crate::lab::{Step, VariableSource};
use crate::verify::{matching_hints, Outcome, Status};

impl Session<'_> {
    /// One look at the step's checks: do they all pass on what exists now?
    pub(super) async fn exists_and_passes(&mut self, step: &Step) -> bool {
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

    /// The step's checks resolved with the current values; unresolvable ones become errors.
    pub(super) fn resolved_checks(&self, step: &Step) -> (Vec<crate::lab::Check>, Vec<Outcome>) {
        let mut resolved = Vec::new();
        let mut unresolved = Vec::new();
        for check in &step.checks {
            match self.state.values.resolve_check(check) {
                Ok(c) => resolved.push(c),
                Err(message) => {
                    let advice =
                        self.state.values.first_missing(check).map(|name| missing_advice(self.lab, &name));
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
    pub(super) fn ask_step_outputs(&mut self, step: &Step) -> Result<(), Error> {
        for var in &self.lab.manifest.variables {
            let set_here = step.shell.iter().any(|b| b.code.contains(&format!("{}=", var.name)));
            if var.source != VariableSource::Step
                || !set_here
                || var.lookup.is_some()
                || self.state.values.get(&var.name).is_some()
                || !step.checks.iter().any(|c| c.variables().contains(&var.name))
            {
                continue;
            }
            let Some(prompter) = self.io.prompter.as_deref_mut() else { return Ok(()) };
            let label = if var.description.is_empty() {
                format!("{}, as your commands print it (Enter to skip)", var.name)
            } else {
                format!("{}: {} (as your commands print it; Enter to skip)", var.name, var.description.trim())
            };
            let Some(value) = ask_optional(prompter, var, &label)? else { continue };
            self.state.values.set(self.lab, &var.name, value);
            self.io
                .reporter
                .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
        }
        self.save_progress()
    }

    /// Step variables still without a value whose `lookup` names a resource that appeared
    /// during this step (exactly one): found read-only, so a student doing the step by hand
    /// never types an id.
    pub(super) async fn find_step_outputs(&mut self, step: &Step, before: &Before) {
        let mut found = false;
        for var in &self.lab.manifest.variables {
            let Some(lookup) = &var.lookup else { continue };
            if var.source != VariableSource::Step
                || self.state.values.get(&var.name).is_some()
                || !step_uses(step, &var.name)
            {
                continue;
            }
            let Ok(resource) = self.state.values.resolve_resource(&lookup.resource) else { continue };
            let Ok(live) = cleanup::live(&self.account.clients, &resource).await else { continue };
            let existed = before.get(&resource).cloned().unwrap_or_default();
            let new: Vec<_> = live
                .iter()
                .filter(|ids| cleanup::identities(ids).iter().all(|id| !existed.contains(id)))
                .collect();
            let [ids] = new.as_slice() else { continue };
            if let Some(value) = lookup_field(&lookup.field, ids) {
                self.state.values.set(self.lab, &var.name, value);
                self.io
                    .reporter
                    .event(&Event::VariableSet { name: var.name.clone(), value: self.shown(&var.name) });
                found = true;
            }
        }
        if found {
            let _ = self.save_progress();
        }
    }

    /// Waits for the step's checks, with progress, until they pass or give up.
    pub(super) async fn verify_step(&mut self, step: &Step) -> StepResult {
        if step.checks.is_empty() {
            return StepResult::Done;
        }
        let (checks, unresolved) = self.resolved_checks(step);
        self.io.reporter.event(&Event::ChecksStarted {
            step: step.id.clone(),
            checks: checks.iter().map(|c| self.state.values.mask(&c.describe())).collect(),
        });
        let verifier = match self.verifier().await {
            Ok(v) => v,
            Err(e) => {
                self.io.reporter.event(&Event::Notice { text: e.to_string() });
                return StepResult::Failed;
            }
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let progress = move |i: usize, p: &crate::verify::Progress| {
            let _ = tx.send((i, p.status_line.clone(), p.details.clone(), p.attempt));
        };
        let cancel = self.io.cancel.clone();
        let wait = async {
            let outcomes = verifier.wait_all(&checks, &cancel, &progress).await;
            drop(progress);
            outcomes
        };
        let reporter = &mut *self.io.reporter;
        let values = &self.state.values;
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

    pub(super) fn conclude(&mut self, step: &Step, outcomes: Vec<Outcome>) -> StepResult {
        for (index, outcome) in outcomes.iter().enumerate() {
            let outcome = self.masked(outcome);
            self.io.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
        }
        if self.io.cancel.is_cancelled() {
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
            self.io.reporter.event(&Event::Hints { step: step.id.clone(), hints });
        }
        StepResult::Failed
    }

    /// "I'll do it myself": look at the checks now and again until they pass; Enter looks at
    /// once. Steps without checks just wait for the student to say they are done.
    pub(super) async fn watch(&mut self, step: &Step, before: &Before) -> StepResult {
        if step.checks.is_empty() {
            // Nothing to look at: the step was read (Continue was the answer) or done by hand,
            // and either way labrunner has not verified anything.
            let reading = step.runnable_blocks().next().is_none();
            if !reading && !self.options.auto {
                if let Some(p) = self.io.prompter.as_deref_mut() {
                    if !matches!(p.confirm("Done with this step?", true), Ok(true)) {
                        return StepResult::Skipped;
                    }
                }
            }
            if let Err(e) = self.record_resources(step, before).await {
                self.io.reporter.event(&Event::Notice { text: e.to_string() });
            }
            return StepResult::Shown;
        }
        if self.io.prompter.is_none() || self.options.auto {
            // Unattended, someone else does the step (a console step, a script): what it
            // creates is recorded all the same, or cleanup would never know of it.
            let result = self.verify_step(step).await;
            if let Err(e) = self.record_resources(step, before).await {
                self.io.reporter.event(&Event::Notice { text: e.to_string() });
            }
            return result;
        }
        self.find_step_outputs(step, before).await;
        if let Err(e) = self.ask_step_outputs(step) {
            self.io.reporter.event(&Event::Notice { text: e.to_string() });
            return StepResult::Failed;
        }
        self.io.reporter.event(&Event::Notice {
            text: format!(
                "labrunner is watching the checks: press Enter to look now (with diagnostics and hints), Ctrl-C to stop (progress is saved). In your own shell, `eval \"$(labrunner env {})\"` sets the lab's values.",
                self.lab.id()
            ),
        });
        let (checks, _) = self.resolved_checks(step);
        self.io.reporter.event(&Event::ChecksStarted {
            step: step.id.clone(),
            checks: checks.iter().map(|c| self.state.values.mask(&c.describe())).collect(),
        });
        let deadline = step
            .checks
            .iter()
            .map(|c| self.options.verify.timeout_override.unwrap_or_else(|| c.deadline()))
            .max();
        let mut started = self.clock.now();
        // One wait for Enter at a time, kept across looks.
        let mut pending: Option<crate::session::prompt::EnterWait> = None;
        let mut input_open = true;
        // Enter was pressed: this look is shown in full.
        let mut asked = false;
        loop {
            self.find_step_outputs(step, before).await;
            let (checks, unresolved) = self.resolved_checks(step);
            let verifier = match self.verifier().await {
                Ok(v) => v,
                Err(e) => {
                    self.io.reporter.event(&Event::Notice { text: e.to_string() });
                    return StepResult::Failed;
                }
            };
            let mut outcomes = Vec::new();
            for check in &checks {
                outcomes.push(verifier.check_once(check).await);
            }
            outcomes.extend(unresolved);
            for (index, o) in outcomes.iter().enumerate() {
                self.io.reporter.event(&Event::CheckProgress {
                    step: step.id.clone(),
                    index,
                    status: self.state.values.mask(&o.evidence),
                    details: Vec::new(),
                    attempt: 0,
                });
            }
            let all_pass = outcomes.iter().all(|o| o.status == Status::Pass);
            if asked && !all_pass {
                // "Look now": the evidence, the diagnosis and the hints, not just a status line.
                for (index, outcome) in outcomes.iter().enumerate() {
                    let outcome = self.masked(outcome);
                    self.io.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
                }
                let hints: Vec<String> =
                    matching_hints(&step.hints, &outcomes).into_iter().map(|h| h.text.clone()).collect();
                if !hints.is_empty() {
                    self.io.reporter.event(&Event::Hints { step: step.id.clone(), hints });
                }
            }
            asked = false;
            let mut timed_out =
                deadline.is_some_and(|d| self.clock.now().saturating_duration_since(started) > d);
            if timed_out && !all_pass && input_open {
                // The student may still be working: the watch goes on while they want it to.
                // Where things stand first (this also ends the live lines, so the question is
                // not drawn over).
                drop(pending.take());
                for (index, outcome) in outcomes.iter().enumerate() {
                    let outcome = self.masked(outcome);
                    self.io.reporter.event(&Event::CheckFinished { step: step.id.clone(), index, outcome });
                }
                let keep = self.io.prompter.as_deref_mut().map(|p| {
                    p.confirm("The checks have not passed yet. Keep watching?", true).unwrap_or(false)
                });
                if keep == Some(true) {
                    started = self.clock.now();
                    timed_out = false;
                }
            }
            if all_pass || timed_out {
                if let Err(e) = self.record_resources(step, before).await {
                    self.io.reporter.event(&Event::Notice { text: e.to_string() });
                }
                // Dropping a pending Enter cancels it: the prompters consume no input for a
                // watch that stopped listening, so the next answer reaches the next question.
                drop(pending);
                return self.conclude(step, outcomes);
            }
            if pending.is_none() && input_open {
                pending = self.io.prompter.as_deref_mut().map(|p| p.enter());
            }
            let pressed = async {
                match pending.as_mut() {
                    Some(wait) => wait.pressed().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = self.clock.sleep(self.options.watch_interval) => {}
                // Enter: look again at once. A closed input stops listening for it.
                pressed_ok = pressed => {
                    input_open = pressed_ok;
                    asked = pressed_ok;
                    pending = None;
                }
                () = self.io.cancel.cancelled() => return StepResult::Interrupted,
            }
        }
    }
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
