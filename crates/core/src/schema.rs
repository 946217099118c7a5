//! OpenAPI schema helpers for what the derive cannot say.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema, Type};

/// Named component schemas, as [`utoipa::ToSchema::schemas`] collects them.
pub type Components = Vec<(String, RefOr<Schema>)>;

/// A union told apart by its `tag` property, built one variant at a time: one
/// component per variant (its object with `tag` added as a required one-value enum) and
/// a `oneOf` over them with a discriminator.
pub struct TaggedUnion {
    tag: &'static str,
    description: &'static str,
    variants: Vec<(&'static str, String, RefOr<Schema>)>,
    nested: Components,
}

impl std::fmt::Debug for TaggedUnion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaggedUnion")
            .field("tag", &self.tag)
            .field(
                "variants",
                &self.variants.iter().map(|v| v.0).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl TaggedUnion {
    pub fn new(tag: &'static str, description: &'static str) -> Self {
        Self {
            tag,
            description,
            variants: Vec::new(),
            nested: Vec::new(),
        }
    }

    /// The variant whose `tag` is `value`: `T`'s object, registered as `name`, and the
    /// components `T` refers to.
    pub fn variant<T: utoipa::ToSchema>(mut self, value: &'static str, name: &str) -> Self {
        T::schemas(&mut self.nested);
        self.schema(value, name, T::schema())
    }

    /// The variant whose `tag` is `value`: `schema` (an object without the tag),
    /// registered as `name`.
    pub fn schema(mut self, value: &'static str, name: &str, schema: RefOr<Schema>) -> Self {
        self.variants.push((value, name.to_string(), schema));
        self
    }

    /// The union, and the components to register with it.
    pub fn build(self) -> (RefOr<Schema>, Components) {
        let tag = self.tag;
        let mut components = Vec::with_capacity(self.variants.len() + self.nested.len());
        let mut one_of = OneOfBuilder::new().description(Some(self.description));
        let mut mapping = Vec::with_capacity(self.variants.len());
        for (value, name, schema) in self.variants {
            let tagged = match schema {
                RefOr::T(Schema::Object(mut object)) => {
                    let tag_schema = ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([value]));
                    object.properties.insert(tag.to_string(), tag_schema.into());
                    if !object.required.iter().any(|r| r == tag) {
                        object.required.insert(0, tag.to_string());
                    }
                    RefOr::T(Schema::Object(object))
                }
                other => other,
            };
            one_of = one_of.item(utoipa::openapi::Ref::from_schema_name(name.clone()));
            mapping.push((value.to_string(), format!("#/components/schemas/{name}")));
            components.push((name, tagged));
        }
        components.extend(self.nested);
        let union = one_of
            .discriminator(Some(Discriminator::with_mapping(tag, mapping)))
            .into();
        (union, components)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_get_the_tag_and_a_mapping() {
        let object = ObjectBuilder::new()
            .property("name", ObjectBuilder::new().schema_type(Type::String))
            .into();
        let (union, components) = TaggedUnion::new("kind", "x")
            .schema("smtp", "SmtpProvider", object)
            .build();
        let union = serde_json::to_value(union).unwrap();
        assert_eq!(
            union["discriminator"]["mapping"]["smtp"],
            "#/components/schemas/SmtpProvider"
        );
        let variant = serde_json::to_value(&components[0].1).unwrap();
        assert_eq!(variant["properties"]["kind"]["enum"][0], "smtp");
        assert_eq!(variant["required"][0], "kind");
    }
}
