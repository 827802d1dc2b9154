//! The polling loop: look, report progress, decide, sleep; until pass, a definitive failure,
//! an error that waiting cannot fix, the deadline, or cancellation.
//!
//! Pacing is a pure [`Pacer`]: the interval starts at 250 ms and grows ×1.5 up to the larger of
//! `max_interval` and 1.5 s per SDK call a look makes, and a sliding one-minute window keeps
//! every check within [`CALLS_PER_MINUTE`] calls. Throttling and transient errors back off
//! exponentially (1 s doubling to 20 s) with jitter from a deterministic hash, so concurrent
//! checks spread out yet tests repeat exactly.

use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Clock, LookError, Progress, Status, Verdict};
use crate::aws::ErrorClass;
use crate::clock::Backoff;

/// The most SDK calls one check may make in any minute of waiting.
pub(crate) const CALLS_PER_MINUTE: u32 = 40;
/// The first interval between looks.
const FIRST_INTERVAL: Duration = Duration::from_millis(250);
/// Back-off after throttling or a transient error: 1 s, doubling, at most 20 s.
const BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(20));
const WINDOW: Duration = Duration::from_secs(60);

/// How one wait is paced.
#[derive(Debug, Clone)]
pub(crate) struct Pacing {
    /// Give up this long after starting.
    pub deadline: Duration,
    /// The interval between looks stops growing here (at least; multi-call looks go slower).
    pub max_interval: Duration,
    /// Seeds the jitter.
    pub seed: u64,
}

/// How a wait ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// The check passed.
    Passed(Verdict),
    /// The check failed for good.
    Definitive(Verdict),
    /// Could not look, and waiting will not fix it (access denied, credentials, bad request).
    Error(LookError),
    /// The deadline passed; the last look's result, if any completed.
    TimedOut(Option<Result<Verdict, LookError>>),
    /// The cancellation token fired.
    Cancelled(Option<Result<Verdict, LookError>>),
}

/// The end of a wait, with its counts.
#[derive(Debug)]
pub(crate) struct PollEnd {
    /// How it ended.
    pub ending: Ending,
    /// Looks taken (started and completed).
    pub attempts: u32,
    /// Time since the wait started.
    pub elapsed: Duration,
}

/// A stable seed for a check's jitter.
pub(crate) fn seed_for(description: &str, index: u64) -> u64 {
    let mut h = DefaultHasher::new();
    description.hash(&mut h);
    index.hash(&mut h);
    h.finish()
}

/// A number in [0, 1) from the seed and attempt: the same on every run.
fn jitter(seed: u64, attempt: u32) -> f64 {
    let mut h = DefaultHasher::new();
    seed.hash(&mut h);
    attempt.hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Decides when the next look may start. Pure: times are offsets from the start of the wait.
#[derive(Debug, Clone)]
pub(crate) struct Pacer {
    interval: Duration,
    max_interval: Duration,
    backoff: Option<Duration>,
    window: VecDeque<(Duration, u32)>,
}

/// What a look came to, as far as pacing is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pace {
    /// An answer (pass, fail, or not found).
    Answered,
    /// Throttled or a transient failure: back off.
    BackOff,
}

impl Pacer {
    /// A pacer whose interval stops growing at `max_interval`.
    pub fn new(max_interval: Duration) -> Self {
        Pacer { interval: FIRST_INTERVAL, max_interval, backoff: None, window: VecDeque::new() }
    }

    /// The look that started at `started` made `calls` calls and came to `pace`; returns when
    /// the next look may start. `jitter` is in [0, 1).
    pub fn next_start(&mut self, started: Duration, calls: u32, pace: Pace, jitter: f64) -> Duration {
        self.window.push_back((started, calls));
        let delay = match pace {
            Pace::BackOff => {
                let b = BACKOFF.after(self.backoff);
                self.backoff = Some(b);
                // Between half and all of the back-off.
                b.mul_f64(0.5 + 0.5 * jitter)
            }
            Pace::Answered => {
                self.backoff = None;
                let cap = self.max_interval.max(Duration::from_millis(1500) * calls.max(1));
                let d = self.interval.min(cap);
                self.interval = (self.interval.mul_f64(1.5)).min(cap);
                d
            }
        };
        let mut next = started + delay;
        // The budget: the calls in the minute before the next look, plus its own, stay in bounds.
        let need = calls.max(1);
        loop {
            while let Some(&(at, _)) = self.window.front() {
                if at + WINDOW <= next {
                    self.window.pop_front();
                } else {
                    break;
                }
            }
            let used: u32 = self.window.iter().map(|&(_, c)| c).sum();
            if used + need <= CALLS_PER_MINUTE {
                break;
            }
            // Wait until the oldest look leaves the window.
            match self.window.front() {
                Some(&(at, _)) => next = next.max(at + WINDOW),
                None => break,
            }
        }
        next
    }
}

/// Waits on `look` (called with the time left) until it passes, fails definitively, errors for
/// good, the deadline passes or `cancel` fires; reports progress after every look.
pub(crate) async fn poll<F, Fut>(
    clock: &dyn Clock,
    pacing: &Pacing,
    cancel: &CancellationToken,
    mut look: F,
    progress: &(dyn Fn(&Progress) + Send + Sync),
) -> PollEnd
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = (Result<Verdict, LookError>, u32)>,
{
    let start = clock.now();
    let elapsed = || clock.now().saturating_duration_since(start);
    let mut pacer = Pacer::new(pacing.max_interval);
    let mut attempts = 0u32;
    let mut last: Option<Result<Verdict, LookError>> = None;
    // A failure that becomes final when it lasts: its signature and when it was first seen.
    let mut stuck: Option<(String, Duration)> = None;
    loop {
        let started = elapsed();
        let remaining = pacing.deadline.saturating_sub(started);
        let result = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                return PollEnd { ending: Ending::Cancelled(last), attempts, elapsed: elapsed() };
            }
            r = look(remaining) => r,
        };
        attempts += 1;
        let (result, calls) = result;
        let (line, details) = match &result {
            Ok(v) => (v.evidence.clone(), v.details.clone()),
            Err(e) => (format!("{} (retrying)", e.message), Vec::new()),
        };
        progress(&Progress { attempt: attempts, status_line: line, details, elapsed: elapsed() });
        let pace = match &result {
            Ok(v) if v.status == Status::Pass => {
                return PollEnd { ending: Ending::Passed(v.clone()), attempts, elapsed: elapsed() };
            }
            Ok(v) if v.definitive => {
                return PollEnd { ending: Ending::Definitive(v.clone()), attempts, elapsed: elapsed() };
            }
            Ok(v) => {
                match (&v.final_after, &stuck) {
                    (Some((signature, after)), Some((seen, since))) if signature == seen => {
                        let lasted = started.saturating_sub(*since);
                        if lasted >= *after {
                            let mut v = v.clone();
                            let lasted = humantime::format_duration(Duration::from_secs(lasted.as_secs()));
                            v.evidence = format!("{} (unchanged for {lasted})", v.evidence);
                            return PollEnd { ending: Ending::Definitive(v), attempts, elapsed: elapsed() };
                        }
                    }
                    (Some((signature, _)), _) => stuck = Some((signature.clone(), started)),
                    (None, _) => stuck = None,
                }
                Pace::Answered
            }
            Err(e) => match e.class {
                ErrorClass::NotFound => Pace::Answered,
                ErrorClass::Throttling | ErrorClass::Transient => Pace::BackOff,
                ErrorClass::AccessDenied | ErrorClass::Credentials | ErrorClass::Other => {
                    return PollEnd { ending: Ending::Error(e.clone()), attempts, elapsed: elapsed() };
                }
            },
        };
        last = Some(result);
        let next = pacer.next_start(started, calls, pace, jitter(pacing.seed, attempts));
        if next >= pacing.deadline {
            return PollEnd { ending: Ending::TimedOut(last), attempts, elapsed: elapsed() };
        }
        let wait = next.saturating_sub(elapsed());
        if !wait.is_zero() {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    return PollEnd { ending: Ending::Cancelled(last), attempts, elapsed: elapsed() };
                }
                _ = clock.sleep(wait) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulates a long wait of looks that each make `calls` calls and answer "not yet".
    fn starts(max_interval: Duration, calls: u32, horizon: Duration) -> Vec<Duration> {
        let mut pacer = Pacer::new(max_interval);
        let mut at = Duration::ZERO;
        let mut out = vec![];
        let mut attempt = 0;
        while at < horizon {
            out.push(at);
            attempt += 1;
            at = pacer.next_start(at, calls, Pace::Answered, jitter(7, attempt));
        }
        out
    }

    fn max_calls_in_any_minute(starts: &[Duration], calls: u32) -> u32 {
        starts
            .iter()
            .map(|&s| starts.iter().filter(|&&t| t >= s && t < s + WINDOW).count() as u32 * calls)
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn interval_starts_fast_and_grows_to_the_cap() {
        let s = starts(Duration::from_secs(2), 1, Duration::from_secs(30));
        let gaps: Vec<u128> = s.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
        assert_eq!(&gaps[..7], &[250, 375, 562, 843, 1265, 1898, 2000]);
        assert!(gaps.iter().all(|&g| g <= 2000));
    }

    #[test]
    fn every_minute_stays_within_the_call_budget() {
        for (calls, max_interval) in [(1, 2), (2, 2), (3, 2), (4, 2), (5, 2), (1, 1), (8, 1)] {
            let s = starts(Duration::from_secs(max_interval), calls, Duration::from_secs(600));
            let worst = max_calls_in_any_minute(&s, calls);
            assert!(worst <= CALLS_PER_MINUTE, "{calls} calls/look: {worst} calls in a minute");
            // ... and never slower than one look per max(interval, 1.5 s per call) once settled.
            let tail = &s[s.len() - 10..];
            let cap = Duration::from_secs(max_interval).max(Duration::from_millis(1500) * calls);
            assert!(tail.windows(2).all(|w| w[1] - w[0] <= cap), "{calls}: {tail:?}");
        }
    }

    #[test]
    fn one_call_looks_settle_at_thirty_a_minute() {
        let s = starts(Duration::from_secs(2), 1, Duration::from_secs(600));
        let last_minute = s.iter().filter(|&&t| t >= Duration::from_secs(540)).count();
        assert_eq!(last_minute, 30);
    }

    #[test]
    fn back_off_doubles_to_twenty_seconds_with_jitter_and_resets_on_an_answer() {
        let mut p = Pacer::new(Duration::from_secs(2));
        let mut at = Duration::ZERO;
        let mut delays = vec![];
        for _ in 0..7 {
            let next = p.next_start(at, 1, Pace::BackOff, 1.0 - f64::EPSILON);
            delays.push((next - at).as_secs_f64().round() as u64);
            at = next;
        }
        assert_eq!(delays, vec![1, 2, 4, 8, 16, 20, 20]);
        let half = p.next_start(at, 1, Pace::BackOff, 0.0) - at;
        assert_eq!(half, Duration::from_secs(10));
        let answered = p.next_start(at, 1, Pace::Answered, 0.0);
        assert!(answered - at <= Duration::from_secs(2));
    }

    #[test]
    fn jitter_is_deterministic_and_in_range() {
        for a in 0..100 {
            let j = jitter(42, a);
            assert!((0.0..1.0).contains(&j));
            assert_eq!(j, jitter(42, a));
        }
        assert_ne!(jitter(1, 1), jitter(2, 1));
    }
}
