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

/// `sql` as the backend binds it fastest: on SQLite, `$1, $2, …` (in that order, each
/// once) become anonymous `?`. SQLite finds each named parameter's name by a linear
/// search, so binding a statement of n named parameters costs n², which dominates
/// multi-row statements of hundreds of rows; anonymous ones need no search. Text whose
/// parameters are not numbered in order is left as it is.
pub(crate) fn statement<D: crate::dialect::Dialect>(sql: String) -> String {
    if !D::ANONYMOUS_PARAMETERS {
        return sql;
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut next, mut i, mut copied) = (1usize, 0usize, 0usize);
    while i < bytes.len() {
        if bytes[i] == b'$' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
            let end = (i + 1..bytes.len())
                .find(|&j| !bytes[j].is_ascii_digit())
                .unwrap_or(bytes.len());
            if sql[i + 1..end].parse::<usize>().ok() != Some(next) {
                return sql;
            }
            out.push_str(&sql[copied..i]);
            out.push('?');
            next += 1;
            copied = end;
            i = end;
        } else {
            i += 1;
        }
    }
    out.push_str(&sql[copied..]);
    out
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
    fn sqlite_gets_anonymous_parameters_in_order_only() {
        use crate::postgres::PgStore;
        use crate::sqlite::SqliteStore;
        let sql = values_sql("INSERT INTO t (a, b)", 2, 2);
        assert_eq!(
            statement::<SqliteStore>(sql.clone()),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
        assert_eq!(statement::<PgStore>(sql.clone()), sql);
        for kept in [
            "UPDATE t SET a = $2 WHERE b = $1",
            "INSERT INTO t VALUES ($2, $1), ($3, $1)",
            "SELECT $1, $1",
        ] {
            assert_eq!(statement::<SqliteStore>(kept.into()), kept);
        }
        assert_eq!(
            statement::<SqliteStore>("SELECT '$.x', $1, $2 FROM t WHERE x = $3".into()),
            "SELECT '$.x', ?, ? FROM t WHERE x = ?"
        );
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
