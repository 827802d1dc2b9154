//! Bounded concurrency, written once: cleanup's waves, the checks of a step or of `verify`,
//! and instructor validation all run their AWS calls through these functions, on the
//! current task (the work is waiting on the network, not computing); reading and parsing labs,
//! which computes, runs on a few threads through [`map_on_threads`].

use std::future::Future;

use futures_util::stream::{self, Stream, StreamExt};

/// Runs `futures` at most `limit` at a time (at least one), yielding each output as it
/// completes; a future is started only when a slot frees up.
pub fn bounded<'a, F>(
    futures: impl IntoIterator<Item = F, IntoIter: 'a>,
    limit: usize,
) -> impl Stream<Item = F::Output> + 'a
where
    F: Future + 'a,
{
    stream::iter(futures).buffer_unordered(limit.max(1))
}

/// As [`bounded`], but each future runs as its own task, so work that also computes (signing
/// and parsing for a thousand accounts) spreads over the runtime's threads. A task is spawned
/// only when a slot frees up; a task that panicked yields its `JoinError`.
pub fn bounded_spawned<'a, F>(
    futures: impl IntoIterator<Item = F, IntoIter: 'a>,
    limit: usize,
) -> impl Stream<Item = Result<F::Output, tokio::task::JoinError>> + 'a
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    bounded(futures.into_iter().map(tokio::spawn), limit)
}

/// Runs `futures` all at once on the current task; their outputs in input order.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}

/// `f` applied to every item on at most as many threads as there are CPUs (one thread per
/// item would spend more on starting threads and their allocator arenas than a short parse
/// takes); the results in the items' order. A panic in `f` is passed on as it is.
pub fn map_on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        threads.into_iter().flat_map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn never_more_than_the_limit_at_once_and_every_output_comes_back() {
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let work = (0..20u64).map(|i| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1 + i % 3)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let mut got: Vec<u64> = bounded(work, 4).collect().await;
        got.sort_unstable();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn threads_map_every_item_in_order_on_few_threads() {
        let threads = std::sync::Mutex::new(std::collections::BTreeSet::new());
        let items: Vec<u32> = (0..100).collect();
        let got = map_on_threads(&items, |i| {
            threads.lock().unwrap().insert(format!("{:?}", std::thread::current().id()));
            i * 2
        });
        assert_eq!(got, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert!(threads.lock().unwrap().len() <= cpus);
        assert_eq!(map_on_threads(&Vec::<u32>::new(), |i| *i), Vec::<u32>::new());
    }

    #[tokio::test]
    async fn a_limit_of_zero_still_runs_one_at_a_time() {
        let got: Vec<u32> = bounded((0..3).map(|i| async move { i }), 0).collect().await;
        assert_eq!(got, [0, 1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn spawned_tasks_start_only_when_a_slot_frees_up() {
        let running = std::sync::Arc::new(AtomicUsize::new(0));
        let peak = std::sync::Arc::new(AtomicUsize::new(0));
        let work = (0..12u64).map(|i| {
            let (running, peak) = (running.clone(), peak.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                i
            }
        });
        let mut got: Vec<u64> = bounded_spawned(work, 3).map(|r| r.unwrap()).collect().await;
        got.sort_unstable();
        assert_eq!(got, (0..12).collect::<Vec<_>>());
        assert_eq!(peak.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn join_all_keeps_the_input_order() {
        let work = [30u64, 1, 10].map(|ms| async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            ms
        });
        assert_eq!(join_all(work).await, [30, 1, 10]);
    }
}
