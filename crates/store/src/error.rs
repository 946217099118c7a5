//! The store's error, with what a caller needs to act on it.

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("record already exists: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed: connection problems, pool
    /// exhaustion, a busy or locked SQLite database, and PostgreSQL serialization
    /// failures, deadlocks and connection-level errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Backend(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            StoreError::Backend(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|code| retryable_code(&code))
            }
            _ => false,
        }
    }
}

/// SQLite result codes (primary and extended) and PostgreSQL SQLSTATEs that mean "try
/// again": the statement itself was fine.
fn retryable_code(code: &str) -> bool {
    match code {
        // SQLITE_BUSY (and its extended codes: 261 recovery, 517 snapshot, 773 timeout)
        // and SQLITE_LOCKED (and 262 shared cache).
        "5" | "261" | "517" | "773" | "6" | "262" => true,
        // serialization_failure, deadlock_detected, too_many_connections,
        // admin_shutdown, crash_shutdown, cannot_connect_now.
        "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" => true,
        // connection_exception and its subclasses.
        c if c.starts_with("08") => true,
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_locked_serialization_and_deadlocks_are_retryable() {
        for code in ["5", "517", "6", "40001", "40P01", "08006", "57P01"] {
            assert!(retryable_code(code), "{code}");
        }
        for code in ["19", "2067", "23505", "22021", "42P01"] {
            assert!(!retryable_code(code), "{code}");
        }
        assert!(StoreError::Backend(sqlx::Error::PoolTimedOut).is_retryable());
        assert!(!StoreError::Corrupt("x".into()).is_retryable());
    }
}
