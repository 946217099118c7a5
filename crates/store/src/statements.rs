//! Counts the statements the store sends to its database, for tests that hold a path to
//! its number of statements and for benchmarks that print statements per item.
//!
//! Every statement the database driver runs, `BEGIN` and `COMMIT` on PostgreSQL
//! included, is reported as a `sqlx::query` tracing event; [`Statements`] is a tracing
//! subscriber for the whole process that counts them (and keeps their first words while
//! asked to). SQLite's `BEGIN` and `COMMIT` are not statements in that sense: they run
//! inside the driver and are not counted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

const TARGET: &str = "sqlx::query";

/// The process's statement counter.
#[derive(Debug, Default)]
pub struct Statements {
    count: AtomicU64,
    keep: AtomicBool,
    kept: Mutex<Vec<String>>,
}

impl Statements {
    /// The counter, installed as the process's tracing subscriber on first use. `None`
    /// if another subscriber was installed first.
    pub fn global() -> Option<&'static Statements> {
        static COUNTER: OnceLock<Option<&'static Statements>> = OnceLock::new();
        *COUNTER.get_or_init(|| {
            let counter: &'static Statements = Box::leak(Box::default());
            tracing::subscriber::set_global_default(Counting(counter))
                .ok()
                .map(|()| counter)
        })
    }

    /// Statements counted so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }

    /// Starts keeping the first words of each statement (forgetting earlier ones).
    pub fn keep(&self) {
        self.kept.lock().expect("not poisoned").clear();
        self.keep.store(true, Ordering::SeqCst);
    }

    /// The statements kept since [`keep`](Self::keep), and stops keeping them.
    pub fn kept(&self) -> Vec<String> {
        self.keep.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.kept.lock().expect("not poisoned"))
    }
}

struct Counting(&'static Statements);

struct Summary(Option<String>);

impl Visit for Summary {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "summary" {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Counting {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.target() == TARGET {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == TARGET
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() != TARGET {
            return;
        }
        self.0.count.fetch_add(1, Ordering::SeqCst);
        if self.0.keep.load(Ordering::SeqCst) {
            let mut summary = Summary(None);
            event.record(&mut summary);
            let text = summary.0.unwrap_or_default();
            self.0.kept.lock().expect("not poisoned").push(text);
        }
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}
