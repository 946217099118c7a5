pub mod accounts;
pub mod deliveries;
pub mod endpoints;
pub mod events;
pub mod health;
pub mod keys;
pub mod messages;
pub mod providers;
pub mod send;
pub mod sources;
pub mod templates;

/// Whether `name` is 1 to `max` letters, digits, `_`, `-` or `.`: the names of templates
/// and providers, which appear in paths.
pub(crate) fn is_name(name: &str, max: usize) -> bool {
    (1..=max).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
