//! Helpers for SQL text and for reading rows, shared by every capability's SQL.

use serde::de::DeserializeOwned;

use crate::{Result, StoreError};

/// Rows per multi-row statement for statements of up to 7 parameters a row.
pub(crate) const ROWS: usize = 128;

/// `$first, $first+1, …` for `n` parameters.
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `{head} VALUES ($1, …), (…)` for `rows` rows of `per_row` parameters each.
pub(crate) fn values_sql(head: &str, rows: usize, per_row: usize) -> String {
    values_sql_from(head, rows, per_row, 1)
}

/// [`values_sql`] with parameters numbered from `first`.
pub(crate) fn values_sql_from(head: &str, rows: usize, per_row: usize, first: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        sql.push_str(&placeholders(first + row * per_row, per_row));
        sql.push(')');
    }
    sql
}

/// A stored name read back as its enum; an unknown one is a corrupt row.
pub(crate) fn parse<T: std::str::FromStr<Err = String>>(text: &str, what: &str) -> Result<T> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Stored JSON read back as `T`; unreadable JSON is a corrupt row.
pub(crate) fn json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// A JSON value as stored.
pub(crate) fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("stored values serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_sql_numbers_every_row() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b)", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            values_sql_from("INSERT INTO t (a)", 2, 1, 3),
            "INSERT INTO t (a) VALUES ($3), ($4)"
        );
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }

    #[test]
    fn unreadable_rows_are_corrupt() {
        assert!(matches!(
            parse::<switchyard_core::message::Channel>("fax", "channel"),
            Err(StoreError::Corrupt(m)) if m.contains("fax")
        ));
        assert!(matches!(
            json::<Vec<String>>("{", "recipients"),
            Err(StoreError::Corrupt(_))
        ));
    }
}
