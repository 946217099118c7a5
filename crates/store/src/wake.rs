//! Waking workers: each kind of work has its own notifier, so that a change wakes only
//! the workers it gives something to do (a stored message wakes the sender, not the
//! event processors and the dispatcher). On PostgreSQL the kinds travel to the other
//! nodes as the payload of the notification.

use std::sync::Arc;

use tokio::sync::Notify;

/// A kind of work a worker waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Received events, for the processors.
    Events,
    /// Due deliveries, for the dispatcher.
    Deliveries,
    /// Messages to send, for the sender.
    Messages,
    /// Jobs of the durable queue.
    Jobs,
}

impl Work {
    const ALL: [Work; 4] = [Work::Events, Work::Deliveries, Work::Messages, Work::Jobs];

    /// Its bit in a set of kinds.
    pub(crate) const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// Every kind: what a notification that names none means.
pub(crate) const ANY: u8 = 0b1111;

/// This node's notifiers, one per kind of work.
#[derive(Debug, Default)]
pub struct Wakers {
    notify: [Arc<Notify>; 4],
}

impl Wakers {
    pub(crate) fn get(&self, work: Work) -> Arc<Notify> {
        self.notify[work as usize].clone()
    }

    /// Wakes the workers of each kind in `kinds` (a set of bits).
    pub(crate) fn wake(&self, kinds: u8) {
        for work in Work::ALL {
            if kinds & work.bit() != 0 {
                self.notify[work as usize].notify_waiters();
            }
        }
    }
}

/// The kinds a notification's payload names; all of them when it names none.
pub(crate) fn parse(payload: &str) -> u8 {
    match payload.parse::<u8>() {
        Ok(kinds) if kinds != 0 => kinds & ANY,
        _ => ANY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_kinds_and_nothing_means_everything() {
        let kinds = Work::Events.bit() | Work::Jobs.bit();
        assert_eq!(parse(&kinds.to_string()), kinds);
        assert_eq!(parse(""), ANY);
        assert_eq!(parse("junk"), ANY);
    }
}
