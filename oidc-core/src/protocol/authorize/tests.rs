use super::claims::MAX_CLAIMS_PARAM;
use super::*;

const CB: &str = "https://rp.example.org/cb";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn base() -> Vec<(String, String)> {
    [
        ("client_id", "c1"),
        ("redirect_uri", CB),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn with(mut pairs: Vec<(String, String)>, k: &str, v: Option<&str>) -> Vec<(String, String)> {
    pairs.retain(|(n, _)| n != k);
    if let Some(v) = v {
        pairs.push((k.into(), v.into()));
    }
    pairs
}

fn check(pairs: Vec<(String, String)>) -> Result<AuthRequest, AuthorizeError> {
    let regs = vec![CB.to_string()];
    let raw = RawParams::from_pairs(pairs);
    let id = client_id(&raw)?.to_string();
    validate(
        &raw,
        &id,
        &ClientPolicy {
            redirect_uris: &regs,
            pkce_required: true,
            native: false,
            admin_console: false,
        },
    )
}

fn code_of(r: Result<AuthRequest, AuthorizeError>) -> ErrorCode {
    match r {
        Err(AuthorizeError::Redirect {
            error,
            state,
            redirect_uri,
            ..
        }) => {
            assert_eq!(redirect_uri, CB);
            assert_eq!(
                state.as_deref(),
                Some("xyz"),
                "state must be echoed with errors"
            );
            error.code
        }
        other => panic!("expected an error redirect, got {other:?}"),
    }
}

#[test]
fn a_valid_request() {
    let r = check(base()).unwrap();
    assert_eq!(r.scopes, vec!["openid", "profile"]);
    assert_eq!(r.state.as_deref(), Some("xyz"));
    assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
    assert!(!r.prompt_none && !r.prompt_login);
}

#[test]
fn rfc6749_4_1_2_1_untrusted_client_or_redirect_uri_is_never_redirected_to() {
    assert!(matches!(
        check(with(base(), "client_id", None)),
        Err(AuthorizeError::Page(_))
    ));
    assert!(matches!(
        check(with(base(), "redirect_uri", None)),
        Err(AuthorizeError::Page(_))
    ));
    assert!(matches!(
        check(with(
            base(),
            "redirect_uri",
            Some("https://evil.example/cb")
        )),
        Err(AuthorizeError::Page(_))
    ));
    let mut dup = base();
    dup.push(("redirect_uri".into(), CB.into()));
    assert!(matches!(check(dup), Err(AuthorizeError::Page(_))));
}

#[test]
fn rfc6749_3_1_repeated_parameters_are_invalid_request() {
    let mut dup = base();
    dup.push(("scope".into(), "openid".into()));
    assert_eq!(code_of(check(dup)), ErrorCode::InvalidRequest);
}

#[test]
fn response_type_rules() {
    assert_eq!(
        code_of(check(with(base(), "response_type", None))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(check(with(base(), "response_type", Some("token")))),
        ErrorCode::UnsupportedResponseType
    );
    assert_eq!(
        code_of(check(with(base(), "response_type", Some("code id_token")))),
        ErrorCode::UnsupportedResponseType
    );
    assert_eq!(
        code_of(check(with(base(), "response_mode", Some("fragment")))),
        ErrorCode::InvalidRequest
    );
    assert!(check(with(base(), "response_mode", Some("query"))).is_ok());
}

#[test]
fn form_post_response_mode_2_errors_after_the_redirect_uri_travel_by_form_post() {
    let r = check(with(base(), "response_mode", Some("form_post"))).unwrap();
    assert_eq!(r.response_mode, ResponseMode::FormPost);
    let bad = with(
        with(base(), "response_mode", Some("form_post")),
        "response_type",
        Some("token"),
    );
    match check(bad) {
        Err(AuthorizeError::Redirect { response_mode, .. }) => {
            assert_eq!(response_mode, ResponseMode::FormPost)
        }
        other => panic!("expected an error redirect, got {other:?}"),
    }
    // An unsupported mode is itself reported by query.
    match check(with(base(), "response_mode", Some("fragment"))) {
        Err(AuthorizeError::Redirect { response_mode, .. }) => {
            assert_eq!(response_mode, ResponseMode::Query)
        }
        other => panic!("expected an error redirect, got {other:?}"),
    }
}

#[test]
fn oidc_core_3_1_2_1_display_locales_and_select_account() {
    for d in DISPLAY_VALUES {
        assert_eq!(
            check(with(base(), "display", Some(d)))
                .unwrap()
                .display
                .as_deref(),
            Some(d)
        );
    }
    assert_eq!(
        code_of(check(with(base(), "display", Some("fullscreen")))),
        ErrorCode::InvalidRequest
    );
    let r = check(with(
        with(base(), "ui_locales", Some("fr-CA fr en")),
        "claims_locales",
        Some("de"),
    ))
    .unwrap();
    assert_eq!(r.ui_locales, ["fr-CA", "fr", "en"]);
    assert_eq!(r.claims_locales, ["de"]);
    for bad in ["fr_CA", "en-", "123", "toolongtag1", "<x>"] {
        assert_eq!(
            code_of(check(with(base(), "ui_locales", Some(bad)))),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
    let r = check(with(base(), "prompt", Some("select_account consent"))).unwrap();
    assert!(r.prompt_select_account && r.prompt_consent && !r.prompt_login);
    assert_eq!(
        code_of(check(with(base(), "prompt", Some("none select_account")))),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn oidc_core_5_5_the_claims_parameter_is_parsed_whole() {
    let r = check(with(
        base(),
        "claims",
        Some(
            r#"{"id_token":{"email":null,"sub":{"value":"s-1"},"auth_time":{"essential":true}},
                   "userinfo":{"name":{"essential":true},"roles":{"values":["a","b"]}},"other":1}"#,
        ),
    ))
    .unwrap();
    let c = r.claims.clone().unwrap();
    assert_eq!(c.id_token.len(), 3);
    assert!(c.id_token["auth_time"].essential);
    assert_eq!(c.userinfo["roles"].string_values(), ["a", "b"]);
    assert_eq!(r.required_subject.as_deref(), Some("s-1"));
    assert_eq!(r.essential_acr, None);
    let mut names = c.names();
    names.sort_unstable();
    assert_eq!(names, ["auth_time", "email", "name", "roles", "sub"]);
    // The kept request renders the same parameter again.
    let again = r
        .continuation_params()
        .into_iter()
        .find(|(k, _)| *k == "claims")
        .unwrap()
        .1;
    assert_eq!(ClaimsRequest::parse(&again).unwrap(), c);
    for bad in [
        r#"[]"#,
        r#"{"id_token":[]}"#,
        r#"{"userinfo":{"email":true}}"#,
        r#"{"userinfo":{"email":{"essential":"yes"}}}"#,
        r#"{"userinfo":{"email":{"values":"a"}}}"#,
    ] {
        assert_eq!(
            code_of(check(with(base(), "claims", Some(bad)))),
            ErrorCode::InvalidRequest,
            "{bad}"
        );
    }
    let long = format!(
        r#"{{"userinfo":{{"x":"{}"}}}}"#,
        "a".repeat(MAX_CLAIMS_PARAM)
    );
    assert_eq!(
        code_of(check(with(base(), "claims", Some(&long)))),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn oidc_core_3_1_2_1_openid_scope_required_and_unknown_scopes_ignored() {
    assert_eq!(
        code_of(check(with(base(), "scope", Some("profile")))),
        ErrorCode::InvalidScope
    );
    assert_eq!(
        code_of(check(with(base(), "scope", None))),
        ErrorCode::InvalidScope
    );
    let r = check(with(base(), "scope", Some("openid  email unknown openid"))).unwrap();
    assert_eq!(r.scopes, vec!["openid", "email"]);
}

#[test]
fn rfc6749_3_3_the_admin_scope_is_refused_to_every_client_but_the_admin_console() {
    assert_eq!(
        code_of(check(with(base(), "scope", Some("openid admin")))),
        ErrorCode::InvalidScope
    );
    let regs = vec![CB.to_string()];
    let console = ClientPolicy {
        redirect_uris: &regs,
        pkce_required: true,
        native: true,
        admin_console: true,
    };
    let raw = RawParams::from_pairs(with(base(), "scope", Some("openid admin")));
    let r = validate(&raw, "c", &console).unwrap();
    assert_eq!(r.scopes, vec!["openid", "admin"]);
}

#[test]
fn rfc7636_pkce_s256_required_plain_refused() {
    assert_eq!(
        code_of(check(with(base(), "code_challenge", None))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(check(with(base(), "code_challenge_method", Some("plain")))),
        ErrorCode::InvalidRequest
    );
    // RFC 7636 §4.3: an absent method defaults to plain, which is refused.
    assert_eq!(
        code_of(check(with(base(), "code_challenge_method", None))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(check(with(base(), "code_challenge", Some("short")))),
        ErrorCode::InvalidRequest
    );
    // A confidential client allowed to skip PKCE may omit it, but never send plain.
    let regs = vec![CB.to_string()];
    let relaxed = ClientPolicy {
        redirect_uris: &regs,
        pkce_required: false,
        native: false,
        admin_console: false,
    };
    let raw = RawParams::from_pairs(with(
        with(base(), "code_challenge", None),
        "code_challenge_method",
        None,
    ));
    assert!(
        validate(&raw, "c1", &relaxed)
            .unwrap()
            .code_challenge
            .is_none()
    );
}

#[test]
fn oidc_core_6_request_objects_refused_not_ignored() {
    assert_eq!(
        code_of(check(with(base(), "request", Some("eyJ...")))),
        ErrorCode::RequestNotSupported
    );
    assert_eq!(
        code_of(check(with(base(), "request_uri", Some("https://x/r")))),
        ErrorCode::RequestUriNotSupported
    );
    assert_eq!(
        code_of(check(with(base(), "registration", Some("{}")))),
        ErrorCode::RegistrationNotSupported
    );
}

#[test]
fn prompt_and_max_age() {
    assert!(
        check(with(base(), "prompt", Some("none")))
            .unwrap()
            .prompt_none
    );
    assert!(
        check(with(base(), "prompt", Some("login")))
            .unwrap()
            .prompt_login
    );
    assert_eq!(
        code_of(check(with(base(), "prompt", Some("none login")))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(check(with(base(), "prompt", Some("bogus")))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        check(with(base(), "max_age", Some("300"))).unwrap().max_age,
        Some(300)
    );
    assert!(
        check(with(base(), "max_age", Some("0")))
            .unwrap()
            .prompt_login
    );
    assert_eq!(
        code_of(check(with(base(), "max_age", Some("-1")))),
        ErrorCode::InvalidRequest
    );
    assert_eq!(
        code_of(check(with(base(), "max_age", Some("+5")))),
        ErrorCode::InvalidRequest
    );
}

#[test]
fn empty_values_are_omitted_and_unknown_parameters_ignored() {
    let r = check(with(with(base(), "nonce", Some("")), "foo", Some("bar"))).unwrap();
    assert_eq!(r.nonce, None);
}

#[test]
fn an_over_long_state_is_refused_and_not_echoed() {
    let long = "s".repeat(MAX_STATE + 1);
    match check(with(base(), "state", Some(&long))) {
        Err(AuthorizeError::Redirect { error, state, .. }) => {
            assert_eq!(error.code, ErrorCode::InvalidRequest);
            assert_eq!(state, None);
        }
        other => panic!("expected an error redirect, got {other:?}"),
    }
    assert!(check(with(base(), "state", Some(&"s".repeat(MAX_STATE)))).is_ok());
}

#[test]
fn oidc_core_5_5_1_1_essential_acr_from_the_claims_parameter() {
    use crate::protocol::acr::{ACR_PASSWORD, ACR_PASSWORD_OTP};
    let claims = |v: &str| check(with(base(), "claims", Some(v))).unwrap();
    let r = claims(&format!(
        r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_PASSWORD_OTP}"]}}}}}}"#
    ));
    assert_eq!(r.essential_acr, Some(vec![ACR_PASSWORD_OTP.to_string()]));
    assert_eq!(r.needs_second_factor(false), Ok(true));
    // Not essential: a mere preference.
    let r = claims(&format!(
        r#"{{"id_token":{{"acr":{{"values":["{ACR_PASSWORD_OTP}"]}}}}}}"#
    ));
    assert_eq!(r.essential_acr, None);
    assert_eq!(r.needs_second_factor(false), Ok(false));
    // An essential value nobody can give.
    let r = claims(r#"{"id_token":{"acr":{"essential":true,"value":"urn:example:loa:4"}}}"#);
    assert_eq!(
        r.needs_second_factor(true).unwrap_err().code,
        ErrorCode::UnmetAuthenticationRequirements
    );
    // Password only, but the client insists on a second factor: unmet.
    let r = claims(&format!(
        r#"{{"id_token":{{"acr":{{"essential":true,"value":"{ACR_PASSWORD}"}}}}}}"#
    ));
    assert!(r.needs_second_factor(true).is_err());
    assert_eq!(r.needs_second_factor(false), Ok(false));
    // acr_values is voluntary: honoured, never an error.
    let r = check(with(
        base(),
        "acr_values",
        Some(&format!("urn:x {ACR_PASSWORD_OTP}")),
    ))
    .unwrap();
    assert_eq!(r.needs_second_factor(false), Ok(true));
    assert_eq!(
        code_of(check(with(base(), "claims", Some("not json")))),
        ErrorCode::InvalidRequest
    );
}
