//! Running a plan: waves of concurrent deletions (each through `call`), the ledger kept in
//! step with what is confirmed gone, and the final verification pass.

use std::collections::BTreeSet;
use std::pin::pin;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use super::call::{Deletion, Halt, Patience};
use super::find::{self, Ids};
use super::report::{advice, Remaining, Report};
use super::{delete, CleanupError, CleanupEvent, Plan, Resolution};
use crate::aws::Clients;
use crate::clock::Clock;
use crate::concurrent::bounded;
use crate::error::Error;
use crate::lab::ResourceSpec;
use crate::state::ledger::{Ledger, LedgerEntry};

/// How many deletions of one wave run at once.
const CONCURRENCY: usize = 8;

/// How one resource ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Removal {
    /// Deleted and confirmed gone; with a note for the report line.
    Deleted(Option<String>),
    /// Not there when looked up.
    AlreadyGone,
    /// Still there.
    Failed(Halt),
}

/// Looks the resource up by its recorded identity (or resolves an intent), deletes it, and
/// confirms it is gone.
async fn remove_one(ctx: &Deletion<'_>, entry: &LedgerEntry, known: &BTreeSet<String>) -> Removal {
    let spec = &entry.resource;
    let live = if entry.intent {
        let resolved = ctx.call(&Patience::NONE, || super::resolve_intent(ctx.clients, entry, known)).await;
        match resolved {
            Ok(Resolution::Found(ids)) => ids,
            Ok(Resolution::Absent) => return Removal::AlreadyGone,
            Ok(Resolution::Ambiguous(ids)) => {
                return Removal::Failed(Halt::Failed(CleanupError::other(format!(
                    "{} resources match and appeared while step `{}` ran ({}); labrunner cannot tell which one the lab created and deletes none of them",
                    ids.len(),
                    entry.step,
                    ids.join(", ")
                ))))
            }
            Ok(Resolution::Unresolved(name)) => {
                return Removal::Failed(Halt::Failed(CleanupError::other(format!(
                    "step `{}` may have created it, but ${{{name}}} was never captured, so labrunner cannot find it safely",
                    entry.step
                ))))
            }
            Err(halt) => return Removal::Failed(halt),
        }
    } else {
        match ctx.find(spec, &entry.ids).await {
            Ok(Some(ids)) => ids,
            Ok(None) => return Removal::AlreadyGone,
            Err(halt) => return Removal::Failed(halt),
        }
    };
    ctx.event(CleanupEvent::Deleting { resource: ctx.resource.clone() });
    let note = match delete::delete(ctx, spec, &live).await {
        Ok(note) => note,
        Err(Halt::Cancelled) => return Removal::Failed(Halt::Cancelled),
        Err(Halt::Failed(e)) => {
            // A refusal can race with the resource going away (moto answers a missing scaling
            // policy with ValidationException): only a resource still there has failed.
            return match ctx.find(spec, &live).await {
                Ok(None) => Removal::Deleted(None),
                _ => Removal::Failed(Halt::Failed(e)),
            };
        }
    };
    let (wait, what) = delete::confirm_wait(spec);
    let confirmed = ctx
        .wait_until(what, wait, || async { Ok(find::find(ctx.clients, spec, &live).await?.is_none()) })
        .await;
    match confirmed {
        Ok(()) => Removal::Deleted(note),
        Err(halt) => Removal::Failed(halt),
    }
}

/// Runs the plan: each wave's deletions concurrently; waits where AWS needs it; removes an entry
/// from the ledger (and saves it) only once the resource is confirmed gone; ends with a
/// verification pass that looks every planned resource up again.
pub async fn execute(
    clients: &Clients,
    plan: &Plan,
    ledger: &mut Ledger,
    save: &mut (dyn FnMut(&Ledger) -> Result<(), Error> + Send),
    events: &(dyn Fn(CleanupEvent) + Send + Sync),
    clock: &dyn Clock,
    cancel: &CancellationToken,
) -> Report {
    let ctx_for = |entry: &LedgerEntry| Deletion::new(clients, clock, cancel, events, entry.describe());
    let mut outcomes: Vec<Option<Removal>> = vec![None; plan.items.len()];
    let mut save_error: Option<String> = None;
    let mut known = ledger.identities();
    known.extend(plan.protected.iter().cloned());

    let mut start = 0;
    while start < plan.items.len() {
        if cancel.is_cancelled() {
            break;
        }
        let wave = plan.items[start].wave;
        let end =
            plan.items[start..].iter().position(|i| i.wave != wave).map_or(plan.items.len(), |n| start + n);
        events(CleanupEvent::WaveStarted { wave, count: end - start });
        let known = &known;
        let removals = plan.items.iter().enumerate().take(end).skip(start).map(|(index, item)| {
            let ctx = ctx_for(&item.entry);
            async move { (index, remove_one(&ctx, &item.entry, known).await) }
        });
        let mut running = pin!(bounded(removals, CONCURRENCY));
        while let Some((index, outcome)) = running.next().await {
            let entry = &plan.items[index].entry;
            let resource = entry.describe();
            match &outcome {
                Removal::Deleted(_) | Removal::AlreadyGone => {
                    ledger.remove(entry);
                    if let Err(e) = save(ledger) {
                        save_error = Some(e.to_string());
                    }
                    events(if matches!(outcome, Removal::AlreadyGone) {
                        CleanupEvent::AlreadyGone { resource }
                    } else {
                        CleanupEvent::Deleted { resource }
                    });
                }
                Removal::Failed(halt) => {
                    events(CleanupEvent::Failed { resource, error: halt_message(halt) });
                }
            }
            outcomes[index] = Some(outcome);
        }
        start = end;
    }

    if !cancel.is_cancelled() {
        verify(plan, &mut outcomes, ledger, save, &mut save_error, &ctx_for).await;
    }
    build_report(plan, &outcomes, save_error)
}

/// Looks every planned resource up again: one that was counted gone but is there goes back into
/// the ledger and the report's remaining list; one that failed but is gone leaves the ledger.
async fn verify<'a>(
    plan: &'a Plan,
    outcomes: &mut [Option<Removal>],
    ledger: &mut Ledger,
    save: &mut (dyn FnMut(&Ledger) -> Result<(), Error> + Send),
    save_error: &mut Option<String>,
    ctx_for: &impl Fn(&LedgerEntry) -> Deletion<'a>,
) {
    // An intent has no identity to look for; its outcome stands.
    let looks = plan.items.iter().enumerate().filter(|(_, item)| !item.entry.intent).map(|(index, item)| {
        let ctx = ctx_for(&item.entry);
        async move { (index, ctx.find(&item.entry.resource, &item.entry.ids).await) }
    });
    let mut running = pin!(bounded(looks, CONCURRENCY));
    let mut changed = false;
    while let Some((index, found)) = running.next().await {
        let entry = &plan.items[index].entry;
        let outcome = &mut outcomes[index];
        match (found, outcome.as_ref()) {
            (Ok(Some(ids)), Some(Removal::Deleted(_) | Removal::AlreadyGone)) => {
                let mut back = entry.clone();
                back.ids.extend(ids);
                ledger.entries.push(back);
                *outcome = Some(Removal::Failed(Halt::Failed(CleanupError::other(
                    "still exists: the verification pass found it again after cleanup",
                ))));
                changed = true;
            }
            (Ok(None), Some(Removal::Failed(_))) => {
                ledger.remove(entry);
                *outcome = Some(Removal::Deleted(None));
                changed = true;
            }
            _ => {}
        }
    }
    if changed {
        if let Err(e) = save(ledger) {
            *save_error = Some(e.to_string());
        }
    }
}

fn halt_message(halt: &Halt) -> String {
    match halt {
        Halt::Cancelled => "cleanup was interrupted".into(),
        Halt::Failed(e) => e.message.clone(),
    }
}

fn build_report(plan: &Plan, outcomes: &[Option<Removal>], save_error: Option<String>) -> Report {
    let mut report = Report::default();
    for (item, outcome) in plan.items.iter().zip(outcomes) {
        let resource = item.entry.describe();
        match outcome {
            Some(Removal::Deleted(None)) => report.deleted.push(resource),
            Some(Removal::Deleted(Some(note))) => report.deleted.push(format!("{resource} ({note})")),
            Some(Removal::AlreadyGone) => report.already_gone.push(resource),
            Some(Removal::Failed(halt)) => {
                let error = halt_message(halt);
                let advice = match halt {
                    Halt::Cancelled => advice::INTERRUPTED.to_string(),
                    Halt::Failed(e) => advice::for_error(&item.entry.resource, e),
                };
                report.remaining.push(Remaining { resource, error, advice });
            }
            None => report.remaining.push(Remaining {
                resource,
                error: "not attempted: cleanup was interrupted".into(),
                advice: advice::INTERRUPTED.into(),
            }),
        }
    }
    if let Some(error) = save_error {
        report.remaining.push(Remaining {
            resource: "cleanup ledger".into(),
            error: format!("could not be saved: {error}"),
            advice: advice::LEDGER.into(),
        });
    }
    report
}

/// What `--scan` found for one declared resource outside the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// Exactly one live resource matches: it can be added to the ledger.
    One(Ids),
    /// Several match: none is added; their identities.
    Several(Vec<String>),
}

/// `--scan`: resources the lab declares (already resolved specs) that exist but whose identity
/// the ledger does not hold, each with the step that declares it. A name matching several
/// resources is reported as such, never resolved by picking one.
pub async fn scan(
    clients: &Clients,
    declared: &[(String, ResourceSpec)],
    ledger: &Ledger,
) -> Vec<(String, ResourceSpec, Scanned)> {
    let known = ledger.identities();
    let known = &known;
    let looks = declared
        .iter()
        .enumerate()
        .map(|(index, (_, spec))| async move { (index, super::new_since(clients, spec, &[], known).await) });
    let mut running = pin!(bounded(looks, CONCURRENCY));
    let mut found = Vec::new();
    while let Some((index, result)) = running.next().await {
        match result {
            Ok(mut list) if list.len() == 1 => found.push((index, Scanned::One(list.remove(0)))),
            Ok(list) if list.len() > 1 => {
                found.push((index, Scanned::Several(list.iter().flat_map(super::identities).collect())));
            }
            _ => {}
        }
    }
    found.sort_by_key(|(index, _)| *index);
    // A spec declared by two steps is reported once, for the first.
    let mut seen: Vec<&ResourceSpec> = Vec::new();
    let mut out = Vec::new();
    for (index, scanned) in found {
        let (step, spec) = &declared[index];
        if !seen.contains(&spec) {
            seen.push(spec);
            out.push((step.clone(), spec.clone(), scanned));
        }
    }
    out
}
