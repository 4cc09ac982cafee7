//! Authentication Context Class References (OIDC Core §2 `acr`) that this provider asserts and
//! advertises.

/// `acr` of a sign-in with a password alone.
pub const ACR_PASSWORD: &str = "urn:oidc-core:acr:password";
/// `acr` of a sign-in with a password and a token passcode (TOTP or RADIUS).
pub const ACR_PASSWORD_OTP: &str = "urn:oidc-core:acr:password+otp";
