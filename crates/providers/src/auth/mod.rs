//! Identity providers: the public documents the hub reads to verify their tokens.
//!
//! [`jwks`] fetches JSON Web Key Sets (RFC 7517) and finds the `jwks_uri` of an OpenID
//! discovery document, without credentials, through the shared HTTP layer. Caching and
//! the choice of keys are the caller's: the hub's verifier keeps one set per issuer.

pub mod jwks;
pub mod oidc;

pub use jwks::{FetchedJwks, discover_jwks_url, fetch_jwks};
