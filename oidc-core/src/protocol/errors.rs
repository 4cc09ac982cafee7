//! OAuth 2.0 / OpenID Connect error codes (RFC 6749 §4.1.2.1 and §5.2, OIDC Core §3.1.2.6,
//! RFC 6750 §3.1).

use std::fmt;

/// An error code defined by the specs; `Display` is the exact registered string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749: the request is missing a parameter, repeats one, or is otherwise malformed.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed.
    InvalidClient,
    /// RFC 6749 §5.2: the code or credentials are invalid, expired, revoked or for someone else.
    InvalidGrant,
    /// RFC 6749: the client may not use this grant or response type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §4.1.2.1: the response type is not supported.
    UnsupportedResponseType,
    /// RFC 6749: the scope is invalid or unknown.
    InvalidScope,
    /// RFC 6749: the resource owner or server denied the request.
    AccessDenied,
    /// RFC 6749: an unexpected condition on the server.
    ServerError,
    /// RFC 6749: overloaded or in maintenance.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must sign in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but some interaction is needed.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the person would have to choose an account.
    AccountSelectionRequired,
    /// OIDC Core §3.1.2.6: the `request` parameter is not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: the `request_uri` parameter is not supported.
    RequestUriNotSupported,
    /// OIDC Core §3.1.2.6: the `registration` parameter is not supported.
    RegistrationNotSupported,
    /// OIDC Core §3.1.2.6, RFC 9126 §4: the `request_uri` is unknown, expired, used or another
    /// client's.
    InvalidRequestUri,
    /// OIDC Core §3.1.2.6, RFC 9101 §6.3: the request object is invalid.
    InvalidRequestObject,
    /// RFC 6750 §3.1: the access token is expired, revoked, malformed or invalid.
    InvalidToken,
    /// OpenID Connect Unmet Authentication Requirements 1.0: an essential `acr` cannot be met.
    UnmetAuthenticationRequirements,
}

impl ErrorCode {
    /// The registered string.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::AccountSelectionRequired => "account_selection_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::RegistrationNotSupported => "registration_not_supported",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol error: the code plus a human-readable description for the developer of the client
/// (never shown as the only text to an end user, never holding a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The registered code.
    pub code: ErrorCode,
    /// `error_description`: ASCII, for developers.
    pub description: String,
}

impl OAuthError {
    /// Builds an error.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_registered_strings() {
        assert_eq!(ErrorCode::InvalidGrant.to_string(), "invalid_grant");
        assert_eq!(ErrorCode::LoginRequired.to_string(), "login_required");
        assert_eq!(
            ErrorCode::RequestUriNotSupported.to_string(),
            "request_uri_not_supported"
        );
    }
}
