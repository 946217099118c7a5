//! The OpenAPI document, generated from the handlers' annotations and served at
//! `/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::intake;
use crate::routes::{
    accounts, deliveries, endpoints, events, health, keys, messages, providers, send, sources,
    templates,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Switchyard", description = "Self-hosted integrations hub: webhook intake and delivery, messaging, payments, storage and auth behind one API."),
    paths(
        health::healthz, health::readyz, health::metrics,
        keys::create, keys::list, keys::get, keys::revoke, keys::rotate,
        sources::create, sources::list, sources::get, sources::update, sources::delete,
        events::list, events::get, events::replay, events::publish,
        endpoints::create, endpoints::list, endpoints::get, endpoints::update, endpoints::delete,
        endpoints::secret, endpoints::rotate_secret, deliveries::deliveries, deliveries::replay,
        deliveries::delivery, deliveries::retry,
        accounts::get, accounts::grant, accounts::ledger,
        send::email, send::sms, messages::list, messages::get,
        providers::list, providers::put, providers::delete,
        templates::create, templates::put, templates::list, templates::get, templates::delete,
        intake::receive,
    ),
    components(schemas(crate::problem::Problem, crate::problem::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "operations", description = "Health, readiness and metrics (no authentication)."),
        (name = "keys", description = "API keys."),
        (name = "sources", description = "Webhook sources: where providers send events."),
        (name = "events", description = "The event log, and events published by the application."),
        (name = "endpoints", description = "Where the application receives events: endpoints, deliveries, attempts, replay."),
        (name = "accounts", description = "Account credits for sending email and SMS, and their ledger."),
        (name = "messages", description = "Email and SMS: sending, the communications log with status histories, providers."),
        (name = "templates", description = "Message templates (minijinja), checked when saved."),
        (name = "intake", description = "Provider webhooks (authenticated by the provider's signature)."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("sk_…")
                    .build(),
            ),
        );
    }
}

pub async fn document() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
