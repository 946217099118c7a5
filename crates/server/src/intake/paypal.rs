//! PayPal's offline signature check needs the signing certificate named by the
//! `PAYPAL-CERT-URL` header. It is fetched only from allow-listed URL prefixes (a
//! request cannot make the hub fetch, or trust, an arbitrary certificate) and cached.

use std::sync::Arc;
use std::time::Duration;

use switchyard_signatures::{Inbound, VerifyError, paypal};

use crate::runtime::ttl::TtlCache;

const CACHE_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_CERT_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct PaypalCerts {
    client: reqwest::Client,
    /// URL prefixes certificates may be fetched from, e.g. `https://api.paypal.com/`.
    allowed: Vec<String>,
    cache: TtlCache<Arc<Vec<u8>>>,
}

impl PaypalCerts {
    pub(crate) fn new(allowed: Vec<String>) -> Self {
        let client = switchyard_providers::http_client_builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client builds");
        Self {
            client,
            allowed,
            cache: TtlCache::new(64),
        }
    }

    fn allowed(&self, url: &str) -> bool {
        // A URL parser would turn `%2e%2e` (and `.\t.`, as it drops tabs) into `..`,
        // leaving the prefix: only plain URLs without dot segments or user info pass.
        url.bytes().all(|b| b.is_ascii_graphic())
            && !url.contains(['%', '\\', '@'])
            && !url.contains("..")
            && self
                .allowed
                .iter()
                .any(|prefix| url.starts_with(prefix.as_str()))
    }

    /// Checks the signature against the certificate, then that the signed
    /// transmission time is within `tolerance_secs` of now.
    pub(crate) async fn verify(
        &self,
        inbound: &Inbound<'_>,
        webhook_id: &str,
        tolerance_secs: u64,
    ) -> Result<(), VerifyError> {
        let headers = paypal::PaypalHeaders::from_headers(inbound.headers)?;
        if !self.allowed(&headers.cert_url) {
            tracing::warn!(cert_url = %headers.cert_url, "PayPal certificate URL is not on the allow-list");
            return Err(VerifyError::MalformedHeader("paypal-cert-url"));
        }
        let cert = self.certificate(&headers.cert_url).await?;
        paypal::verify(&headers, inbound.body, webhook_id, &cert)?;
        let sent = switchyard_core::time::parse_rfc3339(&headers.transmission_time)
            .ok_or(VerifyError::MalformedHeader("paypal-transmission-time"))?;
        switchyard_signatures::check_timestamp(sent / 1000, inbound.now, tolerance_secs)
    }

    async fn certificate(&self, url: &str) -> Result<Arc<Vec<u8>>, VerifyError> {
        if let Some(cert) = self.cache.get(url) {
            return Ok(cert);
        }
        let unavailable = |e: String| {
            tracing::warn!(url, error = %e, "fetching the PayPal certificate failed");
            VerifyError::BadKey(format!("PayPal certificate unavailable: {e}"))
        };
        let response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("status {}", response.status())));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if bytes.len() > MAX_CERT_BYTES {
            return Err(unavailable("certificate too large".into()));
        }
        let cert = Arc::new(bytes.to_vec());
        self.cache.insert(url, cert.clone(), CACHE_TTL);
        Ok(cert)
    }
}
