//! The built-in connectors, written in the same format as `[[connectors]]` of
//! `switchyard.toml` (see [`super::definition`]).

use super::ConnectorDef;

const BUILTIN: &str = r#"
[[connectors]]
name = "google-calendar"
title = "Google Calendar"
base_url = "https://www.googleapis.com/calendar/v3"
[connectors.auth]
type = "oauth2"
authorization_url = "https://accounts.google.com/o/oauth2/v2/auth"
token_url = "https://oauth2.googleapis.com/token"
scopes = ["https://www.googleapis.com/auth/calendar.events"]
authorization_params = { access_type = "offline", prompt = "consent" }
client_id_env = "GOOGLE_CLIENT_ID"
client_secret_env = "GOOGLE_CLIENT_SECRET"

[[connectors]]
name = "printify"
title = "Printify"
base_url = "https://api.printify.com/v1"
auth = { type = "api_key", credential = "api_key", header = "Authorization", format = "Bearer {key}" }
[[connectors.rate_limits]]
requests = 600
per = "1m"
scope = "connection"
[[connectors.rate_limits]]
requests = 100
per = "1m"
scope = "connection"
path_prefix = "/catalog"
[connectors.config.api_key]
required = true
secret = true
description = "A personal access token (Printify: My account → Connections)"

[[connectors]]
name = "moodle"
title = "Moodle web services"
base_url = "{config.site}"
auth = { type = "api_key", credential = "token", query = "wstoken" }
query = { moodlewsrestformat = "json" }
redact_query = ["wstoken"]
error_in_body = { field = "exception", message = "message", code = "errorcode" }
[connectors.config.site]
required = true
description = "The site's address, e.g. https://moodle.example.edu"
[connectors.config.token]
required = true
secret = true
description = "A web service token (Site administration → Server → Web services → Manage tokens)"

[[connectors]]
name = "ttn"
title = "The Things Network (v3)"
base_url = "https://{config.cluster}.cloud.thethings.network/api/v3"
auth = { type = "api_key", credential = "api_key", header = "Authorization", format = "Bearer {key}" }
[connectors.config.cluster]
one_of = ["eu1", "nam1", "au1"]
default = "eu1"
description = "The cluster the application is on (the identity server is only on eu1)"
[connectors.config.api_key]
required = true
secret = true
description = "An API key (NNSXS.…)"

[[connectors]]
name = "open-meteo"
title = "Open-Meteo"
base_url = "https://api.open-meteo.com/v1"
cache = "15m"
[[connectors.rate_limits]]
requests = 600
per = "1m"

[[connectors]]
name = "nominatim"
title = "Nominatim (OpenStreetMap)"
base_url = "https://nominatim.openstreetmap.org"
cache = "24h"
headers = { User-Agent = "{config.user_agent}" }
[[connectors.rate_limits]]
requests = 1
per = "1s"
[connectors.config.user_agent]
required = true
description = "An identifying User-Agent: the application's name and a contact, e.g. \"acme-bookings/1.0 (ops@acme.example)\""
"#;

#[derive(serde::Deserialize)]
struct File {
    connectors: Vec<ConnectorDef>,
}

/// The built-in connectors.
pub fn builtins() -> Vec<ConnectorDef> {
    toml::from_str::<File>(BUILTIN)
        .expect("the built-in connectors are valid TOML of the format")
        .connectors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_valid() {
        let all = builtins();
        assert_eq!(all.len(), 6);
        for def in &all {
            def.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", def.name));
        }
    }
}
