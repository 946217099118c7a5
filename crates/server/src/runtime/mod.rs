//! Machinery the capabilities' background work shares and that uses none of them: the
//! claim loop of lease-based workers, the guard against private-network destinations,
//! a small expiring cache, and a value read again once it is stale.

pub(crate) mod claim_loop;
pub(crate) mod guard;
pub(crate) mod refreshed;
pub(crate) mod ttl;
