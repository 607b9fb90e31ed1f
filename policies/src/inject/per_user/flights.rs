//! Single flight per user and backend: while one request (the leader) asks
//! Vault for a user's credential, later requests of the same user and
//! backend wait for its outcome instead of logging in and reading again.
//!
//! Nothing waits forever: a flight has a deadline (its calls' timeouts),
//! a leader that goes away hands its waiters back, and the number of
//! waiters per flight is bounded.

use crate::env::Now;
use crate::vec_map::VecMap;

/// The caller's id of a paused request (the filter uses its HTTP context id).
pub type RequestId = u32;

/// Backend index and user key.
pub(super) type FlightKey = (usize, String);

#[derive(Clone, Debug)]
struct Flight {
    leader: RequestId,
    waiters: Vec<RequestId>,
    /// After this the leader's answer is overdue: its waiters are released.
    deadline: Now,
}

/// How a request joins the flights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Joined {
    /// No call in flight for this key: the request makes it.
    Lead,
    /// Another request's call is in flight: wait for its outcome.
    Wait,
    /// The flight already has its maximum of waiters.
    Full,
}

/// In-flight per-user Vault work of one VM. `Debug` shows user keys only.
#[derive(Clone, Debug)]
pub(super) struct Flights {
    by_key: VecMap<FlightKey, Flight>,
    max_waiting: usize,
}

impl Flights {
    pub(super) fn new(max_waiting: usize) -> Self {
        Self {
            by_key: VecMap::new(),
            max_waiting,
        }
    }

    /// Whether any flight's answer is still expected at `now`.
    pub(super) fn any_flying(&self, now: Now) -> bool {
        self.by_key.values().any(|f| now < f.deadline)
    }

    /// Whether `key` has a flight whose answer is not overdue at `now`.
    pub(super) fn is_flying(&self, key: &FlightKey, now: Now) -> bool {
        self.by_key.get(key).is_some_and(|f| now < f.deadline)
    }

    /// Joins `id` to the flight of `key`, or opens one led by `id` that
    /// must land by `deadline`. An overdue flight is taken over: its
    /// waiters wait for the new leader's outcome.
    pub(super) fn join(
        &mut self,
        key: &FlightKey,
        id: RequestId,
        now: Now,
        deadline: Now,
    ) -> Joined {
        match self.by_key.get_mut(key) {
            Some(f) if now < f.deadline => {
                if f.waiters.len() >= self.max_waiting {
                    Joined::Full
                } else {
                    f.waiters.push(id);
                    Joined::Wait
                }
            }
            Some(f) => {
                f.leader = id;
                f.deadline = deadline;
                Joined::Lead
            }
            None => {
                self.by_key.insert(
                    key.clone(),
                    Flight {
                        leader: id,
                        waiters: Vec::new(),
                        deadline,
                    },
                );
                Joined::Lead
            }
        }
    }

    /// The leader `id` has its outcome: the flight ends and its waiters are
    /// returned to get the same outcome. Nothing when `id` no longer leads
    /// the flight of `key` (it was overdue and taken over or released).
    pub(super) fn land(&mut self, key: &FlightKey, id: RequestId) -> Vec<RequestId> {
        if self.by_key.get(key).is_some_and(|f| f.leader == id) {
            self.by_key
                .remove(key)
                .map(|f| f.waiters)
                .unwrap_or_default()
        } else {
            Vec::new()
        }
    }

    /// Request `id` went away. A waiter just leaves; a leader's flight ends
    /// and its waiters are returned (nobody will answer them).
    pub(super) fn leave(&mut self, id: RequestId) -> Vec<RequestId> {
        let led = self
            .by_key
            .iter()
            .find(|(_, f)| f.leader == id)
            .map(|(k, _)| k.clone());
        if let Some(k) = led {
            return self
                .by_key
                .remove(&k)
                .map(|f| f.waiters)
                .unwrap_or_default();
        }
        for f in self.by_key.values_mut() {
            f.waiters.retain(|w| *w != id);
        }
        Vec::new()
    }

    /// Ends the flights overdue at `now` and returns their waiters.
    pub(super) fn expire(&mut self, now: Now) -> Vec<RequestId> {
        let mut released = Vec::new();
        self.by_key.retain(|_, f| {
            if now < f.deadline {
                return true;
            }
            released.append(&mut f.waiters);
            false
        });
        released
    }
}
