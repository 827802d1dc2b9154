//! One AWS call or wait of a resource's deletion: retries with back-off for throttling and
//! transient failures, patience for "still in use" codes, polling with a budget, and
//! cancellation. Used by the deletions (`delete`) that the plan's runner (`run`) schedules.
//!
//! Budgets are measured in time asked of the [`Clock`] (not wall time), so tests with a fake
//! clock exercise the same give-up paths in no time.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::find::{self, Ids};
use super::{CleanupError, CleanupEvent};
use crate::aws::Clients;
use crate::clock::{Backoff, Clock};
use crate::lab::ResourceSpec;

/// Retries of a throttled or transient failure before giving up.
const TRANSIENT_RETRIES: u32 = 6;
/// Pauses before those retries: 1 s, 2 s, 4 s ... at most 30 s.
const TRANSIENT_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));

/// Why a resource's deletion stopped short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Halt {
    /// The cancellation token fired.
    Cancelled,
    /// A call failed for good, or the resource would not go in time.
    Failed(CleanupError),
}

impl From<CleanupError> for Halt {
    fn from(e: CleanupError) -> Self {
        Halt::Failed(e)
    }
}

/// Errors worth waiting out, and for how long.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patience {
    /// Service error codes that mean "busy, try later".
    pub codes: &'static [&'static str],
    /// Total pause allowed across retries.
    pub budget: Duration,
    /// First pause; doubles up to `max`.
    pub first: Duration,
    /// Longest pause.
    pub max: Duration,
}

impl Patience {
    /// Only throttling and transient failures are retried.
    pub const NONE: Patience =
        Patience { codes: &[], budget: Duration::ZERO, first: Duration::ZERO, max: Duration::ZERO };
}

/// A poll loop's interval and budget.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wait {
    /// Pause between polls.
    pub every: Duration,
    /// Total pause allowed.
    pub budget: Duration,
}

/// What one resource's deletion needs: the clients, the pause, the cancel token, the events.
pub(crate) struct Deletion<'a> {
    /// The service clients.
    pub clients: &'a Clients,
    clock: &'a dyn Clock,
    cancel: &'a CancellationToken,
    events: &'a (dyn Fn(CleanupEvent) + Send + Sync),
    /// `describe()` of the resource, for events.
    pub resource: String,
}

impl<'a> Deletion<'a> {
    /// The context of one resource's deletion.
    pub fn new(
        clients: &'a Clients,
        clock: &'a dyn Clock,
        cancel: &'a CancellationToken,
        events: &'a (dyn Fn(CleanupEvent) + Send + Sync),
        resource: String,
    ) -> Self {
        Deletion { clients, clock, cancel, events, resource }
    }

    /// Sends an event about this resource's deletion.
    pub fn event(&self, event: CleanupEvent) {
        (self.events)(event);
    }

    /// Stops here if cleanup was cancelled.
    pub fn check(&self) -> Result<(), Halt> {
        if self.cancel.is_cancelled() {
            Err(Halt::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Sleeps, unless cancelled first.
    pub async fn pause(&self, d: Duration) -> Result<(), Halt> {
        self.check()?;
        tokio::select! {
            _ = self.cancel.cancelled() => Err(Halt::Cancelled),
            _ = self.clock.sleep(d) => Ok(()),
        }
    }

    /// Sends a `Waiting` event.
    pub fn waiting(&self, what: &str) {
        (self.events)(CleanupEvent::Waiting { resource: self.resource.clone(), what: what.into() });
    }

    /// Runs one AWS call, retrying throttling and transient failures with back-off, and the
    /// codes of `busy` for as long as its budget allows.
    pub async fn call<T, F, Fut>(&self, busy: &Patience, mut f: F) -> Result<T, Halt>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, CleanupError>>,
    {
        let mut attempt = 0u32;
        let mut transient = 0u32;
        let mut busy_spent = Duration::ZERO;
        let mut busy_next = busy.first;
        loop {
            self.check()?;
            let err = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let delay = if err.class.is_retryable() && transient < TRANSIENT_RETRIES {
                transient += 1;
                TRANSIENT_BACKOFF.delay(transient)
            } else if err.has_code(busy.codes) && busy_spent + busy_next <= busy.budget {
                let d = busy_next;
                busy_spent += d;
                busy_next = Backoff::new(busy.first, busy.max).after(Some(busy_next));
                d
            } else {
                return Err(Halt::Failed(err));
            };
            attempt += 1;
            (self.events)(CleanupEvent::Retrying {
                resource: self.resource.clone(),
                attempt,
                error: err.message.clone(),
            });
            self.pause(delay).await?;
        }
    }

    /// Polls `done` until it says yes, pausing `wait.every` between polls; fails with
    /// "still <what> after <budget>" when the budget runs out.
    pub async fn wait_until<F, Fut>(&self, what: &str, wait: Wait, mut done: F) -> Result<(), Halt>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, CleanupError>>,
    {
        let mut spent = Duration::ZERO;
        loop {
            if self.call(&Patience::NONE, &mut done).await? {
                return Ok(());
            }
            if spent >= wait.budget {
                return Err(Halt::Failed(CleanupError::other(format!(
                    "gave up waiting for {what} after {}",
                    humantime::format_duration(wait.budget)
                ))));
            }
            self.waiting(what);
            self.pause(wait.every).await?;
            spent += wait.every;
        }
    }

    /// The live resource the recorded ids identify, with retries.
    pub async fn find(&self, spec: &ResourceSpec, recorded: &Ids) -> Result<Option<Ids>, Halt> {
        self.call(&Patience::NONE, || find::find(self.clients, spec, recorded)).await
    }
}
