//! The OpenAPI schemas of source requests, built from the kinds' table so that the
//! document says exactly what each kind takes: `SourceCreate` is one object per kind,
//! told apart by `kind`; `SourceChange` is what a change may hold.

use switchyard_core::source::{SourceKind, SourceSettings};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, Object, ObjectBuilder, Schema, SchemaType, Type,
};
use utoipa::{PartialSchema, ToSchema};

use super::kinds::{self, Credential};

/// The body of `POST /v1/sources`.
pub(crate) struct SourceCreate;

/// The body of `PATCH /v1/sources/{id}`.
pub(crate) struct SourceChange;

fn string(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .description(Some(description))
        .into()
}

fn boolean(description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Boolean))
        .description(Some(description))
        .into()
}

/// The settings' own schemas, by field.
fn settings() -> Object {
    match SourceSettings::schema() {
        RefOr::T(Schema::Object(o)) => o,
        _ => unreachable!("SourceSettings is an object"),
    }
}

fn credential_description(c: Credential, kind: SourceKind) -> String {
    let what = match (c, kind) {
        (Credential::Secret, SourceKind::Stripe) => {
            "The endpoint's signing secret as Stripe shows it, `whsec_…`."
        }
        (Credential::Secret, SourceKind::StandardWebhooks) => "The signing secret, `whsec_…`.",
        (Credential::Secret, SourceKind::GoogleChannel) => {
            "The channel's `token`, as given to `events.watch`."
        }
        (Credential::Secret, _) => "The shared secret.",
        (Credential::AuthToken, _) => "The account's auth token.",
        (Credential::PublicKey, SourceKind::Telnyx) => "The account's Ed25519 public key (base64).",
        (Credential::PublicKey, _) => "The verification key (base64 of a P-256 public key).",
    };
    format!("{what} Sealed in the vault, never shown again.")
}

fn variant_name(kind: SourceKind) -> String {
    let camel: String = kind
        .as_str()
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
        })
        .collect();
    format!("{camel}Source")
}

fn variant(kind: SourceKind) -> RefOr<Schema> {
    let module = kinds::kind(kind);
    let all = settings();
    let mut b = ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::Object))
        .description(Some(format!("A `{kind}` source.")))
        .property(
            "name",
            string("What the source is for; at most 100 characters."),
        )
        .required("name")
        .property(
            "enabled",
            boolean("Default true; a disabled source answers 404."),
        );
    if let Some(c) = module.credential() {
        b = b
            .property(c.field(), string(&credential_description(c, kind)))
            .required(c.field());
    }
    for field in module.settings() {
        if let Some(schema) = all.properties.get(*field) {
            b = b.property(*field, schema.clone());
        }
    }
    if kind == SourceKind::Paypal {
        b = b.required("webhook_id");
    }
    if matches!(kind, SourceKind::SharedSecret | SourceKind::Hmac) {
        b = b.required("header");
    }
    b.additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

fn create() -> (RefOr<Schema>, Vec<(String, RefOr<Schema>)>) {
    SourceKind::ALL
        .iter()
        .fold(
            switchyard_core::schema::TaggedUnion::new(
                "kind",
                "A source of one kind: its name, its credential (sealed in the vault, never shown again) and the settings the kind takes.",
            ),
            |union, k| union.schema(k.as_str(), &variant_name(*k), variant(*k)),
        )
        .build()
}

impl PartialSchema for SourceCreate {
    fn schema() -> RefOr<Schema> {
        create().0
    }
}

impl ToSchema for SourceCreate {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(create().1);
        <SourceSettings as ToSchema>::schemas(schemas);
    }
}

impl PartialSchema for SourceChange {
    fn schema() -> RefOr<Schema> {
        let mut b = ObjectBuilder::new()
            .schema_type(SchemaType::new(Type::Object))
            .description(Some(
                "Fields to change; a setting set to `null` is removed. A new credential replaces the current one; with `previous_credential_grace` the replaced one is still accepted for that long. The kind cannot change.",
            ))
            .property("name", string("At most 100 characters."))
            .property("enabled", boolean("A disabled source answers 404."))
            .property(
                "previous_credential_grace",
                string("With a new credential: how long the replaced one is still accepted, e.g. `24h`."),
            );
        for c in Credential::ALL {
            b = b.property(
                c.field(),
                string("The new credential, in the field the kind takes it in."),
            );
        }
        for (field, schema) in settings().properties {
            b = b.property(field, schema);
        }
        b.additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for SourceChange {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <SourceSettings as ToSchema>::schemas(schemas);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_a_variant_with_its_credential_and_settings() {
        let mut schemas = Vec::new();
        SourceCreate::schemas(&mut schemas);
        assert!(schemas.len() >= SourceKind::ALL.len());
        let json = serde_json::to_value(&schemas).unwrap();
        let stripe = &json[0][1];
        assert_eq!(schemas[0].0, "StripeSource");
        assert_eq!(stripe["properties"]["kind"]["enum"][0], "stripe");
        assert!(
            stripe["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r == "secret")
        );
        assert!(stripe["properties"]["tolerance_secs"].is_object());
        assert!(
            stripe["properties"]["header"].is_null(),
            "stripe takes no header"
        );
        assert_eq!(
            variant_name(SourceKind::StandardWebhooks),
            "StandardWebhooksSource"
        );
    }
}
