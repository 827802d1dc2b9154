//! Time, written once: the [`Clock`] every wait goes through (checks' polling, the runner's
//! do-it-yourself watch, cleanup's retries and waits), and the one [`Backoff`] rule for
//! doubling pauses. Injected so that tests run a ten-minute wait in microseconds.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

/// The source of time, injected so tests run instantly.
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `d`.
    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
    /// The time of day, for timestamps people read.
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// The real clock: `Instant::now` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Doubling pauses: `first`, `2·first`, `4·first`, ... never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
}

impl Backoff {
    /// Pauses from `first`, doubling up to `max`.
    pub const fn new(first: Duration, max: Duration) -> Self {
        Backoff { first, max }
    }

    /// The pause before retry number `attempt` (1-based; 0 counts as 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first.saturating_mul(1u32 << doublings).min(self.max)
    }

    /// The pause after `previous`: twice as long, never more than `max`.
    pub fn after(&self, previous: Option<Duration>) -> Duration {
        previous.map_or(self.first, |p| p.saturating_mul(2)).min(self.max)
    }
}

/// For tests: a clock whose sleeps return at once and move its time forward.
#[cfg(test)]
pub(crate) struct FakeClock {
    base: Instant,
    offset: std::sync::Mutex<Duration>,
    sleeps: std::sync::Mutex<Vec<Duration>>,
}

#[cfg(test)]
impl FakeClock {
    /// A clock standing at the moment it is made.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::new(FakeClock {
            base: Instant::now(),
            offset: std::sync::Mutex::new(Duration::ZERO),
            sleeps: std::sync::Mutex::new(vec![]),
        })
    }

    /// Every sleep asked for so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.sleeps.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.base + self.offset.lock().map(|o| *o).unwrap_or_default()
    }

    /// 2026-12-01T09:00:00Z when made, moved by every sleep.
    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_796_115_600)
            + self.offset.lock().map(|o| *o).unwrap_or_default()
    }

    fn sleep(&self, d: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        if let Ok(mut o) = self.offset.lock() {
            *o += d;
        }
        if let Ok(mut s) = self.sleeps.lock() {
            s.push(d);
        }
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        let got: Vec<u64> = (1..=8).map(|a| b.delay(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn backoff_after_a_pause_doubles_it() {
        let b = Backoff::new(Duration::from_millis(300), Duration::from_secs(2));
        let mut pause = None;
        let mut got = vec![];
        for _ in 0..5 {
            let p = b.after(pause);
            got.push(p.as_millis());
            pause = Some(p);
        }
        assert_eq!(got, [300, 600, 1200, 2000, 2000]);
    }

    #[tokio::test]
    async fn the_fake_clock_moves_by_what_is_slept() {
        let clock = FakeClock::new();
        let start = clock.now();
        clock.sleep(Duration::from_secs(600)).await;
        clock.sleep(Duration::from_millis(5)).await;
        assert_eq!(clock.now() - start, Duration::from_millis(600_005));
        assert_eq!(clock.sleeps(), [Duration::from_secs(600), Duration::from_millis(5)]);
    }
}
