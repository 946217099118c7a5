//! Where an endpoint's deliveries go, with what is secret in it sealed like a secret: the
//! URL's password and the extra headers' values live in the vault, and the stored row
//! (which every reader of endpoints sees) holds them masked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchyard_core::delivery::Endpoint;
use switchyard_store::vault::{SecretError, Vault, ids};

/// What a masked value reads as.
pub(crate) const MASK: &str = "********";

/// The secret parts of a destination, as sealed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Private {
    /// The URL with its password.
    pub(crate) url: String,
    /// The extra headers with their values.
    pub(crate) headers: BTreeMap<String, String>,
}

impl Private {
    /// Whether anything in it needs sealing.
    fn holds_secrets(&self) -> bool {
        !self.headers.is_empty() || url_has_password(&self.url)
    }
}

fn url_has_password(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| u.password().is_some())
}

/// `url` with its password masked.
pub(crate) fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some(MASK));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `headers` with every value masked.
pub(crate) fn mask_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .keys()
        .map(|k| (k.clone(), MASK.to_string()))
        .collect()
}

/// Seals `private` for `endpoint` (or drops the sealed record when nothing in it is
/// secret) and puts the masked form in the row.
pub(crate) async fn seal(
    vault: &Vault,
    endpoint: &mut Endpoint,
    private: &Private,
) -> Result<(), SecretError> {
    let id = ids::endpoint_private(&endpoint.id);
    if private.holds_secrets() {
        let bytes = serde_json::to_vec(private).expect("destinations serialize");
        vault.put(&id, &bytes).await?;
    } else {
        vault.delete(&id).await?;
    }
    endpoint.url = mask_url(&private.url);
    endpoint.headers = mask_headers(&private.headers);
    Ok(())
}

/// The destination of `endpoint`: the sealed one, or the row's own for an endpoint that
/// has nothing secret (or was stored before destinations were sealed).
pub(crate) async fn open(vault: &Vault, endpoint: &Endpoint) -> Result<Private, SecretError> {
    if let Some(sealed) = vault.get(&ids::endpoint_private(&endpoint.id)).await?
        && let Ok(private) = serde_json::from_slice::<Private>(sealed.expose())
    {
        return Ok(private);
    }
    Ok(Private {
        url: endpoint.url.clone(),
        headers: endpoint.headers.clone(),
    })
}

/// Whether a stored row still holds its secrets in the clear (stored before
/// destinations were sealed).
pub(crate) fn is_unsealed(endpoint: &Endpoint) -> bool {
    mask_url(&endpoint.url) != endpoint.url || endpoint.headers.values().any(|v| v != MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_header_values_are_masked() {
        assert_eq!(
            mask_url("https://user:s3cret@example.com/hook?x=1"),
            "https://user:********@example.com/hook?x=1"
        );
        assert_eq!(
            mask_url("https://example.com/hook"),
            "https://example.com/hook"
        );
        let headers = BTreeMap::from([("x-api-key".to_string(), "abc".to_string())]);
        assert_eq!(mask_headers(&headers)["x-api-key"], MASK);
        let private = Private {
            url: "https://example.com/".into(),
            headers: BTreeMap::new(),
        };
        assert!(!private.holds_secrets());
        assert!(
            Private {
                url: "https://u:p@example.com/".into(),
                headers: BTreeMap::new()
            }
            .holds_secrets()
        );
    }
}
