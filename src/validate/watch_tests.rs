//! The watch's schedule and merge (pure, on plain instants), then the driver on a fake clock
//! with a scripted checker: which accounts each round checks, the pauses between rounds, the
//! first-reached times, back-off, asking for a full round, and stopping mid-round.

use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use super::*;
use crate::clock::FakeClock;
use crate::validate::{Cell, CheckResult, Mark, Problem, ProblemKind};

const I: Duration = Duration::from_secs(30);

fn wall(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn student(i: usize) -> Student {
    Student {
        account_id: format!("{i}").repeat(12),
        name: format!("student {i}"),
        email: String::new(),
        profile: None,
    }
}

fn columns() -> Vec<Column> {
    ["cluster", "logs"].iter().map(|id| Column { id: id.to_string(), title: id.to_string() }).collect()
}

fn watch(n: usize, now: Instant) -> Watch {
    let students = (1..=n).map(student).collect();
    Watch::new("demo", Mode::Checkpoints, columns(), students, WatchSettings::new(I), now)
}

/// Account `i`'s row with these marks, checked at `at`.
fn row(i: usize, marks: [Mark; 2], at: SystemTime) -> AccountReport {
    let cells = columns()
        .iter()
        .zip(marks)
        .map(|(c, m)| {
            let check = CheckResult {
                kind: "cluster_active".into(),
                description: c.id.clone(),
                status: m,
                evidence: "seen".into(),
                diagnostics: vec![],
            };
            Cell::of(&c.id, vec![check])
        })
        .collect();
    let mut row = AccountReport::new(student(i), Some("arn".into()), cells);
    row.stamp(at);
    row
}

fn unreachable(i: usize, at: SystemTime) -> AccountReport {
    let mut row = AccountReport::failed(
        student(i),
        Problem { kind: ProblemKind::Throttled, message: "throttled".into(), advice: "wait".into() },
    );
    row.stamp(at);
    row
}

use Mark::{Error as E, Fail as F, Pass as P};

#[test]
fn a_round_checks_only_the_accounts_not_complete() {
    let t0 = Instant::now();
    let mut w = watch(3, t0);
    let r1 = w.begin(t0);
    assert_eq!(r1, Round { number: 1, accounts: vec![0, 1, 2], resting: 0, backing_off: 0 });
    assert_eq!(w.merge(0, row(1, [P, P], wall(0))), 2);
    assert_eq!(w.merge(1, row(2, [P, F], wall(0))), 1);
    assert_eq!(w.merge(2, unreachable(3, wall(0))), 0);
    assert_eq!(w.next_round_at(), t0 + I);

    // One interval later: only the incomplete account; the complete one rests, the
    // unreachable one backs off for two intervals.
    let r2 = w.begin(t0 + I);
    assert_eq!(r2, Round { number: 2, accounts: vec![1], resting: 1, backing_off: 1 });
    w.merge(1, row(2, [P, F], wall(30)));
    let r3 = w.begin(t0 + 2 * I);
    assert_eq!(r3.accounts, [1, 2]);
    // The complete account comes back after ten intervals.
    w.merge(1, row(2, [P, P], wall(60)));
    w.merge(2, row(3, [P, P], wall(60)));
    assert_eq!(w.next_round_at(), t0 + 10 * I, "all complete: the next round is the rare re-check");
    assert_eq!(w.begin(t0 + 10 * I).accounts, [0]);

    let report = w.report(wall(300));
    assert_eq!(report.round, Some(4));
    assert_eq!(report.checked_at, Some(wall(300)));
    assert_eq!(report.summary().complete, 3);
}

#[test]
fn a_checkpoint_keeps_the_time_it_was_first_reached() {
    let t0 = Instant::now();
    let mut w = watch(1, t0);
    w.begin(t0);
    w.merge(0, row(1, [P, F], wall(0)));
    w.begin(t0 + I);
    assert_eq!(w.merge(0, row(1, [P, P], wall(30))), 1, "logs reached in round 2");
    let reached = |w: &Watch| -> Vec<Option<SystemTime>> {
        w.report(wall(0)).accounts[0].cells.iter().map(|c| c.reached_at).collect()
    };
    assert_eq!(reached(&w), [Some(wall(0)), Some(wall(30))]);

    // The student breaks the cluster: the cell fails, its first-reached time stays.
    w.begin(t0 + 2 * I);
    assert_eq!(w.merge(0, row(1, [F, P], wall(60))), 0);
    let report = w.report(wall(60));
    assert_eq!(report.accounts[0].cells[0].status, F);
    assert_eq!(reached(&w), [Some(wall(0)), Some(wall(30))]);

    // A round that cannot reach the account keeps the cells seen before, with the problem.
    w.begin(t0 + 3 * I);
    w.merge(0, unreachable(1, wall(90)));
    let a = &w.report(wall(90)).accounts[0];
    assert_eq!(a.status, AccountStatus::Error);
    assert_eq!(a.problem.as_ref().map(|p| p.kind), Some(ProblemKind::Throttled));
    assert_eq!(a.checked_at, Some(wall(90)));
    assert_eq!(a.arn.as_deref(), Some("arn"));
    assert_eq!(reached(&w), [Some(wall(0)), Some(wall(30))]);
}

#[test]
fn errors_back_off_doubling_up_to_the_cap_and_success_resets() {
    let s = WatchSettings::new(Duration::from_secs(10));
    let pauses: Vec<u64> = (1..=6).map(|n| s.backoff(n).as_secs()).collect();
    assert_eq!(pauses, [20, 40, 80, 80, 80, 80]);
    assert_eq!(s.backoff(u32::MAX), Duration::from_secs(80));

    let t0 = Instant::now();
    let mut w = watch(1, t0);
    let mut at = t0;
    let mut rounds_checked = Vec::new();
    // The account cannot be reached for its first three checks, then is reachable.
    let mut errors_left = 3;
    for n in 0..20u64 {
        let now = t0 + I * u32::try_from(n).unwrap();
        if w.begin(now).accounts.is_empty() {
            continue;
        }
        at = now;
        rounds_checked.push(n);
        if errors_left > 0 {
            errors_left -= 1;
            w.merge(0, row(1, [E, P], wall(n * 30)));
        } else {
            w.merge(0, row(1, [P, F], wall(n * 30)));
        }
    }
    // Errors at 0, 2 (after 2 intervals), 6 (after 4); then 14 (after 8), then every round.
    assert_eq!(rounds_checked, [0, 2, 6, 14, 15, 16, 17, 18, 19]);
    assert_eq!(at, t0 + 19 * I);
}

#[test]
fn asking_makes_every_account_due() {
    let t0 = Instant::now();
    let mut w = watch(2, t0);
    w.begin(t0);
    w.merge(0, row(1, [P, P], wall(0)));
    w.merge(1, unreachable(2, wall(0)));
    assert!(w.begin(t0 + Duration::from_secs(5)).accounts.is_empty());
    w.ask(t0 + Duration::from_secs(5));
    assert_eq!(w.begin(t0 + Duration::from_secs(5)).accounts, [0, 1]);
}

/// A checker from a script: account `i` in round `r` (from 1) gets `script(i, r)`; every call
/// is recorded with its round's accounts. Rows are stamped with the clock's wall time.
struct Scripted<F: Fn(usize, u32, SystemTime) -> AccountReport> {
    clock: WallClock,
    script: F,
    calls: Mutex<Vec<Vec<usize>>>,
    /// Stop the watch after this many rows of the given round, and never finish that round.
    stall: Option<(u32, usize, CancellationToken)>,
}

impl<F: Fn(usize, u32, SystemTime) -> AccountReport> Checker for Scripted<F> {
    fn check<'a>(
        &'a self,
        students: Vec<(usize, Student)>,
        on_row: &'a mut dyn FnMut(usize, AccountReport),
    ) -> LocalFuture<'a> {
        Box::pin(async move {
            let round = {
                let mut calls = self.calls.lock().unwrap();
                calls.push(students.iter().map(|(i, _)| *i).collect());
                u32::try_from(calls.len()).unwrap()
            };
            for (n, (i, _)) in students.into_iter().enumerate() {
                if let Some((r, after, stop)) = &self.stall {
                    if *r == round && n == *after {
                        stop.cancel();
                        std::future::pending::<()>().await;
                    }
                }
                on_row(i, (self.script)(i, round, self.clock.wall()));
                tokio::task::yield_now().await;
            }
        })
    }
}

#[tokio::test]
async fn the_driver_sleeps_until_the_next_round_and_stops_when_told() {
    let fake = FakeClock::new();
    let clock = WallClock::new(fake.clone(), wall(0));
    let t0 = clock.now();
    let mut w = watch(3, t0);
    // Account 0 is done from the start, account 1 from round 3; account 2 cannot be reached.
    let checker = Scripted {
        clock: clock.clone(),
        script: |i, round, at| match i {
            0 => row(1, [P, P], at),
            1 if round >= 3 => row(2, [P, P], at),
            1 => row(2, [P, F], at),
            _ => unreachable(3, at),
        },
        calls: Mutex::default(),
        stall: None,
    };
    let stop = CancellationToken::new();
    let (_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let mut ends = Vec::new();
    let mut last = None;
    let stopper = stop.clone();
    run(&mut w, &checker, &clock, &stop, &mut asked, &mut |end, report| {
        ends.push(end.clone());
        last = Some(report.clone());
        if end.number == 4 {
            stopper.cancel();
        }
        Ok(())
    })
    .await
    .unwrap();

    assert_eq!(*checker.calls.lock().unwrap(), [vec![0, 1, 2], vec![1], vec![1, 2], vec![2]]);
    // Round 3 (at 60 s) finds everyone reachable complete; the unreachable account's second
    // error puts it four intervals out, at 180 s.
    assert_eq!(fake.sleeps(), [I, I, Duration::from_secs(120)]);
    let summary: Vec<(u32, usize, usize, usize, usize)> =
        ends.iter().map(|e| (e.number, e.checked, e.resting, e.backing_off, e.reached)).collect();
    assert_eq!(summary, [(1, 3, 0, 0, 3), (2, 1, 1, 1, 0), (3, 2, 1, 0, 1), (4, 1, 2, 0, 0)]);
    assert_eq!(ends[0].next, Some(wall(30)));
    assert_eq!(ends[2].next, Some(wall(180)));
    let report = last.unwrap();
    assert_eq!(report.round, Some(4));
    assert_eq!(report.checked_at, Some(wall(180)));
    let bob = &report.accounts[1];
    assert_eq!(bob.cells[0].reached_at, Some(wall(0)));
    assert_eq!(bob.cells[1].reached_at, Some(wall(60)));
    assert_eq!(bob.checked_at, Some(wall(60)));
}

#[tokio::test]
async fn asking_starts_a_full_round_at_once() {
    let fake = FakeClock::new();
    let clock = WallClock::new(fake.clone(), wall(0));
    let mut w = watch(2, clock.now());
    let checker = Scripted {
        clock: clock.clone(),
        script: |i, _, at| row(i + 1, [P, P], at),
        calls: Mutex::default(),
        stall: None,
    };
    let stop = CancellationToken::new();
    let (tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    tx.send(()).unwrap();
    let stopper = stop.clone();
    run(&mut w, &checker, &clock, &stop, &mut asked, &mut |end, _| {
        if end.number == 2 {
            stopper.cancel();
        }
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(*checker.calls.lock().unwrap(), [vec![0, 1], vec![0, 1]]);
    assert!(fake.sleeps().is_empty(), "{:?}", fake.sleeps());
}

#[tokio::test]
async fn stopping_mid_round_keeps_the_rows_already_checked() {
    let fake = FakeClock::new();
    let clock = WallClock::new(fake.clone(), wall(0));
    let mut w = watch(3, clock.now());
    let stop = CancellationToken::new();
    let checker = Scripted {
        clock: clock.clone(),
        script: |i, _, at| row(i + 1, [P, F], at),
        calls: Mutex::default(),
        stall: Some((2, 1, stop.clone())),
    };
    let (_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let mut ends = Vec::new();
    let mut last = None;
    run(&mut w, &checker, &clock, &stop, &mut asked, &mut |end, report| {
        ends.push(end.clone());
        last = Some(report.clone());
        Ok(())
    })
    .await
    .unwrap();
    assert_eq!(ends.len(), 2);
    assert_eq!((ends[1].due, ends[1].checked, ends[1].next), (3, 1, None));
    let report = last.unwrap();
    assert_eq!(report.accounts.len(), 3);
    assert_eq!(report.accounts[0].checked_at, Some(wall(30)));
    assert_eq!(report.accounts[1].checked_at, Some(wall(0)));
}

#[tokio::test]
async fn an_error_from_the_round_callback_ends_the_watch() {
    let fake = FakeClock::new();
    let clock = WallClock::new(fake, wall(0));
    let mut w = watch(1, clock.now());
    let checker = Scripted {
        clock: clock.clone(),
        script: |i, _, at| row(i + 1, [P, F], at),
        calls: Mutex::default(),
        stall: None,
    };
    let (_tx, mut asked) = tokio::sync::mpsc::unbounded_channel();
    let got = run(&mut w, &checker, &clock, &CancellationToken::new(), &mut asked, &mut |_, _| {
        Err(Error::usage("disk full", "free some space"))
    })
    .await;
    assert!(matches!(got, Err(Error::Usage { .. })));
    assert_eq!(checker.calls.lock().unwrap().len(), 1);
}
