//! Who is calling the administration surfaces (the admin API and the admin pages): the person
//! behind an access token of the admin console, with the checks both surfaces share.

use crate::audit::Actor;
use crate::error::Error;
use crate::protocol::authorize::ADMIN_SCOPE;
use crate::provider::Inner;
use crate::{clients, tokens};

use super::desk::{ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use super::provisioning::ROLE_ACCESS_ADMIN;

/// The roles that may use the administration surfaces at all.
pub(crate) const STAFF: [&str; 3] = [ROLE_SERVICE_DESK, ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN];

/// The person calling, established from their access token.
pub(crate) struct AdminCaller {
    pub actor: Actor,
    pub user: super::Account,
}

impl AdminCaller {
    /// Whether the person holds one of `roles`.
    pub(crate) fn holds_any(&self, roles: &[&str]) -> bool {
        self.user.holds_any(roles)
    }
}

/// Why a token does not make an administrator.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Not one of our access tokens for the admin API, expired, or revoked (RFC 6750
    /// `invalid_token`).
    InvalidToken(&'static str),
    /// Not the admin console's, without the admin scope, or naming no active person (RFC 6750
    /// `insufficient_scope`).
    InsufficientScope(&'static str),
    /// The sign-in is too old or was not password and passcode (RFC 9470); `max_age` in seconds.
    StepUp { max_age: u64 },
    /// The person holds no administration role.
    NoRole,
    /// Our failure.
    Failed(Error),
}

/// Checks an admin console access token and returns the person behind it.
pub(crate) async fn admin_caller(s: &Inner, token: &str) -> Result<AdminCaller, Refused> {
    let now = s.now();
    let claims = tokens::verify_access_token(&s.config, &s.keys, token, &s.admin_audience, now)
        .map_err(|r| Refused::InvalidToken(r.0))?;
    if claims.client_id != clients::ADMIN_CONSOLE_ID
        || !claims.scope.split(' ').any(|sc| sc == ADMIN_SCOPE)
    {
        return Err(Refused::InsufficientScope(
            "the admin API takes tokens of the IAM admin console with the admin scope",
        ));
    }
    if !tokens::grant_active(&s.db, &claims.gid)
        .await
        .map_err(Refused::Failed)?
    {
        return Err(Refused::InvalidToken("the token has been revoked"));
    }
    // A token issued to a client alone (client credentials) names no account: no actor, no call.
    let user = super::find_by_subject(&s.db, &claims.sub)
        .await
        .map_err(Refused::Failed)?;
    let Some(user) = user.filter(|u| !u.disabled) else {
        return Err(Refused::InsufficientScope(
            "the admin API takes tokens issued to an active person",
        ));
    };
    let max_age = s.config.admin_recent_auth.as_secs();
    let recent = now.timestamp() - claims.auth_time <= i64::try_from(max_age).unwrap_or(i64::MAX);
    if claims.acr.as_deref() != Some(crate::mfa::ACR_PASSWORD_OTP) || !recent {
        return Err(Refused::StepUp { max_age });
    }
    let caller = AdminCaller {
        actor: Actor::User(user.username.clone()),
        user,
    };
    if !caller.holds_any(&STAFF) {
        return Err(Refused::NoRole);
    }
    Ok(caller)
}
