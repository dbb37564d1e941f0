//! A value read from a remote source in the background and kept: the first read starts at
//! once (during init), requests use the last good copy, and a read again is started when the
//! copy is older than the refresh interval. Until the first read succeeds it is retried every
//! second; later failures keep the last good copy.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::SecretsError;

/// How long a request waits for the first read before it answers 503.
pub const FIRST_READ_WAIT: Duration = Duration::from_secs(5);
/// Pause between attempts while the first read keeps failing.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// One read of the source.
pub type Read<T> = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<T, String>> + Send>> + Send + Sync>;

/// The kept value and its background reads.
pub struct Refreshing<T> {
    /// Names the value in logs (never its content).
    what: &'static str,
    read: Read<T>,
    refresh: Duration,
    current: watch::Sender<Option<Arc<T>>>,
    read_at: Mutex<Option<Instant>>,
    reading: AtomicBool,
}

impl<T: Send + Sync + 'static> Refreshing<T> {
    /// Starts the first read now, in the background (call from within a Tokio runtime).
    pub fn start(what: &'static str, refresh: Duration, read: Read<T>) -> Arc<Self> {
        let (current, _) = watch::channel(None);
        let value =
            Arc::new(Self { what, read, refresh, current, read_at: Mutex::new(None), reading: AtomicBool::new(false) });
        value.start_reading();
        value
    }

    /// The value: at once when it has been read (starting a background read when it is due),
    /// else after waiting up to [`FIRST_READ_WAIT`] for the first read.
    pub async fn get(self: &Arc<Self>) -> Result<Arc<T>, SecretsError> {
        if let Some(value) = self.current.borrow().clone() {
            if self.refresh_due() {
                self.start_reading();
            }
            return Ok(value);
        }
        let mut receiver = self.current.subscribe();
        let waited = tokio::time::timeout(FIRST_READ_WAIT, receiver.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(value)) => value.clone().ok_or(SecretsError::Unavailable),
            _ => Err(SecretsError::Unavailable),
        }
    }

    /// Whether the kept copy is older than the refresh interval (or missing).
    pub fn refresh_due(&self) -> bool {
        let read_at = self.read_at.lock().map(|guard| *guard).unwrap_or(None);
        read_at.is_none_or(|at| at.elapsed() >= self.refresh)
    }

    fn mark_read(&self) {
        if let Ok(mut at) = self.read_at.lock() {
            *at = Some(Instant::now());
        }
    }

    /// Starts one background read, unless one is running.
    fn start_reading(self: &Arc<Self>) {
        if self.reading.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match (this.read)().await {
                    Ok(value) => {
                        this.current.send_replace(Some(Arc::new(value)));
                        this.mark_read();
                        break;
                    }
                    Err(reason) => {
                        tracing::warn!(%reason, what = this.what, "could not read a runtime secret");
                        if this.current.borrow().is_some() {
                            // Keep the last good copy; try again at the next refresh.
                            this.mark_read();
                            break;
                        }
                        tokio::time::sleep(RETRY_PAUSE).await;
                    }
                }
            }
            this.reading.store(false, Ordering::Release);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    fn counting(reads: Arc<AtomicUsize>, fail_first: usize) -> Read<usize> {
        Arc::new(move || {
            let reads = reads.clone();
            Box::pin(async move {
                let n = reads.fetch_add(1, Ordering::SeqCst) + 1;
                if n <= fail_first {
                    Err(format!("read {n} failed"))
                } else {
                    Ok(n)
                }
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_read_is_retried_and_later_reads_happen_only_when_due() {
        let reads = Arc::new(AtomicUsize::new(0));
        let value = Refreshing::start("test", Duration::from_secs(60), counting(reads.clone(), 2));
        assert_eq!(*value.get().await.unwrap(), 3, "two failures, then the third read");
        assert_eq!(*value.get().await.unwrap(), 3);
        assert!(!value.refresh_due());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(value.refresh_due());
        assert_eq!(*value.get().await.unwrap(), 3, "the due read runs in the background");
        tokio::task::yield_now().await;
        assert_eq!(*value.get().await.unwrap(), 4);
        assert_eq!(reads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn a_source_that_never_answers_gives_unavailable_after_the_wait() {
        let reads = Arc::new(AtomicUsize::new(0));
        let value = Refreshing::start("test", Duration::from_secs(60), counting(reads, usize::MAX));
        assert!(matches!(value.get().await, Err(SecretsError::Unavailable)));
    }
}
