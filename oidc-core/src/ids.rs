//! Identifiers that travel together on the token path, as types of their own, so that a client
//! id can never be passed where a user id belongs (both are strings in the database).

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(transparent)]
        pub(crate) struct $name(String);

        impl $name {
            pub(crate) fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            pub(crate) fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

id_type!(
    /// A client's `client_id`.
    ClientId
);
id_type!(
    /// An account's internal id (not its `sub`).
    UserId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_compare_with_their_text_and_print_it() {
        let c = ClientId::new("c1");
        assert!(c == *"c1");
        assert_eq!(c.to_string(), "c1");
        assert_eq!(UserId::new("u1").as_str(), "u1");
    }
}
