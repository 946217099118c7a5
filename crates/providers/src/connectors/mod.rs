//! Connectors to third-party REST APIs: the declarative format a connector is written
//! in ([`definition`]), the built-in ones ([`builtins`]), where a call goes
//! ([`target`]), the OAuth 2.0 flow of a connection ([`oauth`]), and the HTTP layer's
//! forwarding of a caller's request ([`forward`]).

mod builtin;
pub mod definition;
pub mod oauth;
pub mod target;

pub use crate::http::forward;
pub use builtin::builtins;

pub use definition::{
    AuthDef, ConfigField, ConnectorDef, ErrorInBody, LimitScope, OAuth2Def, RateLimitDef, RetryDef,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_reads_from_toml_with_defaults() {
        let def: ConnectorDef = toml::from_str(
            r#"
            name = "moodle"
            base_url = "{config.site}"
            redact_query = ["wstoken"]
            auth = { type = "api_key", credential = "token", query = "wstoken" }
            error_in_body = { field = "exception", message = "message", code = "errorcode" }
            [config.site]
            required = true
            [[rate_limits]]
            requests = 1
            per = "1s"
            "#,
        )
        .unwrap();
        assert_eq!(def.retry, RetryDef::default());
        assert_eq!(def.rate_limits[0].scope, LimitScope::Connector);
        assert!(def.config["site"].required);
        let AuthDef::ApiKey {
            credential, query, ..
        } = &def.auth
        else {
            panic!("{:?}", def.auth)
        };
        assert_eq!(
            (credential.as_str(), query.as_deref()),
            ("token", Some("wstoken"))
        );
        assert_eq!(
            definition::duration("per", &def.rate_limits[0].per).unwrap(),
            std::time::Duration::from_secs(1)
        );
    }

    #[test]
    fn unknown_fields_and_auth_types_are_refused() {
        let unknown =
            toml::from_str::<ConnectorDef>("name = \"x\"\nbase_url = \"https://x\"\nbase = 1");
        assert!(unknown.is_err());
        let auth = toml::from_str::<ConnectorDef>(
            "name = \"x\"\nbase_url = \"https://x\"\nauth = { type = \"magic\" }",
        );
        assert!(auth.is_err());
    }
}
