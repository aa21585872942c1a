//! Macros that write the repetitive half of the contract, so that a name on the wire, its
//! `as_str` and its schema version are one literal and cannot drift apart.

/// A closed vocabulary: a fieldless enum whose JSON name is the given literal, with `ALL` (in
/// wire order), `as_str` and `Display`.
///
/// The variant order is the postcard wire tag, so variants are only ever appended.
macro_rules! name_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $text:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $text)]
                $variant,
            )+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The name used in JSON, e.g. in exports and error messages.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

/// The events of one family: an externally tagged enum with one variant per event type, each
/// wrapping the struct of the same name, plus `event_type`, `schema_version`,
/// `schema_version_of` and `EVENT_TYPES`.
///
/// The type name given here is at once the serde tag (JSON) and the `event_type` of the
/// envelope; the variant order is the postcard wire tag, so events are only ever appended.
macro_rules! event_family {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[$variant_meta:meta])*
                $variant:ident => $event_type:literal, version $version:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[serde(rename = $event_type)]
                $variant($variant),
            )+
        }

        impl $name {
            /// Every event type of the family, in wire order.
            pub const EVENT_TYPES: &'static [&'static str] = &[$($event_type,)+];

            /// The event's type name, snake case, unique within the family.
            pub fn event_type(&self) -> &'static str {
                match self {
                    $($name::$variant(_) => $event_type,)+
                }
            }

            /// The schema version of this event type's current shape.
            pub fn schema_version(&self) -> u16 {
                match self {
                    $($name::$variant(_) => $version,)+
                }
            }

            /// The current schema version of an event type, or `None` when the family has no
            /// such type.
            pub fn schema_version_of(event_type: &str) -> Option<u16> {
                match event_type {
                    $($event_type => Some($version),)+
                    _ => None,
                }
            }
        }

        $(
            impl From<$variant> for $name {
                fn from(event: $variant) -> Self {
                    $name::$variant(event)
                }
            }
        )+
    };
}
