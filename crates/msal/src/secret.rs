//! Types that hold secrets: tokens, client secrets, assertions, PKCE verifiers.
//!
//! Every type here redacts itself in `Debug`, has no `Display`, no `Serialize`
//! and no derived `PartialEq`, and wipes its memory on drop. Reading the value
//! takes a call to `expose_secret()`, so a leak is visible in review.

/// Declares a secret newtype over a zeroizing `String`: `clone` types share
/// one copy behind an `Arc` (a cached token handed to many callers is not
/// copied), wiped when the last clone drops; the others are used once.
macro_rules! secret_type {
    (@common $name:ident) => {
        impl $name {
            /// The secret itself. Do not log it.
            pub fn expose_secret(&self) -> &str {
                self.0.as_str()
            }

            /// Compares with another value in constant time (no early exit on
            /// the first differing byte).
            pub fn ct_eq(&self, other: &str) -> bool {
                crate::secret::constant_time_eq(self.0.as_bytes(), other.as_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        pub struct $name(zeroize::Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(zeroize::Zeroizing::new(value.into()))
            }
        }

        secret_type!(@common $name);
    };
    // Shared variant for values that are read many times (tokens, client secrets).
    (clone $(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name(std::sync::Arc<zeroize::Zeroizing<String>>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(std::sync::Arc::new(zeroize::Zeroizing::new(value.into())))
            }
        }

        secret_type!(@common $name);
    };
}
#[allow(unused_imports)]
pub(crate) use secret_type;

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

secret_type!(clone
    /// An access token (a bearer credential for a resource).
    AccessTokenSecret);
secret_type!(clone
    /// A refresh token.
    RefreshTokenSecret);
secret_type!(clone
    /// A raw ID token (a JWT with personal data).
    IdTokenSecret);
secret_type!(clone
    /// The secret of a confidential client.
    ClientSecret);
secret_type!(clone
    /// A signed client assertion (JWT) or an incoming user assertion (OBO).
    Assertion);
secret_type!(clone
    /// A user's password (username/password flow).
    Password);
secret_type!(
    /// A PKCE code verifier. Used once, so it is not `Clone`.
    PkceVerifier);
secret_type!(
    /// An authorization code. Used once, so it is not `Clone`.
    AuthorizationCode);
secret_type!(
    /// A device code from the device authorization endpoint.
    DeviceCodeSecret);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_secret_type_redacts_debug() {
        let shown = [
            format!("{:?}", AccessTokenSecret::new("s3cr3t-at")),
            format!("{:?}", RefreshTokenSecret::new("s3cr3t-rt")),
            format!("{:?}", IdTokenSecret::new("s3cr3t-id")),
            format!("{:?}", ClientSecret::new("s3cr3t-cs")),
            format!("{:?}", Assertion::new("s3cr3t-as")),
            format!("{:?}", Password::new("s3cr3t-pw")),
            format!("{:?}", PkceVerifier::new("s3cr3t-pk")),
            format!("{:?}", AuthorizationCode::new("s3cr3t-ac")),
            format!("{:?}", DeviceCodeSecret::new("s3cr3t-dc")),
        ];
        for s in shown {
            assert!(!s.contains("s3cr3t"), "{s}");
            assert!(s.ends_with("(<redacted>)"), "{s}");
        }
    }

    #[test]
    fn constant_time_comparison() {
        let s = ClientSecret::new("abc");
        assert!(s.ct_eq("abc"));
        assert!(!s.ct_eq("abd"));
        assert!(!s.ct_eq("abcd"));
        assert_eq!(s.clone().expose_secret(), "abc");
    }
}
