//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), GET and POST.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::{AppState, cookies, pages, paths};
use crate::protocol::authorize::{
    self, AuthRequest, AuthorizeError, ClientPolicy, RawParams, ResponseMode,
};
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::protocol::request_object;
use crate::sessions::Session;
use crate::{accounts, clients, journey, sessions, tokens};

pub(crate) async fn get(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""));
    authorize(s, headers, pairs.ok()).await
}

/// OIDC Core §3.1.2.1: the endpoint MUST support POST with form serialisation.
pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = super::form_pairs(&headers, &body);
    authorize(s, headers, pairs).await
}

/// What [`authorize::validate`] needs to know of the client.
pub(crate) fn policy_of(client: &clients::Client) -> ClientPolicy<'_> {
    ClientPolicy {
        redirect_uris: &client.redirect_uris,
        pkce_required: client.row.pkce_required,
        native: client.row.is_public,
        admin_console: client.id() == clients::ADMIN_CONSOLE_ID,
    }
}

/// Why resolving the request's parameters failed: an answer to give, or a database failure.
enum Refusal {
    Answer(AuthorizeError),
    Failed(crate::error::Error),
}

fn refused(s: &AppState, r: Refusal) -> Response {
    match r {
        Refusal::Answer(AuthorizeError::Page(m)) => bad_request_page(s, &m),
        Refusal::Answer(AuthorizeError::Redirect {
            redirect_uri,
            error,
            state,
            response_mode,
        }) => error_response(s, &redirect_uri, response_mode, &error, state.as_deref()),
        Refusal::Failed(e) => pages::internal(s, &e),
    }
}

/// The parameters the request is made of (RFC 9126 §4, RFC 9101 §6.3): those of the pushed
/// request a PAR `request_uri` names (nothing else of the query but `client_id` counts), or the
/// members of a signed request object (`request`), or the query's own.
async fn resolve(
    s: &AppState,
    client: &clients::Client,
    policy: &ClientPolicy<'_>,
    raw: RawParams,
) -> Result<RawParams, Refusal> {
    let refuse = |code: ErrorCode, description: &str| {
        Refusal::Answer(authorize::refuse(
            &raw,
            policy,
            OAuthError::new(code, description),
        ))
    };
    let repeated = |name: &str| raw.duplicated().iter().any(|d| d == name);
    if let Some(uri) = raw
        .get("request_uri")
        .filter(|u| u.starts_with(tokens::pushed::REQUEST_URI_PREFIX))
    {
        // The query's redirect URI is not the pushed one: errors here are pages.
        let page = |m: &str| Refusal::Answer(AuthorizeError::Page(m.to_string()));
        if repeated("request_uri") || raw.get("request").is_some() {
            return Err(page(
                "The request sends a request_uri with a second request_uri or a request object (invalid_request).",
            ));
        }
        return match tokens::pushed::claim(&s.db, uri, client.id(), s.now()).await {
            Ok(Some(pairs)) => Ok(RawParams::from_pairs(pairs)),
            Ok(None) => Err(page(
                "This sign-in link is unknown, has expired or was already used. Go back to the                  application and sign in again (invalid_request_uri).",
            )),
            Err(e) => Err(Refusal::Failed(e)),
        };
    }
    if must_push(s, client) {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests to the pushed authorization \
             request endpoint (RFC 9126) and send only client_id and request_uri here",
        ));
    }
    let Some(object) = raw.get("request").filter(|_| !repeated("request")) else {
        // A repeated `request` is refused by `validate` as any repeated parameter.
        return Ok(raw);
    };
    if raw.get("request_uri").is_some() {
        return Err(refuse(
            ErrorCode::InvalidRequest,
            "request and request_uri must not be sent together",
        ));
    }
    match request_object_params(s, client, object).await {
        Ok(pairs) => Ok(RawParams::from_pairs(pairs)),
        Err(request_object::Rejected::Untrusted(d)) => {
            Err(refuse(ErrorCode::InvalidRequestObject, &d))
        }
        // Signed by the client: its own redirect URI may carry the error.
        Err(request_object::Rejected::Invalid {
            description,
            mut params,
        }) => {
            params.retain(|(k, _)| k != "client_id");
            params.push(("client_id".into(), client.id().to_string()));
            let signed = RawParams::from_pairs(params);
            let error = OAuthError::new(ErrorCode::InvalidRequestObject, description);
            Err(Refusal::Answer(
                match authorize::refuse(&signed, policy, error.clone()) {
                    r @ AuthorizeError::Redirect { .. } => r,
                    AuthorizeError::Page(_) => authorize::refuse(&raw, policy, error),
                },
            ))
        }
    }
}

/// Where to send the browser through the authorization endpoint again with a kept request (a
/// sign-in finished meanwhile, a session that ended): the request's parameters in the query, or,
/// for a client that must use PAR (RFC 9126 §5), a pushed request made here on its behalf.
pub(crate) async fn continuation_url(s: &AppState, request: &AuthRequest) -> String {
    let mut url = s.config.endpoint(paths::AUTHORIZE);
    url.push('?');
    let pushed = match clients::find(&s.db, &request.client_id).await {
        Ok(Some(client)) if must_push(s, &client) => {
            let params = request
                .continuation_params()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v));
            match tokens::pushed::store(&s.db, client.id(), params, s.now()).await {
                Ok(uri) => Some(vec![
                    ("client_id", request.client_id.clone()),
                    ("request_uri", uri),
                ]),
                Err(e) => {
                    tracing::warn!(error = %e, "could not push a continuation request");
                    None
                }
            }
        }
        _ => None,
    };
    let query = pushed.unwrap_or_else(|| request.continuation_params());
    url.push_str(&serde_urlencoded::to_string(query).unwrap_or_default());
    url
}

/// RFC 9126 §5: the client must push its requests. The admin console is the provider's own
/// client, which signs in by a plain request whatever the server-wide setting.
fn must_push(s: &AppState, client: &clients::Client) -> bool {
    client.requires_par()
        || (s.config.require_pushed_authorization_requests
            && client.id() != clients::ADMIN_CONSOLE_ID)
}

/// The parameters of a request object (RFC 9101), verified with the client's registered keys:
/// its `jwks`, or the key set at its `jwks_uri` (fetched through the outbound guard and cached,
/// as for `private_key_jwt`).
pub(crate) async fn request_object_params(
    s: &AppState,
    client: &clients::Client,
    object: &str,
) -> Result<Vec<(String, String)>, request_object::Rejected> {
    let header = request_object::header(object)?;
    let now = s.now();
    let payload = if let Some(jwks) = client.jwks() {
        request_object::verify_signature(object, jwks, &header)?
    } else if let Some(uri) = client.jwks_uri() {
        client_keys_verify(s, client, uri, &header, object).await?
    } else {
        return Err(request_object::Rejected::Untrusted(
            "the client has registered no keys (jwks or jwks_uri) to verify request objects".into(),
        ));
    };
    request_object::check_claims(
        &payload,
        &request_object::Expected {
            client_id: client.id(),
            issuer: s.config.issuer(),
            now,
        },
    )
}

/// Verifies with the keys at the client's `jwks_uri` (JWT client authentication's key cache).
async fn client_keys_verify(
    s: &AppState,
    client: &clients::Client,
    uri: &str,
    header: &request_object::Header,
    object: &str,
) -> Result<Vec<u8>, request_object::Rejected> {
    s.client_keys
        .verify_with_uri(
            client.id(),
            uri,
            &header.alg,
            header.kid.as_deref(),
            object,
            s.now(),
        )
        .await
        .map_err(|e| {
            if let clients::assertion::Rejected::Failed(e) = &e {
                tracing::error!(error = %e, "request object: key resolution failed");
            }
            request_object::Rejected::Untrusted(
                "the request object does not verify with the keys at the client's jwks_uri".into(),
            )
        })
}

fn bad_request_page(s: &AppState, message: &str) -> Response {
    pages::error(
        s,
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be processed",
        message,
    )
}

async fn authorize(
    s: AppState,
    headers: HeaderMap,
    pairs: Option<Vec<(String, String)>>,
) -> Response {
    let Some(pairs) = pairs else {
        return bad_request_page(&s, "The request is not correctly encoded.");
    };
    let raw = RawParams::from_pairs(pairs);
    let client_id = match authorize::client_id(&raw) {
        Ok(id) => id.to_string(),
        Err(AuthorizeError::Page(m)) => return bad_request_page(&s, &m),
        Err(AuthorizeError::Redirect { .. }) => {
            return bad_request_page(&s, "The request is invalid.");
        }
    };
    let client = match clients::find(&s.db, &client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return bad_request_page(&s, "The application that sent you here is not registered.");
        }
        Err(e) => return pages::internal(&s, &e),
    };
    let policy = policy_of(&client);
    let raw = match resolve(&s, &client, &policy, raw).await {
        Ok(raw) => raw,
        Err(e) => return refused(&s, e),
    };
    let mut request = match authorize::validate(&raw, &client_id, &policy) {
        Ok(r) => r,
        Err(AuthorizeError::Page(m)) => return bad_request_page(&s, &m),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            state,
            response_mode,
        }) => {
            return error_response(&s, &redirect_uri, response_mode, &error, state.as_deref());
        }
    };
    // OIDC Core §3.1.2.1: the hint must be an ID token of ours (an expired one is fine, as at
    // logout); the answer is then only for its subject.
    if let Some(hint) = request.id_token_hint.take() {
        let sub = match tokens::verify_id_token_hint(&s.config, &s.keys, &hint) {
            Ok(h) => h.sub,
            Err(why) => {
                let e = OAuthError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "id_token_hint is not an ID token of this provider: {}",
                        why.0
                    ),
                );
                return deny(&s, &request, &e);
            }
        };
        if request.required_subject.as_ref().is_some_and(|r| *r != sub) {
            let e = OAuthError::new(
                ErrorCode::InvalidRequest,
                "id_token_hint and the claims parameter's sub name different people",
            );
            return deny(&s, &request, &e);
        }
        request.required_subject = Some(sub);
    }
    let needs_mfa = match request.needs_second_factor(client.row.mfa_required) {
        Ok(m) => m,
        Err(e) => return deny(&s, &request, &e),
    };
    let now = s.now();
    let session = match cookies::get(&s.config, &headers, cookies::SESSION) {
        Some(c) => match sessions::lookup(&s.db, &c, now, s.config.session_idle).await {
            Ok(found) => found,
            Err(e) => return pages::internal(&s, &e),
        },
        None => None,
    };
    if let Some(session) = session {
        let fresh_enough = request.max_age.is_none_or(|m| {
            now - session.auth_time <= Duration::seconds(i64::try_from(m).unwrap_or(i64::MAX))
        });
        // A password-only session does not satisfy a client that needs the second factor.
        let strong_enough =
            !needs_mfa || session.acr.as_deref() == Some(crate::mfa::ACR_PASSWORD_OTP);
        if !request.prompt_login && fresh_enough && strong_enough {
            // An account that owes a required action (a recovery reset since this session
            // began) signs in again, and the sign-in walks it through what it owes.
            let user = match accounts::find_by_id(&s.db, &session.user_id).await {
                Ok(u) => u.filter(|u| !u.disabled && u.owed.is_empty()),
                Err(e) => return pages::internal(&s, &e),
            };
            if let Some(user) = user {
                match with_session(&s, &headers, &client, request, &session, &user).await {
                    Ok(res) => return res,
                    Err(r) => request = *r,
                }
            }
        }
    }
    if request.prompt_none {
        let e = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
        return deny(&s, &request, &e);
    }
    // The person the answer must be for: their username on the sign-in page.
    if request.login_hint.is_none()
        && let Some(sub) = &request.required_subject
    {
        match accounts::find_by_subject(&s.db, sub).await {
            Ok(u) => request.login_hint = u.map(|u| u.username),
            Err(e) => return pages::internal(&s, &e),
        }
    }
    let steps = if needs_mfa {
        vec![journey::Step::Password, journey::Step::SecondFactor]
    } else {
        vec![journey::Step::Password]
    };
    start_journey(&s, &headers, Some(request), steps, None).await
}

/// The browser has a session good enough for the request: answer with it, or show the account
/// selection or consent page for it. `Err` gives the request back when a new sign-in is needed
/// (the session is someone else's than the request insists on).
async fn with_session(
    s: &AppState,
    headers: &HeaderMap,
    client: &clients::Client,
    request: AuthRequest,
    session: &Session,
    user: &accounts::Account,
) -> Result<Response, Box<AuthRequest>> {
    if request
        .required_subject
        .as_ref()
        .is_some_and(|sub| *sub != user.subject)
    {
        if request.prompt_none {
            let e = OAuthError::new(
                ErrorCode::LoginRequired,
                "the signed-in user is not the one the request names",
            );
            return Ok(deny(s, &request, &e));
        }
        return Err(Box::new(request));
    }
    // A login_hint naming another account than the signed-in one: the person must choose.
    let other_account = request
        .login_hint
        .as_deref()
        .is_some_and(|h| accounts::normalize_username(h) != user.username);
    if other_account && request.prompt_none {
        let e = OAuthError::new(
            ErrorCode::AccountSelectionRequired,
            "the login_hint names another account than the signed-in one",
        );
        return Ok(deny(s, &request, &e));
    }
    let consent = match super::consent::needed(s, client, &user.id, &request, false).await {
        Ok(c) => c,
        Err(e) => return Ok(pages::internal(s, &e)),
    };
    let mut steps = Vec::new();
    if request.prompt_select_account || other_account {
        steps.push(journey::Step::SelectAccount);
    }
    if consent {
        steps.push(journey::Step::Consent);
    }
    if steps.is_empty() {
        return Ok(issue_code(s, headers, &request, session, None).await);
    }
    if request.prompt_none {
        let e = OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user has not allowed this application what it asks for",
        );
        return Ok(deny(s, &request, &e));
    }
    // Should the person switch accounts, `consent::gate` decides consent again at the end.
    let link = journey::SessionLink {
        session_id: session.id.clone(),
        user_id: user.id.clone(),
    };
    Ok(start_journey_with(s, headers, Some(request), steps, None, Some(link)).await)
}

pub(crate) async fn start_journey(
    s: &AppState,
    headers: &HeaderMap,
    request: Option<AuthRequest>,
    steps: Vec<journey::Step>,
    return_to: Option<String>,
) -> Response {
    start_journey_with(s, headers, request, steps, return_to, None).await
}

/// As [`start_journey`]; with `session`, a journey that answers with that session.
pub(crate) async fn start_journey_with(
    s: &AppState,
    headers: &HeaderMap,
    request: Option<AuthRequest>,
    steps: Vec<journey::Step>,
    return_to: Option<String>,
    session: Option<journey::SessionLink>,
) -> Response {
    let now = s.now();
    let (browser_key, new_cookie) = match cookies::get(&s.config, headers, cookies::BROWSER) {
        Some(k) if k.len() == 43 => (k, None),
        _ => match crate::secret::random_token() {
            Ok(k) => {
                let c = cookies::set(&s.config, cookies::BROWSER, &k);
                (k, Some(c))
            }
            Err(e) => return pages::internal(s, &e),
        },
    };
    let j = match journey::start(
        &s.db,
        &browser_key,
        request,
        steps,
        return_to,
        session,
        now,
        s.config.journey_ttl,
    )
    .await
    {
        Ok(j) => j,
        Err(e) => return pages::internal(s, &e),
    };
    let location = format!("{}{}/{}", s.config.base_path(), paths::SIGNIN, j.id);
    let mut res = see_other(&location);
    if let Some(c) = new_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// A 303 to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Appends parameters to a (registered) redirect URI, keeping its own query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.to_string())
}

/// The authorization response (RFC 6749 §4.1.2, §4.1.2.1 with RFC 9207 `iss`) by the request's
/// response mode: a 303 with the parameters in the query, or the self-submitting form of OAuth
/// 2.0 Form Post Response Mode §2.
fn respond(
    s: &AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
) -> Response {
    match mode {
        ResponseMode::Query => match redirect_with(redirect_uri, params) {
            Some(url) => see_other(&url),
            None => bad_request_page(s, "The application's redirect address is invalid."),
        },
        ResponseMode::FormPost => form_post(s, redirect_uri, params),
    }
}

/// The form post page: a form with the parameters as hidden fields that a script of ours
/// submits at once, and a visible button for browsers without scripts. Only this response lets
/// a form post to the client's origin (CSP `form-action`).
fn form_post(s: &AppState, redirect_uri: &str, params: &[(&str, &str)]) -> Response {
    let Ok(url) = url::Url::parse(redirect_uri) else {
        return bad_request_page(s, "The application's redirect address is invalid.");
    };
    let target = match url.origin() {
        o @ url::Origin::Tuple(..) => o.ascii_serialization(),
        // A private-use scheme (RFC 8252 §7.1): a scheme source.
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    let fields: Vec<(&str, &str)> = params.to_vec();
    let mut res = pages::render(
        StatusCode::OK,
        &pages::FormPostPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Returning to the application",
            action: redirect_uri,
            fields,
        },
    );
    let csp = format!("{FORM_POST_CSP}; form-action {target}");
    match HeaderValue::from_str(&csp) {
        Ok(v) => {
            res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            res
        }
        Err(_) => bad_request_page(s, "The application's redirect address is invalid."),
    }
}

/// The provider's policy (see `security_headers`), which the form post page extends with the
/// one `form-action` it needs.
const FORM_POST_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// An error answer at the client's redirect URI by `mode` (RFC 6749 §4.1.2.1 with RFC 9207
/// `iss`).
fn error_response(
    s: &AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    error: &OAuthError,
    state: Option<&str>,
) -> Response {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(st) = state {
        params.push(("state", st));
    }
    params.push(("iss", s.config.issuer()));
    respond(s, redirect_uri, mode, &params)
}

/// Answers a validated request with an error, by its response mode.
pub(crate) fn deny(s: &AppState, request: &AuthRequest, error: &OAuthError) -> Response {
    error_response(
        s,
        &request.redirect_uri,
        request.response_mode,
        error,
        request.state.as_deref(),
    )
}

/// The session, account or client changed between the request's checks and the code's
/// transaction (a sign-out, password change, lock or role removal in between): the person signs
/// in again, as if the session had not been there (`login_required` for `prompt=none`).
async fn code_refused(
    s: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    refused: tokens::CodeRefused,
) -> Response {
    if request.prompt_none {
        let e = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
        return deny(s, request, &e);
    }
    let client = match clients::find(&s.db, &request.client_id).await {
        Ok(Some(c)) if refused != tokens::CodeRefused::ClientGone => c,
        Ok(_) => {
            return bad_request_page(s, "The application that sent you here is not registered.");
        }
        Err(e) => return pages::internal(s, &e),
    };
    let steps = match request.needs_second_factor(client.row.mfa_required) {
        Ok(false) => vec![journey::Step::Password],
        _ => vec![journey::Step::Password, journey::Step::SecondFactor],
    };
    start_journey(s, headers, Some(request.clone()), steps, None).await
}

/// The grant a code for `request` records; the session's fields come from `session`, or are
/// filled in by the transaction that creates the session.
pub(crate) fn code_grant(request: &AuthRequest, session: Option<&Session>) -> tokens::CodeGrant {
    tokens::CodeGrant {
        grant_id: String::new(),
        client_id: crate::ids::ClientId::new(request.client_id.clone()),
        user_id: crate::ids::UserId::new(session.map(|x| x.user_id.clone()).unwrap_or_default()),
        session_id: session.map(|x| x.id.clone()).unwrap_or_default(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.map_or(chrono::DateTime::UNIX_EPOCH, |x| x.auth_time),
        amr: session.map(|x| x.amr.clone()).unwrap_or_default(),
        acr: session.and_then(|x| x.acr.clone()),
        claims: request.claims.clone(),
    }
}

/// Issues a code for `request` in `session` and sends the browser back to the client (RFC 6749
/// §4.1.2 with RFC 9207 `iss`). `set_cookie` carries a new session cookie after a sign-in.
pub(crate) async fn issue_code(
    s: &AppState,
    headers: &HeaderMap,
    request: &AuthRequest,
    session: &Session,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let grant = code_grant(request, Some(session));
    let code = match tokens::issue_code(&s.db, grant, s.now(), s.config.code_ttl).await {
        Ok(Ok(c)) => {
            s.metrics
                .token_issued("authorize", crate::metrics::TokenKind::AuthorizationCode);
            c
        }
        Ok(Err(refused)) => return code_refused(s, headers, request, refused).await,
        Err(e) => return pages::internal(s, &e),
    };
    code_response(s, request, code.secret(), set_cookie)
}

/// The authorization response carrying `code`.
pub(crate) fn code_response(
    s: &AppState,
    request: &AuthRequest,
    code: &str,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let mut params = vec![("code", code)];
    if let Some(st) = &request.state {
        params.push(("state", st));
    }
    params.push(("iss", s.config.issuer()));
    let mut res = respond(s, &request.redirect_uri, request.response_mode, &params);
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
