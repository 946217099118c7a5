//! Closed sets of names (kinds, states, channels…) as enums with one spelling each.
//!
//! [`text_enum!`](crate::text_enum) declares the enum and derives from one list what every
//! such set needs: `ALL`, `as_str`, `parse`, `Display`, `FromStr`, serde (by name; an
//! unknown name is an error that lists the expected ones) and an OpenAPI schema (a string
//! with the names as its `enum`). Stores parse them at the row boundary, so a bad stored
//! value is a corrupt row rather than a string compared deep inside the code.

#[doc(hidden)]
pub mod __private {
    pub use serde;
    pub use utoipa;
}

/// Declares an enum whose variants are spelled as given, e.g.
///
/// ```
/// switchyard_core::text_enum! {
///     /// A colour.
///     pub enum Colour { Red = "red", DarkBlue = "dark_blue" }
/// }
/// assert_eq!(Colour::parse("dark_blue"), Some(Colour::DarkBlue));
/// assert_eq!(Colour::Red.to_string(), "red");
/// assert_eq!(Colour::names(), "red, dark_blue");
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value's one spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value spelled `s`, if any.
            pub fn parse(s: &str) -> ::core::option::Option<$name> {
                match s {
                    $($text => ::core::option::Option::Some($name::$variant),)+
                    _ => ::core::option::Option::None,
                }
            }

            /// Every spelling, comma-separated, for messages such as "expected one of …".
            pub fn names() -> ::std::string::String {
                [$($text),+].join(", ")
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = ::std::string::String;
            fn from_str(s: &str) -> ::core::result::Result<Self, Self::Err> {
                $name::parse(s).ok_or_else(|| {
                    ::std::format!("unknown value {s:?}; expected one of {}", $name::names())
                })
            }
        }

        impl $crate::text_enum::__private::serde::Serialize for $name {
            fn serialize<S: $crate::text_enum::__private::serde::Serializer>(
                &self,
                serializer: S,
            ) -> ::core::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> $crate::text_enum::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::text_enum::__private::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> ::core::result::Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as $crate::text_enum::__private::serde::Deserialize>::deserialize(deserializer)?;
                $name::parse(&text).ok_or_else(|| {
                    <D::Error as $crate::text_enum::__private::serde::de::Error>::custom(
                        ::std::format!("unknown value {text:?}; expected one of {}", $name::names()),
                    )
                })
            }
        }

        impl $crate::text_enum::__private::utoipa::PartialSchema for $name {
            fn schema() -> $crate::text_enum::__private::utoipa::openapi::RefOr<
                $crate::text_enum::__private::utoipa::openapi::schema::Schema,
            > {
                use $crate::text_enum::__private::utoipa::openapi::schema;
                schema::ObjectBuilder::new()
                    .schema_type(schema::Type::String)
                    .enum_values(::core::option::Option::Some([$($text),+]))
                    .into()
            }
        }

        impl $crate::text_enum::__private::utoipa::ToSchema for $name {}
    };
}

#[cfg(test)]
mod tests {
    crate::text_enum! {
        /// For the tests.
        pub enum Sample { One = "one", TwoWords = "two_words" }
    }

    #[test]
    fn names_round_trip_through_every_form() {
        for value in Sample::ALL {
            assert_eq!(Sample::parse(value.as_str()), Some(*value));
            let json = serde_json::to_string(value).unwrap();
            assert_eq!(serde_json::from_str::<Sample>(&json).unwrap(), *value);
            assert_eq!(value.to_string().parse::<Sample>(), Ok(*value));
        }
        assert_eq!(
            serde_json::to_string(&Sample::TwoWords).unwrap(),
            "\"two_words\""
        );
        let err = serde_json::from_str::<Sample>("\"three\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected one of one, two_words"), "{err}");
        assert_eq!(Sample::parse("One"), None);
    }
}
