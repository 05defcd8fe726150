//! Slots taken ahead: quota slots a process took from Redis for requests it expects before its
//! next call, handed out locally without a round trip.
//!
//! Under load one script call per batch of concurrent callers is still one Redis round trip
//! (and a wake-up of redis-server) on the path of every batch. When a call had callers waiting
//! behind it, more are likely to come before the next one, so the script is asked for a few
//! slots more (see `step.lua`: only while the budget is far from its end). They are spent in
//! Redis when taken, so the shared quota holds whether or not they are used; a slot left
//! unused when it expires is lost to the budget. The expiry also bounds how long a process
//! goes on without hearing what the others have learnt.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mastodon_auth_core::RateLimitKey;

/// How long slots taken ahead may be used: long enough for a busy process to use them, short
/// enough that news from the other processes (a 429, an exhausted window) is never far behind.
pub(super) const VALID_FOR: Duration = Duration::from_millis(250);

/// Slots asked for ahead per caller that waited behind the previous call.
pub(super) const PER_WAITER: u32 = 4;

/// The slots taken ahead, per key.
#[derive(Debug, Default)]
pub(super) struct Stock {
    keys: Mutex<HashMap<RateLimitKey, Ahead>>,
}

#[derive(Debug, Clone, Copy)]
struct Ahead {
    left: u32,
    until: Instant,
}

impl Stock {
    fn keys(&self) -> MutexGuard<'_, HashMap<RateLimitKey, Ahead>> {
        // Nothing panics while holding the lock; recover the map rather than propagate.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes up to `wanted` unexpired slots for `key`; returns how many it took.
    pub(super) fn take(&self, key: RateLimitKey, wanted: usize) -> usize {
        let mut keys = self.keys();
        let Some(ahead) = keys.get_mut(&key) else {
            return 0;
        };
        if ahead.until <= Instant::now() {
            keys.remove(&key);
            return 0;
        }
        let taken = ahead.left.min(u32::try_from(wanted).unwrap_or(u32::MAX));
        ahead.left -= taken;
        if ahead.left == 0 {
            keys.remove(&key);
        }
        taken as usize
    }

    /// Adds `slots` taken ahead for `key` just now. Slots still in stock stay usable as long as
    /// the new ones: the call that brought these found the budget far from its end.
    pub(super) fn add(&self, key: RateLimitKey, slots: u32) {
        if slots == 0 {
            return;
        }
        let until = Instant::now() + VALID_FOR;
        self.keys()
            .entry(key)
            .and_modify(|ahead| {
                ahead.left = ahead.left.saturating_add(slots);
                ahead.until = until;
            })
            .or_insert(Ahead { left: slots, until });
    }

    /// Drops `key`'s slots: the server said its budget is nearly or wholly spent, so the next
    /// request asks Redis (carrying that news) instead.
    pub(super) fn clear(&self, key: RateLimitKey) {
        self.keys().remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use mastodon_auth_core::AccessToken;

    use super::*;

    #[test]
    fn slots_are_handed_out_once_and_only_for_their_key() {
        let stock = Stock::default();
        let key = RateLimitKey::ANONYMOUS;
        let other = RateLimitKey::for_token(&AccessToken::new("t"));
        stock.add(key, 3);
        assert_eq!(stock.take(other, 5), 0);
        assert_eq!(stock.take(key, 2), 2);
        assert_eq!(stock.take(key, 2), 1);
        assert_eq!(stock.take(key, 1), 0);
        stock.add(key, 0);
        assert_eq!(stock.take(key, 1), 0);
    }

    #[test]
    fn cleared_slots_are_gone() {
        let stock = Stock::default();
        let key = RateLimitKey::ANONYMOUS;
        stock.add(key, 8);
        stock.clear(key);
        assert_eq!(stock.take(key, 1), 0);
    }

    #[test]
    fn expired_slots_are_not_handed_out() {
        let stock = Stock::default();
        let key = RateLimitKey::ANONYMOUS;
        stock.add(key, 8);
        stock.keys().get_mut(&key).expect("in stock").until = Instant::now();
        assert_eq!(stock.take(key, 1), 0);
        assert!(stock.keys().is_empty(), "expired slots are dropped");
    }
}
