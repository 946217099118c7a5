//! Machinery the capabilities' background work shares and that uses none of them: the
//! claim loop of lease-based workers, and a small expiring cache.

pub(crate) mod claim_loop;
pub(crate) mod ttl;
