//! Soft-token activation: username + one-time activation code, then the `otpauth://` URI and its
//! QR code, then a first code from the app, which turns the token active.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use super::pages::{self, ActivatePage, ConfirmPage};
use super::{AppState, cookies};
use crate::secret::{b64url, ct_eq, hmac_sha256, random_token};

const NOT_VALID: &str = "The username or activation code is not valid, or the code has expired. Check them, or ask for a new activation code.";

/// The browser key and the form token derived from it (double submit: the token is a keyed hash
/// of the cookie, so a page of another site cannot produce it).
fn browser_and_csrf(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<(String, String, Option<HeaderValue>), crate::Error> {
    let (key, cookie) = match cookies::get(&s.config, headers, cookies::BROWSER) {
        Some(k) if k.len() == 43 => (k, None),
        _ => {
            let k = random_token()?;
            let c = cookies::set(&s.config, cookies::BROWSER, &k);
            (k, Some(c))
        }
    };
    let csrf = b64url(&hmac_sha256(
        &s.config.kek,
        format!("form:{key}").as_bytes(),
    )?);
    Ok((key, csrf, cookie))
}

fn with_cookie(mut res: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

fn activate_page(s: &AppState, csrf: &str, username: &str, error: Option<&str>) -> Response {
    pages::render(
        StatusCode::OK,
        &ActivatePage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Activate your soft token",
            csrf,
            username,
            error,
        },
    )
}

pub(crate) async fn show(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match browser_and_csrf(&s, &headers) {
        Ok((_, csrf, cookie)) => with_cookie(activate_page(&s, &csrf, "", None), cookie),
        Err(e) => pages::internal(&s, &e),
    }
}

#[derive(Deserialize, Default)]
struct ActivateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    activation_code: String,
    #[serde(default)]
    code: String,
}

fn qr_svg(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(224, 224)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

async fn confirm_page(
    s: &AppState,
    csrf: &str,
    form: &ActivateForm,
    error: Option<&str>,
) -> Response {
    let begun = s
        .tokens
        .begin_activation(&form.username, &form.activation_code)
        .await;
    let (serial, uri) = match begun {
        Ok(Some(v)) => v,
        Ok(None) => return activate_page(s, csrf, form.username.trim(), Some(NOT_VALID)),
        Err(e) => return pages::internal(s, &e),
    };
    let secret = url::Url::parse(&uri)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "secret")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default();
    pages::render(
        StatusCode::OK,
        &ConfirmPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Add the token to your app",
            csrf,
            username: form.username.trim(),
            activation_code: form.activation_code.trim(),
            serial: &serial,
            qr_svg: &qr_svg(&uri),
            secret_base32: &secret,
            error,
        },
    )
}

async fn parse(
    s: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, ActivateForm), Response> {
    let (_, csrf, _) = browser_and_csrf(s, headers).map_err(|e| pages::internal(s, &e))?;
    let form: ActivateForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if cookies::get(&s.config, headers, cookies::BROWSER).is_none()
        || !ct_eq(form.csrf.as_bytes(), csrf.as_bytes())
    {
        return Err(activate_page(
            s,
            &csrf,
            form.username.trim(),
            Some("This form was open too long or was sent from elsewhere. Please try again."),
        ));
    }
    if form.username.len() > 254 || form.activation_code.len() > 64 || form.code.len() > 16 {
        return Err(activate_page(s, &csrf, "", Some(NOT_VALID)));
    }
    Ok((csrf, form))
}

pub(crate) async fn submit(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match parse(&s, &headers, &body).await {
        Ok((csrf, form)) => confirm_page(&s, &csrf, &form, None).await,
        Err(r) => r,
    }
}

pub(crate) async fn confirm(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (csrf, form) = match parse(&s, &headers, &body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match s
        .tokens
        .complete_activation(&form.username, &form.activation_code, &form.code)
        .await
    {
        Ok(true) => pages::message(
            &s,
            "Your token is active",
            "Your soft token is ready. Use the codes it shows whenever you are asked for your passcode.",
        ),
        Ok(false) => {
            confirm_page(
                &s,
                &csrf,
                &form,
                Some("That code is not right. Wait for the app to show a new code and try again."),
            )
            .await
        }
        Err(e) => pages::internal(&s, &e),
    }
}
