//! The claim that follows recorded outcomes: a worker whose items finish asks, in the
//! transaction recording their outcomes, for as many new items as finished. The
//! steady state of a busy worker is then one transaction per batch (record, then
//! claim) instead of two, and the freed slots are filled without another trip to the
//! store.

/// How many items to claim after recording outcomes, and how long to lease them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub limit: u32,
    /// When the leases of the claimed items end (milliseconds since the epoch).
    pub lease_until: i64,
}

impl Claim {
    /// Claim nothing.
    pub const NONE: Claim = Claim {
        limit: 0,
        lease_until: 0,
    };
}
