//! A CI cancel: the runner sends SIGTERM (a person at a terminal, SIGINT). The work in flight is
//! dropped — which removes every temporary directory it owns (build secrets, push spools, the
//! SSH agent's socket) and kills the children it started — then the clean-ups registered with
//! [`on_cancel`] run (temporary image tags, open multipart uploads, partial files), within a
//! bound, and the process exits with the conventional code (128 + the signal).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tracing::{info, warn};

/// How long the clean-ups may take together: a runner kills the step a few seconds after its
/// SIGTERM (Docker's default grace is 10 s).
const CLEANUP_BOUND: Duration = Duration::from_secs(8);

type CleanupFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Cleanup = Box<dyn FnOnce() -> CleanupFuture + Send>;

static CLEANUPS: Mutex<Vec<(u64, Cleanup)>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(0);
/// Set once a signal arrived: from then on a dropped [`Deferred`] leaves its clean-up to run.
static CANCELLING: AtomicBool = AtomicBool::new(false);

/// The signal that ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled by {name}: stopped and cleaned up")]
pub struct Cancelled {
    /// `SIGTERM` or `SIGINT`.
    pub name: &'static str,
    /// Its number, for the exit code 128 + number.
    pub number: i32,
}

/// A clean-up that runs if the step is cancelled while this is alive. Dropping it (the work it
/// guards finished or cleaned up itself) withdraws it — except while a cancel is under way,
/// when the drop is the cancel's own and the clean-up must still run.
pub struct Deferred(u64);

impl Drop for Deferred {
    fn drop(&mut self) {
        if CANCELLING.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut list) = CLEANUPS.lock() {
            list.retain(|(id, _)| *id != self.0);
        }
    }
}

/// Registers `cleanup` to run if the step is cancelled before the returned guard is dropped.
pub fn on_cancel<F, Fut>(cleanup: F) -> Deferred
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let id = NEXT_ID.fetch_add(1, Ordering::SeqCst);
    let boxed: Cleanup = Box::new(move || Box::pin(cleanup()));
    if let Ok(mut list) = CLEANUPS.lock() {
        list.push((id, boxed));
    }
    Deferred(id)
}

/// Runs `work` until it ends or SIGTERM / SIGINT arrives; on a signal, drops the work, runs the
/// registered clean-ups and answers [`Cancelled`].
pub async fn until_cancelled<T, E>(work: impl Future<Output = Result<T, E>>) -> Result<T, E>
where
    E: From<Cancelled>,
{
    // Boxed, so that dropping it below really drops the work (a stack pin would only drop the
    // reference, and the work's temporary files would outlive the clean-ups).
    let mut work = Box::pin(work);
    let signal = tokio::select! {
        result = &mut work => return result,
        signal = signal() => signal,
    };
    CANCELLING.store(true, Ordering::SeqCst);
    warn!("{}: stopping", signal.name);
    // The work's own state goes first: temporary directories, children, open files.
    drop(work);
    run_cleanups().await;
    Err(signal.into())
}

async fn run_cleanups() {
    let cleanups: Vec<Cleanup> = match CLEANUPS.lock() {
        Ok(mut list) => list.drain(..).map(|(_, c)| c).collect(),
        Err(_) => return,
    };
    if cleanups.is_empty() {
        return;
    }
    let all = futures_join(cleanups.into_iter().map(|c| c()).collect());
    match tokio::time::timeout(CLEANUP_BOUND, all).await {
        Ok(()) => info!("cancel: cleaned up"),
        Err(_) => warn!(
            "cancel: clean-up did not finish within {}s",
            CLEANUP_BOUND.as_secs()
        ),
    }
}

/// Runs the clean-ups side by side (each is a request or two).
async fn futures_join(futures: Vec<CleanupFuture>) {
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

/// The first of SIGTERM and SIGINT. Without a way to listen (no signal driver), never.
async fn signal() -> Cancelled {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => Cancelled { name: "SIGTERM", number: 15 },
        _ = int.recv() => Cancelled { name: "SIGINT", number: 2 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_withdrawn_cleanup_does_not_run_and_work_that_ends_is_untouched() {
        let guard = on_cancel(|| async {});
        drop(guard);
        assert!(CLEANUPS.lock().unwrap().is_empty());
        let r: Result<u8, Cancelled> = until_cancelled(async { Ok(7) }).await;
        assert_eq!(r, Ok(7));
    }
}
