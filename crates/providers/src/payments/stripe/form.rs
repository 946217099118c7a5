//! Stripe's request bodies: `application/x-www-form-urlencoded` with bracketed nesting,
//! `line_items[0][price_data][product_data][name]=Course`, `metadata[key]=value`.

use std::collections::BTreeMap;

/// A form being built, in the order fields are added.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key=value`.
    pub fn set(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.0.push((key.into(), value.to_string()));
        self
    }

    /// Adds `key=value` when there is a value.
    pub fn maybe(self, key: impl Into<String>, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.set(key, v),
            None => self,
        }
    }

    /// Adds `prefix[k]=v` for each entry.
    pub fn map(mut self, prefix: &str, entries: &BTreeMap<String, String>) -> Self {
        for (k, v) in entries {
            self.0.push((format!("{prefix}[{k}]"), v.clone()));
        }
        self
    }

    pub fn into_pairs(self) -> Vec<(String, String)> {
        self.0
    }
}

/// `base[i]`, the key of the `i`-th element of a list.
pub(crate) fn at(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bracketed_like_stripe_documents_it() {
        let item = at("line_items", 0);
        let mut meta = BTreeMap::new();
        meta.insert("order".to_string(), "42".to_string());
        let pairs = Form::new()
            .set("mode", "payment")
            .set(format!("{item}[price_data][product_data][name]"), "Course")
            .set(format!("{item}[price_data][unit_amount]"), 1999)
            .maybe("customer", None::<&str>)
            .map("metadata", &meta)
            .into_pairs();
        assert_eq!(
            pairs,
            [
                ("mode".to_string(), "payment".to_string()),
                (
                    "line_items[0][price_data][product_data][name]".into(),
                    "Course".into()
                ),
                (
                    "line_items[0][price_data][unit_amount]".into(),
                    "1999".into()
                ),
                ("metadata[order]".into(), "42".into()),
            ]
        );
    }
}
