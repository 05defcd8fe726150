//! Whether Redis is answering, and when to ask it again after it did not.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Unreachable;

/// Redis's health as the limiter last saw it. Going down and coming back are each logged
/// once, not on every request in between.
#[derive(Debug)]
pub(super) struct Health {
    retry_after: Duration,
    down: Mutex<Option<Down>>,
}

#[derive(Debug)]
struct Down {
    retry_at: Instant,
    reason: String,
}

impl Health {
    pub(super) fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            down: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Down>> {
        self.down.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Up, or down long enough to try again.
    pub(super) fn should_try(&self) -> bool {
        self.lock()
            .as_ref()
            .is_none_or(|d| Instant::now() >= d.retry_at)
    }

    pub(super) fn is_down(&self) -> bool {
        self.lock().is_some()
    }

    /// Why Redis was last found unreachable.
    pub(super) fn last_error(&self) -> String {
        self.lock()
            .as_ref()
            .map_or_else(|| "unreachable".to_owned(), |d| d.reason.clone())
    }

    pub(super) fn up(&self, address: &str) {
        if self.lock().take().is_some() {
            tracing::info!(
                address,
                "Redis answers again: the rate budget is shared again"
            );
        }
    }

    pub(super) fn down(&self, address: &str, reason: &str, policy: Unreachable) {
        let was_up = self
            .lock()
            .replace(Down {
                retry_at: Instant::now() + self.retry_after,
                reason: reason.to_owned(),
            })
            .is_none();
        if was_up {
            let meanwhile = match policy {
                Unreachable::PaceLocally => "pacing with a local limiter",
                Unreachable::Fail => "failing rate-limited requests",
            };
            tracing::warn!(
                address,
                error = reason,
                "Redis is unreachable: {meanwhile} until it answers again"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_waits_for_the_retry_time_and_up_clears_it() {
        let health = Health::new(Duration::from_secs(3600));
        assert!(health.should_try() && !health.is_down());
        health.down(
            "127.0.0.1:6379",
            "Connection refused",
            Unreachable::PaceLocally,
        );
        assert!(health.is_down() && !health.should_try());
        assert_eq!(health.last_error(), "Connection refused");
        health.up("127.0.0.1:6379");
        assert!(health.should_try() && !health.is_down());

        let eager = Health::new(Duration::ZERO);
        eager.down("127.0.0.1:6379", "timeout", Unreachable::Fail);
        assert!(
            eager.is_down() && eager.should_try(),
            "due for another try at once"
        );
    }
}
