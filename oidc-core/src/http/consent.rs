//! The consent and account-selection steps of a journey (OIDC Core §3.1.2.4, §3.1.2.1
//! `prompt`), and finishing a journey that answers with the browser's existing session.
//!
//! First-party clients skip consent unless the request says `prompt=consent`; a third-party
//! client gets the page until the person has allowed everything it asks for, which is then
//! remembered per person and client (`tokens::consent`) until they withdraw it at the portal.
//! The decision is taken once all other steps are done (`gate`), so that a restarted sign-in or
//! a required action never skips or repeats it.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::authorize::{deny, see_other};
use super::signin::{here, save_and_continue};
use super::{AppState, cookies, pages};
use crate::accounts::Account;
use crate::journey::{self, Journey, Step};
use crate::protocol::authorize::AuthRequest;
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::tokens::claims::scope_of;
use crate::tokens::consent;
use crate::{accounts, audit, clients, sessions};

/// What the person is told a scope lets the client do.
fn scope_words(scope: &str) -> Option<&'static str> {
    match scope {
        "profile" => Some("See your name and username"),
        "email" => Some("See your email address"),
        "roles" => Some("See your roles (what you may do in applications)"),
        "offline_access" => {
            Some("Keep this access while you are not using it, until you withdraw it")
        }
        _ => None,
    }
}

/// What the person is told a claim asked for on its own reveals.
fn claim_words(claim: &str) -> Option<&'static str> {
    match claim {
        "name" => Some("See your name"),
        "preferred_username" => Some("See your username"),
        "email" => Some("See your email address"),
        "email_verified" => Some("See whether your email address is verified"),
        "roles" => Some("See your roles (what you may do in applications)"),
        _ => None,
    }
}

/// The plain-words list of a consent: who the person is, then each scope and claim.
pub(crate) fn items(scopes: &[&str], claims: &[&str]) -> Vec<&'static str> {
    let mut out = vec!["Know that it is you (an identifier for your account)"];
    for w in scopes
        .iter()
        .filter_map(|s| scope_words(s))
        .chain(claims.iter().filter_map(|c| claim_words(c)))
    {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// What a request needs consent for: its scopes (without `openid`) and the claims it asks for
/// one by one that those scopes do not already carry.
fn requested(request: &AuthRequest) -> (Vec<&str>, Vec<&str>) {
    let scopes = request.consent_scopes();
    let claims = request
        .claims
        .as_ref()
        .map(|c| {
            c.names()
                .into_iter()
                .filter(|n| scope_of(n).is_some_and(|s| !scopes.contains(&s)))
                .collect()
        })
        .unwrap_or_default();
    (scopes, claims)
}

/// Must the person see the consent page before `client` gets an answer? `consented` is true once
/// they allowed it on this journey's page.
pub(crate) async fn needed(
    s: &AppState,
    client: &clients::Client,
    user_id: &str,
    request: &AuthRequest,
    consented: bool,
) -> Result<bool, crate::Error> {
    if consented {
        return Ok(false);
    }
    // OIDC Core §3.1.2.1: prompt=consent asks again, whoever the client.
    if request.prompt_consent {
        return Ok(true);
    }
    if client.row.first_party {
        return Ok(false);
    }
    let (scopes, claims) = requested(request);
    // Even a bare `openid` request tells a third party who the person is: it needs a consent.
    Ok(!consent::find(&s.db, user_id, client.id())
        .await?
        .is_some_and(|a| a.covers(&scopes, &claims)))
}

fn cannot_continue(s: &AppState) -> Response {
    pages::error(
        s,
        StatusCode::BAD_REQUEST,
        "This sign-in cannot continue",
        "Please start again.",
    )
}

/// Checks made when every other step is done, before any answer: the account must be the one
/// the request names (`id_token_hint`, a `sub` value), and consent must be there. `Some` is the
/// response to send instead of finishing (an error for the client, or the consent page).
pub(crate) async fn gate(s: &AppState, j: &mut Journey, user: &Account) -> Option<Response> {
    let request = j.request.clone()?;
    if request
        .required_subject
        .as_ref()
        .is_some_and(|sub| *sub != user.subject)
    {
        // OIDC Core §3.1.2.1, §5.5.1: only the person named may get a positive answer.
        return Some(match journey::finish(&s.db, &j.id, s.now()).await {
            Ok(_) => deny(
                s,
                &request,
                &OAuthError::new(
                    ErrorCode::LoginRequired,
                    "the user who signed in is not the one the request names",
                ),
            ),
            Err(e) => pages::internal(s, &e),
        });
    }
    let client = match clients::find(&s.db, &request.client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => return Some(cannot_continue(s)),
        Err(e) => return Some(pages::internal(s, &e)),
    };
    match needed(s, &client, &user.id, &request, j.consented).await {
        Ok(false) => None,
        Ok(true) => {
            if j.current() != Some(Step::Consent) {
                j.steps.push(Step::Consent);
            }
            Some(match journey::save(&s.db, j).await {
                Ok(_) => see_other(&here(s, j)),
                Err(e) => pages::internal(s, &e),
            })
        }
        Err(e) => Some(pages::internal(s, &e)),
    }
}

/// The account and client a consent or account-selection page is about.
async fn parties(s: &AppState, j: &Journey) -> Result<(Account, clients::Client), Response> {
    let (Some(user_id), Some(request)) = (&j.user_id, &j.request) else {
        return Err(cannot_continue(s));
    };
    let user = match accounts::find_by_id(&s.db, user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return Err(cannot_continue(s)),
        Err(e) => return Err(pages::internal(s, &e)),
    };
    match clients::find(&s.db, &request.client_id).await {
        Ok(Some(c)) => Ok((user, c)),
        Ok(None) => Err(cannot_continue(s)),
        Err(e) => Err(pages::internal(s, &e)),
    }
}

/// `GET /signin/{id}` at the consent step.
pub(crate) async fn show(s: &AppState, j: &Journey) -> Response {
    let (user, client) = match parties(s, j).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(request) = &j.request else {
        return cannot_continue(s);
    };
    let (scopes, claims) = requested(request);
    pages::render(
        StatusCode::OK,
        &pages::ConsentPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Allow access",
            action: &here(s, j),
            csrf: &j.form_token(),
            client_name: &client.row.name,
            username: &user.username,
            items: items(&scopes, &claims),
        },
    )
}

#[derive(Deserialize, Default)]
struct Decision {
    #[serde(default)]
    decision: String,
    #[serde(default)]
    choice: String,
}

/// `POST /signin/{id}` at the consent step (the form token is already checked): allow, and the
/// consent is remembered; deny, and the client gets `access_denied` (RFC 6749 §4.1.2.1).
pub(crate) async fn submit(
    s: &AppState,
    headers: &HeaderMap,
    mut j: Journey,
    body: &[u8],
) -> Response {
    let form: Decision = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let (user, client) = match parties(s, &j).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    let Some(request) = j.request.clone() else {
        return cannot_continue(s);
    };
    let now = s.now();
    match form.decision.as_str() {
        "allow" => {
            // Claim this state first: a double submit records and answers once.
            match journey::save(&s.db, &mut j).await {
                Ok(true) => {}
                Ok(false) => return see_other(&here(s, &j)),
                Err(e) => return pages::internal(s, &e),
            }
            let (scopes, claims) = requested(&request);
            if let Err(e) =
                consent::record(&s.db, &user.id, client.id(), &scopes, &claims, now).await
            {
                return pages::internal(s, &e);
            }
            audit_consent(s, &user, client.id(), "consent.granted", &scopes).await;
            j.consented = true;
            j.advance();
            save_and_continue(s, headers, j).await
        }
        "deny" => match journey::finish(&s.db, &j.id, now).await {
            Ok(true) => deny(
                s,
                &request,
                &OAuthError::new(ErrorCode::AccessDenied, "the user denied the request"),
            ),
            Ok(false) => see_other(&here(s, &j)),
            Err(e) => pages::internal(s, &e),
        },
        _ => see_other(&here(s, &j)),
    }
}

async fn audit_consent(
    s: &AppState,
    user: &Account,
    client_id: &str,
    event: &str,
    scopes: &[&str],
) {
    // The decision stands whether or not its audit entry could be written.
    if let Err(e) = audit::record(
        &s.db,
        &s.config.audit_key,
        s.now(),
        &audit::Actor::User(user.username.clone()),
        event,
        Some(&user.username),
        serde_json::json!({ "client_id": client_id, "scopes": scopes }),
    )
    .await
    {
        tracing::error!(error = %e, event, "could not audit a consent decision");
    }
}

/// `GET /signin/{id}` at the account-selection step.
pub(crate) async fn show_select(s: &AppState, j: &Journey) -> Response {
    let (user, client) = match parties(s, j).await {
        Ok(p) => p,
        Err(r) => return r,
    };
    pages::render(
        StatusCode::OK,
        &pages::SelectAccountPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Choose an account",
            action: &here(s, j),
            csrf: &j.form_token(),
            client_name: &client.row.name,
            username: &user.username,
        },
    )
}

/// `POST /signin/{id}` at the account-selection step: continue with the session, or turn the
/// journey into a new sign-in (whose session then replaces this one).
pub(crate) async fn submit_select(
    s: &AppState,
    headers: &HeaderMap,
    mut j: Journey,
    body: &[u8],
) -> Response {
    let form: Decision = serde_urlencoded::from_bytes(body).unwrap_or_default();
    match form.choice.as_str() {
        "continue" => {
            j.advance();
            save_and_continue(s, headers, j).await
        }
        "switch" => {
            let (_, client) = match parties(s, &j).await {
                Ok(p) => p,
                Err(r) => return r,
            };
            let needs_mfa = j
                .request
                .as_ref()
                .map(|r| {
                    r.needs_second_factor(client.row.mfa_required)
                        .unwrap_or(true)
                })
                .unwrap_or(true);
            let steps = if needs_mfa {
                vec![Step::Password, Step::SecondFactor]
            } else {
                vec![Step::Password]
            };
            j.restart(steps);
            j.session_id = None;
            match journey::save(&s.db, &mut j).await {
                Ok(_) => see_other(&here(s, &j)),
                Err(e) => pages::internal(s, &e),
            }
        }
        _ => see_other(&here(s, &j)),
    }
}

/// Every step is done on a journey that answers with the browser's session: the session must
/// still be the one it started with (same browser cookie); then the client gets its code.
pub(crate) async fn finish_with_session(
    s: &AppState,
    headers: &HeaderMap,
    mut j: Journey,
) -> Response {
    let now = s.now();
    let session = match cookies::get(&s.config, headers, cookies::SESSION) {
        Some(c) => match sessions::lookup(&s.db, &c, now, s.config.session_idle).await {
            Ok(found) => found,
            Err(e) => return pages::internal(s, &e),
        },
        None => None,
    }
    .filter(|sess| {
        Some(&sess.id) == j.session_id.as_ref() && Some(&sess.user_id) == j.user_id.as_ref()
    });
    let (Some(session), Some(request)) = (session, j.request.clone()) else {
        // Signed out (or in as someone else) meanwhile: the request starts over.
        return match &j.request {
            Some(r) => see_other(&super::authorize::continuation_url(s, r).await),
            None => cannot_continue(s),
        };
    };
    let user = match accounts::find_by_id(&s.db, &session.user_id).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return cannot_continue(s),
        Err(e) => return pages::internal(s, &e),
    };
    if let Some(res) = gate(s, &mut j, &user).await {
        return res;
    }
    let grant = super::authorize::code_grant(&request, Some(&session));
    let answered =
        journey::complete::answer_with_session(&s.db, &j.id, grant, now, s.config.code_ttl).await;
    match answered {
        Ok(journey::complete::Answered::Code(code)) => {
            s.metrics
                .token_issued("authorize", crate::metrics::TokenKind::AuthorizationCode);
            super::authorize::code_response(s, &request, code.secret(), None)
        }
        Ok(journey::complete::Answered::AlreadyFinished) => pages::error(
            s,
            StatusCode::BAD_REQUEST,
            "This sign-in is already complete",
            "Go back to the application you came from.",
        ),
        // Signed out, locked or changed meanwhile: the request starts over.
        Ok(journey::complete::Answered::Refused) => {
            see_other(&super::authorize::continuation_url(s, &request).await)
        }
        Err(e) => pages::internal(s, &e),
    }
}
