//! What a step does to the account and the ledger: the look at what exists before it, the
//! look at a step that ran before, running its blocks, and recording what they created.

use std::collections::BTreeMap;

use super::event::Event;
use super::machine::{Failure, Reconciled};
use super::runner::{is_empty_capture, Before, Session};
use super::vars::may_set_secret;
use crate::aws::cli_failure_class;
use crate::cleanup::{self, Resolution};
use crate::error::Error;
use crate::exec::{run_block, Block, Stream};
use crate::lab::{ResourceSpec, Step, VariableSource};
use crate::state::ledger::LedgerEntry;
use crate::verify::Status;

/// Whether a command's error output says that what it creates is there already.
fn says_already_exists(output: &str) -> bool {
    static EXISTS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)already exists|AlreadyExists|not idempotent|\.Duplicate\b|ResourceExistsException|EntityAlreadyExists")
            .expect("valid regex")
    });
    EXISTS.is_match(output)
}

impl Session<'_> {
    /// The identities matching each declared resource now (those that resolve).
    pub(super) async fn before(&self, step: &Step) -> Result<Before, String> {
        let mut before = Before::new();
        for resource in step.creates.iter().chain(&step.aws_creates) {
            let Ok(resolved) = self.state.values.resolve_resource(resource) else { continue };
            let ids = cleanup::snapshot(&self.account.clients, &resolved)
                .await
                .map_err(|e| format!("looking for {}: {e}", resolved.describe()))?;
            before.insert(resolved, ids);
        }
        Ok(before)
    }

    /// A step that ran before: resolve its intents, then ask the account. Its checks passing
    /// means it is done; otherwise say which of its resources exist.
    pub(super) async fn reconcile(&mut self, step: &Step) -> Result<Reconciled, Error> {
        let mut existing = Vec::new();
        self.fill_from_ledger();
        let intents: Vec<LedgerEntry> =
            self.state.ledger.entries.iter().filter(|e| e.intent && e.step == step.id).cloned().collect();
        for intent in intents {
            let known = self.state.ledger.identities();
            match cleanup::resolve_intent(&self.account.clients, &self.with_values(&intent), &known).await {
                Ok(Resolution::Found(ids)) => {
                    let resource = self.with_values(&intent).resource;
                    self.state.ledger.remove(&intent);
                    self.state.ledger.record(resource.clone(), ids, &step.id);
                    self.state.ledger.save(&self.state.run)?;
                    self.tag_recorded(step, &resource).await;
                }
                // What AWS makes for the lab may simply not be there yet: it stays expected.
                Ok(Resolution::Absent) if self.made_by_aws(&intent) => {}
                Ok(Resolution::Absent) => {
                    let resource = self.with_values(&intent).resource;
                    self.state.ledger.remove(&intent);
                    // Nothing matches its fields, but the block may have exported the id of
                    // what it made before it was killed (a gateway created, never attached).
                    if let Some(ids) = self.exported_identity(&resource, &intent.preexisting).await {
                        self.state.ledger.record(resource.clone(), ids, &step.id);
                        self.tag_recorded(step, &resource).await;
                    }
                    self.state.ledger.save(&self.state.run)?;
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
                self.io.reporter.event(&Event::Notice {
                    text: format!(
                        "step `{}` ran before and its checks pass on what exists: it counts as done (what it created stays recorded for cleanup)",
                        step.id
                    ),
                });
                return Ok(Reconciled::Done);
            }
        }
        let recorded: Vec<LedgerEntry> =
            self.state.ledger.entries.iter().filter(|e| !e.intent && e.step == step.id).cloned().collect();
        for entry in recorded {
            match cleanup::exists(&self.account.clients, &entry).await {
                Ok(false) => {}
                Ok(true) => existing.push(entry.describe()),
                Err(e) => existing.push(format!("{} (could not look: {e})", entry.describe())),
            }
        }
        if existing.is_empty() {
            return Ok(Reconciled::Clear);
        }
        self.io.reporter.event(&Event::ResourcesExist { step: step.id.clone(), resources: existing.clone() });
        Ok(Reconciled::Exists)
    }

    /// An intent with the variables known now filled in (its resource may have been written
    /// before the step captured them).
    pub(super) fn with_values(&self, intent: &LedgerEntry) -> LedgerEntry {
        let mut entry = intent.clone();
        if let Ok(resource) = self.state.values.resolve_resource(&intent.resource) {
            entry.resource = resource;
        }
        entry
    }

    /// Whether none of the step's resources exist, recorded or new since it began.
    pub(super) async fn nothing_created(&self, step: &Step) -> bool {
        let known = self.state.ledger.identities();
        for entry in self.state.ledger.entries.iter().filter(|e| e.step == step.id) {
            let live = if entry.intent {
                !matches!(
                    cleanup::resolve_intent(&self.account.clients, &self.with_values(entry), &known).await,
                    Ok(Resolution::Absent)
                )
            } else {
                !matches!(cleanup::exists(&self.account.clients, entry).await, Ok(false))
            };
            if live {
                return false;
            }
        }
        true
    }

    /// Lists, for each resource the step creates, the ones that exist now, and whether the
    /// lab's ledger has them.
    pub(super) async fn show_existing(&mut self, step: &Step) {
        let mut lines = Vec::new();
        for resource in step.creates.iter().chain(&step.aws_creates) {
            let resolved = self.state.values.resolve_resource(resource).unwrap_or_else(|_| resource.clone());
            match cleanup::snapshot(&self.account.clients, &resolved).await {
                Ok(ids) if ids.is_empty() => lines.push(format!("{}: none", resolved.describe())),
                Ok(ids) => {
                    let recorded = self.state.ledger.identities();
                    for id in ids {
                        let whose =
                            if recorded.contains(&id) { "recorded by this lab" } else { "not the lab's" };
                        lines.push(format!("{} ({id}): exists, {whose}", resolved.describe()));
                    }
                }
                Err(e) => lines.push(format!("{}: could not look ({e})", resolved.describe())),
            }
        }
        self.io.reporter.event(&Event::ResourcesExist { step: step.id.clone(), resources: lines });
    }

    /// Runs the step's blocks and records what they created. `Err` when they did not all
    /// succeed, with the class of a failure that says nothing about the account (throttling,
    /// a 5xx) when the output shows one; cancellation is `Err(None)` with the step marked
    /// interrupted by the caller's check of the token.
    pub(super) async fn run_blocks(
        &mut self,
        step: &Step,
        before: &Before,
    ) -> Result<Result<(), Failure>, Error> {
        // Record before you create: if labrunner dies while a block runs, the intents say what
        // may exist, and what matched before tells the lab's resource from others.
        for resource in step.creates.iter().chain(&step.aws_creates) {
            let resolved = self.state.values.resolve_resource(resource).unwrap_or_else(|_| resource.clone());
            let existed = before.get(&resolved).cloned().unwrap_or_default();
            self.state.ledger.intend(resolved, &step.id, existed);
        }
        if !step.creates.is_empty() || !step.aws_creates.is_empty() {
            self.state.ledger.save(&self.state.run)?;
        }
        self.state.progress.commands_began = true;
        self.save_progress()?;

        let keep = self.kept_names();
        let blocks: Vec<_> = step.runnable_blocks().cloned().collect();
        for (n, block) in blocks.iter().enumerate() {
            let number = n + 1;
            let shell = self.shell().await?;
            self.io.reporter.event(&Event::BlockStarted {
                step: step.id.clone(),
                block: number,
                code: self.state.values.mask(&block.code),
            });
            let env = self.child_env(&shell);
            let values = &self.state.values;
            let reporter = &mut *self.io.reporter;
            let step_id = &step.id;
            // A block that may set a secret prints it before labrunner knows the value:
            // its output is held until the block ends, then masked with what it exported.
            let hold = may_set_secret(self.lab, &block.code);
            let mut held: Vec<(Stream, String)> = Vec::new();
            // The end of the error output, to tell throttling from a real failure.
            let mut errors: std::collections::VecDeque<String> = std::collections::VecDeque::new();
            let (workdir, scratch) = (self.state.run.workdir(), self.state.run.scratch());
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
                &self.io.cancel,
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
                self.state.values.set(self.lab, name, value.clone());
            }
            for (stream, line) in held {
                self.io.reporter.event(&Event::Output {
                    step: step.id.clone(),
                    stream,
                    line: self.state.values.mask(&line),
                });
            }
            for name in result.exports.keys() {
                self.io.reporter.event(&Event::VariableSet { name: name.clone(), value: self.shown(name) });
            }
            self.save_progress()?;
            for name in &empty {
                self.io.reporter.event(&Event::Output {
                    step: step.id.clone(),
                    stream: Stream::Stderr,
                    line: format!(
                        "labrunner: {name} came back empty (or \"None\"): the command that sets it failed or found nothing; read the output above"
                    ),
                });
            }
            let status =
                if empty.is_empty() { result.status } else { result.status.filter(|c| *c != 0).or(Some(1)) };
            self.io.reporter.event(&Event::BlockFinished { step: step.id.clone(), block: number, status });
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
            self.io.reporter.event(&Event::Notice {
                text: format!(
                    "the commands succeeded, but {} could not be found in account {} in {}. If the commands used another region or profile of their own, the resources are there and labrunner cannot clean them up: look for them with the AWS CLI or console and delete them by hand, then run the step again here.",
                    missing.join(", "),
                    self.account.identity.account,
                    self.account.identity.region
                ),
            });
            return Ok(Err(Failure::default()));
        }
        Ok(Ok(()))
    }

    /// Records what the step created: for each declared resource, the live ones that were not
    /// there when the step began and are not recorded yet, by their ids. Returns the
    /// resources that were expected but not found. An intent whose lookup failed stays.
    pub(super) async fn record_resources(
        &mut self,
        step: &Step,
        before: &Before,
    ) -> Result<Vec<String>, Error> {
        self.record_with(step, before, false).await
    }

    /// [`Session::record_resources`]; `adopting` (the commands failed on "already exists" and
    /// what exists is used as it is) records only what was looked at before the step and
    /// appeared since: never a resource the step could not see beforehand, and never by an
    /// exported id alone, since what exists is most likely the student's own.
    pub(super) async fn record_with(
        &mut self,
        step: &Step,
        before: &Before,
        adopting: bool,
    ) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        let declared = step.creates.iter().map(|r| (r, false));
        for (resource, by_aws) in declared.chain(step.aws_creates.iter().map(|r| (r, true))) {
            let resolved = match self.state.values.resolve_resource(resource) {
                Ok(r) => r,
                // Its intent stays; a later look, or cleanup, resolves it.
                Err(_) if by_aws => continue,
                Err(reason) => {
                    self.io.reporter.event(&Event::ResourceNotFound {
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
                self.io.reporter.event(&Event::ResourceNotFound {
                    step: step.id.clone(),
                    resource: resolved.describe(),
                    reason: "it could not be looked at before the step, so labrunner cannot tell the lab made it; cleanup leaves it".into(),
                });
                continue;
            }
            let known = self.state.ledger.identities();
            let found = cleanup::new_since(
                &self.account.clients,
                &resolved,
                existed.map(Vec::as_slice).unwrap_or_default(),
                &known,
            )
            .await;
            let found = match found {
                Ok(found) => found,
                Err(e) => {
                    self.io.reporter.event(&Event::ResourceNotFound {
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
            self.state.ledger.entries.retain(|e| !ours(e));
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
                let recorded_before = self.state.ledger.recorded(&resolved).any(|e| e.step == step.id);
                if by_aws && !recorded_before && existed.is_none_or(|ids| ids.is_empty()) {
                    // Not made yet: expected, never a failure. The intent waits for it.
                    self.state.ledger.intend(
                        resolved.clone(),
                        &step.id,
                        existed.cloned().unwrap_or_default(),
                    );
                    self.state.ledger.save(&self.state.run)?;
                    self.io.reporter.event(&Event::ResourceAwaited {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                    });
                    continue;
                }
                if recorded_before {
                    // An earlier attempt of this step recorded it.
                } else if existed.is_some_and(|ids| !ids.is_empty()) {
                    self.io.reporter.event(&Event::ResourcePreexisting {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                    });
                } else {
                    self.io.reporter.event(&Event::ResourceNotFound {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                        reason: "not found after the step".into(),
                    });
                    missing.push(resolved.describe());
                }
                self.state.ledger.save(&self.state.run)?;
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
                    .filter_map(|v| self.state.values.get(&v.name))
                    .collect();
                let named: Vec<BTreeMap<String, String>> = found
                    .iter()
                    .filter(|ids| cleanup::identities(ids).iter().any(|id| exported.contains(&id.as_str())))
                    .cloned()
                    .collect();
                if named.len() == 1 {
                    found = named;
                } else {
                    self.io.reporter.event(&Event::ResourceAmbiguous {
                        step: step.id.clone(),
                        resource: resolved.describe(),
                        ids: found.iter().flat_map(cleanup::identities).collect(),
                    });
                    self.state.ledger.intend(
                        resolved.clone(),
                        &step.id,
                        existed.cloned().unwrap_or_default(),
                    );
                    self.state.ledger.save(&self.state.run)?;
                    continue;
                }
            }
            for ids in found {
                self.state.ledger.record(resolved.clone(), ids.clone(), &step.id);
                self.state.ledger.save(&self.state.run)?;
                let entry = LedgerEntry {
                    resource: resolved.clone(),
                    ids,
                    step: step.id.clone(),
                    recorded_at: String::new(),
                    intent: false,
                    preexisting: Vec::new(),
                };
                let _ = cleanup::tag(&self.account.clients, &entry, self.lab.id()).await;
                self.io.reporter.event(&Event::ResourceRecorded {
                    step: step.id.clone(),
                    resource: self.state.values.mask(&entry.describe()),
                });
            }
        }
        Ok(missing)
    }

    /// Whether the ledger entry is one of its step's `aws_creates`.
    fn made_by_aws(&self, entry: &LedgerEntry) -> bool {
        self.lab.step(&entry.step).is_some_and(|s| {
            s.aws_creates.iter().any(|r| {
                r == &entry.resource
                    || self.state.values.resolve_resource(r).ok().as_ref() == Some(&entry.resource)
            })
        })
    }

    /// Looks again for what AWS makes on the lab's behalf (`aws_creates` of any step) that had
    /// not appeared when its step ended, and records what has appeared since. What is still
    /// missing stays expected; what cannot be looked at now is looked at next time.
    pub(super) async fn record_appeared(&mut self) -> Result<(), Error> {
        let awaited: Vec<LedgerEntry> =
            self.state.ledger.entries.iter().filter(|e| e.intent && self.made_by_aws(e)).cloned().collect();
        for intent in awaited {
            let known = self.state.ledger.identities();
            let entry = self.with_values(&intent);
            if let Ok(Resolution::Found(ids)) =
                cleanup::resolve_intent(&self.account.clients, &entry, &known).await
            {
                self.state.ledger.remove(&intent);
                self.state.ledger.record(entry.resource.clone(), ids, &intent.step);
                self.state.ledger.save(&self.state.run)?;
                if let Some(step) = self.lab.step(&intent.step) {
                    self.tag_recorded(step, &entry.resource).await;
                }
            }
        }
        Ok(())
    }

    /// The ids of `resource` as a step variable holds them: a variable whose `lookup` names this
    /// resource and has a value that identifies a live resource, not one of `before` and not
    /// recorded already. What the commands exported is what they made.
    pub(super) async fn exported_identity(
        &self,
        resource: &ResourceSpec,
        before: &[String],
    ) -> Option<BTreeMap<String, String>> {
        let known = self.state.ledger.identities();
        for var in &self.lab.manifest.variables {
            let Some(lookup) = &var.lookup else { continue };
            if !matches!(lookup.field.as_str(), "id" | "arn") {
                continue;
            }
            if self.state.values.resolve_resource(&lookup.resource).ok().as_ref() != Some(resource) {
                continue;
            }
            let Some(value) = self.state.values.get(&var.name).filter(|v| !v.is_empty() && *v != "None")
            else {
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
            if matches!(cleanup::exists(&self.account.clients, &entry).await, Ok(true)) {
                return Some(ids);
            }
        }
        None
    }

    /// Tags what the ledger records for `resource` in this step (after an intent resolved).
    pub(super) async fn tag_recorded(&mut self, step: &Step, resource: &ResourceSpec) {
        let entries: Vec<LedgerEntry> =
            self.state.ledger.recorded(resource).filter(|e| e.step == step.id).cloned().collect();
        for entry in entries {
            let _ = cleanup::tag(&self.account.clients, &entry, self.lab.id()).await;
            self.io.reporter.event(&Event::ResourceRecorded {
                step: step.id.clone(),
                resource: self.state.values.mask(&entry.describe()),
            });
        }
    }
}
