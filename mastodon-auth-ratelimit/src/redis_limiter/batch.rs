//! Group commit: the callers of one process that want a slot on the same key at the same time
//! share one script call.
//!
//! While a call for a key is in flight, further callers for that key queue. When it returns,
//! the first of them leads the next call, for itself and everyone queued by then, and hands
//! each its own outcome. A process so makes at most one call per key at a time, and under
//! load far fewer calls than requests, while every request still gets its own slot from
//! Redis: nothing is reserved ahead of a request, so no slot sits idle in one process that
//! another could have used.
//!
//! Callers may give up at any point (their future dropped): a follower that is gone loses its
//! outcome (a slot left unused, never one spent twice), and a leader that is gone puts its
//! followers back at the head of the queue and passes the lead on.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mastodon_auth_core::RateLimitKey;
use tokio::sync::oneshot;

type Waiter<T> = oneshot::Sender<Turn<T>>;

/// Per key, the callers waiting for the call in flight. A key is present exactly while some
/// caller holds (or is being handed) its [`Baton`].
type Queues<T> = Mutex<HashMap<RateLimitKey, VecDeque<Waiter<T>>>>;

fn lock<T>(queues: &Queues<T>) -> MutexGuard<'_, HashMap<RateLimitKey, VecDeque<Waiter<T>>>> {
    // Nothing panics while holding the lock; recover the map rather than propagate.
    queues.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The queues of one limiter, for every key.
pub(super) struct GroupCommit<T> {
    queues: Arc<Queues<T>>,
}

/// What a waiting caller is sent.
enum Turn<T> {
    /// Its outcome, from a call another caller made.
    Served(T),
    /// The lead of the next call.
    Lead(Baton<T>),
}

/// How a caller's turn came.
pub(super) enum Joined<T> {
    /// Another caller's call brought this caller's outcome.
    Served(T),
    /// This caller makes the next call, for the whole batch.
    Lead(Batch<T>),
}

impl<T> GroupCommit<T> {
    pub(super) fn new() -> Self {
        Self {
            queues: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits for this caller's turn on `key`: its outcome, or the lead of a batch.
    pub(super) async fn join(&self, key: RateLimitKey) -> Joined<T> {
        loop {
            let waiting = match lock(&self.queues).entry(key) {
                Entry::Vacant(idle) => {
                    idle.insert(VecDeque::new());
                    None
                }
                Entry::Occupied(mut busy) => {
                    let (sender, receiver) = oneshot::channel();
                    busy.get_mut().push_back(sender);
                    Some(receiver)
                }
            };
            let baton = match waiting {
                None => Baton {
                    queues: self.queues.clone(),
                    key,
                    live: true,
                },
                Some(receiver) => match receiver.await {
                    Ok(Turn::Served(outcome)) => return Joined::Served(outcome),
                    Ok(Turn::Lead(baton)) => baton,
                    // Dropped unanswered, which neither a batch nor a baton does (they put
                    // their waiters back): queue again rather than guess.
                    Err(_) => continue,
                },
            };
            return Joined::Lead(Batch::gather(baton));
        }
    }
}

/// A call to make for a leader and the followers queued behind it, in order of arrival.
pub(super) struct Batch<T> {
    followers: Vec<Waiter<T>>,
    /// Dropped after the batch (fields drop after [`Drop::drop`]), so the lead passes on only
    /// once unserved followers are back in the queue.
    baton: Baton<T>,
}

impl<T> Batch<T> {
    /// Takes everyone queued on the baton's key.
    fn gather(baton: Baton<T>) -> Self {
        let followers = lock(&baton.queues)
            .get_mut(&baton.key)
            .map(|queue| queue.drain(..).collect())
            .unwrap_or_default();
        Self { followers, baton }
    }

    /// How many callers this batch serves: the leader and its followers.
    pub(super) fn len(&self) -> NonZeroUsize {
        NonZeroUsize::MIN.saturating_add(self.followers.len())
    }

    /// Hands out `outcomes` in order of arrival, the leader's first, and returns the
    /// leader's. Callers left without one (`outcomes` ran short) queue again for the next
    /// call, the leader too (`None`). The lead passes on to the next caller queued.
    pub(super) fn finish(mut self, outcomes: impl IntoIterator<Item = T>) -> Option<T> {
        let mut outcomes = outcomes.into_iter();
        let mine = outcomes.next();
        let mut followers = std::mem::take(&mut self.followers).into_iter();
        for outcome in outcomes {
            let Some(follower) = followers.next() else {
                break;
            };
            // A follower that gave up loses its outcome: one slot unused.
            let _ = follower.send(Turn::Served(outcome));
        }
        self.followers = followers.collect();
        mine
    }
}

impl<T> Drop for Batch<T> {
    fn drop(&mut self) {
        // Unserved (the leader gave up, or the outcomes ran short): back to the head of the
        // queue, in their order, for the next leader.
        if self.followers.is_empty() {
            return;
        }
        if let Some(queue) = lock(&self.baton.queues).get_mut(&self.baton.key) {
            for follower in self.followers.drain(..).rev() {
                queue.push_front(follower);
            }
        }
    }
}

/// The right to make the next call for a key. Dropped, it passes to the first caller still
/// waiting, or closes the key's queue when nobody waits.
struct Baton<T> {
    queues: Arc<Queues<T>>,
    key: RateLimitKey,
    /// `false` once passed on, so that dropping it does nothing.
    live: bool,
}

impl<T> Drop for Baton<T> {
    fn drop(&mut self) {
        if !self.live {
            return;
        }
        loop {
            let next = {
                let mut queues = lock(&self.queues);
                let Some(queue) = queues.get_mut(&self.key) else {
                    return;
                };
                let Some(next) = queue.pop_front() else {
                    queues.remove(&self.key);
                    return;
                };
                next
            };
            // Sent without the lock held: the baton that comes back from a caller that gave
            // up is dead, so dropping it takes no lock.
            let baton = Baton {
                queues: self.queues.clone(),
                key: self.key,
                live: true,
            };
            match next.send(Turn::Lead(baton)) {
                Err(Turn::Lead(mut returned)) => returned.live = false,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    use super::*;

    const KEY: RateLimitKey = RateLimitKey::ANONYMOUS;

    /// Polls `future` once: `Some` when it is done.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
        match future.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(output) => Some(output),
            Poll::Pending => None,
        }
    }

    fn lead<T>(joined: Option<Joined<T>>) -> Batch<T> {
        match joined {
            Some(Joined::Lead(batch)) => batch,
            Some(Joined::Served(_)) => panic!("served, not leading"),
            None => panic!("still waiting"),
        }
    }

    fn served<T>(joined: Option<Joined<T>>) -> T {
        match joined {
            Some(Joined::Served(outcome)) => outcome,
            Some(Joined::Lead(_)) => panic!("leading, not served"),
            None => panic!("still waiting"),
        }
    }

    fn idle<T>(group: &GroupCommit<T>) -> bool {
        lock(&group.queues).is_empty()
    }

    #[test]
    fn callers_during_a_call_share_the_next_one_and_get_their_own_outcomes() {
        let group = GroupCommit::<u32>::new();
        let first = lead(poll_once(pin!(group.join(KEY))));
        assert_eq!(first.len().get(), 1);
        // Three callers arrive while the first call is in flight.
        let mut a = pin!(group.join(KEY));
        let mut b = pin!(group.join(KEY));
        let mut c = pin!(group.join(KEY));
        assert!(poll_once(a.as_mut()).is_none());
        assert!(poll_once(b.as_mut()).is_none());
        assert!(poll_once(c.as_mut()).is_none());
        // Another key is not held up.
        let other = RateLimitKey::for_token(&mastodon_auth_core::AccessToken::new("t"));
        drop(lead(poll_once(pin!(group.join(other)))));

        assert_eq!(first.finish([10]), Some(10));
        // The first to arrive leads the next call, for all three.
        let second = lead(poll_once(a.as_mut()));
        assert_eq!(second.len().get(), 3);
        assert!(poll_once(b.as_mut()).is_none());
        assert_eq!(second.finish([20, 21, 22]), Some(20));
        assert_eq!(served(poll_once(b.as_mut())), 21);
        assert_eq!(served(poll_once(c.as_mut())), 22);
        assert!(idle(&group));
    }

    #[test]
    fn a_leader_that_gives_up_hands_its_followers_on() {
        let group = GroupCommit::<u32>::new();
        let first = lead(poll_once(pin!(group.join(KEY))));
        let mut a = pin!(group.join(KEY));
        let mut b = pin!(group.join(KEY));
        assert!(poll_once(a.as_mut()).is_none() && poll_once(b.as_mut()).is_none());
        assert_eq!(first.finish([1]), Some(1));
        let second = lead(poll_once(a.as_mut()));
        assert_eq!(second.len().get(), 2);
        // A newcomer while the second call is in flight.
        let mut c = pin!(group.join(KEY));
        assert!(poll_once(c.as_mut()).is_none());
        // The leader's future is dropped mid-call: b goes back ahead of c and leads both.
        drop(second);
        let third = lead(poll_once(b.as_mut()));
        assert_eq!(third.len().get(), 2);
        assert_eq!(third.finish([30, 31]), Some(30));
        assert_eq!(served(poll_once(c.as_mut())), 31);
        assert!(idle(&group));
    }

    #[test]
    fn callers_that_give_up_lose_their_turn_and_nothing_else() {
        let group = GroupCommit::<u32>::new();
        let first = lead(poll_once(pin!(group.join(KEY))));
        let mut a = Box::pin(group.join(KEY));
        let mut b = pin!(group.join(KEY));
        let mut c = Box::pin(group.join(KEY));
        let mut d = pin!(group.join(KEY));
        assert!(poll_once(a.as_mut()).is_none() && poll_once(b.as_mut()).is_none());
        assert!(poll_once(c.as_mut()).is_none() && poll_once(d.as_mut()).is_none());
        // a, next in line for the lead, gives up: the lead skips to b.
        drop(a);
        assert_eq!(first.finish([1]), Some(1));
        let second = lead(poll_once(b.as_mut()));
        assert_eq!(second.len().get(), 3);
        // c gives up while the call is in flight: its outcome goes nowhere, d gets its own.
        drop(c);
        assert_eq!(second.finish([20, 21, 22]), Some(20));
        assert_eq!(served(poll_once(d.as_mut())), 22);
        assert!(idle(&group));
    }

    #[test]
    fn a_lead_handed_to_a_caller_that_gives_up_before_taking_it_passes_on() {
        let group = GroupCommit::<u32>::new();
        let first = lead(poll_once(pin!(group.join(KEY))));
        let mut a = Box::pin(group.join(KEY));
        let mut b = pin!(group.join(KEY));
        assert!(poll_once(a.as_mut()).is_none() && poll_once(b.as_mut()).is_none());
        assert_eq!(first.finish([1]), Some(1));
        // The lead is on its way to a, which is dropped before it looks.
        drop(a);
        let second = lead(poll_once(b.as_mut()));
        assert_eq!(second.len().get(), 1);
        drop(second);
        assert!(idle(&group));
    }

    #[test]
    fn callers_left_without_an_outcome_queue_again() {
        let group = GroupCommit::<u32>::new();
        let first = lead(poll_once(pin!(group.join(KEY))));
        let mut a = pin!(group.join(KEY));
        let mut b = pin!(group.join(KEY));
        assert!(poll_once(a.as_mut()).is_none() && poll_once(b.as_mut()).is_none());
        assert_eq!(first.finish([1]), Some(1));
        let second = lead(poll_once(a.as_mut()));
        // One outcome for two callers: the leader's; b waits for the next call.
        assert_eq!(second.finish([5]), Some(5));
        let third = lead(poll_once(b.as_mut()));
        // No outcome at all: not even the leader's.
        assert_eq!(third.finish([]), None);
        assert!(idle(&group));
    }
}
