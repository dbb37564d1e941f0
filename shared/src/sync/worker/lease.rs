//! Keeping a run's lease while a phase runs: a phase of a large tenant can outlast the
//! 15-minute lease, so the lease is renewed when the phase starts and every
//! [`RENEW_EVERY`] while it runs; a run that lost its lease stops.

use std::future::Future;
use std::time::Duration;

use super::WorkerError;
use crate::store::{Store, StoreError};
use crate::sync::record;

/// How often a running phase renews its run's lease (a fifteenth of the lease).
pub const RENEW_EVERY: Duration = Duration::from_millis((record::LEASE_MS / 15) as u64);

/// Runs `work` for the run `sync_id` while it holds the tenant's lease: renews the lease
/// first (`RunSuperseded` if the run no longer holds it), then every [`RENEW_EVERY`] until
/// `work` ends. `work` is dropped, and `RunSuperseded` returned, as soon as a renewal finds
/// the lease taken; a renewal the store fails is logged and tried again at the next tick (the
/// lease still has most of its time).
pub async fn with_renewal<T>(
    store: &Store,
    tenant_id: &str,
    sync_id: &str,
    work: impl Future<Output = T>,
) -> Result<T, WorkerError> {
    let superseded = || WorkerError::RunSuperseded { tenant_id: tenant_id.to_owned(), sync_id: sync_id.to_owned() };
    if !record::renew(store, tenant_id, sync_id).await? {
        return Err(superseded());
    }
    renewing(|| record::renew(store, tenant_id, sync_id), work, RENEW_EVERY).await.ok_or_else(superseded)
}

/// `work`'s output, or `None` when `renew` said the lease is gone; `renew` runs every `every`.
async fn renewing<T, R, RF>(mut renew: R, work: impl Future<Output = T>, every: Duration) -> Option<T>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, StoreError>>,
{
    // On the heap: a phase's future is large, and the task's stack is not.
    let mut work = Box::pin(work);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            output = &mut work => return Some(output),
            _ = ticks.tick() => match renew().await {
                Ok(true) => {}
                Ok(false) => return None,
                Err(error) => tracing::warn!(%error, "a lease renewal failed; trying again at the next tick"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    const EVERY: Duration = Duration::from_secs(60);

    #[tokio::test(start_paused = true)]
    async fn a_long_phase_renews_its_lease_every_tick_until_it_ends() {
        let renewals = AtomicUsize::new(0);
        let renew = || async {
            renewals.fetch_add(1, Ordering::SeqCst);
            Ok(true)
        };
        let work = async {
            tokio::time::sleep(EVERY * 5 + EVERY / 2).await;
            "done"
        };
        assert_eq!(renewing(renew, work, EVERY).await, Some("done"));
        assert_eq!(renewals.load(Ordering::SeqCst), 5, "one renewal per elapsed minute");
    }

    #[tokio::test(start_paused = true)]
    async fn a_phase_that_lost_its_lease_stops_at_the_next_renewal() {
        let renewals = AtomicUsize::new(0);
        let renew = || async { Ok(renewals.fetch_add(1, Ordering::SeqCst) < 2) };
        let finished = AtomicUsize::new(0);
        let work = async {
            tokio::time::sleep(EVERY * 10).await;
            finished.fetch_add(1, Ordering::SeqCst);
        };
        let started = tokio::time::Instant::now();
        assert_eq!(renewing(renew, work, EVERY).await, None);
        assert_eq!(finished.load(Ordering::SeqCst), 0, "the phase was dropped");
        assert_eq!(started.elapsed(), EVERY * 3, "stopped at the third renewal, the first refused");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_renewal_does_not_stop_the_phase() {
        let renewals = AtomicUsize::new(0);
        let renew = || async {
            match renewals.fetch_add(1, Ordering::SeqCst) {
                0 => Err(StoreError::Unavailable("throttled".into())),
                _ => Ok(true),
            }
        };
        let work = tokio::time::sleep(EVERY * 2 + EVERY / 2);
        assert_eq!(renewing(renew, work, EVERY).await, Some(()));
        assert_eq!(renewals.load(Ordering::SeqCst), 2);
    }
}
