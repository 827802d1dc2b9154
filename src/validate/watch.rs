//! `validate --watch`: one running report kept up to date in rounds while students work.
//!
//! The pure part is [`Watch`]: which accounts a round checks (those not complete; a complete
//! account only every [`WatchSettings::complete_every`], or when the instructor asks; an account
//! whose checks could not look backs off, doubling up to [`WatchSettings::max_backoff`]), and
//! how a round's rows merge into the running report, keeping the time each account first
//! reached each checkpoint. [`run`] drives it: a round, the report handed to the caller (which
//! draws it and writes the file), then a wait until the next round is due, Enter (or SIGUSR1)
//! asks, or the watch is stopped. Time comes only from the injected [`WallClock`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::{AccountReport, AccountStatus, Column, Mode, Report, Student, Validation};
use crate::clock::{Clock, SystemClock};
use crate::error::Error;

/// Wall-clock time from an injected [`Clock`]: the wall time at an anchor instant plus what the
/// clock says has passed since. Tests anchor a fake clock at a fixed time.
#[derive(Clone)]
pub struct WallClock {
    clock: Arc<dyn Clock>,
    anchor: Instant,
    anchor_wall: SystemTime,
}

impl fmt::Debug for WallClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WallClock").field("anchor_wall", &self.anchor_wall).finish_non_exhaustive()
    }
}

impl WallClock {
    /// The system clock, anchored now.
    pub fn system() -> Self {
        WallClock::new(Arc::new(SystemClock), SystemTime::now())
    }

    /// `clock`, whose present instant is the wall time `wall`.
    pub fn new(clock: Arc<dyn Clock>, wall: SystemTime) -> Self {
        let anchor = clock.now();
        WallClock { clock, anchor, anchor_wall: wall }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The current wall time.
    pub fn wall(&self) -> SystemTime {
        self.wall_at(self.clock.now())
    }

    /// The wall time of `instant`.
    pub fn wall_at(&self, instant: Instant) -> SystemTime {
        self.anchor_wall + instant.saturating_duration_since(self.anchor)
    }

    /// Waits for `d`.
    pub fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.clock.sleep(d)
    }
}

/// How a watch paces its rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchSettings {
    /// Time between rounds: an account not complete is checked again this long after the
    /// round that last checked it began.
    pub interval: Duration,
    /// A complete account is checked again this long after (regressions are rare).
    pub complete_every: Duration,
    /// The longest pause of an account whose checks keep failing to look.
    pub max_backoff: Duration,
}

impl WatchSettings {
    /// Rounds every `interval`; complete accounts every 10 intervals; back-off from 2 up to 8
    /// intervals.
    pub fn new(interval: Duration) -> Self {
        WatchSettings { interval, complete_every: interval * 10, max_backoff: interval * 8 }
    }

    /// The pause after `errors` rounds in a row that could not validate an account:
    /// 2, 4, 8… intervals, at most `max_backoff`.
    pub fn backoff(&self, errors: u32) -> Duration {
        let factor = 1u32.checked_shl(errors.min(16)).unwrap_or(u32::MAX);
        self.interval.saturating_mul(factor).min(self.max_backoff.max(self.interval))
    }
}

/// Where one account stands in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// Checked by the first round that begins at or after this instant.
    due: Instant,
    /// Rounds in a row whose row was an error.
    errors: u32,
}

/// What a round is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    /// The round, from 1.
    pub number: u32,
    /// The accounts it checks (indices into the class list), in list order.
    pub accounts: Vec<usize>,
    /// Complete accounts left alone this round.
    pub resting: usize,
    /// Accounts skipped while they back off from errors.
    pub backing_off: usize,
}

/// What a round did, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundEnd {
    /// The round, from 1.
    pub number: u32,
    /// Accounts the round meant to check.
    pub due: usize,
    /// Accounts it checked (fewer when the watch was stopped during the round).
    pub checked: usize,
    /// Complete accounts left alone.
    pub resting: usize,
    /// Accounts skipped while backing off.
    pub backing_off: usize,
    /// Checkpoints reached for the first time in this round, over all accounts.
    pub reached: usize,
    /// When the next round begins (`None` when the watch was stopped).
    pub next: Option<SystemTime>,
}

/// The running report of a watch and its schedule.
#[derive(Debug, Clone)]
pub struct Watch {
    lab: String,
    mode: Mode,
    columns: Vec<Column>,
    students: Vec<Student>,
    rows: Vec<Option<AccountReport>>,
    slots: Vec<Slot>,
    settings: WatchSettings,
    round: u32,
    round_began: Instant,
}

impl Watch {
    /// A watch over `students` in which every account is due at `now`.
    pub fn new(
        lab: &str,
        mode: Mode,
        columns: Vec<Column>,
        students: Vec<Student>,
        settings: WatchSettings,
        now: Instant,
    ) -> Self {
        let n = students.len();
        Watch {
            lab: lab.to_string(),
            mode,
            columns,
            students,
            rows: vec![None; n],
            slots: vec![Slot { due: now, errors: 0 }; n],
            settings,
            round: 0,
            round_began: now,
        }
    }

    /// Begins the next round at `now`: the accounts due, in list order.
    pub fn begin(&mut self, now: Instant) -> Round {
        self.round += 1;
        self.round_began = now;
        let mut round = Round { number: self.round, accounts: Vec::new(), resting: 0, backing_off: 0 };
        for (i, slot) in self.slots.iter().enumerate() {
            if slot.due <= now {
                round.accounts.push(i);
            } else if slot.errors > 0 {
                round.backing_off += 1;
            } else {
                round.resting += 1;
            }
        }
        round
    }

    /// The student of account `i`.
    pub fn student(&self, i: usize) -> Student {
        self.students[i].clone()
    }

    /// Merges account `i`'s row from the current round and schedules its next check; returns
    /// how many of its checkpoints it reached for the first time.
    ///
    /// A checkpoint keeps the time it was first reached, even when it fails again later. A row
    /// that could not reach the account keeps the cells an earlier round saw (shown as errors,
    /// with the problem).
    pub fn merge(&mut self, i: usize, mut row: AccountReport) -> usize {
        let (Some(slot), Some(old)) = (self.slots.get_mut(i), self.rows.get_mut(i)) else { return 0 };
        let mut reached = 0;
        match old.take() {
            Some(old) if row.problem.is_some() && row.cells.is_empty() => {
                row.cells = old.cells;
                row.arn = row.arn.or(old.arn);
            }
            previous => {
                for cell in &mut row.cells {
                    let before = previous
                        .as_ref()
                        .and_then(|p| p.cells.iter().find(|c| c.id == cell.id))
                        .and_then(|c| c.reached_at);
                    match before {
                        Some(at) => cell.reached_at = Some(at),
                        None if cell.reached_at.is_some() => reached += 1,
                        None => {}
                    }
                }
            }
        }
        let began = self.round_began;
        *slot = match row.status {
            AccountStatus::Complete => Slot { due: began + self.settings.complete_every, errors: 0 },
            AccountStatus::Incomplete => Slot { due: began + self.settings.interval, errors: 0 },
            AccountStatus::Error => {
                let errors = slot.errors + 1;
                Slot { due: began + self.settings.backoff(errors), errors }
            }
        };
        *old = Some(row);
        reached
    }

    /// The instructor asked: every account (complete ones too) is due at `now`.
    pub fn ask(&mut self, now: Instant) {
        for slot in &mut self.slots {
            slot.due = slot.due.min(now);
        }
    }

    /// When the next round begins: one interval after this one began, or later when no account
    /// is due by then (every one complete or backing off).
    pub fn next_round_at(&self) -> Instant {
        let earliest = self.slots.iter().map(|s| s.due).min().unwrap_or(self.round_began);
        earliest.max(self.round_began + self.settings.interval)
    }

    /// The running report: every account checked so far, in list order.
    pub fn report(&self, checked_at: SystemTime) -> Report {
        Report {
            lab: self.lab.clone(),
            mode: self.mode,
            columns: self.columns.clone(),
            accounts: self.rows.iter().flatten().cloned().collect(),
            checked_at: Some(checked_at),
            round: Some(self.round),
        }
    }

    /// Accounts in the class list.
    pub fn len(&self) -> usize {
        self.students.len()
    }

    /// Whether the class list is empty.
    pub fn is_empty(&self) -> bool {
        self.students.is_empty()
    }
}

/// A future that borrows its inputs.
pub type LocalFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Checks a round's accounts, handing each row over as soon as it is done.
pub trait Checker {
    /// Checks each `(index, student)`, calling `on_row` with each row.
    fn check<'a>(
        &'a self,
        students: Vec<(usize, Student)>,
        on_row: &'a mut dyn FnMut(usize, AccountReport),
    ) -> LocalFuture<'a>;
}

impl Checker for Validation {
    fn check<'a>(
        &'a self,
        students: Vec<(usize, Student)>,
        on_row: &'a mut dyn FnMut(usize, AccountReport),
    ) -> LocalFuture<'a> {
        Box::pin(self.run_each(students, on_row))
    }
}

/// Runs rounds until `stop` fires. After each round (and after a round cut short by `stop`),
/// `on_round` gets what the round did and the running report; an error from it ends the watch.
/// Between rounds the watch sleeps until the next round is due; a message on `asked` makes
/// every account due at once.
pub async fn run(
    watch: &mut Watch,
    checker: &dyn Checker,
    clock: &WallClock,
    stop: &CancellationToken,
    asked: &mut UnboundedReceiver<()>,
    on_round: &mut dyn FnMut(&RoundEnd, &Report) -> Result<(), Error>,
) -> Result<(), Error> {
    loop {
        let round = watch.begin(clock.now());
        let students: Vec<(usize, Student)> = round.accounts.iter().map(|&i| (i, watch.student(i))).collect();
        let (mut checked, mut reached) = (0, 0);
        let stopped = {
            let mut merge = |i: usize, row: AccountReport| {
                checked += 1;
                reached += watch.merge(i, row);
            };
            tokio::select! {
                biased;
                () = stop.cancelled() => true,
                () = checker.check(students, &mut merge) => false,
            }
        };
        let next = watch.next_round_at();
        let end = RoundEnd {
            number: round.number,
            due: round.accounts.len(),
            checked,
            resting: round.resting,
            backing_off: round.backing_off,
            reached,
            next: (!stopped).then(|| clock.wall_at(next)),
        };
        on_round(&end, &watch.report(clock.wall()))?;
        if stopped {
            return Ok(());
        }
        // What already happened wins over a new wait (a clock's sleep may start when made).
        if stop.is_cancelled() {
            return Ok(());
        }
        if asked.try_recv().is_ok() {
            watch.ask(clock.now());
            continue;
        }
        let wait = next.saturating_duration_since(clock.now());
        tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(()),
            Some(()) = asked.recv() => watch.ask(clock.now()),
            () = clock.sleep(wait) => {}
        }
    }
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
