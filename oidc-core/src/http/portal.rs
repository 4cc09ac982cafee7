//! The IAM portal's first-time activation (the quick reference's Step 3): page 1, username and
//! token passcode; page 2, username and the service desk's temporary password; page 3, a new
//! password under the rules; page 4, a secret word; page 5, five challenge questions (pages 4
//! and 5 when the account has no recovery data); then a page that says the password works.
//!
//! The passcode of page 1 is only held: both factors are checked on page 2, after the password,
//! so that the pages reveal nothing about which part was wrong, and a tokencode is never checked
//! (nor next-tokencode mode entered) before the password is known to be right.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::pages::{self, PortalLoginPage};
use crate::accounts::{self, throttle};
use crate::journey::{Journey, Step};
use crate::mfa::Verification;

pub(crate) const BAD_ANY: &str = "The username, passcode or temporary password is incorrect, or the temporary password has expired. \
     Start again, or call the service desk.";

/// `GET /activate`: a new activation journey.
pub(crate) async fn start(State(s): State<AppState>, headers: HeaderMap) -> Response {
    super::authorize::start_journey(
        &s,
        &headers,
        None,
        vec![Step::PortalPasscode, Step::PortalPassword],
        None,
    )
    .await
}

pub(crate) fn login_page(
    s: &AppState,
    j: &Journey,
    action: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let username = j.claimed_username.clone().unwrap_or_default();
    let (heading, intro, show_password, show_passcode, password_label, button) = match j.current() {
        Some(Step::PortalPasscode) => (
            "Activate your account: token",
            "Enter your username and the passcode from your RSA SecurID token.",
            false,
            true,
            "",
            "Next",
        ),
        Some(Step::ForgotIdentify) => (
            "Forgot your password?",
            "Enter your username and the passcode from your token.",
            false,
            true,
            "",
            "Next",
        ),
        Some(Step::ChangeIdentify) => (
            "Update / Change your password",
            "Enter your username, your current password and the passcode from your token.",
            true,
            true,
            "Current password",
            "Next",
        ),
        _ => (
            "Activate your account: temporary password",
            "Please log into the AHS IAM system using your AHS network User ID and the temporary password from the service desk.",
            true,
            false,
            "Temporary password",
            "Log in",
        ),
    };
    pages::render(
        status,
        &PortalLoginPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: heading,
            heading,
            intro,
            action,
            csrf: &j.form_token(),
            username: &username,
            show_password,
            show_passcode,
            password_label,
            button,
            error,
            support: pages::support(&s.config),
        },
    )
}

#[derive(Deserialize, Default)]
struct ChangeQuery {
    #[serde(default)]
    from: String,
}

/// `GET /change-password[?from=JOURNEY]`: username, current password and passcode, then a new
/// password; started from a sign-in page, it returns to that sign-in when done.
pub(crate) async fn change_start(
    State(s): State<AppState>,
    headers: HeaderMap,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let from = serde_urlencoded::from_str::<ChangeQuery>(q.as_deref().unwrap_or(""))
        .map(|c| c.from)
        .unwrap_or_default();
    let from = Some(from).filter(|f| {
        !f.is_empty() && f.len() <= 64 && f.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    });
    super::authorize::start_journey(
        &s,
        &headers,
        None,
        vec![Step::ChangeIdentify, Step::ChangePassword],
        from,
    )
    .await
}

/// "Update / Change your password", first page: all three checked together, password first.
pub(crate) async fn change_identify(
    s: &AppState,
    mut j: Journey,
    address: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<Journey, Journey> {
    let form: PortalForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    j.held_passcode = Some(form.passcode.trim().to_string());
    j.claimed_username = Some(accounts::normalize_username(&form.username));
    let restart = |mut j: Journey| {
        j.restart(vec![Step::ChangeIdentify, Step::ChangePassword]);
        j
    };
    match password(s, j, address, body).await {
        // `password` queues the first-time actions; here only the new password follows.
        Ok(mut j) => {
            j.steps = vec![Step::ChangePassword];
            Ok(j)
        }
        Err(j) => Err(restart(j)),
    }
}

#[derive(Deserialize, Default)]
struct PortalForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    passcode: String,
    #[serde(default)]
    password: crate::Secret,
}

/// Page 1: hold the username and passcode.
pub(crate) fn passcode(
    s: &AppState,
    mut j: Journey,
    action: &str,
    body: &[u8],
) -> Result<Journey, Response> {
    let form: PortalForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let username = form.username.trim();
    let code = form.passcode.trim();
    let problem = if username.is_empty() || username.len() > 254 {
        Some("Enter your username.")
    } else if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_digit()) {
        Some("A passcode has digits only (up to 16).")
    } else {
        None
    };
    if let Some(p) = problem {
        j.claimed_username = Some(username.to_string());
        return Err(login_page(s, &j, action, StatusCode::OK, Some(p)));
    }
    j.claimed_username = Some(accounts::normalize_username(username));
    j.held_passcode = Some(code.to_string());
    j.advance();
    Ok(j)
}

/// Page 2: check the temporary password, then the held passcode. `Ok` carries the journey with
/// the required actions to do; `Err` the generic failure (the journey restarts).
pub(crate) async fn password(
    s: &AppState,
    mut j: Journey,
    address: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<Journey, Journey> {
    let form: PortalForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let held = j.held_passcode.take().unwrap_or_default();
    let username = accounts::normalize_username(&form.username);
    let same_user = j.claimed_username.as_deref() == Some(username.as_str());
    let user = match accounts::find_by_username(&s.db, &username).await {
        Ok(u) => u.filter(|u| !u.disabled && same_user),
        Err(_) => None,
    };
    let now = s.now();
    let attempt = throttle::Attempt {
        user: user.as_ref(),
        username: &username,
        address,
    };
    // Throttled or locked: not checked at all (the dummy hash keeps the time the same).
    let refused = throttle::refused(s, now, &attempt).await.unwrap_or(true);
    let stored = user
        .as_ref()
        .and_then(|u| u.password.hash().map(str::to_string))
        .filter(|_| !refused);
    let right = accounts::password::verify(&form.password, stored)
        .await
        .unwrap_or(false)
        && !refused;
    let usable = user
        .as_ref()
        .is_some_and(|u| !u.password.temporary_expired(now));
    let fail = |mut j: Journey| {
        j.restart(vec![Step::PortalPasscode, Step::PortalPassword]);
        j
    };
    let Some(u) = user.clone() else {
        // A known account's passcode costs an argon2 verification too (its PIN's, or a dummy
        // one): without this an unknown username would answer faster.
        super::signin::equal_cost().await;
        if !refused {
            let _ = throttle::record_failure(s, &attempt).await;
        }
        return Err(fail(j));
    };
    if !right || !usable {
        let _ = s.tokens.spend(&u.id, &held).await;
        if !right && !refused {
            let _ = throttle::record_failure(s, &attempt).await;
        }
        return Err(fail(j));
    }
    let account = super::signin::account_of(&u);
    let outcome = match super::signin::factor_for(s, &u.id).await {
        Ok(Some(f)) => f
            .verify(&account, &held, None)
            .await
            .unwrap_or(Verification::Rejected),
        _ => {
            super::signin::equal_cost().await;
            Verification::Rejected
        }
    };
    match outcome {
        Verification::Accepted { amr } => {
            let _ = throttle::record_success(&s.db, &u, address).await;
            j.user_id = Some(u.id.clone());
            j.password_ok = true;
            j.add_amr(&["pwd".to_string()]);
            j.add_amr(&amr);
            j.add_amr(&["mfa".to_string()]);
            j.acr = Some(crate::mfa::ACR_PASSWORD_OTP.to_string());
            j.advance();
            // The temporary password is replaced whatever else is owed; then the rest.
            j.steps.push(Step::ChangePassword);
            j.steps.extend(
                u.owed
                    .clone()
                    .without(accounts::required::RequiredAction::ChangePassword)
                    .steps(),
            );
            Ok(j)
        }
        _ => {
            let _ = throttle::record_failure(s, &attempt).await;
            Err(fail(j))
        }
    }
}

/// The last page of the activation.
pub(crate) fn done_page(s: &AppState) -> Response {
    pages::message(
        s,
        "Your account is ready",
        "Your new password works now: there is nothing to wait for. Sign in to your applications (CPAR) \
         with your username, your new password and your token passcode.",
    )
}

/// The form token of the applications page: an HMAC of the session id, so that a withdrawal
/// form works only for the session that rendered it and another site cannot post it.
fn apps_token(s: &AppState, session_id: &str) -> Result<String, crate::Error> {
    let mac = crate::secret::hmac_sha256(
        &s.config.audit_key,
        format!("oidc-core portal applications\0{session_id}").as_bytes(),
    )?;
    Ok(crate::secret::b64url(&mac))
}

/// The browser's live session and its account, if any.
async fn signed_in(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(crate::sessions::Session, crate::accounts::Account)>, crate::Error> {
    let Some(cookie) = super::cookies::get(&s.config, headers, super::cookies::SESSION) else {
        return Ok(None);
    };
    let Some(session) =
        crate::sessions::lookup(&s.db, &cookie, s.now(), s.config.session_idle).await?
    else {
        return Ok(None);
    };
    Ok(accounts::find_by_id(&s.db, &session.user_id)
        .await?
        .filter(|u| !u.disabled)
        .map(|u| (session, u)))
}

async fn apps_page(
    s: &AppState,
    session: &crate::sessions::Session,
    user: &crate::accounts::Account,
    notice: Option<&str>,
) -> Response {
    let listed = match crate::tokens::consent::list(&s.db, &user.id).await {
        Ok(l) => l,
        Err(e) => return pages::internal(s, &e),
    };
    let token = match apps_token(s, &session.id) {
        Ok(t) => t,
        Err(e) => return pages::internal(s, &e),
    };
    let apps = listed
        .into_iter()
        .map(|c| {
            let scopes: Vec<&str> = c.allowed.scopes.iter().map(String::as_str).collect();
            let claims: Vec<&str> = c.allowed.claims.iter().map(String::as_str).collect();
            pages::AllowedApp {
                items: super::consent::items(&scopes, &claims),
                client_id: c.client_id,
                name: c.client_name,
                since: c.updated_at.format("%Y-%m-%d").to_string(),
            }
        })
        .collect();
    pages::render(
        StatusCode::OK,
        &pages::PortalConsentsPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Applications you allowed",
            action: &format!(
                "{}{}/withdraw",
                s.config.base_path(),
                super::paths::ACCOUNT_APPS
            ),
            token: &token,
            username: &user.username,
            notice,
            apps,
        },
    )
}

/// `GET /account/apps`: the applications the signed-in person allowed. Without a session, a
/// sign-in (password and passcode) that comes back here.
pub(crate) async fn apps(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match signed_in(&s, &headers).await {
        Ok(Some((session, user))) => apps_page(&s, &session, &user, None).await,
        Ok(None) => {
            super::authorize::start_journey(
                &s,
                &headers,
                None,
                vec![Step::Password, Step::SecondFactor],
                Some(super::paths::ACCOUNT_APPS.to_string()),
            )
            .await
        }
        Err(e) => pages::internal(&s, &e),
    }
}

#[derive(Deserialize, Default)]
struct WithdrawForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    client_id: String,
}

/// `POST /account/apps/withdraw`: withdraws the consent given to one application and revokes
/// its grants for this person (its refresh tokens stop; its access tokens are refused at
/// userinfo and introspection).
pub(crate) async fn withdraw(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (session, user) = match signed_in(&s, &headers).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return pages::error(
                &s,
                StatusCode::BAD_REQUEST,
                "You are not signed in",
                "Sign in again to manage the applications you allowed.",
            );
        }
        Err(e) => return pages::internal(&s, &e),
    };
    let form: WithdrawForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let expected = match apps_token(&s, &session.id) {
        Ok(t) => t,
        Err(e) => return pages::internal(&s, &e),
    };
    if !crate::secret::ct_eq(expected.as_bytes(), form.token.as_bytes()) {
        return pages::error(
            &s,
            StatusCode::BAD_REQUEST,
            "This form has expired",
            "Open the applications page again and retry.",
        );
    }
    if form.client_id.is_empty() || form.client_id.len() > 64 {
        return apps_page(&s, &session, &user, None).await;
    }
    let now = s.now();
    let withdrawn =
        match crate::tokens::consent::revoke(&s.db, &user.id, &form.client_id, now).await {
            Ok(w) => w,
            Err(e) => return pages::internal(&s, &e),
        };
    if withdrawn
        && let Err(e) = crate::audit::record(
            &s.db,
            &s.config.audit_key,
            now,
            &crate::audit::Actor::User(user.username.clone()),
            "consent.revoked",
            Some(&user.username),
            serde_json::json!({ "client_id": form.client_id }),
        )
        .await
    {
        tracing::error!(error = %e, "could not audit a consent withdrawal");
    }
    let notice = if withdrawn {
        "The permission was withdrawn and the application was signed out of your account."
    } else {
        "That application had no permission to withdraw."
    };
    apps_page(&s, &session, &user, Some(notice)).await
}
