//! Running a plan: waves of concurrent deletions (each through `call`), the ledger kept in
//! step with what is confirmed gone, and the final verification pass.

use std::collections::{BTreeSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use tokio_util::sync::CancellationToken;

use super::call::{Ctx, Halt, Patience};
use super::find::{self, Ids};
use super::report::{advice, Remaining, Report};
use super::{delete, CleanupError, CleanupEvent, Plan, Resolution, Sleeper};
use crate::aws::Clients;
use crate::error::Error;
use crate::lab::ResourceSpec;
use crate::state::ledger::{Ledger, LedgerEntry};

/// How many deletions of one wave run at once.
const CONCURRENCY: usize = 8;

/// How one resource ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Deleted and confirmed gone; with a note for the report line.
    Deleted(Option<String>),
    /// Not there when looked up.
    AlreadyGone,
    /// Still there.
    Failed(Halt),
}

/// Looks the resource up by its recorded identity (or resolves an intent), deletes it, and
/// confirms it is gone.
async fn remove_one(ctx: &Ctx<'_>, entry: &LedgerEntry, known: &BTreeSet<String>) -> Outcome {
    let spec = &entry.resource;
    let live = if entry.intent {
        let resolved = ctx.call(&Patience::NONE, || super::resolve_intent(ctx.clients, entry, known)).await;
        match resolved {
            Ok(Resolution::Found(ids)) => ids,
            Ok(Resolution::Absent) => return Outcome::AlreadyGone,
            Ok(Resolution::Ambiguous(ids)) => {
                return Outcome::Failed(Halt::Failed(CleanupError::other(format!(
                    "{} resources match and appeared while step `{}` ran ({}); labrunner cannot tell which one the lab created and deletes none of them",
                    ids.len(),
                    entry.step,
                    ids.join(", ")
                ))))
            }
            Ok(Resolution::Unresolved(name)) => {
                return Outcome::Failed(Halt::Failed(CleanupError::other(format!(
                    "step `{}` may have created it, but ${{{name}}} was never captured, so labrunner cannot find it safely",
                    entry.step
                ))))
            }
            Err(halt) => return Outcome::Failed(halt),
        }
    } else {
        match ctx.find(spec, &entry.ids).await {
            Ok(Some(ids)) => ids,
            Ok(None) => return Outcome::AlreadyGone,
            Err(halt) => return Outcome::Failed(halt),
        }
    };
    ctx.event(CleanupEvent::Deleting { resource: ctx.resource.clone() });
    let note = match delete::delete(ctx, spec, &live).await {
        Ok(note) => note,
        Err(Halt::Cancelled) => return Outcome::Failed(Halt::Cancelled),
        Err(Halt::Failed(e)) => {
            // A refusal can race with the resource going away (moto answers a missing scaling
            // policy with ValidationException): only a resource still there has failed.
            return match ctx.find(spec, &live).await {
                Ok(None) => Outcome::Deleted(None),
                _ => Outcome::Failed(Halt::Failed(e)),
            };
        }
    };
    let (wait, what) = delete::confirm_wait(spec);
    let confirmed = ctx
        .wait_until(what, wait, || async { Ok(find::find(ctx.clients, spec, &live).await?.is_none()) })
        .await;
    match confirmed {
        Ok(()) => Outcome::Deleted(note),
        Err(halt) => Outcome::Failed(halt),
    }
}

/// Runs futures, at most `limit` at a time, handing back each result as it completes.
struct Bounded<'a, T> {
    queued: VecDeque<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
    running: Vec<Pin<Box<dyn Future<Output = T> + Send + 'a>>>,
    limit: usize,
}

impl<'a, T> Bounded<'a, T> {
    fn new(limit: usize) -> Self {
        Bounded { queued: VecDeque::new(), running: Vec::new(), limit: limit.max(1) }
    }

    fn push(&mut self, f: impl Future<Output = T> + Send + 'a) {
        self.queued.push_back(Box::pin(f));
    }

    /// The next result, or `None` when everything has completed.
    async fn next(&mut self) -> Option<T> {
        while self.running.len() < self.limit {
            match self.queued.pop_front() {
                Some(f) => self.running.push(f),
                None => break,
            }
        }
        if self.running.is_empty() {
            return None;
        }
        let running = &mut self.running;
        // Every future shares this task's waker, so any wake-up polls them all again.
        std::future::poll_fn(|cx| {
            for i in 0..running.len() {
                if let Poll::Ready(v) = running[i].as_mut().poll(cx) {
                    drop(running.swap_remove(i));
                    return Poll::Ready(Some(v));
                }
            }
            Poll::Pending
        })
        .await
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
    sleeper: &dyn Sleeper,
    cancel: &CancellationToken,
) -> Report {
    let ctx_for = |entry: &LedgerEntry| Ctx::new(clients, sleeper, cancel, events, entry.describe());
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.items.len()];
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
        let mut running = Bounded::new(CONCURRENCY);
        for (index, item) in plan.items.iter().enumerate().take(end).skip(start) {
            let ctx = ctx_for(&item.entry);
            let known = &known;
            running.push(async move {
                let outcome = remove_one(&ctx, &item.entry, known).await;
                (index, outcome)
            });
        }
        while let Some((index, outcome)) = running.next().await {
            let entry = &plan.items[index].entry;
            let resource = entry.describe();
            match &outcome {
                Outcome::Deleted(_) | Outcome::AlreadyGone => {
                    ledger.remove(entry);
                    if let Err(e) = save(ledger) {
                        save_error = Some(e.to_string());
                    }
                    events(if matches!(outcome, Outcome::AlreadyGone) {
                        CleanupEvent::AlreadyGone { resource }
                    } else {
                        CleanupEvent::Deleted { resource }
                    });
                }
                Outcome::Failed(halt) => {
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
    outcomes: &mut [Option<Outcome>],
    ledger: &mut Ledger,
    save: &mut (dyn FnMut(&Ledger) -> Result<(), Error> + Send),
    save_error: &mut Option<String>,
    ctx_for: &impl Fn(&LedgerEntry) -> Ctx<'a>,
) {
    let mut running = Bounded::new(CONCURRENCY);
    for (index, item) in plan.items.iter().enumerate() {
        // An intent has no identity to look for; its outcome stands.
        if item.entry.intent {
            continue;
        }
        let ctx = ctx_for(&item.entry);
        running.push(async move { (index, ctx.find(&item.entry.resource, &item.entry.ids).await) });
    }
    let mut changed = false;
    while let Some((index, found)) = running.next().await {
        let entry = &plan.items[index].entry;
        let outcome = &mut outcomes[index];
        match (found, outcome.as_ref()) {
            (Ok(Some(ids)), Some(Outcome::Deleted(_) | Outcome::AlreadyGone)) => {
                let mut back = entry.clone();
                back.ids.extend(ids);
                ledger.entries.push(back);
                *outcome = Some(Outcome::Failed(Halt::Failed(CleanupError::other(
                    "still exists: the verification pass found it again after cleanup",
                ))));
                changed = true;
            }
            (Ok(None), Some(Outcome::Failed(_))) => {
                ledger.remove(entry);
                *outcome = Some(Outcome::Deleted(None));
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

fn build_report(plan: &Plan, outcomes: &[Option<Outcome>], save_error: Option<String>) -> Report {
    let mut report = Report::default();
    for (item, outcome) in plan.items.iter().zip(outcomes) {
        let resource = item.entry.describe();
        match outcome {
            Some(Outcome::Deleted(None)) => report.deleted.push(resource),
            Some(Outcome::Deleted(Some(note))) => report.deleted.push(format!("{resource} ({note})")),
            Some(Outcome::AlreadyGone) => report.already_gone.push(resource),
            Some(Outcome::Failed(halt)) => {
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
    let mut running = Bounded::new(CONCURRENCY);
    for (index, (_, spec)) in declared.iter().enumerate() {
        let known = &known;
        running.push(async move { (index, super::new_since(clients, spec, &[], known).await) });
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_runs_at_most_limit_and_returns_everything() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let live = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut b = Bounded::new(3);
        for i in 0..10 {
            let (live, peak) = (&live, &peak);
            b.push(async move {
                let now = live.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                live.fetch_sub(1, Ordering::SeqCst);
                i
            });
        }
        let mut got = Vec::new();
        while let Some(i) = b.next().await {
            got.push(i);
        }
        got.sort();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }
}
